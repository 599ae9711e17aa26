"""Bytes that are not UTF-8 give one error line naming the file (or stdin), the line and the byte offset, whichever
way the text comes in; stdin's bad bytes are never decoded as unknown tokens."""

import gzip
import io
import sys

import pytest

from attnseq import CharTokenizer, Seq2SeqLSTMConfig, Seq2SeqLSTMForConditionalGeneration
from attnseq.cli import main

BAD = "caf\xe9".encode("latin-1")  # 0xe9 starts a 3-byte UTF-8 sequence that "\n" does not continue


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("utf8") / "tiny"
    tokenizer = CharTokenizer.from_texts(["abcdef"])
    config = Seq2SeqLSTMConfig(
        vocab_size=len(tokenizer), hidden_size=8, embedding_size=4, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.bos_token_id,
    )  # fmt: skip
    Seq2SeqLSTMForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _one_error_line(capsys, command: str) -> str:
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"attnseq {command}: error: ")
    return errors[0]


def _write(path, first: bytes, second: bytes, third: bytes = b"ok\tko\n", compress: bool = False):
    data = first + second + third
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.mark.parametrize(
    ("name", "first", "second"),
    [
        ("pairs.tsv", b"abc\tcba\n", BAD + b"\tx\n"),
        ("pairs.csv", b"source,target\n", BAD + b",x\n"),
        ("pairs.jsonl", b'{"source": "a", "target": "b"}\n', b'{"source": "' + BAD + b'", "target": "x"}\n'),
    ],
)
def test_train_file(tmp_path, capsys, name, first, second):
    path = _write(tmp_path / name, first, second, b"")
    assert main(["train", "--train_file", str(path), "--output_dir", str(tmp_path / "out")]) == 1
    error = _one_error_line(capsys, "train")
    offset = len(first) + second.index(BAD[-1:])
    assert f"{path}: line 2, byte offset {offset} (0xe9) is not valid UTF-8" in error


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gz"])
def test_parallel_files(tmp_path, capsys, compress):
    suffix = ".gz" if compress else ""
    source = _write(tmp_path / f"train.src{suffix}", b"abc\n", BAD + b"\n", b"ok\n", compress)
    target = _write(tmp_path / f"train.tgt{suffix}", b"cba\n", b"x\n", b"ko\n", compress)
    argv = ["train", "--source_file", str(source), "--target_file", str(target), "--output_dir", str(tmp_path / "o")]
    assert main(argv) == 1
    assert f"{source}: line 2, byte offset 7 (0xe9)" in _one_error_line(capsys, "train")


def test_evaluate_parallel_files(tmp_path, capsys, checkpoint):
    source = _write(tmp_path / "test.src", b"abc\n", b"x\n", b"ok\n")
    target = _write(tmp_path / "test.tgt", b"cba\n", BAD + b"\n", b"ko\n")
    argv = ["evaluate", str(checkpoint), "--source_file", str(source), "--target_file", str(target)]
    assert main(argv) == 1
    assert f"{target}: line 2, byte offset 7 (0xe9)" in _one_error_line(capsys, "evaluate")


def test_generate_source_file(tmp_path, capsys, checkpoint):
    source = _write(tmp_path / "in.txt", b"abc\n", BAD + b"\n", b"ok\n")
    assert main(["generate", str(checkpoint), "--source_file", str(source)]) == 1
    assert f"{source}: line 2, byte offset 7 (0xe9)" in _one_error_line(capsys, "generate")
    assert capsys.readouterr().out == ""


def test_generate_stdin(capsys, checkpoint, monkeypatch):
    stdin = io.TextIOWrapper(io.BytesIO(b"abc\n" + BAD + b"\nok\n"), encoding="utf-8", errors="replace")
    monkeypatch.setattr(sys, "stdin", stdin)
    assert main(["generate", str(checkpoint)]) == 1
    assert "<stdin>: line 2, byte offset 7 (0xe9)" in _one_error_line(capsys, "generate")
