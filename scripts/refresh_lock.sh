#!/usr/bin/env bash
# Regenerates the locks from setup.cfg with pip-tools, then tests them on fresh venvs by running .ci/run:
#   requirements/lock.txt          the newest releases setup.cfg's ranges allow, with torch's CPU build
#                                  (requirements/torch-cpu.txt): what scripts/setup.sh installs;
#   requirements/lock-oldest.txt   every direct dependency at its setup.cfg floor exactly (requirements/floors.txt,
#                                  written by scripts/floors.py), the rest at the newest release that fits;
#   requirements/lock-torch214.txt lock.txt with torch 2.14.1 (the newest torch the project's machines install, a
#                                  CUDA build with its nvidia-* packages) instead of the CPU build: every other pin
#                                  is kept from lock.txt where torch 2.14.1 allows it.
# Wheels only. No lock names a folder or an index: pip's configuration supplies them (see the README's set-up).
# When: before moving a floor or a ceiling in setup.cfg (edit it, run this, commit setup.cfg and requirements/),
# and once a month to take new releases inside the range. Review `git diff requirements/` and commit the locks
# only if the tests pass.
# Usage: bash scripts/refresh_lock.sh [--no-test]    (--no-test: regenerate the locks only)
set -euo pipefail
cd "$(dirname "$0")/.."
tools=.venv-lock
newest_torch=2.14.1
if [ ! -x "$tools/bin/python" ]; then
  python3 -m venv "$tools"
fi
"$tools/bin/pip" install --quiet --disable-pip-version-check pip==23.2.1 pip-tools==7.6.2
compile=("$tools/bin/pip-compile" --quiet --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links
  --extra=dev --extra=plot --pip-args=--only-binary=:all:)
export CUSTOM_COMPILE_COMMAND="bash scripts/refresh_lock.sh"  # the command each lock's header names
"${compile[@]}" --upgrade --constraint=requirements/torch-cpu.txt --output-file=requirements/lock.txt setup.cfg
"$tools/bin/python" scripts/floors.py >requirements/floors.txt
"${compile[@]}" --upgrade --constraint=requirements/torch-cpu.txt --constraint=requirements/floors.txt \
  --output-file=requirements/lock-oldest.txt setup.cfg
# Starting from a copy of lock.txt, pip-compile keeps its pins and moves only torch (and what torch brings).
cp requirements/lock.txt requirements/lock-torch214.txt
"${compile[@]}" --upgrade-package="torch==$newest_torch" --output-file=requirements/lock-torch214.txt setup.cfg
sed -i "1i # lock.txt with torch==$newest_torch (pip-compile --upgrade-package from a copy of lock.txt); .ci/run tests it." \
  requirements/lock-torch214.txt
git --no-pager diff --stat -- requirements/ || true
if [ "${1:-}" = --no-test ]; then
  exit 0
fi
rm -rf .venv .venv-oldest .venv-torch214
bash .ci/run
