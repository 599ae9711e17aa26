"""Checkpoint files: a failed save leaves the previous checkpoint intact, damaged or mislabelled files give
clear errors, weights come from safetensors only and attnseq checkpoints never need `trust_remote_code`.

Covered elsewhere and not repeated: the model card is replaced whole or not at all
(tests/hub_cards/test_model_card.py::test_card_is_replaced_whole_or_not_at_all), so is an export
(tests/hub_cards/test_remote_code_export.py::test_export_replaces_the_folder_whole_or_not_at_all); pickle-only
checkpoints and `use_safetensors=False` are refused (test_remote_code_export.py::
test_pickle_only_checkpoints_are_refused); the Hub test server refuses writes without a valid write token
(tests/hub_cards/test_hub_push.py::test_pushes_without_a_valid_token_fail_clearly_and_write_nothing and
tests/hub_cards/test_hub_server.py::test_client_writes_need_a_write_token_for_the_namespace).
"""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import pytest
import torch
from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer, modeling_utils

import attnseq  # noqa: F401  (registers the model types)
from attnseq import (
    CharTokenizer,
    Seq2SeqLSTMConfig,
    Seq2SeqLSTMForConditionalGeneration,
    Seq2SeqTransformerConfig,
    Seq2SeqTransformerForConditionalGeneration,
)
from attnseq.atomic import STAGING_INFIX, replaced_file
from attnseq.hub_cards import export_for_remote_code

TOKENIZER = CharTokenizer.from_texts(["0123456789+"])
VOCAB = len(TOKENIZER)
INPUTS = {"input_ids": torch.tensor([[4, 5, 6, 2]]), "decoder_input_ids": torch.tensor([[1, 7, 8]])}


def lstm(seed: int):
    torch.manual_seed(seed)
    return Seq2SeqLSTMForConditionalGeneration(
        Seq2SeqLSTMConfig(vocab_size=VOCAB, embedding_size=4, hidden_size=8)
    ).eval()


def transformer(seed: int):
    torch.manual_seed(seed)
    config = Seq2SeqTransformerConfig(
        vocab_size=VOCAB,
        d_model=8,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=8,
        decoder_ffn_dim=8,
        attn_implementation="eager",
    )
    return Seq2SeqTransformerForConditionalGeneration(config).eval()


FAMILIES = {"lstm": lstm, "transformer": transformer}


@pytest.fixture(params=list(FAMILIES))
def family(request):
    return request.param


def logits(model):
    with torch.no_grad():
        return model(**INPUTS).logits


def load(folder):
    return AutoModelForSeq2SeqLM.from_pretrained(folder, attn_implementation="eager").eval()


def snapshot(folder) -> dict[str, str]:
    """Every file in `folder` with a hash of its bytes."""
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir())}


def saved_checkpoint(folder, family, seed=0):
    model = FAMILIES[family](seed)
    model.save_pretrained(folder)
    TOKENIZER.save_pretrained(folder)
    return model


def no_staging_folders_left(parent) -> bool:
    return not [path for path in parent.rglob("*") if STAGING_INFIX in path.name]


# --- a failed save leaves the previous checkpoint intact -----------------------------------------------------


@pytest.mark.parametrize(
    "failure", [OSError(28, "No space left on device"), KeyboardInterrupt()], ids=["disk-full", "interrupt"]
)
def test_a_failed_model_save_leaves_the_previous_checkpoint_intact(tmp_path, family, failure, monkeypatch):
    folder = tmp_path / "checkpoint"
    previous = saved_checkpoint(folder, family)
    before = snapshot(folder)

    def half_written(tensors, filename, metadata=None):
        with open(filename, "wb") as handle:
            handle.write(b"\x00" * 100)  # what a full disk leaves behind
        raise failure

    monkeypatch.setattr(modeling_utils, "safe_save_file", half_written)
    with pytest.raises(type(failure)):
        FAMILIES[family](seed=1).save_pretrained(folder)
    monkeypatch.undo()

    assert snapshot(folder) == before
    assert no_staging_folders_left(tmp_path)
    assert torch.equal(logits(load(folder)), logits(previous))
    replacement = FAMILIES[family](seed=1)
    replacement.save_pretrained(folder)  # a save that succeeds replaces the weights and keeps the tokenizer
    assert torch.equal(logits(load(folder)), logits(replacement))
    assert {
        name: digest for name, digest in snapshot(folder).items() if name in ("vocab.json", "tokenizer_config.json")
    } == {name: before[name] for name in ("vocab.json", "tokenizer_config.json")}


def test_a_failed_tokenizer_save_leaves_the_previous_tokenizer_intact(tmp_path, monkeypatch):
    folder = tmp_path / "checkpoint"
    saved_checkpoint(folder, "lstm")
    before = snapshot(folder)

    def broken_vocabulary(self, save_directory, filename_prefix=None):
        with open(f"{save_directory}/vocab.json", "w") as handle:
            handle.write('{"<pad>": 0, ')
        raise OSError(28, "No space left on device")

    other = CharTokenizer.from_texts(["abc"])
    monkeypatch.setattr(CharTokenizer, "save_vocabulary", broken_vocabulary)
    with pytest.raises(OSError, match="No space left"):
        other.save_pretrained(folder)
    monkeypatch.undo()
    assert snapshot(folder) == before and no_staging_folders_left(tmp_path)
    assert AutoTokenizer.from_pretrained(folder).get_vocab() == TOKENIZER.get_vocab()

    files = [Path(path) for path in other.save_pretrained(folder)]
    assert {path.parent for path in files} == {folder} and (folder / "vocab.json") in files
    assert AutoTokenizer.from_pretrained(folder).get_vocab() == other.get_vocab()


def test_saving_into_a_file_is_a_clear_error(tmp_path, family):
    path = tmp_path / "model.txt"
    path.write_text("not a folder")
    with pytest.raises(NotADirectoryError, match="is a file; a checkpoint is saved into a folder"):
        FAMILIES[family](0).save_pretrained(path)
    with pytest.raises(NotADirectoryError):
        TOKENIZER.save_pretrained(path)
    assert path.read_text() == "not a folder"


def test_weights_of_an_earlier_save_that_were_replaced_are_removed(tmp_path, family):
    folder = tmp_path / "checkpoint"
    model = FAMILIES[family](0)
    model.save_pretrained(folder, max_shard_size="1KB")
    shards = sorted(path.name for path in folder.glob("model-*.safetensors"))
    assert len(shards) > 1 and (folder / "model.safetensors.index.json").is_file()
    model.save_pretrained(folder)
    assert sorted(path.name for path in folder.glob("model*.safetensors*")) == ["model.safetensors"]
    sharded_again = FAMILIES[family](1)
    sharded_again.save_pretrained(folder, max_shard_size="1KB")
    assert not (folder / "model.safetensors").exists()  # else a loader would read the old single file
    assert torch.equal(logits(load(folder)), logits(sharded_again))


# --- damaged and mislabelled checkpoints ------------------------------------------------------------------------


def damage_header(data: bytes) -> bytes:
    return data[:8] + b"{not json" + data[17:]


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],
        lambda data: b"",
        damage_header,
        lambda data: (10**12).to_bytes(8, "little") + data[8:],
    ],
    ids=["truncated", "empty", "header-not-json", "header-length-too-large"],
)
def test_damaged_weights_are_a_clear_error(tmp_path, family, damage):
    folder = tmp_path / "checkpoint"
    saved_checkpoint(folder, family)
    weights = folder / "model.safetensors"
    weights.write_bytes(damage(weights.read_bytes()))
    with pytest.raises(OSError, match=r"model.safetensors is truncated or corrupt.*Save the checkpoint again"):
        load(folder)


def test_a_config_that_is_not_json_is_a_clear_error(tmp_path, family):
    folder = tmp_path / "checkpoint"
    saved_checkpoint(folder, family)
    config = folder / "config.json"
    config.write_text(config.read_text()[:40])
    with pytest.raises(OSError, match="config.json.*not a valid JSON file"):
        load(folder)


def set_model_type(folder, model_type):
    config = json.loads((folder / "config.json").read_text())
    if model_type is None:
        del config["model_type"]
    else:
        config["model_type"] = model_type
    (folder / "config.json").write_text(json.dumps(config))


OTHER = {"lstm": "transformer", "transformer": "lstm"}
CLASSES = {"lstm": Seq2SeqLSTMForConditionalGeneration, "transformer": Seq2SeqTransformerForConditionalGeneration}


def test_a_wrong_model_type_is_a_clear_error(tmp_path, family):
    folder = tmp_path / "checkpoint"
    saved_checkpoint(folder, family)
    other_type = f"seq2seq_{OTHER[family]}"
    set_model_type(folder, other_type)
    # the Auto classes read the other family's config: its options are unknown there, and the message says why
    with pytest.raises(ValueError, match=rf"unknown option.*read as model_type='{other_type}'.*model_type is wrong"):
        AutoModelForSeq2SeqLM.from_pretrained(folder)
    # a family's own class refuses a config of another model type instead of loading it half-way
    with pytest.raises(
        ValueError, match=rf"reads model_type 'seq2seq_{family}', but the config says model_type='{other_type}'"
    ):
        CLASSES[family].from_pretrained(folder)
    set_model_type(folder, "bert")
    with pytest.raises(ValueError, match="model_type='bert'"):
        CLASSES[family].from_pretrained(folder)
    with pytest.raises(ValueError, match="BertConfig"):
        AutoModelForSeq2SeqLM.from_pretrained(folder)
    set_model_type(folder, "seq2seq_lstmm")
    with pytest.raises(ValueError, match="model type `seq2seq_lstmm`"):
        AutoModelForSeq2SeqLM.from_pretrained(folder)
    set_model_type(folder, None)
    with pytest.raises(ValueError, match="Should have a `model_type` key"):
        AutoModelForSeq2SeqLM.from_pretrained(folder)
    assert torch.isfinite(logits(CLASSES[family].from_pretrained(folder))).all()  # the class itself knows its type


# --- security ----------------------------------------------------------------------------------------------------


class Payload:
    """Unpickling this object creates the file `path`: proof that a pickle was loaded."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def test_a_pickle_next_to_the_safetensors_weights_is_never_opened(tmp_path, family):
    folder = tmp_path / "checkpoint"
    model = saved_checkpoint(folder, family)
    marker = tmp_path / "unpickled"
    for name in ("pytorch_model.bin", "training_args.bin"):
        (folder / name).write_bytes(pickle.dumps({"weight": Payload(marker)}))
    with pytest.raises(FileNotFoundError):  # the payload is live: loading the pickle would create the marker
        marker.read_text()
    loaded = load(folder)
    assert torch.equal(logits(loaded), logits(model))
    AutoConfig.from_pretrained(folder)
    AutoTokenizer.from_pretrained(folder)
    assert not marker.exists()


def test_checkpoints_never_need_trust_remote_code_where_attnseq_is_installed(tmp_path, family):
    folder = tmp_path / "checkpoint"
    model = saved_checkpoint(folder, family)
    exported = export_for_remote_code(folder, tmp_path / "exported")  # carries auto_map and code files
    for checkpoint in (folder, exported):
        config = AutoConfig.from_pretrained(checkpoint, trust_remote_code=False)
        loaded = AutoModelForSeq2SeqLM.from_pretrained(checkpoint, trust_remote_code=False, attn_implementation="eager")
        tokenizer = AutoTokenizer.from_pretrained(checkpoint, trust_remote_code=False)
        assert type(config).__module__.startswith("attnseq.configuration")
        assert type(loaded) is type(model) and type(tokenizer) is CharTokenizer
        assert torch.equal(logits(loaded), logits(model))


def test_a_file_is_replaced_whole_or_not_at_all(tmp_path):
    path = tmp_path / "README.md"
    path.write_text("old card\n")
    with pytest.raises(OSError, match="disk full"):
        with replaced_file(path) as tmp:
            tmp.write_text("half a new ca")
            raise OSError(28, "disk full")
    assert path.read_text() == "old card\n" and sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]

    with replaced_file(path) as tmp:
        tmp.write_text("new card\n")
    assert path.read_text() == "new card\n" and sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]
    assert path.stat().st_mode & 0o777 == 0o644
