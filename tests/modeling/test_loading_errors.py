"""Loading errors that say what is wrong: a Trainer folder without weights, and another model's weights."""

import shutil

import pytest
import torch

from attnseq import (
    CharTokenizer,
    Seq2SeqLSTMConfig,
    Seq2SeqLSTMForConditionalGeneration,
    Seq2SeqTransformerConfig,
    Seq2SeqTransformerForConditionalGeneration,
)
from attnseq.cli import main


@pytest.fixture
def lstm_folder(tmp_path):
    tokenizer = CharTokenizer.from_texts(["abcdef"])
    config = Seq2SeqLSTMConfig(vocab_size=len(tokenizer), hidden_size=8, embedding_size=4)
    Seq2SeqLSTMForConditionalGeneration(config).save_pretrained(tmp_path / "lstm")
    tokenizer.save_pretrained(tmp_path / "lstm")
    return tmp_path / "lstm"


def test_a_trainer_folder_without_weights_does_not_call_training_args_weights(lstm_folder):
    (lstm_folder / "model.safetensors").unlink()
    torch.save({"learning_rate": 1e-3}, lstm_folder / "training_args.bin")
    (lstm_folder / "checkpoint-5").mkdir()
    with pytest.raises(OSError) as raised:
        Seq2SeqLSTMForConditionalGeneration.from_pretrained(lstm_folder)
    message = str(raised.value)
    assert "pickle" not in message and "holds its weights" not in message
    assert "has no model.safetensors" in message and "training_args.bin" in message and "not weights" in message
    assert "checkpoint-5" in message


def test_another_familys_weights_are_one_error_line(lstm_folder, tmp_path, capsys):
    """A Transformer's config.json beside the LSTM's weights (the tables both name, e.g. the output layer, differ
    in shape): one error line, neither a traceback nor transformers' loading report."""
    config = Seq2SeqTransformerConfig(
        vocab_size=30, d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
    )  # fmt: skip
    Seq2SeqTransformerForConditionalGeneration(config).save_pretrained(tmp_path / "transformer")
    shutil.copy(tmp_path / "transformer" / "config.json", lstm_folder / "config.json")
    assert main(["generate", str(lstm_folder), "abc"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "LOAD REPORT" not in err
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith("attnseq generate: error: The weights of")
    assert "other shapes" in errors[0]
