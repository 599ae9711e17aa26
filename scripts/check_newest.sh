#!/usr/bin/env bash
# Sees the next release coming: installs the newest release of every direct dependency (setup.cfg's install_requires
# and extras, as scripts/floors.py lists them), ignoring setup.cfg's ceilings, into a throw-away venv, runs the
# contract and generation tests there, and prints what broke.
# torch is the exception: the newest *CPU* build is taken (requirements/torch-cpu.txt, or --torch SPEC), because
# the package index's newer torch releases are CUDA builds of several GB; say --torch torch to take the newest
# release pip may install here whatever its build (on the project's machines pip's configuration caps it).
# When: a transformers or torch release is out (before widening setup.cfg's range), or any time.
# Exit status: 0 when the tests pass on the newest releases, 1 when something broke.
# Usage: bash scripts/check_newest.sh [--torch SPEC] [--keep]   (--keep: leave the venv and print where it is)
set -euo pipefail
cd "$(dirname "$0")/.."
torch_spec=$(grep -E '^torch==' requirements/torch-cpu.txt)
keep=false
while [ $# -gt 0 ]; do
  case "$1" in
    --torch) torch_spec=$2; shift 2 ;;
    --keep) keep=true; shift ;;
    *) echo "check_newest.sh: unknown argument $1; allowed: --torch SPEC, --keep" >&2; exit 2 ;;
  esac
done
venv=$(mktemp -d "${TMPDIR:-/tmp}/attnseq-newest.XXXXXX")
if ! $keep; then
  trap 'rm -rf "$venv"' EXIT
fi
python3 -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check)
# Every direct dependency by name, without its range: pip takes the newest release that installs as a wheel.
mapfile -t names < <(python3 scripts/floors.py | grep -v '^#' | cut -d= -f1 | grep -vx torch)
"${pip[@]}" install --quiet --only-binary=:all: "$torch_spec" "${names[@]}"
"${pip[@]}" install --quiet --no-deps -e .
echo "== the releases installed"
pattern=$(IFS='|'; echo "torch|${names[*]}" | sed 's/-/[-_.]/g')
"${pip[@]}" list --format=freeze 2>/dev/null | grep -iE "^($pattern)==" || true
echo "== outside setup.cfg's ranges (pip check)"
"${pip[@]}" check || true
echo "== contract and generation tests"
status=0
HF_HUB_OFFLINE=1 PYTHONPATH= "$venv/bin/python" -m pytest -q -n 2 -m "not slow" -p no:cacheprovider \
  tests/modeling/test_transformers_contract.py tests/modeling/test_generate_equivalence.py \
  tests/modeling/test_beam_search.py tests/modeling/test_assisted_generation.py || status=1
if [ "$status" = 0 ]; then
  echo "check_newest.sh: nothing broke on the newest releases"
else
  echo "check_newest.sh: the tests above broke on the newest releases (FAILED/ERROR lines)" >&2
fi
$keep && echo "check_newest.sh: the venv is kept at $venv"
exit "$status"
