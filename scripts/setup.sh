#!/usr/bin/env bash
# Creates a venv (default .venv) holding exactly the versions of a lock (default requirements/lock.txt, the
# newest releases setup.cfg allows, with torch's CPU build), and attnseq in editable mode with the dev and plot
# extras. Nothing is resolved here: every package comes from the lock, so every fresh machine gets the same
# tree, and a lock that no longer fits setup.cfg fails `pip check` instead of pulling something else.
# Safe to run again: an existing venv is reused and brought to the lock's versions.
# Usage: bash scripts/setup.sh [VENV [LOCK]]   (CI: bash scripts/setup.sh .venv-oldest requirements/lock-oldest.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.venv}
lock=${2:-requirements/lock.txt}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
# --no-deps: the lock is the whole tree, torch==2.13.0+cpu included, so pip never picks a (CUDA) torch itself.
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$lock" -e ".[dev,plot]"
"$venv/bin/pip" check --disable-pip-version-check >/dev/null || {
  "$venv/bin/pip" check --disable-pip-version-check >&2 || true
  echo "setup.sh: $lock does not satisfy setup.cfg; run bash scripts/refresh_lock.sh" >&2
  exit 1
}
