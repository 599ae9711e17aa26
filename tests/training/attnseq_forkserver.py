"""A process that has imported what the `attnseq` command needs and forks a child per command it is sent.

Importing torch, transformers, datasets and evaluate takes about 5 seconds of a short command's run: the
command-line tests pay it once per environment instead of once per command. The server starts with the
environment its commands run under (tests/training/cli_testing.py keeps one server per environment), imports, and
then reads one request per line on stdin: `{"args": [...], "cwd": ..., "env": {...}, "stdin": path or null,
"stdout": path, "stderr": path}`. For each, a child forked from the freshly imported server runs
`python -m attnseq ARGS` as a new interpreter would (its own working directory, its stdin and output files on
descriptors 0-2, the interpreter's exit with its atexit handlers), and the server answers with one line,
`{"pid": ..., "status": exit status}`. Nothing a command does reaches the server or a later command: each child
starts from the state the imports left. The server ends when its stdin closes.
"""

import json
import os
import runpy
import sys

# the modules every command imports, and the libraries they load on first use
import accelerate  # noqa: F401
import datasets  # noqa: F401
import evaluate  # noqa: F401
import transformers

import attnseq.cli  # noqa: F401
import attnseq.hub_cards.commands  # noqa: F401
import attnseq.serving.decode  # noqa: F401
import attnseq.training.cli  # noqa: F401

transformers.Seq2SeqTrainer, transformers.AutoModelForSeq2SeqLM  # noqa: B018  (loads transformers' lazy modules)


def run_command(request: dict) -> None:
    """In the child: become `python -m attnseq ARGS`; leaves by raising SystemExit, as the interpreter would."""
    os.environ.clear()  # the server's own, but for PYTEST_CURRENT_TEST
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    sys.path[0] = os.getcwd()  # what `python -m` puts first
    # sys.stdin, sys.stdout and sys.stderr stay the objects a new interpreter would have: only their descriptors
    # now lead to the command's files
    for descriptor, path, flags in (
        (0, request["stdin"] or os.devnull, os.O_RDONLY),
        (1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        (2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
    ):
        opened = os.open(path, flags, 0o644)
        os.dup2(opened, descriptor)
        os.close(opened)
    sys.argv = ["-m", *request["args"]]  # runpy puts attnseq/__main__.py's path first, as `python -m` does
    runpy.run_module("attnseq", run_name="__main__", alter_sys=True)


def serve() -> None:
    answers = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            run_command(request)  # raises SystemExit through serve(): the child never returns to the loop
            sys.exit(0)
        _, wait_status = os.waitpid(pid, 0)
        answers.write(json.dumps({"pid": pid, "status": os.waitstatus_to_exitcode(wait_status)}) + "\n")
        answers.flush()


if __name__ == "__main__":
    serve()
