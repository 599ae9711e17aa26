"""Assisted generation across the families: the Transformer drafts and checks like any transformers model; the LSTM,
whose recurrent state cannot go back to an earlier token, is refused by name in either role (main model or
assistant), the same way on every transformers release setup.cfg admits."""

import pytest
import torch
from transformers import GenerationMixin

from attnseq import (
    Seq2SeqLSTMConfig,
    Seq2SeqLSTMForConditionalGeneration,
    Seq2SeqTransformerConfig,
    Seq2SeqTransformerForConditionalGeneration,
)

VOCAB = 23
pytestmark = pytest.mark.usefixtures("one_thread")


def lstm(seed: int = 0) -> Seq2SeqLSTMForConditionalGeneration:
    torch.manual_seed(seed)
    config = Seq2SeqLSTMConfig(vocab_size=VOCAB, embedding_size=8, hidden_size=12, init_std=0.5)
    return Seq2SeqLSTMForConditionalGeneration(config).eval()


def transformer(seed: int = 0) -> Seq2SeqTransformerForConditionalGeneration:
    torch.manual_seed(seed)
    config = Seq2SeqTransformerConfig(
        vocab_size=VOCAB,
        d_model=16,
        encoder_layers=1,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        dropout=0.0,
        attn_implementation="eager",
    )
    return Seq2SeqTransformerForConditionalGeneration(config).eval()


def sources() -> torch.Tensor:
    return torch.randint(3, VOCAB, (1, 6), generator=torch.Generator().manual_seed(0))


def test_transformer_assistant_gives_the_greedy_result():
    model, source = transformer(), sources()
    greedy = model.generate(source, max_new_tokens=8, do_sample=False)
    assisted = model.generate(source, max_new_tokens=8, do_sample=False, assistant_model=transformer(seed=1))
    assert torch.equal(assisted, greedy)


@pytest.mark.parametrize("sampling", [False, True], ids=["greedy", "sampling"])
def test_lstm_assistant_is_refused_by_name(sampling):
    """The main model refuses an assistant whose drafts cannot be taken back (before: AttributeError on `crop`)."""
    with pytest.raises(
        ValueError, match="assistant_model is a Seq2SeqLSTMForConditionalGeneration, which cannot draft"
    ):
        transformer().generate(sources(), max_new_tokens=4, do_sample=sampling, assistant_model=lstm())


def test_lstm_refuses_to_be_an_assistant_of_any_model():
    """A main model that does not check its assistant (transformers' own `generate`) reaches the LSTM's `generate`
    as the assistant, which refuses there."""
    with pytest.raises(ValueError, match="Seq2SeqLSTMForConditionalGeneration cannot be the assistant_model"):
        GenerationMixin.generate(transformer(), sources(), max_new_tokens=4, assistant_model=lstm())


@pytest.mark.parametrize("family", [lstm, transformer], ids=["lstm", "transformer"])
def test_assistant_model_with_beam_search_is_refused_by_name(family):
    """transformers drafts only for greedy search and sampling; with beams it would hand `assistant_model` to
    `forward` (a TypeError)."""
    with pytest.raises(ValueError, match="assistant_model works with greedy search and sampling only, not with num_b"):
        family().generate(sources(), max_new_tokens=5, num_beams=3, assistant_model=transformer(seed=1))


def test_lstm_cache_refuses_rollback_by_name():
    model, source = lstm(), sources()
    cache = model.generate(source, max_new_tokens=4, return_dict_in_generate=True).cache
    seen = cache.get_seq_length()
    assert seen > 0
    assert not cache.is_recording_past(0)
    assert cache.get_recurrent_states_to_keep() == 0
    cache.crop(0)  # removes nothing
    assert cache.get_seq_length() == seen
    with pytest.raises(RuntimeError, match="cannot remove its last 2 token"):
        cache.crop(-2)
    with pytest.raises(ValueError, match="negative number of tokens"):
        cache.crop(1)
    with pytest.raises(RuntimeError, match="cannot record past states"):
        cache.activate_past_recording(recurrent_states_to_keep=3)
    assert cache.get_seq_length() == seen
