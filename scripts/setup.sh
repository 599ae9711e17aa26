#!/usr/bin/env bash
# Creates .venv with the CPU build of torch and attnseq installed in editable mode (with the dev and plot extras).
# Safe to run again: an existing .venv is reused.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# torch is pinned in the same call so that pip never resolves a newer (CUDA) build.
.venv/bin/pip install --quiet --disable-pip-version-check "torch==2.13.0" -e ".[dev,plot]"
