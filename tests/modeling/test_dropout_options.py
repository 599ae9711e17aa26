"""The separate dropout options of both families (`embedding_dropout`, the LSTM's `hidden_dropout` and
`output_dropout`, `source_word_dropout`, `target_word_dropout`): validated, defaulting to what `dropout` did, each
acting in training only, and kept through save and load (`attnseq train`'s flags: tests/training/test_dropout_flags.py)."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoConfig, AutoModelForSeq2SeqLM

import attnseq  # noqa: F401  (registers the model types)
from attnseq import (
    Seq2SeqLSTMConfig,
    Seq2SeqLSTMForConditionalGeneration,
    Seq2SeqTransformerConfig,
    Seq2SeqTransformerForConditionalGeneration,
)
from attnseq.modeling.seq2seq import drop_words

LSTM_OPTIONS = ("embedding_dropout", "hidden_dropout", "output_dropout", "source_word_dropout", "target_word_dropout")
TRANSFORMER_OPTIONS = ("embedding_dropout", "source_word_dropout", "target_word_dropout")
# every rate of each family, for a model in which only the option under test drops anything
NO_DROPOUT = {
    "lstm": dict.fromkeys(("dropout", *LSTM_OPTIONS), 0.0),
    "transformer": dict.fromkeys(("dropout", "attention_dropout", "activation_dropout", *TRANSFORMER_OPTIONS), 0.0),
}


def lstm(**options) -> Seq2SeqLSTMForConditionalGeneration:
    """A small GRU with two layers each side (so that `hidden_dropout` has a place) and dot attention."""
    config = Seq2SeqLSTMConfig(
        vocab_size=20, embedding_size=8, hidden_size=8, cell="gru", encoder_layers=2, decoder_layers=2, **options
    )
    return Seq2SeqLSTMForConditionalGeneration(config)


def transformer(**options) -> Seq2SeqTransformerForConditionalGeneration:
    """A small Transformer whose token vectors are not dwarfed by the positions (`init_std` 0.5)."""
    config = Seq2SeqTransformerConfig(
        vocab_size=20, d_model=8, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=16, decoder_ffn_dim=16, init_std=0.5, **options,
    )  # fmt: skip
    return Seq2SeqTransformerForConditionalGeneration(config)


BUILD = {"lstm": lstm, "transformer": transformer}
INPUTS = {
    "input_ids": torch.tensor([[5, 6, 7, 8, 9, 2], [10, 11, 12, 2, 0, 0]]),
    "attention_mask": torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]]),
    "decoder_input_ids": torch.tensor([[1, 13, 14, 15], [1, 16, 17, 2]]),
}


def logits(model, training: bool, seed: int = 0) -> torch.Tensor:
    """`(2, 4, 20)` logits of the fixed batch, in training mode after `torch.manual_seed(seed)` or in eval mode."""
    model.train(training)
    torch.manual_seed(seed)
    with torch.no_grad():
        return model(**INPUTS).logits


def same_weights(family: str, reference, **options):
    model = BUILD[family](**options)
    model.load_state_dict(reference.state_dict())
    return model


@pytest.mark.parametrize(
    "build, options, message",
    [
        (Seq2SeqLSTMConfig, {"embedding_dropout": 1.0}, r"embedding_dropout must be None .* or a number in \[0, 1\)"),
        (Seq2SeqLSTMConfig, {"encoder_layers": 2, "hidden_dropout": "0.2"}, "hidden_dropout must be None .*'0.2'"),
        (Seq2SeqLSTMConfig, {"output_dropout": -0.1}, r"output_dropout must be None .*got -0.1"),
        (Seq2SeqLSTMConfig, {"source_word_dropout": 1.0}, r"source_word_dropout must be a number in \[0, 1\)"),
        (Seq2SeqLSTMConfig, {"target_word_dropout": None}, r"target_word_dropout must be a number .*got None"),
        (Seq2SeqLSTMConfig, {"hidden_dropout": 0.2}, "hidden_dropout=0.2 acts between stacked RNN layers.*allowed"),
        (Seq2SeqLSTMConfig, {"hiden_dropout": 0.2}, "unknown option.*Did you mean 'hidden_dropout'"),
        (Seq2SeqTransformerConfig, {"embedding_dropout": 1.5}, r"embedding_dropout must be None .*got 1.5"),
        (Seq2SeqTransformerConfig, {"source_word_dropout": -0.5}, r"source_word_dropout must be .*got -0.5"),
        (Seq2SeqTransformerConfig, {"target_word_dropout": True}, r"target_word_dropout must be .*got True"),
        (Seq2SeqTransformerConfig, {"hidden_dropout": 0.1}, "unknown option.*'hidden_dropout'"),
    ],
)
def test_invalid_dropout_options_raise_value_error_naming_them(build, options, message):
    with pytest.raises(ValueError, match=message):
        build(**options)


@pytest.mark.parametrize("config_class", [Seq2SeqLSTMConfig, Seq2SeqTransformerConfig])
def test_separate_rates_default_to_dropout_and_word_dropout_to_off(config_class):
    config = config_class(dropout=0.3)
    assert config.dropout_options and all(getattr(config, name) is None for name in config.dropout_options)
    assert all(config.dropout_of(name) == 0.3 for name in config.dropout_options)
    assert config.source_word_dropout == config.target_word_dropout == 0.0
    assert config_class(dropout=0.3, embedding_dropout=0).dropout_of("embedding_dropout") == 0.0
    with pytest.raises(ValueError, match="'attention_dropout' is not a dropout option"):
        config.dropout_of("attention_dropout")


@pytest.mark.parametrize("family", ["lstm", "transformer"])
def test_defaults_train_exactly_as_the_same_rates_given_explicitly(family):
    """Left at None, each separate rate draws the same units as `dropout` did (the saved checkpoints' training-mode
    logits, tests/reliability/test_saved_checkpoints.py, check it against the code before the options existed)."""
    torch.manual_seed(0)
    default = BUILD[family](dropout=0.3)
    explicit = same_weights(family, default, dropout=0.3, **dict.fromkeys(default.config.dropout_options, 0.3))
    torch.testing.assert_close(logits(explicit, True), logits(default, True), rtol=0, atol=0)
    assert not torch.allclose(logits(default, True), logits(default, False))


@pytest.mark.parametrize(
    "family, option", [("lstm", name) for name in LSTM_OPTIONS] + [("transformer", n) for n in TRANSFORMER_OPTIONS]
)
def test_each_option_changes_training_outputs_and_leaves_eval_outputs_alone(family, option):
    torch.manual_seed(0)
    off = BUILD[family](**NO_DROPOUT[family])
    on = same_weights(family, off, **{**NO_DROPOUT[family], option: 0.5})
    assert torch.equal(logits(off, True), logits(off, False)), "nothing else drops"
    assert not torch.allclose(logits(on, True), logits(off, True), atol=1e-4), f"{option} drops in training"
    assert not torch.allclose(logits(on, True, seed=0), logits(on, True, seed=1), atol=1e-4), "a new draw each time"
    torch.testing.assert_close(logits(on, False), logits(off, False), rtol=0, atol=0)


@pytest.mark.parametrize("family", ["lstm", "transformer"])
def test_separate_rates_of_zero_turn_dropout_off_at_their_places(family):
    """With `dropout` 0.5 and every separate rate 0, an LSTM drops nothing; a Transformer drops only inside its
    layers (residual), which its own options already set apart."""
    torch.manual_seed(0)
    off = BUILD[family](**NO_DROPOUT[family])
    zeroed = same_weights(family, off, dropout=0.5, **dict.fromkeys(off.config.dropout_options, 0.0))
    if family == "lstm":
        torch.testing.assert_close(logits(zeroed, True), logits(off, True), rtol=0, atol=0)
    else:
        assert zeroed.model.encoder.embedding_dropout == 0.0 and zeroed.model.decoder.embedding_dropout == 0.0
        assert not torch.allclose(logits(zeroed, True), logits(off, True), atol=1e-4)


def test_word_dropout_zeroes_whole_token_vectors_in_training_only():
    torch.manual_seed(0)
    vectors = torch.randn(4, 50, 6) + 10  # no entry is zero by chance
    dropped = drop_words(vectors, 0.3, training=True)
    zeroed = (dropped == 0).all(-1)  # (4, 50): whole vectors zeroed
    assert torch.equal((dropped == 0).any(-1), zeroed), "a vector is zeroed whole or not at all"
    assert 0 < zeroed.sum() < zeroed.numel()
    torch.testing.assert_close(dropped[~zeroed], vectors[~zeroed] / 0.7)
    state = torch.get_rng_state()
    assert drop_words(vectors, 0.3, training=False) is vectors
    assert drop_words(vectors, 0.0, training=True) is vectors
    assert torch.equal(torch.get_rng_state(), state), "off, it draws nothing (old runs keep their random stream)"


@pytest.mark.parametrize("family", ["lstm", "transformer"])
def test_options_round_trip_through_save_and_load(family, tmp_path):
    options = {"dropout": 0.2, "embedding_dropout": 0.25, "source_word_dropout": 0.1, "target_word_dropout": 0.05}
    if family == "lstm":
        options.update(hidden_dropout=0.35, output_dropout=0.4)
    torch.manual_seed(0)
    model = BUILD[family](**options)
    model.save_pretrained(tmp_path)
    again = AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    assert {name: getattr(again.config, name) for name in options} == options
    torch.testing.assert_close(logits(again, True), logits(model, True), rtol=0, atol=0)
    default = BUILD[family]()
    default.save_pretrained(tmp_path / "default")
    loaded = AutoConfig.from_pretrained(tmp_path / "default")
    assert all(getattr(loaded, name) is None for name in loaded.dropout_options)
