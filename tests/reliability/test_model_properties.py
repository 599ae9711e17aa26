"""Property tests over random valid configurations of both families at tiny sizes: forward, backward, greedy
and beam-search generation, and save -> load all work and agree with each other. Random invalid
configurations raise `ValueError` naming the option, never another exception."""

from __future__ import annotations

import tempfile

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from model_strategies import (
    COMMON_BAD_OPTIONS,
    FAMILIES,
    MAX_NEW_TOKENS,
    accepted_names,
    bad_values,
    own_options,
    padded_batches,
)
from transformers import AutoModelForSeq2SeqLM

import attnseq  # noqa: F401  (registers the model types)
from attnseq import Seq2SeqLSTMForConditionalGeneration, Seq2SeqTransformerForConditionalGeneration

MODEL_CLASSES = {"lstm": Seq2SeqLSTMForConditionalGeneration, "transformer": Seq2SeqTransformerForConditionalGeneration}
# Scores that the cached decoding computes and a teacher-forced forward recomputes agree to float precision.
TOLERANCE = 1e-4


pytestmark = pytest.mark.usefixtures("one_thread")


def build(family: str, options: dict, seed: int = 0):
    config_class, _ = FAMILIES[family]
    torch.manual_seed(seed)
    return MODEL_CLASSES[family](config_class(**options))


@st.composite
def labels_for(draw, batch_size: int, vocab_size: int) -> torch.Tensor:
    """`(batch, 1-4)` target ids; each row has at least one scored position, then -100 (ignored) positions."""
    width = draw(st.integers(1, 4))
    labels = torch.full((batch_size, width), -100)
    for row in range(batch_size):
        length = draw(st.integers(1, width))
        labels[row, :length] = torch.tensor(
            draw(st.lists(st.integers(0, vocab_size - 1), min_size=length, max_size=length))
        )
    return labels


def without_path(config: dict) -> dict:
    return {key: value for key, value in config.items() if key != "_name_or_path"}


def generated_length(sequence: torch.Tensor, eos: int) -> int:
    """Number of generated tokens (after the decoder start) up to and including the first eos."""
    tokens = sequence[1:].tolist()
    return tokens.index(eos) + 1 if eos in tokens else len(tokens)


@pytest.mark.parametrize("family", FAMILIES)
@settings(max_examples=100)
@given(data=st.data())
def test_forward_backward_and_generation_work_and_agree(family, data):
    model = build(family, data.draw(FAMILIES[family][1], label="options"))
    config = model.config
    ids, mask = data.draw(padded_batches(config.vocab_size, config.pad_token_id), label="source")
    labels = data.draw(labels_for(len(ids), config.vocab_size), label="labels")

    # backward, in training mode (dropout on): a finite loss and finite gradients
    model.train()
    loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    assert torch.isfinite(loss)
    loss.backward()
    gradients = [p.grad for p in model.parameters() if p.grad is not None]
    assert gradients and all(torch.isfinite(g).all() for g in gradients)

    model.eval()
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask, labels=labels).logits
    assert logits.shape == (*labels.shape, config.vocab_size) and torch.isfinite(logits).all()

    # greedy search: every token it picked is the argmax of a teacher-forced forward over its own output
    greedy = model.generate(
        input_ids=ids, attention_mask=mask, max_new_tokens=MAX_NEW_TOKENS, do_sample=False, num_beams=1
    )
    assert (greedy[:, 0] == config.decoder_start_token_id).all()
    assert greedy.min() >= 0 and greedy.max() < config.vocab_size
    with torch.no_grad():
        forced = model(input_ids=ids, attention_mask=mask, decoder_input_ids=greedy[:, :-1]).logits
    for row in range(len(ids)):
        steps = generated_length(greedy[row], config.eos_token_id)
        picked = forced[row, :steps].gather(-1, greedy[row, 1 : steps + 1, None]).squeeze(-1)
        assert (picked >= forced[row, :steps].max(-1).values - TOLERANCE).all()

    # beam search: every returned beam's score is the sum of its tokens' log-probabilities under a
    # teacher-forced forward (length_penalty=0), so reordering the cache between beams kept each beam's state
    beams = data.draw(st.integers(2, 3), label="beams")
    found = model.generate(
        input_ids=ids,
        attention_mask=mask,
        max_new_tokens=MAX_NEW_TOKENS,
        do_sample=False,
        num_beams=beams,
        num_return_sequences=beams,
        length_penalty=0.0,
        output_scores=True,
        return_dict_in_generate=True,
    )
    sequences = found.sequences
    assert sequences.shape[0] == len(ids) * beams and torch.isfinite(found.sequences_scores).all()
    sources = ids.repeat_interleave(beams, 0), mask.repeat_interleave(beams, 0)
    with torch.no_grad():
        log_probs = model(
            input_ids=sources[0], attention_mask=sources[1], decoder_input_ids=sequences[:, :-1]
        ).logits.log_softmax(-1)
    for row in range(len(sequences)):
        steps = generated_length(sequences[row], config.eos_token_id)
        expected = log_probs[row, :steps].gather(-1, sequences[row, 1 : steps + 1, None]).sum()
        torch.testing.assert_close(found.sequences_scores[row], expected, atol=TOLERANCE, rtol=TOLERANCE)


@pytest.mark.parametrize("family", FAMILIES)
@settings(max_examples=30)
@given(data=st.data())
def test_save_and_load_give_identical_logits_and_generations(family, data):
    model = build(family, data.draw(FAMILIES[family][1], label="options")).eval()
    config = model.config
    ids, mask = data.draw(padded_batches(config.vocab_size, config.pad_token_id), label="source")
    decoder_ids = torch.tensor(data.draw(st.lists(st.integers(0, config.vocab_size - 1), min_size=1, max_size=4)))
    decoder_ids = decoder_ids.expand(len(ids), -1)
    with tempfile.TemporaryDirectory() as folder:
        model.save_pretrained(folder)
        loaded = AutoModelForSeq2SeqLM.from_pretrained(folder, attn_implementation=config._attn_implementation).eval()
    assert type(loaded) is type(model)
    assert without_path(loaded.config.to_dict()) == without_path(config.to_dict())
    with torch.no_grad():
        expected = model(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids).logits
        assert torch.equal(loaded(input_ids=ids, attention_mask=mask, decoder_input_ids=decoder_ids).logits, expected)
    greedy = {"max_new_tokens": MAX_NEW_TOKENS, "do_sample": False, "num_beams": 1}
    assert torch.equal(
        loaded.generate(input_ids=ids, attention_mask=mask, **greedy),
        model.generate(input_ids=ids, attention_mask=mask, **greedy),
    )


@pytest.mark.parametrize("family", FAMILIES)
@settings(max_examples=150)
@given(data=st.data())
def test_invalid_configurations_raise_value_error_naming_the_option(family, data):
    config_class, valid = FAMILIES[family]
    options = data.draw(valid, label="valid options")
    kind = data.draw(st.sampled_from(["own option", "shared option", "unknown name"]), label="kind")
    if kind == "own option":
        name = data.draw(st.sampled_from(own_options(config_class)), label="name")
        value = data.draw(st.sampled_from(bad_values(config_class, name, options["vocab_size"])), label="value")
    elif kind == "shared option":
        name, value = data.draw(st.sampled_from(COMMON_BAD_OPTIONS), label="name and value")
    else:
        names = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)
        name = data.draw(names.filter(lambda n: n not in accepted_names(config_class)), label="name")
        value = data.draw(st.integers() | st.text(max_size=3) | st.booleans() | st.none(), label="value")
    options[name] = value
    with pytest.raises(ValueError) as error:
        config_class(**options)
    assert name in str(error.value)


@pytest.mark.parametrize(
    "family, options, names",
    [
        ("lstm", {"attention": "none", "attention_window": 2}, ["attention_window", "attention='none'"]),
        ("lstm", {"attention": "none", "input_feeding": True}, ["input_feeding", "attention='none'"]),
        ("lstm", {"bidirectional_encoder": True, "hidden_size": 7}, ["hidden_size=7", "even"]),
        (
            "lstm",
            {"tie_word_embeddings": True, "embedding_size": 4, "hidden_size": 6},
            ["tie_word_embeddings", "attentional_size=4"],
        ),
        (
            "transformer",
            {"d_model": 6, "encoder_attention_heads": 4},
            ["d_model=6", "encoder_attention_heads=4", "[1, 2, 3, 6]"],
        ),
        (
            "transformer",
            {"d_model": 5, "encoder_attention_heads": 1, "decoder_attention_heads": 1},
            ["d_model=5", "even", "learned"],
        ),
    ],
)
def test_invalid_combinations_name_both_options_and_the_way_out(family, options, names):
    with pytest.raises(ValueError) as error:
        FAMILIES[family][0](vocab_size=8, **options)
    for name in names:
        assert name in str(error.value)
