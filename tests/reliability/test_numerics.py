"""Numerics: bfloat16 autocast training on the CPU, half-precision models with rows of only padding, and
reproducible sampling.

The masked softmax itself (fully masked rows give zeros, never NaN, in float16, bfloat16, float32, float64,
and finite gradients) is checked in tests/modeling/test_attention.py; here it is checked through both models.
"""

from __future__ import annotations

import pytest
import torch

import attnseq  # noqa: F401  (registers the model types)
from attnseq import (
    CharTokenizer,
    Seq2SeqLSTMConfig,
    Seq2SeqLSTMForConditionalGeneration,
    Seq2SeqTransformerConfig,
    Seq2SeqTransformerForConditionalGeneration,
)
from attnseq.serving.inference import generate_texts

VOCAB = 13
PAD, BOS, EOS = 0, 1, 2


pytestmark = pytest.mark.usefixtures("one_thread")


def lstm(**options):
    options = {"vocab_size": VOCAB, "embedding_size": 8, "hidden_size": 16, **options}
    return Seq2SeqLSTMForConditionalGeneration(Seq2SeqLSTMConfig(**options))


def transformer(**options):
    sizes = {"d_model": 16, "encoder_layers": 1, "decoder_layers": 1, "encoder_ffn_dim": 16, "decoder_ffn_dim": 16}
    options = {
        "vocab_size": VOCAB,
        "encoder_attention_heads": 2,
        "decoder_attention_heads": 2,
        "dropout": 0.0,
        **sizes,
        **options,
    }
    return Seq2SeqTransformerForConditionalGeneration(Seq2SeqTransformerConfig(**options))


VARIANTS = {
    "lstm-dot": lambda: lstm(attention="dot"),
    "lstm-additive-bidirectional-input-feeding-local": lambda: lstm(
        attention="additive", bidirectional_encoder=True, input_feeding=True, attention_window=2, cell="gru"
    ),
    "lstm-peeky-deep-residual": lambda: lstm(
        attention="general", peeky=True, encoder_layers=2, decoder_layers=2, residual=True
    ),
    "transformer-eager": lambda: transformer(attn_implementation="eager"),
    "transformer-sdpa-pre-norm-learned": lambda: transformer(
        attn_implementation="sdpa", norm_first=True, position_embedding="learned"
    ),
}


def batch(seed: int = 0):
    """A right-padded batch with a row of only padding, and labels ending with eos."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, VOCAB, (6, 7), generator=generator)
    mask = torch.ones_like(ids)
    mask[0, 4:] = 0
    mask[1] = 0  # an empty source
    ids[mask == 0] = PAD
    labels = torch.randint(3, VOCAB, (6, 5), generator=generator)
    labels[:, -1] = EOS
    return ids, mask, labels


@pytest.mark.parametrize("name", list(VARIANTS))
def test_bfloat16_autocast_training_on_the_cpu(name):
    torch.manual_seed(0)
    model = VARIANTS[name]().train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    ids, mask, labels = batch()
    losses = []
    for _ in range(8):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(input_ids=ids, attention_mask=mask, labels=labels)
        assert out.logits.dtype == torch.bfloat16 and out.loss.dtype == torch.float32
        optimizer.zero_grad()
        out.loss.backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
        optimizer.step()
        losses.append(out.loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0]  # the same batch eight times: the loss goes down
    model.eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        generated = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=4, num_beams=2)
    assert generated.shape[0] == len(ids)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name", list(VARIANTS))
def test_half_precision_models_give_finite_logits_and_zero_attention_on_empty_sources(name, dtype):
    torch.manual_seed(0)
    model = VARIANTS[name]().eval().to(dtype)
    ids, mask, labels = batch()
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, labels=labels, output_attentions=True)
    assert out.logits.dtype == dtype and torch.isfinite(out.logits).all() and torch.isfinite(out.loss)
    for weights in out.cross_attentions:
        assert weights.dtype == dtype and torch.isfinite(weights).all()
        assert torch.all(weights[1] == 0)  # the empty source: nothing to attend to
        totals = weights[0].float().sum(-1)  # 1, or less with local attention's Gaussian window
        assert (totals > 0).all() and (totals <= 1 + 2e-2).all()


@pytest.mark.parametrize("name", ["lstm-dot", "transformer-sdpa-pre-norm-learned"])
def test_sampling_with_a_seed_is_reproducible(name):
    torch.manual_seed(0)
    model = VARIANTS[name]().eval()
    ids, mask, _ = batch()
    options = {"do_sample": True, "top_k": 0, "temperature": 2.0, "max_new_tokens": 6, "num_return_sequences": 3}

    def sample(seed):
        torch.manual_seed(seed)
        return model.generate(input_ids=ids, attention_mask=mask, **options)

    assert torch.equal(sample(1), sample(1))
    assert not torch.equal(sample(1), sample(2))

    tokenizer = CharTokenizer.from_texts(["abcdefghi"])
    texts = ["abc", "", "ihg"]
    first = list(generate_texts(model, tokenizer, texts, seed=5, **options))
    assert first == list(generate_texts(model, tokenizer, texts, seed=5, **options))
    assert len(first) == 3 and all(len(outputs) == 3 for outputs in first)
