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
# --no-deps: the lock is the whole tree, torch==2.13.0+cpu included, so nothing picks a (CUDA) torch itself.
# uv installs the same wheels several times faster than pip (a fresh venv in under a minute instead of two to
# four), from the places pip is configured with (scripts/uv_args.py); where uv cannot be had or fails, pip does it.
uv_version=0.13.10
install_with_uv() {
  "$venv/bin/pip" install --quiet --disable-pip-version-check "uv==$uv_version" || return 1
  local listed places
  listed=$("$venv/bin/python" scripts/uv_args.py "$venv/bin/pip") || return 1
  mapfile -t places <<<"$listed"
  local uv=("$venv/bin/uv" pip install --quiet --compile-bytecode --python "$venv/bin/python" --no-deps "${places[@]}")
  # two calls: the lock's `--only-binary :all:` would forbid building attnseq's own editable install
  "${uv[@]}" -r "$lock" && "${uv[@]}" -e .
}
if ! install_with_uv; then
  echo "setup.sh: installing with pip instead of uv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$lock" -e ".[dev,plot]"
fi
"$venv/bin/pip" check --disable-pip-version-check >/dev/null || {
  "$venv/bin/pip" check --disable-pip-version-check >&2 || true
  echo "setup.sh: $lock does not satisfy setup.cfg; run bash scripts/refresh_lock.sh" >&2
  exit 1
}
