"""`generate()` with the cache decodes exactly what decoding without it decodes, for every variant of both families.

These tests go through the public call users make, `generate()`, so that a change in how transformers hands the
cache to a model (5.24 renamed `past_key_values` to `cache`) fails here instead of decoding garbage:

- greedy search with the cache equals greedy search that re-runs the whole prefix at every step (`use_cache=False`);
- beam search's returned scores equal a teacher-forced rescoring of the returned sequences (the cache was
  reordered correctly between beams);
- sampling with a fixed seed gives the same tokens with and without the cache.

The LSTM variants are every combination of the options that shape the decoder step (cell, attention, input
feeding, peeky, decoder depth), with the encoder-side and output-side options (reversal, bidirectional encoder,
local attention, attentional layer, residual connections, tied embeddings) rotated through them so that every
value of every option is decoded.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from attnseq import (
    Seq2SeqLSTMConfig,
    Seq2SeqLSTMForConditionalGeneration,
    Seq2SeqTransformerConfig,
    Seq2SeqTransformerForConditionalGeneration,
)

pytestmark = pytest.mark.usefixtures("one_thread")

VOCAB, PAD, BOS, EOS = 13, 0, 1, 2
NEW_TOKENS = 6


def lstm_variants() -> list[dict]:
    """Every valid combination of the step-shaping options, each with one rotation of the other options."""
    rotations = [
        {},
        {"reverse_source": False, "bidirectional_encoder": True},
        {"attention_window": 2, "encoder_layers": 2, "residual": True},
        {"attentional_size": 8, "tie_word_embeddings": True, "reverse_source": False},
        {"bidirectional_encoder": True, "encoder_layers": 2, "attentional_size": 6},
    ]
    variants = []
    for cell, attention, input_feeding, peeky, layers in itertools.product(
        ("lstm", "gru"), ("none", "dot", "scaled_dot", "general", "additive"), (False, True), (False, True), (1, 2)
    ):
        if attention == "none" and input_feeding:
            continue
        options = {
            "cell": cell, "attention": attention, "input_feeding": input_feeding, "peeky": peeky,
            "decoder_layers": layers, "residual": layers > 1 and len(variants) % 2 == 0,
        }  # fmt: skip
        rotation = dict(rotations[len(variants) % len(rotations)])
        if attention == "none":
            rotation = {k: v for k, v in rotation.items() if k not in ("attention_window", "attentional_size")}
            rotation.pop("tie_word_embeddings", None)
        variants.append({**options, **rotation})
    return variants


TRANSFORMER_VARIANTS = [
    {"norm_first": norm_first, "position_embedding": positions, "tie_word_embeddings": tie,
     "share_encoder_decoder_embeddings": share, "attn_implementation": implementation}
    for norm_first, positions, tie, share, implementation in itertools.product(
        (False, True), ("sinusoidal", "learned"), (False, True), (False, True), ("eager", "sdpa")
    )
]  # fmt: skip


def variant_id(options: dict) -> str:
    return "-".join(f"{k}={v}" for k, v in options.items())


def build(family: str, options: dict, seed: int = 0):
    torch.manual_seed(seed)
    options = dict(options)
    if family == "lstm":
        config = Seq2SeqLSTMConfig(vocab_size=VOCAB, embedding_size=8, hidden_size=12, init_std=0.5, **options)
        return Seq2SeqLSTMForConditionalGeneration(config).eval()
    implementation = options.pop("attn_implementation")
    config = Seq2SeqTransformerConfig(
        vocab_size=VOCAB, d_model=16, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=16,
        init_std=0.3, attn_implementation=implementation, **options,
    )  # fmt: skip
    model = Seq2SeqTransformerForConditionalGeneration(config).eval()
    assert model.config._attn_implementation == implementation
    return model


def padded_sources(seed: int = 0):
    """Three right-padded sources of different lengths (one needs no padding) and their mask."""
    generator = torch.Generator().manual_seed(seed)
    lengths = [5, 2, 4]
    ids = torch.full((len(lengths), max(lengths)), PAD)
    for row, length in enumerate(lengths):
        ids[row, :length] = torch.randint(3, VOCAB, (length,), generator=generator)
    return ids, (ids != PAD).long()


def rescored(model, ids, mask, sequences) -> torch.Tensor:
    """Teacher-forced sum of log-probabilities of each of `sequences` `(n, len)` (start token first) up to and
    including its first EOS; `ids`/`mask` hold the n sources."""
    targets = sequences[:, 1:]
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask, decoder_input_ids=sequences[:, :-1]).logits
    token_scores = torch.log_softmax(logits.float(), -1).gather(-1, targets[..., None])[..., 0]
    after_eos = (targets == EOS).long().cumsum(1) - (targets == EOS).long() > 0
    return token_scores.masked_fill(after_eos, 0.0).sum(1)


def check_generate_equivalence(model) -> None:
    ids, mask = padded_sources()
    settings = {"attention_mask": mask, "max_new_tokens": NEW_TOKENS, "min_new_tokens": NEW_TOKENS - 2}

    cached = model.generate(ids, do_sample=False, **settings)
    uncached = model.generate(ids, do_sample=False, use_cache=False, **settings)
    assert torch.equal(cached, uncached), "greedy search with the cache differs from re-running the prefix"
    assert cached.size(1) >= NEW_TOKENS - 1

    beams = model.generate(
        ids, num_beams=3, num_return_sequences=2, length_penalty=0.0, do_sample=False,
        return_dict_in_generate=True, output_scores=True, **settings,
    )  # fmt: skip
    rows = torch.arange(len(ids)).repeat_interleave(2)
    expected = rescored(model, ids[rows], mask[rows], beams.sequences)
    torch.testing.assert_close(beams.sequences_scores, expected, atol=1e-4, rtol=1e-4)

    sampled = []
    for use_cache in (True, False):
        torch.manual_seed(7)
        sampled.append(model.generate(ids, do_sample=True, top_k=0, temperature=1.3, use_cache=use_cache, **settings))
    assert torch.equal(*sampled), "sampling with the cache differs from sampling without it"


@pytest.mark.parametrize("options", lstm_variants(), ids=variant_id)
def test_lstm_generate_with_cache_equals_without(options):
    check_generate_equivalence(build("lstm", options))


@pytest.mark.parametrize("options", TRANSFORMER_VARIANTS, ids=variant_id)
def test_transformer_generate_with_cache_equals_without(options):
    check_generate_equivalence(build("transformer", options))


def test_the_variants_cover_every_lstm_option_value():
    variants = lstm_variants()
    seen = {(name, value) for variant in variants for name, value in variant.items()}
    config = Seq2SeqLSTMConfig()
    for name, values in {
        "cell": ("lstm", "gru"), "attention": ("none", "dot", "scaled_dot", "general", "additive"),
        "input_feeding": (False, True), "peeky": (False, True), "reverse_source": (False,),
        "bidirectional_encoder": (True,), "attention_window": (2,), "attentional_size": (6, 8),
        "residual": (False, True), "tie_word_embeddings": (True,), "encoder_layers": (2,),
        "decoder_layers": (1, 2),
    }.items():  # fmt: skip
        assert hasattr(config, name)
        for value in values:
            assert (name, value) in seen, f"no variant decodes with {name}={value!r}"
    assert len(variants) == 72


@pytest.mark.parametrize(
    ("family", "options"),
    [
        ("lstm", {}),
        ("lstm", {"input_feeding": True, "peeky": True, "decoder_layers": 2}),
        ("lstm", {"cell": "gru", "attention": "none"}),
        ("transformer", TRANSFORMER_VARIANTS[0]),
        ("transformer", TRANSFORMER_VARIANTS[-1]),
    ],
    ids=lambda value: value if isinstance(value, str) else variant_id(value),
)
def test_generate_continues_from_a_returned_cache(family, options):
    """Greedy search in two calls, the second starting from the cache and sequences the first returned, equals one
    uninterrupted call, scores included."""
    model = build(family, options)
    ids, mask = padded_sources()
    # no generated padding: generate() would mask a pad id inside the continued prompt
    settings = {"attention_mask": mask, "do_sample": False, "return_dict_in_generate": True, "output_scores": True,
                "suppress_tokens": [PAD]}  # fmt: skip
    whole = model.generate(ids, max_new_tokens=6, min_new_tokens=6, **settings)
    first = model.generate(ids, max_new_tokens=3, min_new_tokens=3, **settings)
    assert first.cache is not None and first.cache.get_seq_length() == 3
    rest = model.generate(
        ids, decoder_input_ids=first.sequences, cache=first.cache, max_new_tokens=3, min_new_tokens=3, **settings
    )
    assert torch.equal(rest.sequences, whole.sequences)
    torch.testing.assert_close(torch.stack(first.scores + rest.scores), torch.stack(whole.scores))
