"""The shared attention pieces against an independent NumPy version of the book's layers."""

import numpy as np
import pytest
import torch
from torch import nn

from attnseq.modeling.attention import (
    AdditiveScore,
    DotProductScore,
    GeneralScore,
    build_score,
    dot_product_attention,
    local_window,
    masked_softmax,
    weighted_sum,
)


def book_attention_weight(hs: np.ndarray, h: np.ndarray) -> np.ndarray:
    """The book's `AttentionWeight.forward` (ch. 8): hs (N, T, H), h (N, H) -> a (N, T)."""
    hr = h.reshape(h.shape[0], 1, h.shape[1]).repeat(hs.shape[1], axis=1)
    s = (hs * hr).sum(axis=2)
    s = s - s.max(axis=1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=1, keepdims=True)


def book_weight_sum(hs: np.ndarray, a: np.ndarray) -> np.ndarray:
    """The book's `WeightSum.forward`: hs (N, T, H), a (N, T) -> c (N, H)."""
    ar = a.reshape(a.shape[0], a.shape[1], 1).repeat(hs.shape[2], axis=2)
    return (hs * ar).sum(axis=1)


def test_dot_attention_matches_the_book_forward():
    rng = np.random.default_rng(0)
    hs = rng.standard_normal((4, 6, 8))
    h = rng.standard_normal((4, 8))
    scorer = DotProductScore(8)
    hs_t, h_t = torch.from_numpy(hs), torch.from_numpy(h).unsqueeze(1)
    weights = masked_softmax(scorer(h_t, scorer.prepare_keys(hs_t)), None)
    context = weighted_sum(weights, hs_t)
    np.testing.assert_allclose(weights[:, 0].numpy(), book_attention_weight(hs, h), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(context[:, 0].numpy(), book_weight_sum(hs, book_attention_weight(hs, h)), atol=1e-12)


def test_masked_softmax_by_hand():
    scores = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 5.0]])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    weights = masked_softmax(scores, mask)
    e1, e2 = np.exp(1.0), np.exp(2.0)
    expected = torch.tensor([[e1 / (e1 + e2), e2 / (e1 + e2), 0.0], [1.0, 0.0, 0.0]], dtype=torch.float32)
    torch.testing.assert_close(weights, expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
def test_fully_masked_row_gives_zeros_not_nan(dtype):
    scores = torch.randn(2, 3, 5).to(dtype)
    mask = torch.ones(2, 3, 5, dtype=torch.bool)
    mask[1] = False
    weights = masked_softmax(scores, mask)
    assert not torch.isnan(weights).any()
    assert torch.all(weights[1] == 0)
    torch.testing.assert_close(weights[0].float().sum(-1), torch.ones(3), atol=1e-2, rtol=0)


def test_masked_softmax_gradient_is_finite_for_fully_masked_rows():
    scores = torch.randn(2, 4, requires_grad=True)
    mask = torch.tensor([[True, True, False, False], [False, False, False, False]])
    masked_softmax(scores, mask).sum().backward()
    assert torch.isfinite(scores.grad).all()


@pytest.mark.parametrize("kind", ["dot", "scaled_dot", "general", "additive"])
def test_scores_gradcheck_float64(kind):
    torch.manual_seed(0)
    scorer = build_score(kind, 5).double()
    queries = torch.randn(2, 3, 5, dtype=torch.float64, requires_grad=True)
    states = torch.randn(2, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda q, s: scorer(q, scorer.prepare_keys(s)), (queries, states))
    names = [name for name, _ in scorer.named_parameters()]
    if names:  # the projection weights get correct gradients too
        full = _ScoreFromStates(scorer)

        def through_parameters(*values):
            params = {f"scorer.{name}": value for name, value in zip(names, values)}
            return torch.func.functional_call(full, params, (queries.detach(), states.detach()))

        values = tuple(p.detach().clone().requires_grad_(True) for p in scorer.parameters())
        assert torch.autograd.gradcheck(through_parameters, values)


class _ScoreFromStates(torch.nn.Module):
    def __init__(self, scorer):
        super().__init__()
        self.scorer = scorer

    def forward(self, queries, states):
        return self.scorer(queries, self.scorer.prepare_keys(states))


def test_masked_softmax_and_weighted_sum_gradcheck_float64():
    scores = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    values = torch.randn(2, 4, 5, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[True, True, True, False], [True, False, False, False]]).unsqueeze(1)
    assert torch.autograd.gradcheck(lambda s, v: weighted_sum(masked_softmax(s, mask), v), (scores, values))


class AdaptedEnergy(nn.Module):
    """v plus a low-rank-like delta, as an adapter library wraps a layer: not an `nn.Linear`, so the score must go
    through the layer's call rather than read its weight."""

    def __init__(self, base: nn.Linear):
        super().__init__()
        self.base, self.delta = base, nn.Linear(base.in_features, 1, bias=False)

    def forward(self, x):
        return self.base(x) + self.delta(x)


@pytest.mark.parametrize("energy", ["linear", "wrapped"])
def test_additive_score_is_the_tanh_form_in_value_and_gradient(energy):
    # the score is computed through sigmoid (tanh x = 2 sigmoid(2x) - 1), in place: value and gradients must be
    # those of vᵀ tanh(W_q h + W_k hs), for several rows, steps and positions
    torch.manual_seed(0)
    additive = AdditiveScore(6, attention_size=5)
    if energy == "wrapped":
        additive.energy = AdaptedEnergy(additive.energy)
    additive = additive.double()
    q = torch.randn(2, 3, 6, dtype=torch.float64, requires_grad=True)
    s = torch.randn(2, 4, 6, dtype=torch.float64, requires_grad=True)

    def reference(q, s):
        projected = additive.query_proj(q).unsqueeze(2) + additive.key_proj(s).unsqueeze(1)
        return additive.energy(torch.tanh(projected)).squeeze(-1)

    torch.testing.assert_close(additive(q, additive.prepare_keys(s)), reference(q, s), rtol=0, atol=1e-12)
    assert torch.autograd.gradcheck(lambda q, s: additive(q, additive.prepare_keys(s)), (q, s))
    grad = torch.randn(2, 3, 4, dtype=torch.float64)
    inputs = (q, s, *additive.energy.parameters())
    ours = torch.autograd.grad(additive(q, additive.prepare_keys(s)), inputs, grad)
    expected = torch.autograd.grad(reference(q, s), inputs, grad)
    for a, b in zip(ours, expected):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_score_formulas():
    torch.manual_seed(0)
    q, s = torch.randn(1, 1, 4), torch.randn(1, 3, 4)
    torch.testing.assert_close(DotProductScore(4, scaled=True)(q, s), (q @ s.transpose(1, 2)) / 2.0)
    general = GeneralScore(4)
    torch.testing.assert_close(general(q, general.prepare_keys(s)), q @ general.key_proj.weight @ s.transpose(1, 2))
    additive = AdditiveScore(4)
    expected = torch.stack(
        [additive.energy(torch.tanh(additive.query_proj(q[0, 0]) + additive.key_proj(s[0, j]))) for j in range(3)]
    ).view(1, 1, 3)
    torch.testing.assert_close(additive(q, additive.prepare_keys(s)), expected)


def test_unknown_score_names_the_allowed_ones():
    with pytest.raises(ValueError, match="dot, scaled_dot, general, additive"):
        build_score("dott", 4)


def test_dot_product_attention_by_hand():
    torch.manual_seed(0)
    q, k, v = torch.randn(1, 2, 3, 4), torch.randn(1, 2, 5, 4), torch.randn(1, 2, 5, 4)
    mask = torch.tensor([True, True, True, False, False]).view(1, 1, 1, 5)
    out, weights = dot_product_attention(q, k, v, mask)
    scores = q @ k.transpose(-1, -2) / 2.0
    scores[..., 3:] = float("-inf")
    torch.testing.assert_close(weights, torch.softmax(scores, -1))
    torch.testing.assert_close(out, torch.softmax(scores, -1) @ v)


def test_local_window():
    mask, gaussian = local_window(torch.tensor([[2.0]]), 6, 1, torch.float32)
    assert mask.tolist() == [[[False, True, True, True, False, False]]]
    torch.testing.assert_close(gaussian[0, 0, 2], torch.tensor(1.0))
    torch.testing.assert_close(gaussian[0, 0, 3], torch.exp(torch.tensor(-2.0)))  # sigma = 0.5
