#!/usr/bin/env bash
# Regenerates both locks from setup.cfg with pip-tools, then tests them on fresh venvs by running .ci/run:
#   requirements/lock.txt         the newest releases setup.cfg's ranges allow (what scripts/setup.sh installs);
#   requirements/lock-oldest.txt  every direct dependency at its setup.cfg floor exactly (requirements/floors.txt,
#                                 written by scripts/floors.py), the rest at the newest release that fits.
# Both take torch's CPU build (requirements/torch-cpu.txt) and wheels only.
# When: before moving a floor or a ceiling in setup.cfg (edit it, run this, commit setup.cfg and requirements/),
# and once a month to take new releases inside the range. Review `git diff requirements/` and commit the locks
# only if the tests pass.
# Usage: bash scripts/refresh_lock.sh [--no-test]    (--no-test: regenerate the locks only)
set -euo pipefail
cd "$(dirname "$0")/.."
tools=.venv-lock
if [ ! -x "$tools/bin/python" ]; then
  python3 -m venv "$tools"
fi
"$tools/bin/pip" install --quiet --disable-pip-version-check pip==23.2.1 pip-tools==7.6.2
compile=("$tools/bin/pip-compile" --quiet --upgrade --allow-unsafe --strip-extras --no-emit-index-url
  --extra=dev --extra=plot --pip-args=--only-binary=:all: --constraint=requirements/torch-cpu.txt)
"${compile[@]}" --output-file=requirements/lock.txt setup.cfg
"$tools/bin/python" scripts/floors.py >requirements/floors.txt
"${compile[@]}" --constraint=requirements/floors.txt --output-file=requirements/lock-oldest.txt setup.cfg
git --no-pager diff --stat -- requirements/ || true
if [ "${1:-}" = --no-test ]; then
  exit 0
fi
rm -rf .venv .venv-oldest
bash .ci/run
