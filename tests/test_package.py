"""The package's shape: what `import attnseq` loads, the registry of families, and the one command line that
reaches every subcommand (how the subpackages depend on each other: test_layering.py)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import attnseq
from attnseq.cli import COMMANDS, main
from attnseq.families import FAMILIES, family_of
from attnseq.flags import FlagParser

PACKAGE = Path(attnseq.__file__).parent


def test_importing_attnseq_loads_no_training_stack():
    code = (
        "import sys, attnseq\n"
        "heavy = [name for name in ('datasets', 'evaluate', 'attnseq.training', 'attnseq.hub_cards', 'matplotlib')"
        " if name in sys.modules]\n"
        "print(','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_load_task_is_still_a_public_name():
    assert callable(attnseq.load_task) and "load_task" in attnseq.__all__


def imports_of(path: Path) -> list[tuple[int, str | None, list[str]]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [(node.level, node.module, [a.name for a in node.names]) for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)]  # fmt: skip


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_the_package_root(path):
    """`from .. import x` in a subpackage reads the package root, which imports everything: a loop."""
    depth = len(path.relative_to(PACKAGE).parts) - 1  # 0 for attnseq/x.py, 1 for attnseq/sub/x.py
    for level, module, _ in imports_of(path):
        assert not (level > depth and module is None), f"{path} imports from the package root"
        assert not (level == 0 and module == "attnseq"), f"{path} imports from the package root"


def test_the_registry_serves_every_reader():
    assert set(FAMILIES) == {"lstm", "transformer"}
    for family in FAMILIES.values():
        assert family_of(family.model_type) is family
        assert family.generation_class.config_class is family.config_class
    with pytest.raises(ValueError, match="'seq2seq_lstm', 'seq2seq_transformer'"):
        family_of("bart")


def test_flags_take_one_dialect_and_accept_dashes():
    parser = FlagParser()
    parser.add_argument("--max_new_tokens", type=int)
    group = parser.add_argument_group("x")
    group.add_argument("--remote_code", action="store_true")
    assert parser.parse_args(["--max-new-tokens", "3", "--remote-code"]).max_new_tokens == 3
    assert parser.parse_args(["--max_new_tokens", "4", "--remote_code"]).remote_code


def test_the_console_script_runs_a_subcommand():
    """`python -m attnseq` (what the console script and `accelerate launch -m attnseq` run) reaches the commands."""
    done = subprocess.run([sys.executable, "-m", "attnseq", "train", "--help"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "attnseq train" in done.stdout


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_subcommand_is_reachable_from_the_command_line(command, capsys):
    # in this process: one fresh interpreter per subcommand would import torch ten times over
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0, capsys.readouterr().err
    assert f"attnseq {command}" in capsys.readouterr().out
