"""run_attnseq, the command-line tests' way of running `attnseq`: its forked child must answer as a new process."""

import shutil
from pathlib import Path

from cli_testing import run_attnseq

CHECKPOINT = Path(__file__).resolve().parents[1] / "fixtures" / "checkpoints" / "transformer"


def test_a_refused_command_gives_its_exit_status_and_its_message_on_stderr():
    refused = run_attnseq("nonsense", check=False)
    assert refused.returncode == 2
    assert "unknown command 'nonsense'" in refused.stderr and refused.stdout == ""


def test_the_command_reads_its_stdin_from_its_own_working_directory(tmp_path):
    shutil.copytree(CHECKPOINT, tmp_path / "model")
    piped = run_attnseq("generate", "model", stdin="12+34\n56\n", cwd=tmp_path).stdout.splitlines()
    given = run_attnseq("generate", str(tmp_path / "model"), "12+34", "56").stdout.splitlines()
    assert len(piped) == 2 and piped == given


def test_a_variable_read_on_import_takes_effect(monkeypatch):
    """transformers reads TRANSFORMERS_VERBOSITY when imported: the command needs a server of that environment."""
    quiet = run_attnseq("generate", str(CHECKPOINT), "12+34")
    monkeypatch.setenv("TRANSFORMERS_VERBOSITY", "info")
    told = run_attnseq("generate", str(CHECKPOINT), "12+34")
    assert told.stdout == quiet.stdout
    assert "loading" not in quiet.stderr and "loading" in told.stderr
