"""Running the `attnseq` command in a fresh interpreter, as users do, for the command-line tests."""

import os
import subprocess
import sys


def run_attnseq(*args, stdin=None, check=True, cwd=None) -> subprocess.CompletedProcess:
    """`python -m attnseq ARGS` offline on one thread; with `check`, a failure shows the command's output."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "attnseq", *args], input=stdin, capture_output=True, text=True, env=env, cwd=cwd
    )
    if check and result.returncode != 0:
        raise AssertionError(f"attnseq {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result
