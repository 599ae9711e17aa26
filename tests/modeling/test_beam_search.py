"""Beam search against exhaustive search, for both families.

With 3 usable tokens and 3 new tokens there are 27 possible outputs; a beam as wide as the number of prefixes
one step before the end (9) keeps every candidate, so beam search must return the most likely sequence that an
exhaustive teacher-forced scoring of all 27 finds, with that sequence's score. A narrower beam may miss it but
never reports a score it did not earn. Any error in reordering the cache between beams changes the scores.
"""

import itertools

import pytest
import torch
from seq2seq_testing import variant_id

from attnseq import (
    Seq2SeqLSTMConfig,
    Seq2SeqLSTMForConditionalGeneration,
    Seq2SeqTransformerConfig,
    Seq2SeqTransformerForConditionalGeneration,
)

pytestmark = pytest.mark.usefixtures("one_thread")

PAD, BOS, EOS = 0, 1, 2
USABLE = (3, 4, 5)
VOCAB, LENGTH = 6, 3

VARIANTS = [
    ("lstm", {"attention": "dot"}),
    ("lstm", {"attention": "additive", "input_feeding": True, "peeky": True, "decoder_layers": 2}),
    ("lstm", {"cell": "gru", "attention": "general", "bidirectional_encoder": True}),
    ("transformer", {}),
    ("transformer", {"norm_first": True, "position_embedding": "learned"}),
]


def build(family: str, options: dict, seed: int):
    torch.manual_seed(seed)
    if family == "lstm":
        config = Seq2SeqLSTMConfig(vocab_size=VOCAB, embedding_size=6, hidden_size=8, init_std=0.8, **options)
        return Seq2SeqLSTMForConditionalGeneration(config).eval()
    config = Seq2SeqTransformerConfig(
        vocab_size=VOCAB, d_model=8, encoder_layers=1, decoder_layers=2, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=16, decoder_ffn_dim=16, dropout=0.0, init_std=0.5, **options,
    )  # fmt: skip
    return Seq2SeqTransformerForConditionalGeneration(config).eval()


def exhaustive_scores(model, source: torch.Tensor) -> dict[tuple[int, ...], float]:
    """Teacher-forced log-probability of every output of LENGTH usable tokens."""
    outputs = list(itertools.product(USABLE, repeat=LENGTH))
    targets = torch.tensor(outputs)
    decoder_input_ids = torch.cat([torch.full((len(outputs), 1), BOS), targets[:, :-1]], dim=1)
    with torch.no_grad():
        logits = model(input_ids=source.expand(len(outputs), -1), decoder_input_ids=decoder_input_ids).logits
    scores = torch.log_softmax(logits.double(), -1).gather(-1, targets[..., None]).sum((1, 2))
    return dict(zip(outputs, scores.tolist()))


def beam_search(model, source: torch.Tensor, beams: int):
    return model.generate(
        source, num_beams=beams, length_penalty=0.0, do_sample=False, max_new_tokens=LENGTH, min_new_tokens=LENGTH,
        suppress_tokens=[PAD, BOS, EOS], return_dict_in_generate=True, output_scores=True,
    )  # fmt: skip


@pytest.mark.parametrize(("family", "options"), VARIANTS, ids=lambda v: v if isinstance(v, str) else variant_id(v))
def test_a_wide_enough_beam_finds_the_exhaustive_best(family, options):
    for seed in range(3):
        model = build(family, options, seed)
        source = torch.tensor([[3, 5, 4, 4, 3][: 3 + seed]])
        scores = exhaustive_scores(model, source)
        best = max(scores, key=scores.get)
        wide = beam_search(model, source, beams=len(USABLE) ** (LENGTH - 1))
        assert tuple(wide.sequences[0, 1:].tolist()) == best
        assert wide.sequences_scores[0].item() == pytest.approx(scores[best], abs=1e-4)
        narrow = beam_search(model, source, beams=2)
        found = tuple(narrow.sequences[0, 1:].tolist())
        assert narrow.sequences_scores[0].item() == pytest.approx(scores[found], abs=1e-4)
        assert scores[found] <= scores[best] + 1e-9
