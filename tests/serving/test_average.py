"""`attnseq average CHECKPOINT... --output_dir OUT`: the element-wise mean of the weights of checkpoints of one
architecture, written as a complete checkpoint by the export's folder rules, with a card naming what was averaged."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file
from serving_testing import LETTERS, decode, letters_tokenizer, reversal_pairs
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

from attnseq import (
    CharTokenizer,
    Seq2SeqLSTMConfig,
    Seq2SeqLSTMForConditionalGeneration,
    Seq2SeqTransformerConfig,
    Seq2SeqTransformerForConditionalGeneration,
)
from attnseq.cli import main
from attnseq.folders import EXPORT_MARKER
from attnseq.modeling.averaging import CheckpointsRefused, architecture_config, average_checkpoints, average_weights

pytestmark = pytest.mark.usefixtures("one_thread")

FAMILIES = ("lstm", "transformer")


def tiny_model(family: str, seed: int, **options):
    """A small model of `family` with weights drawn from `seed` (wide initialisation, so decoding differs by seed)."""
    torch.manual_seed(seed)
    vocab_size = len(letters_tokenizer())
    if family == "lstm":
        config = Seq2SeqLSTMConfig(
            vocab_size=vocab_size, hidden_size=16, embedding_size=8, attention="general", **options
        )
        return Seq2SeqLSTMForConditionalGeneration(config).eval()
    sizes = dict(
        d_model=16, encoder_layers=1, decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_ffn_dim=32, decoder_ffn_dim=32, init_std=0.3,
    )  # fmt: skip
    config = Seq2SeqTransformerConfig(vocab_size=vocab_size, **{**sizes, **options})
    return Seq2SeqTransformerForConditionalGeneration(config).eval()


def save(folder, family: str, seed: int, tokenizer=None, **options):
    tiny_model(family, seed, **options).save_pretrained(folder)
    (tokenizer or letters_tokenizer()).save_pretrained(folder)
    return folder


def average(capsys, *argv) -> tuple[int, str]:
    """Exit status and printed error of `attnseq average ARGV`."""
    capsys.readouterr()
    status = main(["average", *map(str, argv)])
    return status, capsys.readouterr().err


def stored_weights(folder) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


@pytest.mark.parametrize("family", FAMILIES)
def test_the_average_of_identical_checkpoints_is_that_checkpoint(family, tmp_path, capsys):
    first = save(tmp_path / "a", family, seed=0)
    shutil.copytree(first, tmp_path / "b")
    assert average(capsys, first, tmp_path / "b", "--output_dir", tmp_path / "avg")[0] == 0
    original, averaged = stored_weights(first), stored_weights(tmp_path / "avg")
    assert original.keys() == averaged.keys()
    for name, tensor in original.items():
        assert averaged[name].dtype == tensor.dtype and torch.equal(averaged[name], tensor), name
    sources, _ = reversal_pairs(8, seed=5)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "avg")
    before = decode(AutoModelForSeq2SeqLM.from_pretrained(first).eval(), tokenizer, sources, num_beams=3)
    after = decode(AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "avg").eval(), tokenizer, sources, num_beams=3)
    assert after == before
    assert len(set(before)) > 1  # the outputs depend on the input: the comparison can fail


@pytest.mark.parametrize("family", FAMILIES)
def test_the_average_of_two_checkpoints_is_their_mean_tensor_by_tensor(family, tmp_path, capsys):
    first, second = save(tmp_path / "a", family, seed=0), save(tmp_path / "b", family, seed=1)
    assert average(capsys, first, second, "--output_dir", tmp_path / "avg")[0] == 0
    one, two, mean = stored_weights(first), stored_weights(second), stored_weights(tmp_path / "avg")
    assert one.keys() == mean.keys()
    differing = 0
    for name in one:
        torch.testing.assert_close(mean[name], (one[name].double() + two[name].double()).div(2).float(), msg=name)
        differing += not torch.equal(one[name], two[name])
    assert differing >= 5  # the two checkpoints really differ (biases and norms start equal)
    # a complete checkpoint: config and generation config of the first, its tokenizer, a card
    out = tmp_path / "avg"
    for name in ("config.json", "generation_config.json", "tokenizer_config.json", "vocab.json", "README.md"):
        assert (out / name).is_file(), name
    assert architecture_config(out) == architecture_config(first)
    assert (out / "vocab.json").read_bytes() == (first / "vocab.json").read_bytes()
    model = AutoModelForSeq2SeqLM.from_pretrained(out)
    assert decode(model.eval(), AutoTokenizer.from_pretrained(out), ["abc"])  # loads and generates


def test_the_mean_keeps_each_tensors_dtype_and_is_accumulated_in_float64(tmp_path):
    first = tiny_model("transformer", seed=0).to(torch.bfloat16)
    second = tiny_model("transformer", seed=1).to(torch.bfloat16)
    first.save_pretrained(tmp_path / "a")
    second.save_pretrained(tmp_path / "b")
    mean = average_weights([tmp_path / "a", tmp_path / "b"])
    one, two = stored_weights(tmp_path / "a"), stored_weights(tmp_path / "b")
    for name, tensor in mean.items():
        assert tensor.dtype == torch.bfloat16
        assert torch.equal(tensor, ((one[name].double() + two[name].double()) / 2).to(torch.bfloat16)), name


@pytest.mark.parametrize(
    ("family", "options"),
    [
        ("lstm", {"tie_word_embeddings": True, "attentional_size": 8}),
        ("transformer", {"tie_word_embeddings": True, "share_encoder_decoder_embeddings": True}),
    ],
)
def test_tied_and_shared_weights_stay_tied(family, options, tmp_path, capsys):
    first = save(tmp_path / "a", family, seed=0, **options)
    second = save(tmp_path / "b", family, seed=1, **options)

    # the decoder embedding is the output layer's weight (and, in the Transformer, the encoder embedding too)
    tied = ["model.decoder.embed_tokens.weight", "lm_head.weight"]
    if family == "transformer":
        tied.append("model.encoder.embed_tokens.weight")

    in_memory = average_checkpoints([first, second])
    assert average(capsys, first, second, "--output_dir", tmp_path / "avg")[0] == 0
    saved = AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "avg")
    one, two = (AutoModelForSeq2SeqLM.from_pretrained(folder) for folder in (first, second))
    expected = (one.lm_head.weight + two.lm_head.weight) / 2
    assert not torch.equal(one.lm_head.weight, two.lm_head.weight)
    for model in (in_memory, saved):
        weights = dict(model.named_parameters(remove_duplicate=False))
        assert len({weights[name].data_ptr() for name in tied}) == 1  # one storage
        torch.testing.assert_close(weights["lm_head.weight"], expected)
        with torch.no_grad():  # tied, not copies: a change to one is a change to all
            weights["lm_head.weight"][0, 0] += 1.0
        assert all(weights[name][0, 0] == weights["lm_head.weight"][0, 0] for name in tied)


def test_configs_that_differ_in_the_architecture_are_refused_by_key(tmp_path, capsys):
    first = save(tmp_path / "a", "transformer", seed=0)
    second = save(tmp_path / "b", "transformer", seed=1, decoder_layers=3)
    status, error = average(capsys, first, second, "--output_dir", tmp_path / "avg")
    assert status == 2
    assert error.count("\n") == 1 and "not of one architecture" in error and "decoder_layers (2 vs 3)" in error
    assert not (tmp_path / "avg").exists()
    other_family = save(tmp_path / "c", "lstm", seed=0)
    status, error = average(capsys, first, other_family, "--output_dir", tmp_path / "avg")
    assert status == 2 and "model_type" in error and not (tmp_path / "avg").exists()


def test_bookkeeping_keys_of_the_config_do_not_count(tmp_path, capsys):
    first = save(tmp_path / "a", "lstm", seed=0)
    second = save(tmp_path / "b", "lstm", seed=1)
    config = json.loads((second / "config.json").read_text())
    config["transformers_version"] = "5.0.0"
    config["use_cache"] = False
    (second / "config.json").write_text(json.dumps(config))
    assert average(capsys, first, second, "--output_dir", tmp_path / "avg")[0] == 0


def test_checkpoints_with_other_tokenizers_are_refused(tmp_path, capsys):
    other = CharTokenizer.from_texts(["klmnopqrst"])  # as many characters as the letters: the configs are equal
    assert len(other) == len(letters_tokenizer()) and "k" not in LETTERS
    first = save(tmp_path / "a", "lstm", seed=0)
    second = save(tmp_path / "b", "lstm", seed=1, tokenizer=other)
    status, error = average(capsys, first, second, "--output_dir", tmp_path / "avg")
    assert status == 2 and "do not have the same tokenizer" in error and "vocab.json" in error
    assert not (tmp_path / "avg").exists()
    (second / "vocab.json").unlink()  # one with a tokenizer, one with another (or none): refused as well
    assert average(capsys, first, second, "--output_dir", tmp_path / "avg")[0] == 2


def test_too_few_missing_or_repeated_checkpoints_are_refused(tmp_path, capsys):
    first = save(tmp_path / "a", "lstm", seed=0)
    status, error = average(capsys, first, "--output_dir", tmp_path / "avg")
    assert status == 2 and "at least 2 checkpoints, got 1" in error
    status, error = average(capsys, first, tmp_path / "missing", "--output_dir", tmp_path / "avg")
    assert status == 2 and f"{tmp_path / 'missing'} is not a checkpoint folder" in error
    status, error = average(capsys, first, tmp_path / "a" / ".", "--output_dir", tmp_path / "avg")
    assert status == 2 and "are the same checkpoint" in error
    (tmp_path / "empty").mkdir()
    status, error = average(capsys, first, tmp_path / "empty", "--output_dir", tmp_path / "avg")
    assert status == 2 and "has no config.json" in error
    with pytest.raises(CheckpointsRefused, match="at least 2"):
        average_checkpoints([first])
    assert not (tmp_path / "avg").exists()


def test_the_output_folder_follows_the_one_folder_policy(tmp_path, capsys, monkeypatch):
    first = save(tmp_path / "run" / "checkpoint-1", "lstm", seed=0)
    second = save(tmp_path / "run" / "checkpoint-2", "lstm", seed=1)
    before = {path: path.read_bytes() for path in (tmp_path / "run").rglob("*") if path.is_file()}

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    status, error = average(capsys, first, second, "--output_dir", foreign)
    assert status == 2 and "no export wrote it" in error
    assert [path.name for path in foreign.iterdir()] == ["notes.txt"]
    assert (foreign / "notes.txt").read_text() == "keep me"

    status, error = average(capsys, first, second, "--output_dir", tmp_path / "run")  # holds the inputs
    assert status == 2 and "being averaged" in error
    status, error = average(capsys, first, second, "--output_dir", first)
    assert status == 2 and "being averaged" in error
    monkeypatch.chdir(tmp_path / "mine")
    status, error = average(capsys, first, second, "--output_dir", ".")
    assert status == 2 and "current directory" in error
    monkeypatch.chdir(tmp_path)
    after = {path: path.read_bytes() for path in (tmp_path / "run").rglob("*") if path.is_file()}
    assert after == before  # nothing lost or changed

    out = tmp_path / "avg"
    assert average(capsys, first, second, "--output_dir", out)[0] == 0
    assert json.loads((out / EXPORT_MARKER).read_text())["format"] == "average"
    written = (out / "model.safetensors").read_bytes()
    status, error = average(capsys, second, first, "--output_dir", out)
    assert status == 2 and "--overwrite" in error
    assert average(capsys, second, first, "--output_dir", out, "--overwrite")[0] == 0
    (out / "extra.txt").write_text("mine")
    status, error = average(capsys, first, second, "--output_dir", out, "--overwrite")
    assert status == 2 and "extra.txt" in error and (out / "extra.txt").read_text() == "mine"
    assert len((out / "model.safetensors").read_bytes()) == len(written)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["avg", "mine", "run"]  # no build folder left


def test_the_card_and_run_record_name_the_checkpoints_averaged(tmp_path, capsys):
    first = save(tmp_path / "run" / "checkpoint-10", "transformer", seed=0)
    second = save(tmp_path / "run" / "checkpoint-20", "transformer", seed=1)
    record = {"dataset": {"name": "the built-in `reverse` task of attnseq", "hub_id": None}, "example": None,
              "hyperparameters": {"learning_rate": 0.005}, "base_model": None}  # fmt: skip
    (tmp_path / "run" / "attnseq_training.json").write_text(json.dumps(record))  # the run's, above its checkpoints
    assert average(capsys, first, second, "--output_dir", tmp_path / "avg")[0] == 0
    out = tmp_path / "avg"
    run = json.loads((out / "attnseq_training.json").read_text())
    assert run["averaged"]["checkpoints"] == [str(first), str(second)]
    assert run["dataset"] == record["dataset"] and run["hyperparameters"] == record["hyperparameters"]
    card = (out / "README.md").read_text()
    assert "## Checkpoint averaging" in card
    assert f"mean of the weights of 2 checkpoints: `{first}`, `{second}`" in card
    assert "learning_rate: 0.005" in card and "`reverse` task" in card
    assert not (out / "test_results.json").exists()  # results of other weights are left behind
    # a card written again (`attnseq card`) keeps the note
    assert main(["card", str(out), "--example", "abc"]) == 0
    assert "## Checkpoint averaging" in (out / "README.md").read_text()
    assert json.loads((out / "attnseq_training.json").read_text())["averaged"] == run["averaged"]
