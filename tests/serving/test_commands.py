"""`attnseq export --format ctranslate2`, and `--engine ctranslate2` / `--quantize int8` for generate and evaluate."""

import json

import pytest
import torch
from serving_testing import letters_tokenizer, reversal_pairs

from attnseq import (
    Seq2SeqLSTMConfig,
    Seq2SeqLSTMForConditionalGeneration,
    Seq2SeqTransformerConfig,
    Seq2SeqTransformerForConditionalGeneration,
)
from attnseq.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


def saved(model, folder):
    tokenizer = letters_tokenizer()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def transformer(tmp_path_factory):
    config = Seq2SeqTransformerConfig(
        vocab_size=len(letters_tokenizer()), d_model=32, encoder_layers=2, decoder_layers=2, encoder_ffn_dim=64,
        decoder_ffn_dim=64, init_std=0.3,
    )  # fmt: skip
    torch.manual_seed(0)
    return saved(Seq2SeqTransformerForConditionalGeneration(config), tmp_path_factory.mktemp("transformer"))


def run(capsys, *argv) -> str:
    capsys.readouterr()
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def test_export_then_generate_with_ctranslate2_gives_generate_outputs(transformer, tmp_path, capsys):
    texts, _ = reversal_pairs(6, seed=3)
    printed = run(capsys, "export", transformer, str(tmp_path / "ct2"), "--format", "ctranslate2")
    assert "float32" in printed and (tmp_path / "ct2" / "model.bin").is_file()
    arguments = [*texts, "--num_beams", "3", "--max_new_tokens", "9"]
    ours = run(capsys, "generate", transformer, *arguments)
    assert run(capsys, "generate", str(tmp_path / "ct2"), *arguments, "--engine", "ctranslate2") == ours
    # a checkpoint folder is exported on the fly
    assert run(capsys, "generate", transformer, *arguments, "--engine", "ctranslate2") == ours
    assert len(ours.splitlines()) == len(texts)


def test_evaluate_with_ctranslate2_int8_and_torch_int8(transformer, tmp_path, capsys):
    pairs = tmp_path / "pairs.tsv"
    sources, targets = reversal_pairs(10, seed=4)
    pairs.write_text("".join(f"{s}\t{t}\n" for s, t in zip(sources, targets, strict=True)), encoding="utf-8")
    run(capsys, "export", transformer, str(tmp_path / "ct2"), "--format", "ctranslate2", "--quantization", "int8")
    assert json.loads((tmp_path / "ct2" / "attnseq_ctranslate2.json").read_text())["quantization"] == "int8"
    common = ["--file", str(pairs), "--metrics", "exact_match,chrf", "--max_new_tokens", "12"]
    for argv in (
        [str(tmp_path / "ct2"), "--engine", "ctranslate2"],
        [transformer, "--engine", "ctranslate2", "--quantize", "int8"],
        [transformer, "--quantize", "int8"],
    ):
        scores = json.loads(run(capsys, "evaluate", *argv, *common).strip().splitlines()[-1])
        assert scores["rows"] == 10 and 0.0 <= scores["chrf"] <= 100.0


def test_lstm_generates_with_quantize_int8_and_refuses_ctranslate2(tmp_path, capsys):
    torch.manual_seed(0)
    config = Seq2SeqLSTMConfig(vocab_size=len(letters_tokenizer()), hidden_size=32, attention="general")
    folder = saved(Seq2SeqLSTMForConditionalGeneration(config), tmp_path / "lstm")
    printed = run(capsys, "generate", folder, "abc", "hij", "--quantize", "int8", "--num_beams", "2")
    assert len(printed.splitlines()) == 2
    assert main(["export", folder, str(tmp_path / "ct2"), "--format", "ctranslate2"]) == 1
    assert "CTranslate2 has no recurrent models" in capsys.readouterr().err


def test_export_help_names_both_formats_and_each_format_goes_to_its_app(capsys, monkeypatch, tmp_path):
    """`attnseq export` is parsed by the command line, which hands remote_code to hub_cards and ctranslate2 to
    serving (neither app imports the other)."""
    import attnseq.hub_cards.commands as sharing
    import attnseq.serving.commands as serving

    with pytest.raises(SystemExit):
        main(["export", "--help"])
    assert "remote_code" in capsys.readouterr().out
    called = []
    monkeypatch.setattr(sharing, "export_remote_code", lambda args: called.append(("hub_cards", args.format)) or 0)
    monkeypatch.setattr(
        serving, "export_ctranslate2_command", lambda args: called.append(("serving", args.format)) or 0
    )
    assert main(["export", "ck", str(tmp_path / "a")]) == 0
    assert main(["export", "ck", str(tmp_path / "b"), "--format", "ctranslate2"]) == 0
    assert called == [("hub_cards", "remote_code"), ("serving", "ctranslate2")]


def test_remote_code_export_refuses_ctranslate2_options(tmp_path, capsys):
    assert main(["export", "ck", str(tmp_path / "out"), "--quantization", "int8"]) == 1
    assert "--format ctranslate2 only" in capsys.readouterr().err


def test_generate_and_evaluate_pass_the_beam_settings_to_generate(transformer, capsys, monkeypatch, tmp_path):
    from transformers import GenerationMixin

    seen = []
    original = GenerationMixin.generate

    def recording(self, *args, **kwargs):
        seen.append({key: kwargs.get(key) for key in ("num_beams", "length_penalty")})
        return original(self, *args, **kwargs)

    monkeypatch.setattr(GenerationMixin, "generate", recording)
    run(capsys, "generate", transformer, "abc", "--num_beams", "3", "--length_penalty", "0.6")
    assert seen == [{"num_beams": 3, "length_penalty": 0.6}]
    seen.clear()
    run(capsys, "generate", transformer, "abc", "--num_beams", "2")  # the generation config's own penalty
    assert seen == [{"num_beams": 2, "length_penalty": None}]
    seen.clear()
    (tmp_path / "pairs.tsv").write_text("source\ttarget\nabc\tcba\n")
    run(
        capsys,
        "evaluate",
        transformer,
        "--file",
        str(tmp_path / "pairs.tsv"),
        "--num_beams",
        "4",
        "--length_penalty",
        "1.4",
    )
    assert seen == [{"num_beams": 4, "length_penalty": 1.4}]
