"""Hypothesis strategies for the reliability tests: valid and invalid configurations of both families at tiny
sizes, and padded batches for them."""

from __future__ import annotations

import math
from dataclasses import fields

import torch
from hypothesis import strategies as st
from transformers import GenerationConfig, PretrainedConfig

from attnseq.configuration.lstm import ATTENTIONS, CELLS, Seq2SeqLSTMConfig
from attnseq.configuration.transformer import ACTIVATIONS, POSITION_EMBEDDINGS, Seq2SeqTransformerConfig
from attnseq.configuration.validation import _TRANSFORMERS_KEYS

MAX_SOURCE_LENGTH = 6
MAX_NEW_TOKENS = 4
# Learned positions must hold the longest source and the longest decoder input of a generation.
MIN_POSITIONS = max(MAX_SOURCE_LENGTH, MAX_NEW_TOKENS + 1)


@st.composite
def special_token_ids(draw, vocab_size: int) -> dict:
    """Distinct pad, bos and eos ids anywhere in the vocabulary (not only 0, 1, 2)."""
    pad, bos, eos = draw(st.permutations(range(vocab_size)))[:3]
    return {"vocab_size": vocab_size, "pad_token_id": pad, "bos_token_id": bos, "eos_token_id": eos}


@st.composite
def lstm_options(draw) -> dict:
    """Keyword arguments of a valid tiny `Seq2SeqLSTMConfig`: every option, every allowed combination."""
    attention = draw(st.sampled_from(ATTENTIONS))
    attends = attention != "none"
    encoder_layers, decoder_layers = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    options = {
        **draw(special_token_ids(draw(st.integers(4, 12)))),
        "embedding_size": draw(st.integers(1, 8)),
        "hidden_size": 2 * draw(st.integers(1, 5)),  # even, so that a bidirectional encoder may split it
        "cell": draw(st.sampled_from(CELLS)),
        "attention": attention,
        "attention_window": draw(st.none() | st.integers(1, 3)) if attends else None,
        "input_feeding": draw(st.booleans()) if attends else False,
        "attentional_size": draw(st.none() | st.integers(1, 8)) if attends else None,
        "peeky": draw(st.booleans()),
        "reverse_source": draw(st.booleans()),
        "bidirectional_encoder": draw(st.booleans()),
        "encoder_layers": encoder_layers,
        "decoder_layers": decoder_layers,
        "residual": draw(st.booleans()),
        "dropout": draw(st.sampled_from([0.0, 0.25])),
        "embedding_dropout": draw(st.sampled_from([None, 0.0, 0.2])),
        # between stacked layers only: one layer each side has no such place
        "hidden_dropout": draw(st.sampled_from([None, 0.0, 0.2])) if max(encoder_layers, decoder_layers) > 1 else None,
        "output_dropout": draw(st.sampled_from([None, 0.0, 0.2])),
        "source_word_dropout": draw(st.sampled_from([0.0, 0.1])),
        "target_word_dropout": draw(st.sampled_from([0.0, 0.1])),
        "init_std": draw(st.none() | st.floats(0.05, 1.0)),
    }
    if draw(st.booleans()):  # tied output layer: its input must have embedding_size features
        options["tie_word_embeddings"] = True
        if attends:
            options["attentional_size"] = options["embedding_size"]
        else:
            options["embedding_size"] = options["hidden_size"] * (2 if options["peeky"] else 1)
    return options


@st.composite
def transformer_options(draw) -> dict:
    """Keyword arguments of a valid tiny `Seq2SeqTransformerConfig`, attention back-end included."""
    encoder_heads, decoder_heads = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    position_embedding = draw(st.sampled_from(POSITION_EMBEDDINGS))
    d_model = math.lcm(encoder_heads, decoder_heads) * draw(st.integers(1, 3))
    if position_embedding == "sinusoidal" and d_model % 2:
        d_model *= 2
    return {
        **draw(special_token_ids(draw(st.integers(4, 12)))),
        "d_model": d_model,
        "encoder_layers": draw(st.integers(1, 2)),
        "decoder_layers": draw(st.integers(1, 2)),
        "encoder_attention_heads": encoder_heads,
        "decoder_attention_heads": decoder_heads,
        "encoder_ffn_dim": draw(st.integers(1, 12)),
        "decoder_ffn_dim": draw(st.integers(1, 12)),
        "activation_function": draw(st.sampled_from(ACTIVATIONS)),
        "dropout": draw(st.sampled_from([0.0, 0.1])),
        "attention_dropout": draw(st.sampled_from([0.0, 0.1])),
        "activation_dropout": draw(st.sampled_from([0.0, 0.1])),
        "embedding_dropout": draw(st.sampled_from([None, 0.0, 0.2])),
        "source_word_dropout": draw(st.sampled_from([0.0, 0.1])),
        "target_word_dropout": draw(st.sampled_from([0.0, 0.1])),
        "norm_first": draw(st.booleans()),
        "position_embedding": position_embedding,
        "max_position_embeddings": draw(st.integers(MIN_POSITIONS, MIN_POSITIONS + 4)),
        "scale_embedding": draw(st.booleans()),
        "tie_word_embeddings": draw(st.booleans()),
        "share_encoder_decoder_embeddings": draw(st.booleans()),
        "layer_norm_eps": draw(st.sampled_from([1e-5, 1e-6, 0.1])),
        "init_std": draw(st.floats(0.02, 0.5)),
        "attn_implementation": draw(st.sampled_from(["eager", "sdpa"])),
    }


FAMILIES = {
    "lstm": (Seq2SeqLSTMConfig, lstm_options()),
    "transformer": (Seq2SeqTransformerConfig, transformer_options()),
}


@st.composite
def padded_batches(draw, vocab_size: int, pad_token_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`(input_ids, attention_mask)` of 1-3 rows of 1-6 tokens, right- or left-padded with `pad_token_id`,
    sometimes with a row of only padding (an empty source)."""
    lengths = draw(st.lists(st.integers(1, MAX_SOURCE_LENGTH), min_size=1, max_size=3))
    width = max(lengths)
    if len(lengths) > 1 and draw(st.booleans()):
        lengths[draw(st.integers(0, len(lengths) - 1))] = 0
    left = draw(st.booleans())
    ids = torch.full((len(lengths), width), pad_token_id)
    mask = torch.zeros(len(lengths), width, dtype=torch.long)
    for row, length in enumerate(lengths):
        tokens = draw(st.lists(st.integers(0, vocab_size - 1), min_size=length, max_size=length))
        span = slice(width - length, width) if left else slice(0, length)
        ids[row, span] = torch.tensor(tokens, dtype=torch.long)
        mask[row, span] = 1
    return ids, mask


# --- invalid configurations ---------------------------------------------------------------------------------------

NOT_INTEGERS = [0, -1, -7, 2.0, 1.5, "4", None, True, [4], float("nan")]
NOT_OPTIONAL_INTEGERS = [0, -2, 1.5, "2", True, False, [1]]
NOT_BOOLEANS = ["true", "False", 1, 0, None, 1.0, [True]]
NOT_PROBABILITIES = [-0.1, 1.0, 1.5, float("nan"), float("inf"), "0.1", True, None]
NOT_POSITIVE_NUMBERS = [0, 0.0, -1.0, float("nan"), float("inf"), "1e-5", True]
NOT_NAMES = [None, 3, "", "Dot", "LSTM ", "relu6", "rope", ["dot"]]
BOOLEAN_OPTIONS = {
    "input_feeding",
    "peeky",
    "reverse_source",
    "bidirectional_encoder",
    "residual",
    "tie_word_embeddings",
    "norm_first",
    "scale_embedding",
    "share_encoder_decoder_embeddings",
    "use_cache",
}


def bad_values(config_class, option: str, vocab_size: int) -> list:
    """Values of `option` that `config_class` must refuse with a `ValueError`."""
    if option.endswith("_token_id"):
        invalid = [-1, vocab_size, vocab_size + 5, 1.0, "0", True]
        return invalid if option == "decoder_start_token_id" else invalid + [None]
    if option in ("attention_window", "attentional_size"):
        return NOT_OPTIONAL_INTEGERS
    if option in ("cell", "attention", "activation_function", "position_embedding"):
        return NOT_NAMES
    if option in ("dropout", "attention_dropout", "activation_dropout", "source_word_dropout", "target_word_dropout"):
        return NOT_PROBABILITIES
    if option in ("embedding_dropout", "hidden_dropout", "output_dropout"):  # None: the rate of `dropout`
        return [value for value in NOT_PROBABILITIES if value is not None]
    if option in ("init_std", "layer_norm_eps"):
        # the LSTM family's init_std may be None (the book's init)
        return NOT_POSITIVE_NUMBERS + ([] if config_class is Seq2SeqLSTMConfig else [None])
    if option in BOOLEAN_OPTIONS:
        return NOT_BOOLEANS
    return NOT_INTEGERS


# (name, bad value) of options shared with `PretrainedConfig` that attnseq checks too.
COMMON_BAD_OPTIONS = [
    ("use_cache", "yes"),
    ("output_hidden_states", "no"),
    ("return_dict", 0),
    ("output_attentions", "x"),
    ("is_encoder_decoder", False),
    ("dtype", "int8"),
    ("dtype", "float33"),
    ("torch_dtype", torch.int64),
    ("attn_implementation", 3),
    ("model_type", "bert"),
]


def own_options(config_class) -> list[str]:
    """The options a family defines itself (not inherited from `PretrainedConfig`)."""
    inherited = {f.name for f in fields(PretrainedConfig)}
    return sorted(f.name for f in fields(config_class) if f.name not in inherited and f.name != "is_encoder_decoder")


def accepted_names(config_class) -> set[str]:
    """Every keyword a config accepts, so that an unknown-name strategy can avoid them."""
    return (
        {f.name for f in fields(config_class)}
        | set(_TRANSFORMERS_KEYS)
        | set(GenerationConfig._get_default_generation_params())
        | set(getattr(config_class, "attribute_map", {}))
    )
