"""Invariants of the small Transformer family: padding, cache, attention back-ends, causality, beam search,
gradient checkpointing, learning, save/load."""

import copy
import json
import math
import os
import subprocess
import sys

import pytest
import torch
from seq2seq_testing import reversal_batch, sequence_log_prob, strip_after_eos, variant_id
from transformers import AutoModel, AutoModelForSeq2SeqLM
from transformers.cache_utils import DynamicCache, EncoderDecoderCache
from transformers.modeling_outputs import Seq2SeqModelOutput

import attnseq  # noqa: F401  (registers the model types)
from attnseq.configuration.transformer import Seq2SeqTransformerConfig
from attnseq.modeling.transformer import (
    Seq2SeqTransformerAttention,
    Seq2SeqTransformerForConditionalGeneration,
    Seq2SeqTransformerModel,
    sinusoidal_positions,
)

VOCAB = 23
PAD, BOS, EOS = 0, 1, 2
IMPLEMENTATIONS = ["eager", "sdpa"]


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_config(**options) -> Seq2SeqTransformerConfig:
    options = {
        "vocab_size": VOCAB,
        "d_model": 16,
        "encoder_layers": 2,
        "decoder_layers": 2,
        "encoder_attention_heads": 2,
        "decoder_attention_heads": 4,
        "encoder_ffn_dim": 24,
        "decoder_ffn_dim": 20,
        "dropout": 0.0,
        "max_position_embeddings": 32,
        # A larger init than usual keeps the tiny untrained models' outputs far from uniform.
        "init_std": 0.3,
        **options,
    }
    return Seq2SeqTransformerConfig(**options)


def tiny_model(seed: int = 0, attn_implementation: str = "eager", **options):
    torch.manual_seed(seed)
    config = tiny_config(attn_implementation=attn_implementation, **options)
    return Seq2SeqTransformerForConditionalGeneration(config).eval()


def twin(model, attn_implementation: str):
    """The same weights under another attention implementation."""
    other = copy.deepcopy(model)
    other.set_attn_implementation(attn_implementation)
    return other


def random_ids(lengths, seed=0, width=None):
    """Right-padded `(batch, width)` ids (no special tokens) and their 0/1 mask."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.full((len(lengths), width or max(lengths)), PAD)
    for row, length in enumerate(lengths):
        ids[row, :length] = torch.randint(3, VOCAB, (length,), generator=generator)
    return ids, (ids != PAD).long()


def decoder_inputs(lengths, seed=1):
    """Right-padded decoder inputs starting with BOS, and their mask."""
    ids, mask = random_ids([length - 1 for length in lengths], seed=seed, width=max(lengths) - 1)
    ids = torch.cat([torch.full((len(lengths), 1), BOS), ids], dim=1)
    return ids, torch.cat([torch.ones(len(lengths), 1, dtype=torch.long), mask], dim=1)


VARIANTS = [
    {},
    {"norm_first": True},
    {"position_embedding": "learned"},
    {"norm_first": True, "position_embedding": "learned", "scale_embedding": False},
    {"tie_word_embeddings": False, "share_encoder_decoder_embeddings": False},
    {"share_encoder_decoder_embeddings": False, "activation_function": "gelu"},
    {"tie_word_embeddings": False, "encoder_layers": 1, "decoder_layers": 3},
]


# ----------------------------------------------------------------------------------------------------------------------
# Padding never changes a result
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("options", VARIANTS, ids=variant_id)
def test_padding_never_changes_the_logits(options, implementation):
    model = tiny_model(attn_implementation=implementation, **options)
    source_lengths, target_lengths = [7, 3, 5, 1], [5, 2, 6, 3]
    sources, mask = random_ids(source_lengths)
    targets, target_mask = decoder_inputs(target_lengths)
    batch_logits = model(
        input_ids=sources, attention_mask=mask, decoder_input_ids=targets, decoder_attention_mask=target_mask
    ).logits
    for row, (source_length, target_length) in enumerate(zip(source_lengths, target_lengths)):
        alone = model(
            input_ids=sources[row : row + 1, :source_length], decoder_input_ids=targets[row : row + 1, :target_length]
        ).logits
        torch.testing.assert_close(batch_logits[row : row + 1, :target_length], alone, atol=1e-5, rtol=0)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("options", [{}, {"norm_first": True, "position_embedding": "learned"}], ids=variant_id)
def test_padding_never_changes_what_generate_decodes(options, implementation):
    model = tiny_model(seed=2, attn_implementation=implementation, **options)
    lengths = [6, 2, 4, 5]
    sources, mask = random_ids(lengths, seed=3)
    settings = {"max_new_tokens": 8, "do_sample": False, "return_dict_in_generate": True, "output_logits": True}
    batch = model.generate(sources, attention_mask=mask, **settings)
    for row, length in enumerate(lengths):
        alone = model.generate(sources[row : row + 1, :length], **settings)
        tokens = strip_after_eos(alone.sequences[0])
        assert strip_after_eos(batch.sequences[row]) == tokens
        for step in range(len(tokens) - 1):
            torch.testing.assert_close(batch.logits[step][row], alone.logits[step][0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("position_embedding", ["sinusoidal", "learned"])
def test_left_and_right_padding_give_the_same_logits(position_embedding, implementation):
    model = tiny_model(attn_implementation=implementation, position_embedding=position_embedding)
    lengths = [6, 2, 4]
    sources, mask = random_ids(lengths)
    left = torch.full_like(sources, PAD)
    for row, length in enumerate(lengths):
        left[row, sources.size(1) - length :] = sources[row, :length]
    targets, _ = decoder_inputs([5, 5, 5])
    right_logits = model(input_ids=sources, attention_mask=mask, decoder_input_ids=targets).logits
    left_logits = model(input_ids=left, attention_mask=(left != PAD).long(), decoder_input_ids=targets).logits
    torch.testing.assert_close(left_logits, right_logits, atol=1e-5, rtol=0)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_all_padding_source_gives_finite_outputs(implementation):
    model = tiny_model(attn_implementation=implementation)
    out = model(
        input_ids=torch.zeros(1, 3, dtype=torch.long),
        attention_mask=torch.zeros(1, 3),
        decoder_input_ids=torch.tensor([[BOS, 5]]),
        output_attentions=True,
    )
    assert torch.isfinite(out.logits).all()
    assert all(torch.all(weights == 0) for weights in out.cross_attentions)


# ----------------------------------------------------------------------------------------------------------------------
# The cache
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("options", VARIANTS, ids=variant_id)
def test_cached_steps_equal_one_teacher_forced_forward(options, implementation):
    model = tiny_model(attn_implementation=implementation, **options)
    sources, mask = random_ids([5, 3])
    targets, _ = decoder_inputs([6, 6])
    full = model(input_ids=sources, attention_mask=mask, decoder_input_ids=targets).logits
    encoder_outputs = model.get_encoder()(sources, mask)
    cache, step_logits = None, []
    for t in range(targets.size(1)):
        out = model(
            encoder_outputs=encoder_outputs,
            attention_mask=mask,
            decoder_input_ids=targets[:, t : t + 1],
            cache=cache,
            use_cache=True,
        )
        cache = out.cache
        assert isinstance(cache, EncoderDecoderCache)
        assert cache.self_attention_cache.get_seq_length() == t + 1  # grows by one position per step
        assert cache.cross_attention_cache.get_seq_length() == sources.size(1)  # one entry per source position
        step_logits.append(out.logits)
    torch.testing.assert_close(torch.cat(step_logits, dim=1), full, atol=1e-5, rtol=0)


def test_a_cached_prefix_then_several_tokens_at_once_with_a_decoder_mask():
    model = tiny_model(norm_first=True)
    sources, mask = random_ids([5, 3])
    targets, target_mask = decoder_inputs([6, 4])
    full = model(input_ids=sources, attention_mask=mask, decoder_input_ids=targets, decoder_attention_mask=target_mask)
    first = model(
        input_ids=sources,
        attention_mask=mask,
        decoder_input_ids=targets[:, :2],
        decoder_attention_mask=target_mask[:, :2],
        use_cache=True,
    )
    rest = model(
        encoder_outputs=(first.encoder_last_hidden_state,),
        attention_mask=mask,
        decoder_input_ids=targets[:, 2:],
        decoder_attention_mask=target_mask,  # covers the cached and the new tokens
        cache=first.cache,
    )
    logits = torch.cat([first.logits, rest.logits], dim=1)
    keep = target_mask.bool()
    torch.testing.assert_close(logits[keep], full.logits[keep], atol=1e-5, rtol=0)


class CallCounter:
    """Counts the calls that start on some modules (a pre-hook: a recomputation may stop inside a module)."""

    def __init__(self, modules):
        self.calls = 0
        for module in modules:
            module.register_forward_pre_hook(self.hook)

    def hook(self, *_):
        self.calls += 1


@pytest.mark.parametrize("num_beams", [1, 3])
def test_cross_attention_keys_and_values_are_projected_once_per_source(num_beams):
    model = tiny_model(decoder_layers=3)
    sources, mask = random_ids([5, 4])
    layers = model.get_decoder().layers
    cross = CallCounter([m for layer in layers for m in (layer.encoder_attn.k_proj, layer.encoder_attn.v_proj)])
    own = CallCounter([layer.self_attn.k_proj for layer in layers])
    out = model.generate(
        sources, attention_mask=mask, num_beams=num_beams, max_new_tokens=6, min_new_tokens=6, do_sample=False
    )
    assert out.shape[1] == 7
    assert cross.calls == 2 * len(layers)  # keys and values of every layer, on the first step only
    assert own.calls == 6 * len(layers)  # one new position per step and layer


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("num_beams", [1, 3])
def test_masks_are_built_once_per_source_while_decoding(num_beams, implementation, monkeypatch):
    import attnseq.modeling.transformer as transformer

    model = tiny_model(decoder_layers=2, attn_implementation=implementation)
    sources, mask = random_ids([5, 4])  # padded: the cross-attention mask is a real mask
    settings = {"num_beams": num_beams, "max_new_tokens": 6, "min_new_tokens": 6, "do_sample": False}
    expected = model.generate(sources, attention_mask=mask, **settings)
    calls = {"create_bidirectional_mask": 0, "create_causal_mask": 0}

    def counted(name):
        original = getattr(transformer, name)

        def count(*args, **kwargs):
            calls[name] += 1
            return original(*args, **kwargs)

        return count

    for name in calls:
        monkeypatch.setattr(transformer, name, counted(name))
    out = model.generate(sources, attention_mask=mask, **settings)
    assert torch.equal(out, expected)
    # the encoder's mask, then the cross-attention mask on the first step, kept on the cache for the other five
    assert calls["create_bidirectional_mask"] == 2
    assert calls["create_causal_mask"] == 0  # one unpadded new token per step sees every key


def test_generate_with_and_without_the_cache_agree():
    model = tiny_model(seed=4)
    sources, mask = random_ids([6, 3])
    settings = {"max_new_tokens": 7, "do_sample": False}
    with_cache = model.generate(sources, attention_mask=mask, use_cache=True, **settings)
    without_cache = model.generate(sources, attention_mask=mask, use_cache=False, **settings)
    assert torch.equal(with_cache, without_cache)


# ----------------------------------------------------------------------------------------------------------------------
# Decoding strategies
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("options", [{}, {"norm_first": True, "position_embedding": "learned"}], ids=variant_id)
def test_beam_search_finds_sequences_at_least_as_likely_as_greedy(options):
    model = tiny_model(seed=3, **options)
    sources, _ = random_ids([5, 6, 3, 7], seed=1)
    for row in range(4):
        source = sources[row : row + 1][:, : int((sources[row] != PAD).sum())]
        greedy = model.generate(source, max_new_tokens=6, do_sample=False)[0]
        beam = model.generate(
            source,
            max_new_tokens=6,
            num_beams=5,
            length_penalty=0.0,
            do_sample=False,
            return_dict_in_generate=True,
            output_scores=True,
        )
        beam_score = sequence_log_prob(model, source, beam.sequences[0])
        # The score beam search kept through its reordered cache equals a fresh teacher-forced rescoring.
        assert beam.sequences_scores[0].item() == pytest.approx(beam_score, abs=1e-4)
        assert beam_score >= sequence_log_prob(model, source, greedy) - 1e-5


def test_sampling_and_several_return_sequences():
    model = tiny_model(seed=5)
    sources, mask = random_ids([5, 3])
    settings = {"do_sample": True, "top_k": 8, "temperature": 1.5, "max_new_tokens": 7, "num_return_sequences": 3}
    torch.manual_seed(0)
    sampled = model.generate(sources, attention_mask=mask, **settings)
    torch.manual_seed(0)
    again = model.generate(sources, attention_mask=mask, **settings)
    assert sampled.shape[0] == 6 and torch.equal(sampled, again)
    assert torch.all(sampled[:, 0] == BOS) and sampled.max() < VOCAB
    assert len({tuple(row.tolist()) for row in sampled}) > 1
    beams = model.generate(
        sources, attention_mask=mask, num_beams=4, num_return_sequences=4, max_new_tokens=6, no_repeat_ngram_size=2
    )
    assert beams.shape[0] == 8
    assert len({tuple(row.tolist()) for row in beams[:4]}) == 4  # distinct hypotheses of the first source
    at_least = model.generate(sources, attention_mask=mask, min_new_tokens=6, max_new_tokens=6, do_sample=False)
    assert at_least.shape[1] == 7 and not (at_least[:, 1:6] == EOS).any()


# ----------------------------------------------------------------------------------------------------------------------
# Attention: eager == sdpa, causality, multi-head attention by hand
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("padded", [False, True], ids=["unpadded", "padded"])
@pytest.mark.parametrize("options", VARIANTS[:4], ids=variant_id)
def test_eager_and_sdpa_agree_in_training(options, padded):
    eager = tiny_model(**options).train()  # dropout is 0, so training mode is deterministic
    sdpa = twin(eager, "sdpa").train()
    assert (eager.config._attn_implementation, sdpa.config._attn_implementation) == ("eager", "sdpa")
    sources, mask = random_ids([6, 3, 4] if padded else [5, 5, 5])
    labels, target_mask = random_ids([5, 2, 4] if padded else [4, 4, 4], seed=2)
    labels = labels.masked_fill(target_mask == 0, -100)
    outputs = []
    for model in (eager, sdpa):
        out = model(input_ids=sources, attention_mask=mask if padded else None, labels=labels)
        out.loss.backward()
        outputs.append((out, {name: p.grad for name, p in model.named_parameters()}))
    (eager_out, eager_grads), (sdpa_out, sdpa_grads) = outputs
    torch.testing.assert_close(sdpa_out.logits, eager_out.logits, atol=1e-5, rtol=0)
    torch.testing.assert_close(sdpa_out.loss, eager_out.loss, atol=1e-5, rtol=0)
    for name, grad in eager_grads.items():
        torch.testing.assert_close(sdpa_grads[name], grad, atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.parametrize("padded", [False, True], ids=["unpadded", "padded"])
def test_eager_and_sdpa_agree_in_generation(padded):
    eager = tiny_model(seed=6, norm_first=True)
    sdpa = twin(eager, "sdpa")
    sources, mask = random_ids([6, 3, 5] if padded else [5, 5, 5], seed=4)
    for settings in ({"do_sample": False}, {"num_beams": 3, "do_sample": False}):
        settings = {**settings, "max_new_tokens": 8, "return_dict_in_generate": True, "output_logits": True}
        a = eager.generate(sources, attention_mask=mask, **settings)
        b = sdpa.generate(sources, attention_mask=mask, **settings)
        assert torch.equal(a.sequences, b.sequences)
        torch.testing.assert_close(torch.stack(b.logits), torch.stack(a.logits), atol=1e-5, rtol=0)


NORMS_AND_POSITIONS = [
    {"norm_first": norm_first, "position_embedding": positions}
    for norm_first in (False, True)
    for positions in ("sinusoidal", "learned")
]


@pytest.mark.parametrize(
    "implementation",
    # flex_attention compiles its kernels and masks with torch.compile (minutes on a CPU the first time)
    ["sdpa", pytest.param("flex_attention", marks=pytest.mark.slow)],
)
def test_every_attention_implementation_gives_the_eager_outputs(implementation):
    """Logits, loss, greedy tokens and attention weights agree with the eager function's, with padding in source
    and target, for pre- and post-norm and both position kinds."""
    sources, mask = random_ids([6, 3, 5])
    targets, target_mask = decoder_inputs([5, 2, 4])
    labels = random_ids([5, 2, 4], seed=2)[0].masked_fill(target_mask == 0, -100)
    batch = {"input_ids": sources, "attention_mask": mask, "decoder_input_ids": targets, "labels": labels}
    settings = {"max_new_tokens": 6, "do_sample": False, "return_dict_in_generate": True, "output_logits": True}
    # the norms and positions sit outside attention: flex_attention, whose kernel compiles take most of this
    # test's time, is checked on the variant furthest from the defaults only
    variants = NORMS_AND_POSITIONS[-1:] if implementation == "flex_attention" else NORMS_AND_POSITIONS
    for options in variants:
        eager = tiny_model(seed=7, **options)
        other = twin(eager, implementation)
        assert other.config._attn_implementation == implementation
        with torch.no_grad():
            expected = eager(**batch, decoder_attention_mask=target_mask, output_attentions=True)
            got = other(**batch, decoder_attention_mask=target_mask)
            weights = other(**batch, decoder_attention_mask=target_mask, output_attentions=True)
        torch.testing.assert_close(got.logits, expected.logits, atol=1e-5, rtol=0)
        torch.testing.assert_close(got.loss, expected.loss, atol=1e-5, rtol=0)
        for name in ("encoder_attentions", "decoder_attentions", "cross_attentions"):
            assert len(getattr(weights, name)) == 2
            for x, y in zip(getattr(expected, name), getattr(weights, name)):
                torch.testing.assert_close(y, x, atol=1e-6, rtol=0)
        a = eager.generate(sources, attention_mask=mask, **settings)
        b = other.generate(sources, attention_mask=mask, **settings)
        assert torch.equal(a.sequences, b.sequences), options
        torch.testing.assert_close(torch.stack(b.logits), torch.stack(a.logits), atol=1e-5, rtol=0)


def test_attention_weights_come_from_the_eager_function_under_sdpa():
    eager = tiny_model()
    sdpa = twin(eager, "sdpa")
    sources, mask = random_ids([5, 2])
    targets, _ = decoder_inputs([4, 4])
    a, b = (
        model(input_ids=sources, attention_mask=mask, decoder_input_ids=targets, output_attentions=True)
        for model in (eager, sdpa)
    )
    for name in ("encoder_attentions", "decoder_attentions", "cross_attentions"):
        for x, y in zip(getattr(a, name), getattr(b, name)):
            assert y is not None
            torch.testing.assert_close(y, x)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("options", [{}, {"norm_first": True, "position_embedding": "learned"}], ids=variant_id)
def test_changing_decoder_token_t_never_changes_earlier_logits(options, implementation):
    model = tiny_model(attn_implementation=implementation, **options)
    sources, mask = random_ids([5, 4])
    targets, _ = decoder_inputs([7, 7])
    logits = model(input_ids=sources, attention_mask=mask, decoder_input_ids=targets).logits
    for t in range(1, targets.size(1)):
        changed = targets.clone()
        changed[:, t] = 3 + (changed[:, t] - 3 + 1) % (VOCAB - 3)
        changed_logits = model(input_ids=sources, attention_mask=mask, decoder_input_ids=changed).logits
        torch.testing.assert_close(changed_logits[:, :t], logits[:, :t], atol=1e-6, rtol=0)
        assert not torch.allclose(changed_logits[:, t], logits[:, t])  # token t itself is seen from position t on


def multi_head_attention_by_hand(module, queries, keys_values, mask):
    """Per head softmax(Q Kᵀ / √d + mask) V, heads concatenated, then the output projection; loops, no reshapes."""
    heads, d = module.num_heads, module.head_dim
    outputs, all_weights = [], []
    for h in range(heads):
        rows = slice(h * d, (h + 1) * d)
        q = queries @ module.q_proj.weight[rows].T + module.q_proj.bias[rows]
        k = keys_values @ module.k_proj.weight[rows].T + module.k_proj.bias[rows]
        v = keys_values @ module.v_proj.weight[rows].T + module.v_proj.bias[rows]
        scores = q @ k.transpose(-1, -2) / math.sqrt(d)
        scores = scores.masked_fill(~mask[:, 0], float("-inf"))  # mask: (batch, 1, tgt, src)
        weights = torch.softmax(scores, dim=-1)
        outputs.append(weights @ v)
        all_weights.append(weights)
    concatenated = torch.cat(outputs, dim=-1)
    return concatenated @ module.out_proj.weight.T + module.out_proj.bias, torch.stack(all_weights, dim=1)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("kind", ["self", "causal", "cross"])
def test_multi_head_attention_matches_a_hand_computation(kind, implementation):
    torch.manual_seed(0)
    config = tiny_config(d_model=12, attn_implementation=implementation, encoder_attention_heads=3)
    module = Seq2SeqTransformerAttention(config, num_heads=3, is_cross_attention=kind == "cross").eval()
    for parameter in module.parameters():
        torch.nn.init.normal_(parameter, std=0.5)
    queries = torch.randn(2, 4, 12)
    keys_values = torch.randn(2, 6, 12) if kind == "cross" else queries
    key_len = keys_values.size(1)
    mask = torch.ones(2, 1, 4, key_len, dtype=torch.bool)
    mask[1, :, :, key_len - 2 :] = False  # padding at the end of the second sequence
    if kind == "causal":
        mask &= torch.ones(4, 4, dtype=torch.bool).tril()
    expected, expected_weights = multi_head_attention_by_hand(module, queries, keys_values, mask)
    output, weights = module(
        queries, key_value_states=keys_values if kind == "cross" else None, attention_mask=mask, output_attentions=True
    )
    torch.testing.assert_close(output, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(weights, expected_weights, atol=1e-6, rtol=0)
    fast, no_weights = module(queries, key_value_states=keys_values if kind == "cross" else None, attention_mask=mask)
    assert no_weights is None
    torch.testing.assert_close(fast, expected, atol=1e-5, rtol=0)


def test_attention_outputs_have_the_documented_shapes():
    model = tiny_model(norm_first=True)
    sources, mask = random_ids([6, 4])
    targets, _ = decoder_inputs([5, 5])
    out = model(
        input_ids=sources,
        attention_mask=mask,
        decoder_input_ids=targets,
        output_attentions=True,
        output_hidden_states=True,
    )
    assert [w.shape for w in out.encoder_attentions] == [(2, 2, 6, 6)] * 2
    assert [w.shape for w in out.decoder_attentions] == [(2, 4, 5, 5)] * 2
    assert [w.shape for w in out.cross_attentions] == [(2, 4, 5, 6)] * 2
    assert len(out.encoder_hidden_states) == 3 and len(out.decoder_hidden_states) == 3
    torch.testing.assert_close(out.encoder_hidden_states[-1], out.encoder_last_hidden_state)
    for weights in out.cross_attentions:
        torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, 5))
        assert torch.all(weights[1, :, :, 4:] == 0)  # padded source positions get no weight
    for weights in out.decoder_attentions:
        assert torch.all(weights.triu(diagonal=1) == 0)  # no position looks ahead


def test_recorded_outputs_follow_the_config_unless_the_call_says_otherwise():
    """Hidden states and attention weights are recorded by transformers' output hooks, as in BART: the config's
    `output_attentions` / `output_hidden_states` are the defaults, a call's own flags win."""
    model = tiny_model()
    assert model._supports_attention_backend and model.get_encoder()._can_record_outputs
    sources, mask = random_ids([5, 3])
    targets, _ = decoder_inputs([4, 4])
    batch = {"input_ids": sources, "attention_mask": mask, "decoder_input_ids": targets}
    model.config.output_attentions = model.config.output_hidden_states = True
    out = model(**batch)
    assert [len(out[name]) for name in ("encoder_attentions", "decoder_attentions", "cross_attentions")] == [2, 2, 2]
    assert len(out.encoder_hidden_states) == len(out.decoder_hidden_states) == 3
    quiet = model(**batch, output_attentions=False, output_hidden_states=False)
    assert quiet.cross_attentions is None and quiet.encoder_hidden_states is None and quiet.decoder_attentions is None
    torch.testing.assert_close(quiet.logits, out.logits)


# ----------------------------------------------------------------------------------------------------------------------
# Positions
# ----------------------------------------------------------------------------------------------------------------------


def test_sinusoidal_positions_by_hand():
    encodings = sinusoidal_positions(torch.tensor([[0, 3]]), 6, torch.float64)
    expected = [
        [0.0, 1.0, 0.0, 1.0, 0.0, 1.0],
        [
            math.sin(3),
            math.cos(3),
            math.sin(3 / 10000 ** (2 / 6)),
            math.cos(3 / 10000 ** (2 / 6)),
            math.sin(3 / 10000 ** (4 / 6)),
            math.cos(3 / 10000 ** (4 / 6)),
        ],
    ]
    torch.testing.assert_close(encodings[0], torch.tensor(expected, dtype=torch.float64), atol=1e-6, rtol=0)


def test_learned_positions_refuse_inputs_longer_than_the_table():
    model = tiny_model(position_embedding="learned", max_position_embeddings=8)
    too_long = torch.randint(3, VOCAB, (1, 9))
    with pytest.raises(ValueError, match="9 tokens needs 9 positions.*max_position_embeddings=8"):
        model(input_ids=too_long, decoder_input_ids=torch.tensor([[BOS]]))
    with pytest.raises(ValueError, match="max_position_embeddings=8.*position_embedding='sinusoidal'"):
        model.generate(too_long[:, :5], max_new_tokens=10, min_new_tokens=10)


def test_sinusoidal_positions_work_past_max_position_embeddings():
    model = tiny_model(max_position_embeddings=8)
    sources, mask = random_ids([40, 25], seed=2)
    out = model.generate(sources, attention_mask=mask, max_new_tokens=20, min_new_tokens=20, do_sample=False)
    assert out.shape == (2, 21)
    targets, _ = decoder_inputs([30, 30])
    batch_logits = model(input_ids=sources, attention_mask=mask, decoder_input_ids=targets).logits
    alone = model(input_ids=sources[1:, :25], decoder_input_ids=targets[1:]).logits
    assert torch.isfinite(batch_logits).all()
    torch.testing.assert_close(batch_logits[1:], alone, atol=1e-5, rtol=0)


# ----------------------------------------------------------------------------------------------------------------------
# Training contract: labels, loss, gradient checkpointing, embeddings
# ----------------------------------------------------------------------------------------------------------------------


def test_loss_ignores_minus_100_and_labels_are_shifted():
    model = tiny_model()
    sources, mask = random_ids([4, 3])
    labels = torch.tensor([[5, 6, 7, EOS], [8, EOS, -100, -100]])
    decoder_input_ids = torch.tensor([[BOS, 5, 6, 7], [BOS, 8, EOS, PAD]])
    assert torch.equal(model.prepare_decoder_input_ids_from_labels(labels), decoder_input_ids)
    out = model(input_ids=sources, attention_mask=mask, labels=labels)
    assert out.cache is None  # no cache is built for training
    logits = model(input_ids=sources, attention_mask=mask, decoder_input_ids=decoder_input_ids).logits
    keep = labels != -100
    torch.testing.assert_close(out.loss, torch.nn.functional.cross_entropy(logits[keep], labels[keep]))
    # With the token count of a whole accumulated batch the loss is a sum over this part divided by it.
    part = model(input_ids=sources, attention_mask=mask, labels=labels, num_items_in_batch=12).loss
    torch.testing.assert_close(part, out.loss * keep.sum() / 12)


def test_return_dict_false_gives_tuples():
    model = tiny_model()
    sources, _ = random_ids([4])
    loss, logits, *_ = model(input_ids=sources, labels=torch.tensor([[5, 6, EOS]]), return_dict=False)
    assert loss.ndim == 0 and logits.shape == (1, 3, VOCAB)
    (hidden,) = model.get_encoder()(sources, return_dict=False)
    assert hidden.shape == (1, 4, 16)


def test_inputs_embeds_give_the_same_result_as_ids():
    model = tiny_model()
    sources, mask = random_ids([5, 3])
    targets, _ = decoder_inputs([4, 4])
    by_ids = model(input_ids=sources, attention_mask=mask, decoder_input_ids=targets).logits
    embed = model.get_input_embeddings()
    by_embeds = model(inputs_embeds=embed(sources), attention_mask=mask, decoder_inputs_embeds=embed(targets)).logits
    torch.testing.assert_close(by_embeds, by_ids)


def gradients(model, sources, mask, labels):
    model.zero_grad()
    model(input_ids=sources, attention_mask=mask, labels=labels).loss.backward()
    return {name: parameter.grad.clone() for name, parameter in model.named_parameters()}


@pytest.mark.parametrize("use_reentrant", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
def test_gradient_checkpointing_gives_the_same_gradients(norm_first, use_reentrant):
    model = tiny_model(norm_first=norm_first).train()
    sources, mask = random_ids([6, 3, 4])
    labels, target_mask = random_ids([4, 2, 3], seed=2)
    labels = labels.masked_fill(target_mask == 0, -100)
    expected = gradients(model, sources, mask, labels)
    checkpointed = copy.deepcopy(model)
    checkpointed.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": use_reentrant})
    assert checkpointed.is_activation_checkpointing
    feed_forward = CallCounter([layer.feed_forward for layer in checkpointed.get_encoder().layers])
    got = gradients(checkpointed, sources, mask, labels)
    assert feed_forward.calls == 2 * len(checkpointed.get_encoder().layers)  # recomputed in the backward pass
    assert got.keys() == expected.keys()
    for name, grad in expected.items():
        assert grad.abs().sum() > 0, name
        torch.testing.assert_close(got[name], grad, atol=1e-6, rtol=1e-5, msg=name)


TIES = [
    {"tie_word_embeddings": True, "share_encoder_decoder_embeddings": True},
    {"tie_word_embeddings": True, "share_encoder_decoder_embeddings": False},
    {"tie_word_embeddings": False, "share_encoder_decoder_embeddings": True},
    {"tie_word_embeddings": False, "share_encoder_decoder_embeddings": False},
]


@pytest.mark.parametrize("ties", TIES, ids=variant_id)
def test_embedding_ties_hold_through_training_and_save_load(ties, tmp_path):
    model = tiny_model(**ties).train()
    sources, mask = random_ids([5, 3])
    labels, _ = random_ids([4, 4], seed=2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model(input_ids=sources, attention_mask=mask, labels=labels).loss.backward()
    optimizer.step()

    def ties_of(m):
        encoder, decoder = m.model.encoder.embed_tokens.weight, m.model.decoder.embed_tokens.weight
        return (m.lm_head.weight is decoder, decoder is encoder)

    expected = (ties["tie_word_embeddings"], ties["share_encoder_decoder_embeddings"])
    assert ties_of(model) == expected
    model.save_pretrained(tmp_path)
    loaded, info = Seq2SeqTransformerForConditionalGeneration.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert ties_of(loaded) == expected
    for name, parameter in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], parameter), name


@pytest.mark.parametrize("ties", TIES, ids=variant_id)
def test_resize_token_embeddings_keeps_every_embedding_in_step(ties):
    model = tiny_model(**ties)
    model.resize_token_embeddings(VOCAB + 5, mean_resizing=False)
    sizes = {
        model.model.encoder.embed_tokens.num_embeddings,
        model.model.decoder.embed_tokens.num_embeddings,
        model.lm_head.out_features,
        model.config.vocab_size,
    }
    assert sizes == {VOCAB + 5}
    assert model.lm_head.weight is model.model.decoder.embed_tokens.weight or not ties["tie_word_embeddings"]
    new_token = torch.tensor([[VOCAB + 4]])
    assert model(input_ids=new_token, decoder_input_ids=new_token).logits.shape == (1, 1, VOCAB + 5)


# ----------------------------------------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------------------------------------


def _ids(*rows):
    return torch.tensor(rows)


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda m: m(input_ids=_ids([3, VOCAB]), decoder_input_ids=_ids([BOS])),
            f"input_ids contains token id {VOCAB}",
        ),
        (lambda m: m(input_ids=_ids([3, -1]), decoder_input_ids=_ids([BOS])), "outside the vocabulary"),
        (lambda m: m(input_ids=_ids([3, 4]), decoder_input_ids=_ids([99])), "decoder_input_ids contains"),
        (lambda m: m(input_ids=_ids([3, 4]), labels=_ids([99])), "labels contains"),
        (lambda m: m(input_ids=torch.tensor([[3.0, 4.0]]), decoder_input_ids=_ids([BOS])), "integer tensor"),
        (
            lambda m: m(input_ids=_ids([3, 4]), attention_mask=torch.ones(2, 2), decoder_input_ids=_ids([BOS])),
            r"attention_mask has shape \(2, 2\) but must be \(1, 2\)",
        ),
        (
            lambda m: m(
                input_ids=_ids([3, 4]), attention_mask=torch.tensor([[0.5, 1.0]]), decoder_input_ids=_ids([BOS])
            ),
            "attention_mask must hold only 0 and 1",
        ),
        (
            lambda m: m(input_ids=_ids([3, 4]), decoder_input_ids=_ids([BOS, 5]), decoder_attention_mask=_ids([1])),
            r"decoder_attention_mask has shape \(1, 1\) but must be \(1, 2\)",
        ),
        (lambda m: m(input_ids=_ids([3, 4])), "Pass decoder_input_ids"),
        (
            lambda m: m(input_ids=_ids([3]), inputs_embeds=torch.zeros(1, 1, 16), decoder_input_ids=_ids([BOS])),
            "exactly one of input_ids and inputs_embeds",
        ),
        (
            lambda m: m(
                input_ids=_ids([3]), decoder_input_ids=_ids([BOS]), decoder_inputs_embeds=torch.zeros(1, 1, 16)
            ),
            "exactly one of decoder_input_ids and decoder_inputs_embeds",
        ),
        (
            lambda m: m(input_ids=_ids([3]), decoder_input_ids=_ids([BOS]), cache=DynamicCache()),
            "cache must be an EncoderDecoderCache",
        ),
    ],
)
def test_bad_inputs_raise_clear_value_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call(tiny_model())


def test_a_decoder_mask_must_cover_the_cached_tokens():
    model = tiny_model()
    first = model(input_ids=_ids([3, 4]), decoder_input_ids=_ids([BOS, 5]), use_cache=True)
    with pytest.raises(ValueError, match=r"must be \(1, 3\), covering the 2 cached and 1 new decoder tokens"):
        model(
            encoder_outputs=(first.encoder_last_hidden_state,),
            decoder_input_ids=_ids([6]),
            decoder_attention_mask=_ids([1]),
            cache=first.cache,
        )


# ----------------------------------------------------------------------------------------------------------------------
# Learning
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_tiny_model_learns_string_reversal():
    torch.manual_seed(0)
    config = Seq2SeqTransformerConfig(
        vocab_size=13,
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        dropout=0.0,
        norm_first=True,
    )
    model = Seq2SeqTransformerForConditionalGeneration(config)
    steps, warmup = 800, 50
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, (steps - s) / (steps - warmup))
    )
    generator = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(steps):
        sources, mask, labels = reversal_batch(generator, 64)
        loss = model(input_ids=sources, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
    model.eval()
    sources, mask, labels = reversal_batch(torch.Generator().manual_seed(123), 500)
    predictions = model.generate(sources, attention_mask=mask, max_new_tokens=10, do_sample=False)
    correct = 0
    for prediction, label in zip(predictions, labels):
        correct += strip_after_eos(prediction[1:]) == label[label != -100].tolist()
    accuracy = correct / len(labels)
    print(f"string reversal exact match: {accuracy:.3f}")
    assert accuracy >= 0.95


# ----------------------------------------------------------------------------------------------------------------------
# Save, load, Auto classes
# ----------------------------------------------------------------------------------------------------------------------

LOAD_SCRIPT = """
import sys, torch, attnseq
from transformers import AutoModelForSeq2SeqLM
inputs = torch.load(sys.argv[2])
results = {}
for implementation in ("eager", "sdpa"):
    model = AutoModelForSeq2SeqLM.from_pretrained(sys.argv[1], attn_implementation=implementation).eval()
    assert type(model).__name__ == "Seq2SeqTransformerForConditionalGeneration", type(model)
    assert model.config._attn_implementation == implementation
    with torch.no_grad():
        results[implementation] = model(**inputs).logits
torch.save(results, sys.argv[3])
"""


def test_save_load_in_a_fresh_process_gives_identical_logits(tmp_path):
    model = tiny_model(norm_first=True, position_embedding="learned", share_encoder_decoder_embeddings=False)
    model.save_pretrained(tmp_path / "checkpoint")
    assert sorted(os.listdir(tmp_path / "checkpoint")) == ["config.json", "generation_config.json", "model.safetensors"]
    generation = json.loads((tmp_path / "checkpoint" / "generation_config.json").read_text())
    assert (generation["decoder_start_token_id"], generation["eos_token_id"], generation["pad_token_id"]) == (
        BOS,
        EOS,
        PAD,
    )
    sources, mask = random_ids([5, 2])
    targets, target_mask = decoder_inputs([4, 3])
    inputs = {
        "input_ids": sources,
        "attention_mask": mask,
        "decoder_input_ids": targets,
        "decoder_attention_mask": target_mask,
    }
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
    results = torch.load(tmp_path / "out.pt")
    assert torch.equal(results["eager"], expected)
    torch.testing.assert_close(results["sdpa"], expected, atol=1e-5, rtol=0)


def test_auto_classes_build_and_load_both_model_classes(tmp_path):
    config = tiny_config()
    assert isinstance(AutoModel.from_config(config), Seq2SeqTransformerModel)
    assert isinstance(AutoModelForSeq2SeqLM.from_config(config), Seq2SeqTransformerForConditionalGeneration)
    model = tiny_model()
    model.save_pretrained(tmp_path)
    base = AutoModel.from_pretrained(tmp_path, attn_implementation="eager").eval()
    assert isinstance(base, Seq2SeqTransformerModel)
    sources, mask = random_ids([5, 3])
    targets, _ = decoder_inputs([4, 4])
    out = base(input_ids=sources, attention_mask=mask, decoder_input_ids=targets)
    assert isinstance(out, Seq2SeqModelOutput)
    expected = model.model(input_ids=sources, attention_mask=mask, decoder_input_ids=targets).last_hidden_state
    torch.testing.assert_close(out.last_hidden_state, expected)
    assert model.get_encoder() is model.model.encoder and model.get_decoder() is model.model.decoder
