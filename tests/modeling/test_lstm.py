"""Invariants of the attention LSTM family: padding, cache, beam search, learning, save/load."""

import itertools
import json
import math
import os
import subprocess
import sys

import pytest
import torch
from seq2seq_testing import reversal_batch, sequence_log_prob, strip_after_eos, variant_id
from transformers import AutoModel, AutoModelForSeq2SeqLM

import attnseq  # noqa: F401  (registers the model types)
from attnseq.configuration.lstm import Seq2SeqLSTMConfig
from attnseq.modeling.lstm import Seq2SeqLSTMCache, Seq2SeqLSTMForConditionalGeneration, Seq2SeqLSTMModel

VOCAB = 17
PAD, BOS, EOS = 0, 1, 2


def tiny_model(seed: int = 0, **options) -> Seq2SeqLSTMForConditionalGeneration:
    torch.manual_seed(seed)
    options = {"vocab_size": VOCAB, "embedding_size": 8, "hidden_size": 12, **options}
    # A larger init than the book's keeps the tiny untrained models' outputs far from uniform.
    options.setdefault("init_std", 0.5)
    return Seq2SeqLSTMForConditionalGeneration(Seq2SeqLSTMConfig(**options)).eval()


def random_sources(lengths, seed=0):
    """Right-padded `(batch, max_len)` ids (no special tokens) and their mask."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.full((len(lengths), max(lengths)), PAD)
    for row, length in enumerate(lengths):
        ids[row, :length] = torch.randint(3, VOCAB, (length,), generator=generator)
    return ids, (ids != PAD).long()


VARIANTS = [
    {"attention": "none"},
    {"attention": "dot"},
    {"attention": "scaled_dot"},
    {"attention": "general"},
    {"attention": "additive"},
    {"attention": "dot", "attention_window": 2},
    {"attention": "general", "reverse_source": True, "bidirectional_encoder": True},
    {"attention": "additive", "reverse_source": False, "bidirectional_encoder": True, "encoder_layers": 2},
    {"attention": "dot", "peeky": True, "input_feeding": True, "cell": "gru"},
    {"attention": "scaled_dot", "decoder_layers": 2, "residual": True, "attentional_size": 8},
]


@pytest.mark.parametrize("options", VARIANTS, ids=variant_id)
def test_padding_never_changes_a_result(options):
    model = tiny_model(**options)
    sources, mask = random_sources([7, 3, 5, 1])
    targets = torch.randint(3, VOCAB, (4, 6))
    decoder_input_ids = model.prepare_decoder_input_ids_from_labels(targets)
    batch_logits = model(input_ids=sources, attention_mask=mask, decoder_input_ids=decoder_input_ids).logits
    batch_tokens = model.generate(sources, attention_mask=mask, max_new_tokens=8, do_sample=False)
    for row, length in enumerate([7, 3, 5, 1]):
        alone = sources[row : row + 1, :length]
        logits = model(input_ids=alone, decoder_input_ids=decoder_input_ids[row : row + 1]).logits
        torch.testing.assert_close(logits[0], batch_logits[row], atol=1e-5, rtol=0)
        tokens = model.generate(alone, max_new_tokens=8, do_sample=False)
        assert strip_after_eos(tokens[0]) == strip_after_eos(batch_tokens[row])


@pytest.mark.parametrize("options", VARIANTS[1:6], ids=variant_id)
def test_left_padding_equals_right_padding(options):
    model = tiny_model(**options)
    sources, mask = random_sources([6, 2, 4])
    left = torch.full_like(sources, PAD)
    for row, length in enumerate([6, 2, 4]):
        left[row, sources.size(1) - length :] = sources[row, :length]
    decoder_input_ids = torch.randint(3, VOCAB, (3, 5))
    right_logits = model(input_ids=sources, attention_mask=mask, decoder_input_ids=decoder_input_ids).logits
    left_logits = model(input_ids=left, attention_mask=(left != PAD).long(), decoder_input_ids=decoder_input_ids).logits
    torch.testing.assert_close(left_logits, right_logits, atol=1e-5, rtol=0)


CACHE_COMBINATIONS = [
    {"attention": attention, "input_feeding": feeding, "peeky": peeky, "cell": cell}
    for attention, feeding, peeky, cell in itertools.product(
        ["none", "dot", "scaled_dot", "general", "additive"], [False, True], [False, True], ["lstm", "gru"]
    )
    if not (attention == "none" and feeding)
]


@pytest.mark.parametrize("options", CACHE_COMBINATIONS, ids=variant_id)
def test_cached_steps_equal_one_teacher_forced_forward(options):
    model = tiny_model(decoder_layers=2, **options)
    sources, mask = random_sources([5, 3])
    decoder_input_ids = torch.cat([torch.full((2, 1), BOS), torch.randint(3, VOCAB, (2, 5))], dim=1)
    full = model(input_ids=sources, attention_mask=mask, decoder_input_ids=decoder_input_ids)
    encoder_outputs = model.get_encoder()(sources, mask)
    cache, step_logits = None, []
    for t in range(decoder_input_ids.size(1)):
        out = model(
            encoder_outputs=encoder_outputs,
            attention_mask=mask,
            decoder_input_ids=decoder_input_ids[:, t : t + 1],
            cache=cache,
            use_cache=True,
        )
        cache = out.cache
        step_logits.append(out.logits)
    assert isinstance(cache, Seq2SeqLSTMCache) and cache.get_seq_length() == decoder_input_ids.size(1)
    torch.testing.assert_close(torch.cat(step_logits, dim=1), full.logits, atol=1e-5, rtol=0)


def test_every_step_reads_the_mask_it_is_given():
    """A later step with another mask tensor, or the same one changed in place, is checked and attended with."""
    model = tiny_model()
    sources, mask = random_sources([5, 3])
    encoder_outputs = model.get_encoder()(sources, mask)

    def step(step_mask, cache, token=5):
        return model(
            encoder_outputs=encoder_outputs,
            attention_mask=step_mask,
            decoder_input_ids=torch.full((2, 1), token),
            cache=cache,
            use_cache=True,
            output_attentions=True,
        )

    cache = step(mask, None, BOS).cache
    cache = step(mask, cache).cache
    shorter = mask.clone()
    shorter[0, 3:] = 0
    weights = step(shorter, cache).cross_attentions[0]
    assert torch.all(weights[0, ..., 3:] == 0) and torch.allclose(weights[0].sum(-1), torch.ones(1, 1))
    with pytest.raises(ValueError, match="only 0 and 1"):
        step(mask * 2, cache)
    shorter[0, 3:] = 1  # the same tensor, changed in place
    weights = step(shorter, cache).cross_attentions[0]
    assert torch.all(weights[0, ..., 3:5] > 0)


def test_forward_without_use_cache_leaves_the_callers_cache_alone():
    model = tiny_model()
    sources, mask = random_sources([4])
    first = model(input_ids=sources, decoder_input_ids=torch.tensor([[BOS]]), use_cache=True)
    cache = first.cache
    before = [h.clone() for h, _ in cache.states]
    model(input_ids=sources, decoder_input_ids=torch.tensor([[5]]), cache=cache, use_cache=False)
    assert all(torch.equal(h, b) for (h, _), b in zip(cache.states, before))


@pytest.mark.parametrize(
    "options", [{"attention": "general"}, {"attention": "dot", "input_feeding": True, "peeky": True}], ids=variant_id
)
def test_beam_search_finds_sequences_at_least_as_likely_as_greedy(options):
    model = tiny_model(seed=3, **options)
    sources, _ = random_sources([5, 6, 3, 7], seed=1)
    for row in range(4):
        source = sources[row : row + 1][:, : int((sources[row] != PAD).sum())]
        greedy = model.generate(source, max_new_tokens=6, do_sample=False)[0]
        beam = model.generate(source, max_new_tokens=6, num_beams=5, length_penalty=0.0, do_sample=False)[0]
        assert sequence_log_prob(model, source, beam) >= sequence_log_prob(model, source, greedy) - 1e-5


@pytest.mark.parametrize(
    "option",
    [{"prompt_lookup_num_tokens": 2}, {"assistant_early_exit": 1}, "assistant_model"],
    ids=["prompt lookup", "early exit", "assistant model"],
)
@pytest.mark.parametrize("sampling", [False, True], ids=["greedy", "sampling"])
def test_assisted_generation_is_refused_by_name(option, sampling):
    """Assisted generation rolls the cache back to the last accepted token, which a recurrent state cannot do; the
    refusal is the family's own, whatever transformers' release does."""
    model = tiny_model()
    sources, _ = random_sources([5])
    options = {"assistant_model": tiny_model(seed=1)} if option == "assistant_model" else option
    name = next(iter(options))
    with pytest.raises(ValueError, match=rf"{name} asks for assisted generation.*recurrent state cannot"):
        model.generate(sources, max_new_tokens=4, do_sample=sampling, **options)


def test_generation_options():
    model = tiny_model(attention="additive")
    sources, mask = random_sources([5, 3])
    beams = model.generate(
        sources,
        attention_mask=mask,
        num_beams=4,
        num_return_sequences=3,
        max_new_tokens=7,
        length_penalty=0.5,
        early_stopping=True,
        no_repeat_ngram_size=2,
    )
    assert beams.shape[0] == 6
    for row in beams:
        tokens = [t for t in row.tolist()[1:] if t not in (PAD, EOS)]
        bigrams = list(zip(tokens, tokens[1:]))
        assert len(bigrams) == len(set(bigrams))
    sampling = {"do_sample": True, "top_k": 5, "top_p": 0.9, "temperature": 0.7, "max_new_tokens": 7}
    torch.manual_seed(0)
    sampled = model.generate(sources, attention_mask=mask, num_return_sequences=2, **sampling)
    torch.manual_seed(0)
    again = model.generate(sources, attention_mask=mask, num_return_sequences=2, **sampling)
    assert sampled.shape[0] == 4 and torch.equal(sampled, again)
    at_least = model.generate(sources, attention_mask=mask, min_new_tokens=6, max_new_tokens=6, do_sample=False)
    assert at_least.shape[1] == 7 and not (at_least[:, 1:6] == EOS).any()


def test_cross_attentions_shape_and_sum():
    model = tiny_model(attention="dot")
    sources, mask = random_sources([6, 4])
    out = model(
        input_ids=sources,
        attention_mask=mask,
        decoder_input_ids=torch.randint(3, VOCAB, (2, 5)),
        output_attentions=True,
        output_hidden_states=True,
    )
    (weights,) = out.cross_attentions
    assert weights.shape == (2, 1, 5, 6)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 1, 5))
    assert torch.all(weights[1, :, :, 4:] == 0)
    assert len(out.decoder_hidden_states) == 2 and len(out.encoder_hidden_states) == 2
    config = model.config  # the embeddings, then the layers' states (hidden_size wide)
    assert [state.shape for state in out.encoder_hidden_states] == [
        (2, 6, config.embedding_size),
        (2, 6, config.hidden_size),
    ]
    assert [state.shape for state in out.decoder_hidden_states] == [
        (2, 5, config.embedding_size),
        (2, 5, config.hidden_size),
    ]


def test_loss_ignores_minus_100_and_labels_are_shifted():
    model = tiny_model()
    sources, mask = random_sources([4, 3])
    labels = torch.tensor([[5, 6, 7, EOS], [8, EOS, -100, -100]])
    out = model(input_ids=sources, attention_mask=mask, labels=labels)
    decoder_input_ids = torch.tensor([[BOS, 5, 6, 7], [BOS, 8, EOS, PAD]])
    assert torch.equal(model.prepare_decoder_input_ids_from_labels(labels), decoder_input_ids)
    logits = model(input_ids=sources, attention_mask=mask, decoder_input_ids=decoder_input_ids).logits
    keep = labels != -100
    expected = torch.nn.functional.cross_entropy(logits[keep], labels[keep])
    torch.testing.assert_close(out.loss, expected)


def test_tied_embeddings_share_storage_and_survive_save_load(tmp_path):
    model = tiny_model(attentional_size=8, tie_word_embeddings=True)
    assert model.lm_head.weight.data_ptr() == model.model.decoder.embed_tokens.weight.data_ptr()
    model.save_pretrained(tmp_path)
    loaded = Seq2SeqLSTMForConditionalGeneration.from_pretrained(tmp_path)
    assert loaded.lm_head.weight.data_ptr() == loaded.model.decoder.embed_tokens.weight.data_ptr()
    torch.testing.assert_close(loaded.lm_head.weight, model.lm_head.weight)


def test_a_tied_output_layer_starts_at_an_untied_ones_scale():
    """Tied to N(0, 1) word vectors of 256 features, the first logits are several times an untied layer's and the
    first loss is far above log(vocabulary) (11.2 against 8.3 here, 16 in the Multi30k GRU recipe); the tied default
    init starts near log(vocabulary), as an untied layer does."""
    sizes = {"vocab_size": 4000, "embedding_size": 256, "hidden_size": 256, "attentional_size": 256}
    labels = torch.randint(3, 4000, (16, 12), generator=torch.Generator().manual_seed(0))
    sources = labels.flip(1)
    first_losses = {}
    for name, options in {
        "untied": {},
        "tied": {"tie_word_embeddings": True},
        "tied, N(0, 1)": {"tie_word_embeddings": True, "embedding_init_std": 1.0},
    }.items():
        torch.manual_seed(0)
        model = Seq2SeqLSTMForConditionalGeneration(Seq2SeqLSTMConfig(**sizes, **options))
        with torch.no_grad():
            first_losses[name] = model(input_ids=sources, labels=labels).loss.item()
    uniform = math.log(4000)
    assert abs(first_losses["untied"] - uniform) < 0.5 and abs(first_losses["tied"] - uniform) < 0.5, first_losses
    assert first_losses["tied, N(0, 1)"] > uniform + 2, first_losses


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda m: m(input_ids=torch.tensor([[3, VOCAB]]), decoder_input_ids=torch.tensor([[BOS]])),
            "input_ids contains token id 17",
        ),
        (
            lambda m: m(input_ids=torch.tensor([[3, -1]]), decoder_input_ids=torch.tensor([[BOS]])),
            "outside the vocabulary",
        ),
        (
            lambda m: m(input_ids=torch.tensor([[3, 4]]), decoder_input_ids=torch.tensor([[99]])),
            "decoder_input_ids contains",
        ),
        (lambda m: m(input_ids=torch.tensor([[3, 4]]), labels=torch.tensor([[99]])), "labels contains"),
        (lambda m: m(input_ids=torch.tensor([[3.0, 4.0]]), decoder_input_ids=torch.tensor([[BOS]])), "integer tensor"),
        (
            lambda m: m(
                input_ids=torch.tensor([[3, 4]]),
                attention_mask=torch.ones(2, 2),
                decoder_input_ids=torch.tensor([[BOS]]),
            ),
            "attention_mask has shape",
        ),
        (
            lambda m: m(
                input_ids=torch.tensor([[3, 4]]),
                attention_mask=torch.tensor([[0.5, 1.0]]),
                decoder_input_ids=torch.tensor([[BOS]]),
            ),
            "only 0 and 1",
        ),
        (
            lambda m: m(
                input_ids=torch.tensor([[3, 4, 5]]),
                attention_mask=torch.tensor([[1, 0, 1]]),
                decoder_input_ids=torch.tensor([[BOS]]),
            ),
            "padding between real tokens",
        ),
        (lambda m: m(input_ids=torch.tensor([[3, 4]])), "Pass decoder_input_ids"),
    ],
)
def test_bad_inputs_raise_clear_value_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call(tiny_model())


def test_float_masks_and_all_padding_rows_work():
    model = tiny_model()
    sources, mask = random_sources([4, 2])
    decoder_input_ids = torch.randint(3, VOCAB, (2, 3))
    as_long = model(input_ids=sources, attention_mask=mask, decoder_input_ids=decoder_input_ids).logits
    as_float = model(input_ids=sources, attention_mask=mask.float(), decoder_input_ids=decoder_input_ids).logits
    torch.testing.assert_close(as_long, as_float)
    empty = model(
        input_ids=torch.zeros(1, 3, dtype=torch.long),
        attention_mask=torch.zeros(1, 3),
        decoder_input_ids=decoder_input_ids[:1],
        output_attentions=True,
    )
    assert torch.isfinite(empty.logits).all() and torch.all(empty.cross_attentions[0] == 0)


@pytest.mark.slow
def test_tiny_model_learns_string_reversal():
    torch.manual_seed(0)
    config = Seq2SeqLSTMConfig(vocab_size=13, embedding_size=16, hidden_size=64, attention="dot", reverse_source=False)
    model = Seq2SeqLSTMForConditionalGeneration(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(400):
        sources, mask, labels = reversal_batch(generator, 64)
        loss = model(input_ids=sources, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
    model.eval()
    sources, mask, labels = reversal_batch(torch.Generator().manual_seed(123), 500)
    predictions = model.generate(sources, attention_mask=mask, max_new_tokens=10, do_sample=False)
    correct = 0
    for prediction, label in zip(predictions, labels):
        expected = label[label != -100].tolist()
        correct += strip_after_eos(prediction[1:]) == expected
    accuracy = correct / len(labels)
    print(f"string reversal exact match: {accuracy:.3f}")
    assert accuracy >= 0.95


LOAD_SCRIPT = """
import sys, torch, attnseq
from transformers import AutoModelForSeq2SeqLM
model = AutoModelForSeq2SeqLM.from_pretrained(sys.argv[1]).eval()
assert type(model).__name__ == "Seq2SeqLSTMForConditionalGeneration", type(model)
inputs = torch.load(sys.argv[2])
with torch.no_grad():
    logits = model(**inputs).logits
torch.save(logits, sys.argv[3])
"""


def test_save_load_in_a_fresh_process_gives_identical_logits(tmp_path):
    model = tiny_model(attention="additive", bidirectional_encoder=True, peeky=True, input_feeding=True)
    model.save_pretrained(tmp_path / "checkpoint")
    assert sorted(os.listdir(tmp_path / "checkpoint")) == ["config.json", "generation_config.json", "model.safetensors"]
    generation = json.loads((tmp_path / "checkpoint" / "generation_config.json").read_text())
    assert (generation["decoder_start_token_id"], generation["eos_token_id"], generation["pad_token_id"]) == (
        BOS,
        EOS,
        PAD,
    )
    assert "max_length" not in generation  # the default length applies at generate() time (seq2seq.DEFAULT_MAX_LENGTH)
    sources, mask = random_sources([5, 2])
    inputs = {"input_ids": sources, "attention_mask": mask, "decoder_input_ids": torch.randint(3, VOCAB, (2, 4))}
    torch.save(inputs, tmp_path / "inputs.pt")
    subprocess.run(
        [
            sys.executable,
            "-c",
            LOAD_SCRIPT,
            str(tmp_path / "checkpoint"),
            str(tmp_path / "inputs.pt"),
            str(tmp_path / "out.pt"),
        ],
        check=True,
    )
    with torch.no_grad():
        expected = model(**inputs).logits
    assert torch.equal(torch.load(tmp_path / "out.pt"), expected)


def test_auto_model_builds_the_base_model():
    model = AutoModel.from_config(Seq2SeqLSTMConfig(vocab_size=VOCAB, hidden_size=8))
    assert isinstance(model, Seq2SeqLSTMModel)


def test_missing_weights_file_is_a_clear_error(tmp_path):
    tiny_model().save_pretrained(tmp_path)
    os.remove(tmp_path / "model.safetensors")
    with pytest.raises(OSError, match="model.safetensors"):
        AutoModelForSeq2SeqLM.from_pretrained(tmp_path)


def test_truncated_weights_file_is_a_clear_error(tmp_path):
    tiny_model().save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])
    with pytest.raises(OSError, match="model.safetensors.*(truncated|corrupt)"):
        AutoModelForSeq2SeqLM.from_pretrained(tmp_path)


INPUT_FEEDING_VARIANTS = [
    {"attention": "dot"},
    {"attention": "additive", "attentional_size": 10},
    {"attention": "general", "cell": "gru", "peeky": True},
    {"attention": "dot", "attention_window": 2, "peeky": True, "attentional_size": 10},
    {"attention": "scaled_dot", "decoder_layers": 3, "residual": True, "dropout": 0.3, "cell": "gru"},
    {"attention": "general", "decoder_layers": 2, "dropout": 0.3, "bidirectional_encoder": True},
]


@pytest.mark.parametrize("options", INPUT_FEEDING_VARIANTS, ids=variant_id)
def test_training_step_loop_equals_the_reference_loop(options, monkeypatch):
    """With gradients, input feeding runs the stack's fast loop (weight gradients once after the loop); the loss,
    logits, hidden states and every parameter gradient must equal those of the plain loop over `step`."""
    from attnseq.modeling.rnn import RecurrentStack

    sources, mask = random_sources([6, 4, 5])
    labels = torch.randint(3, VOCAB, (3, 7), generator=torch.Generator().manual_seed(3))
    fast_loop = RecurrentStack._fast_loop
    calls = []
    monkeypatch.setattr(RecurrentStack, "_fast_loop", lambda *args: calls.append(1) or fast_loop(*args))
    results = []
    for reference in (False, True):
        if reference:
            assert calls == [1]  # the first run took the fast loop
            monkeypatch.setattr(RecurrentStack, "_fast_loop", RecurrentStack._loop)
        model = tiny_model(input_feeding=True, **options).double().train()
        torch.manual_seed(5)  # the same dropout masks in both runs
        out = model(input_ids=sources, attention_mask=mask, labels=labels, output_hidden_states=True)
        out.loss.backward()
        grads = {name: p.grad for name, p in model.named_parameters() if p.grad is not None}
        results.append((out, grads))
    (fast, fast_grads), (slow, slow_grads) = results
    torch.testing.assert_close(fast.loss, slow.loss, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fast.logits, slow.logits, rtol=1e-12, atol=1e-12)
    for fast_state, slow_state in zip(fast.decoder_hidden_states, slow.decoder_hidden_states, strict=True):
        torch.testing.assert_close(fast_state, slow_state, rtol=1e-12, atol=1e-12)
    assert fast_grads.keys() == slow_grads.keys()
    for name in slow_grads:
        torch.testing.assert_close(fast_grads[name], slow_grads[name], rtol=1e-10, atol=1e-12, msg=name)
