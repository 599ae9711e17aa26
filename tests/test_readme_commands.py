"""Every `attnseq ...` command the README prints in its code blocks parses as written, and its `generate` and
`evaluate` forms run against a tiny checkpoint."""

import io
import re
import shlex
from pathlib import Path
from unittest import mock

import pytest

from attnseq import CharTokenizer, Seq2SeqLSTMConfig, Seq2SeqLSTMForConditionalGeneration
from attnseq.cli import COMMANDS as SUBCOMMANDS
from attnseq.cli import main
from attnseq.flags import FlagParser
from attnseq.training.cli import parse_train_arguments

README = Path(__file__).resolve().parents[1] / "README.md"
REDIRECTIONS = (">", ">>", "<", "|", "&&", ";", "2>")


def readme_commands() -> list[list[str]]:
    """The argument lists after `attnseq` of each command in the README's fenced code blocks (continued lines
    joined, comments, redirections and the brackets of optional parts dropped)."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", README.read_text(encoding="utf-8"), flags=re.S | re.M)
    command = re.compile(rf"(?:^|\s)(?:\S*/)?attnseq\s+((?:{'|'.join(map(re.escape, SUBCOMMANDS))})(?:\s.*)?)$")
    commands = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            found = command.search(line)
            if found is None:
                continue
            words = shlex.split(found.group(1).replace("[", "").replace("]", ""), comments=True)
            cut = next((i for i, word in enumerate(words) if word in REDIRECTIONS), len(words))
            commands.append(words[:cut])
    return commands


COMMANDS = readme_commands()


class Parsed(Exception):
    """Raised in place of running a command once its arguments parsed."""


def test_the_readme_prints_commands_of_every_kind():
    kinds = {command[0] for command in COMMANDS}
    assert {"train", "evaluate", "generate", "export", "push", "card", "plot-attention"} <= kinds
    assert [
        "generate",
        "outputs/m30k-ct2",
        "--engine",
        "ctranslate2",
        "ein hund läuft.",
        "--num_beams",
        "5",
    ] in COMMANDS


def parsed(command: list[str]):
    """The namespace `attnseq COMMAND...` parses into, without running the command."""
    real = FlagParser.parse_args

    def parse_then_stop(self, args=None, namespace=None):
        raise Parsed(real(self, args, namespace))

    with mock.patch.object(FlagParser, "parse_args", parse_then_stop), pytest.raises(Parsed) as stopped:
        main(command)
    return stopped.value.args[0]


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(command)[:60] for command in COMMANDS])
def test_readme_command_parses(command):
    if command[0] == "train":
        parse_train_arguments(command[1:])  # SystemExit (argparse's error) fails the test
    else:
        values = vars(parsed(command)).values()
        assert command[1] in values or any(command[1] in value for value in values if isinstance(value, list))


def test_options_and_texts_in_any_order():
    first = parsed(["generate", "ck", "--num_beams", "4", "a b", "--do_sample", "c"])
    assert first.texts == ["a b", "c"] and first.num_beams == 4 and first.do_sample


def test_generate_help_names_only_real_flags(capsys):
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    text = capsys.readouterr().out
    # the names each option line of the "options:" section defines
    defined = re.findall(r"^ {2}(-\S.*?)(?: {2,}|$)", text.partition("options:")[2], flags=re.M)
    named = {flag for line in defined for flag in re.findall(r"--[\w-]+", line)}
    description = text.split("\n\n")[1]
    assert "--source_file" in description and "--file" not in named
    assert set(re.findall(r"--[\w-]+", text)) <= named


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("readme") / "tiny-lstm"
    tokenizer = CharTokenizer.from_texts(["Sep 27, 94 the 1st of May, 2001 ein hund läuft. tuesday"])
    config = Seq2SeqLSTMConfig(
        vocab_size=len(tokenizer), hidden_size=16, embedding_size=8, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.bos_token_id,
    )  # fmt: skip
    Seq2SeqLSTMForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


RUNNABLE = [
    command
    for command in COMMANDS
    if command[0] in ("generate", "evaluate")
    and "--engine" not in command
    and "--source_file" not in command
    and "--file" not in command
]


@pytest.mark.parametrize("command", RUNNABLE, ids=[" ".join(command)[:60] for command in RUNNABLE])
def test_readme_generate_and_evaluate_forms_run(command, checkpoint, capsys, monkeypatch):
    argv = [command[0], str(checkpoint), *command[2:], "--max_new_tokens", "3"]
    if command[0] == "evaluate":
        argv += ["--max_samples", "4"]
    monkeypatch.setattr("sys.stdin", io.StringIO("Sep 27, 94\nthe 1st\n"))
    assert main(argv) == 0
    printed = capsys.readouterr().out.splitlines()
    if command[0] == "generate":  # one line per text given, or per line read from stdin
        assert len(printed) == (len(parsed(command).texts) or 2)
    else:
        assert '"rows": 4' in printed[-1]
