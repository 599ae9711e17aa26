"""Running the `attnseq` command as users do, in a process of its own, for the command-line tests."""

import atexit
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

FORKSERVER = Path(__file__).with_name("attnseq_forkserver.py")
# one server per environment the commands run under: each imports torch, transformers and datasets once
_servers: dict[tuple, subprocess.Popen] = {}
_scratch = tempfile.TemporaryDirectory(prefix="attnseq-commands-")


def _server(env: dict) -> subprocess.Popen:
    # pytest names the running test in PYTEST_CURRENT_TEST: nothing reads it on import, and it changes each test
    key = tuple(sorted((name, value) for name, value in env.items() if name != "PYTEST_CURRENT_TEST"))
    server = _servers.get(key)
    if server is None or server.poll() is not None:
        log_path = Path(_scratch.name) / f"server-{len(_servers)}.log"
        with open(log_path, "w") as log:
            server = subprocess.Popen(
                [sys.executable, str(FORKSERVER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env,
                text=True,
            )  # fmt: skip
        server.log_path = log_path
        _servers[key] = server
    return server


@atexit.register
def _stop_servers() -> None:
    for server in _servers.values():
        if server.poll() is None:
            server.stdin.close()  # the server ends when its stdin closes
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    _scratch.cleanup()


def run_attnseq(*args, stdin=None, check=True, cwd=None) -> subprocess.CompletedProcess:
    """`python -m attnseq ARGS` offline on one thread; with `check`, a failure shows the command's output.

    The command runs in a child forked from a server that has already imported attnseq's modules
    (attnseq_forkserver.py): a process of its own, started from the state a new interpreter would reach.
    """
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    files = Path(tempfile.mkdtemp(dir=_scratch.name))
    request = {"args": list(map(str, args)), "cwd": os.path.abspath(cwd or os.getcwd()), "env": env, "stdin": None}
    request.update(stdout=str(files / "stdout"), stderr=str(files / "stderr"))
    if stdin is not None:
        (files / "stdin").write_text(stdin)
        request["stdin"] = str(files / "stdin")
    server = _server(env)
    server.stdin.write(json.dumps(request) + "\n")
    server.stdin.flush()
    answer = server.stdout.readline()
    if not answer:
        raise RuntimeError(f"the attnseq fork server ended:\n{Path(server.log_path).read_text()}")
    status = json.loads(answer)["status"]
    # what the imports printed (warnings) a new interpreter would print first, on the command's stderr
    stderr = Path(server.log_path).read_text() + (files / "stderr").read_text()
    result = subprocess.CompletedProcess(
        [sys.executable, "-m", "attnseq", *args], status, (files / "stdout").read_text(), stderr
    )
    if check and result.returncode != 0:
        raise AssertionError(f"attnseq {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result
