"""Sources longer than a Transformer's learned positions: `attnseq generate --overlong {error,skip,truncate}`, and
`generate()` asked for more tokens than the positions allow; both refused before anything is decoded."""

import io
import sys

import pytest
import torch

from attnseq import CharTokenizer, Seq2SeqTransformerConfig, Seq2SeqTransformerForConditionalGeneration
from attnseq.cli import main

LIMIT = 8


def _model(tokenizer) -> Seq2SeqTransformerForConditionalGeneration:
    config = Seq2SeqTransformerConfig(
        vocab_size=len(tokenizer), d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, position_embedding="learned",
        max_position_embeddings=LIMIT, pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.bos_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    return Seq2SeqTransformerForConditionalGeneration(config).eval()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("overlong") / "learned"
    tokenizer = CharTokenizer.from_texts(["abcdefghij"])
    _model(tokenizer).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def sources(tmp_path):
    path = tmp_path / "sources.txt"
    path.write_text("abc\n" + "abcdefghij" * 2 + "\nba\n", encoding="utf-8")
    return path


def test_an_overlong_line_is_an_error_naming_file_and_line_before_decoding(checkpoint, sources, capsys):
    assert main(["generate", str(checkpoint), "--source_file", str(sources), "--max_new_tokens", "3"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{sources}:2: the source is" in captured.err and f"{LIMIT} source positions" in captured.err
    errors = [line for line in captured.err.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("attnseq generate: error: ") and "--overlong skip" in errors[0]


def test_skip_keeps_the_output_aligned_and_reports_the_line(checkpoint, sources, capsys):
    argv = ["generate", str(checkpoint), "--overlong", "skip", "--source_file", str(sources), "--max_new_tokens", "3"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    lines = captured.out.split("\n")[:-1]
    assert len(lines) == 3 and lines[1] == ""
    assert "skipped 1 source(s)" in captured.err and f"{sources}:2" in captured.err


def test_truncate_decodes_every_line(checkpoint, sources, capsys):
    argv = ["generate", str(checkpoint), "--source_file", str(sources), "--overlong", "truncate", "--max_new_tokens"]
    assert main([*argv, "3"]) == 0
    assert len(capsys.readouterr().out.split("\n")[:-1]) == 3


def test_stdin_lines_are_named_too(checkpoint, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(("abc\n" + "a" * 20 + "\n").encode())))
    assert main(["generate", str(checkpoint), "--max_new_tokens", "3"]) == 1
    assert "<stdin>:2: the source is" in capsys.readouterr().err


def test_generate_past_the_position_limit_fails_before_decoding():
    tokenizer = CharTokenizer.from_texts(["abcdefghij"])
    model = _model(tokenizer)
    calls = []
    model.register_forward_pre_hook(lambda module, args: calls.append(1))
    model.get_encoder().register_forward_pre_hook(lambda module, args: calls.append(1))
    source = tokenizer(["abc"], return_tensors="pt")
    with pytest.raises(ValueError, match=rf"max_new_tokens=100 .*max_position_embeddings={LIMIT}.*max_new_tokens="):
        model.generate(**source, max_new_tokens=100)
    with pytest.raises(ValueError, match=rf"max_length=50 .*max_position_embeddings={LIMIT}"):
        model.generate(**source, max_length=50)
    assert calls == []
    # up to the limit works: the start token and LIMIT more
    model.generation_config.eos_token_id = model.config.eos_token_id = None
    assert model.generate(**source, max_new_tokens=LIMIT).shape[1] == LIMIT + 1
