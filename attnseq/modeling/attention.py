"""Attention pieces shared by both model families.

Attention is three steps (Deep Learning from Scratch 2, ch. 8; Luong et al. 2015; Vaswani et al. 2017):

1. a *score* between every query (decoder state) and every key (encoder state),
2. a *masked softmax* over the key positions, so padding gets zero weight,
3. a *weighted sum* of the values (the context vector).

The scoring modules own their parameters and expose one signature::

    keys = scorer.prepare_keys(encoder_states)   # once per source
    scores = scorer(queries, keys)               # (batch, tgt_len, src_len)

so that projected keys are computed once per source and passed back in at every decoder step rather
than kept on the module.
"""

from __future__ import annotations

import math

import torch
from torch import nn

ATTENTION_SCORES = ("dot", "scaled_dot", "general", "additive")


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None, dim: int = -1) -> torch.Tensor:
    """Softmax over `dim` that gives masked positions exactly zero weight.

    Args:
        scores: attention scores of any shape, e.g. `(batch, tgt_len, src_len)`.
        mask: boolean tensor broadcastable to `scores`, `True` where a position may be attended to,
            or `None` for no masking.

    Returns:
        Weights of the shape of `scores` that sum to one along `dim`. A row whose positions are all
        masked gets all-zero weights, never NaN: masked scores are filled with the dtype's minimum
        (not `-inf`, not `-1e9`, which overflows in half precision) and zeroed after the softmax.
    """
    if mask is None:
        return torch.softmax(scores, dim=dim)
    masked = ~mask.to(torch.bool)
    scores = scores.masked_fill(masked, torch.finfo(scores.dtype).min)
    return torch.softmax(scores, dim=dim).masked_fill(masked, 0.0)


def weighted_sum(weights: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Context vectors: the attention-weighted sum of the values.

    Args:
        weights: `(..., tgt_len, src_len)` attention weights.
        values: `(..., src_len, dim)` values (the encoder states for the LSTM family).

    Returns:
        `(..., tgt_len, dim)` context vectors.
    """
    return torch.matmul(weights, values)


def dot_product_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None = None,
    scale: float | None = None,
    dropout: float = 0.0,
    training: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention, softmax(Q Kᵀ · scale + mask) V (Vaswani et al. 2017, eq. 1).

    The readable reference that the Transformer's eager path uses.

    Args:
        query: `(batch, heads, tgt_len, head_dim)`.
        key, value: `(batch, heads, src_len, head_dim)`.
        mask: boolean, broadcastable to `(batch, heads, tgt_len, src_len)`, `True` = may attend.
        scale: multiplier of the scores; defaults to `1/sqrt(head_dim)`.

    Returns:
        `(output, weights)` of shapes `(batch, heads, tgt_len, head_dim)` and
        `(batch, heads, tgt_len, src_len)`.
    """
    scale = 1.0 / math.sqrt(query.size(-1)) if scale is None else scale
    scores = torch.matmul(query, key.transpose(-1, -2)) * scale  # (batch, heads, tgt, src)
    weights = masked_softmax(scores, mask)
    if dropout > 0.0 and training:
        weights = nn.functional.dropout(weights, p=dropout, training=True)
    return weighted_sum(weights, value), weights


class DotProductScore(nn.Module):
    """score(h, hs) = h · hs, optionally divided by sqrt(dim) (`scaled=True`).

    The book's `AttentionWeight` uses the plain dot product; the scaled form keeps the softmax out
    of saturation for large hidden sizes. No parameters.
    """

    def __init__(self, hidden_size: int, scaled: bool = False):
        super().__init__()
        self.scale = 1.0 / math.sqrt(hidden_size) if scaled else 1.0

    def prepare_keys(self, encoder_states: torch.Tensor) -> torch.Tensor:
        """`(batch, src_len, hidden)` -> the same tensor: dot scores need no projection."""
        return encoder_states

    def forward(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """`(batch, tgt_len, hidden)` x `(batch, src_len, hidden)` -> scores `(batch, tgt_len, src_len)`."""
        scores = torch.bmm(queries, keys.transpose(1, 2))
        return scores * self.scale if self.scale != 1.0 else scores


class GeneralScore(nn.Module):
    """score(h, hs) = hᵀ W hs, Luong's "general" (bilinear) score.

    `W hs` is computed once per source in `prepare_keys`.
    """

    def __init__(self, hidden_size: int):
        super().__init__()
        self.key_proj = nn.Linear(hidden_size, hidden_size, bias=False)

    def prepare_keys(self, encoder_states: torch.Tensor) -> torch.Tensor:
        """`(batch, src_len, hidden)` -> `W hs`, `(batch, src_len, hidden)`."""
        return self.key_proj(encoder_states)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """`(batch, tgt_len, hidden)` x `(batch, src_len, hidden)` -> `(batch, tgt_len, src_len)`."""
        return torch.bmm(queries, keys.transpose(1, 2))


class AdditiveScore(nn.Module):
    """score(h, hs) = vᵀ tanh(W_q h + W_k hs), Bahdanau's "concat" score.

    `W_k hs` is computed once per source in `prepare_keys`. The score is computed as
    2 vᵀ sigmoid(2 (W_q h + W_k hs)) - Σv, the same value (tanh x = 2 sigmoid(2x) - 1): the
    `(batch, tgt_len, src_len, attention_size)` tensor is the largest of a decoder step, and torch's
    float32 `sigmoid` on it is about five times faster than its `tanh` on CPUs with AVX2.
    """

    def __init__(self, hidden_size: int, attention_size: int | None = None):
        super().__init__()
        attention_size = attention_size or hidden_size
        self.query_proj = nn.Linear(hidden_size, attention_size, bias=False)
        self.key_proj = nn.Linear(hidden_size, attention_size, bias=False)
        self.energy = nn.Linear(attention_size, 1, bias=False)

    def prepare_keys(self, encoder_states: torch.Tensor) -> torch.Tensor:
        """`(batch, src_len, hidden)` -> `W_k hs`, `(batch, src_len, attention_size)`."""
        return self.key_proj(encoder_states)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """`(batch, tgt_len, hidden)` x `(batch, src_len, attention_size)` -> `(batch, tgt_len, src_len)`."""
        queries = self.query_proj(queries).unsqueeze(2)  # (batch, tgt, 1, attn)
        doubled = torch.add(queries + queries, keys.unsqueeze(1), alpha=2.0)  # 2 (W_q h + W_k hs): (b, t, s, attn)
        gates = doubled.sigmoid_()
        if type(self.energy) is nn.Linear:  # a product with v and its sum, without the layer's call
            v = self.energy.weight[0]
            return torch.matmul(gates, v).mul_(2.0).sub_(v.sum())
        # a quantized or otherwise wrapped layer: vᵀ sigmoid(2 x) and Σv through it
        energy = self.energy(gates).squeeze(-1)
        return energy.mul_(2.0).sub_(self.energy(gates.new_ones(gates.size(-1))).squeeze(-1))


def build_score(kind: str, hidden_size: int) -> nn.Module:
    """The scoring module for `kind`, one of `ATTENTION_SCORES`."""
    if kind == "dot":
        return DotProductScore(hidden_size, scaled=False)
    if kind == "scaled_dot":
        return DotProductScore(hidden_size, scaled=True)
    if kind == "general":
        return GeneralScore(hidden_size)
    if kind == "additive":
        return AdditiveScore(hidden_size)
    raise ValueError(f"Unknown attention score {kind!r}; allowed: {', '.join(ATTENTION_SCORES)}.")


def local_window(
    centers: torch.Tensor, src_len: int, width: int, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """Luong's local-p window around a predicted aligned position (Luong et al. 2015, eq. 9-10).

    Args:
        centers: `(batch, tgt_len)` aligned source positions p_t (real-valued).
        src_len: number of source positions S.
        width: half-width D of the window; positions with |s - p_t| > D are masked.

    Returns:
        `(mask, gaussian)`, both `(batch, tgt_len, src_len)`: the boolean window mask and the factor
        exp(-(s - p_t)² / (2σ²)) with σ = D/2 that multiplies the windowed softmax weights.
    """
    positions = torch.arange(src_len, device=centers.device, dtype=dtype)
    distance = positions.view(1, 1, -1) - centers.unsqueeze(-1).to(dtype)  # (batch, tgt, src)
    mask = distance.abs() <= width
    sigma = width / 2.0
    gaussian = torch.exp(-(distance**2) / (2.0 * sigma * sigma))
    return mask, gaussian


class LocalPWindow(nn.Module):
    """Luong's local-p attention window (Luong et al. 2015, §3.2, eq. 9-10).

    The decoder state h_t predicts an aligned source position p_t = start + (L - 1) · sigmoid(v_pᵀ tanh(W_p h_t))
    inside the source's L real tokens (which begin at `start`); attention is then restricted to the positions
    within `width` of p_t, and its weights are multiplied by a Gaussian centred there.
    """

    def __init__(self, hidden_size: int, width: int):
        super().__init__()
        self.width = width
        self.position_proj = nn.Linear(hidden_size, hidden_size, bias=False)  # W_p
        self.position_energy = nn.Linear(hidden_size, 1, bias=False)  # v_p

    def forward(self, queries: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`queries` `(batch, tgt_len, hidden)` and the source mask `(batch, src_len)` (boolean, one run of real
        tokens per row) -> the window mask and the Gaussian factor, both `(batch, tgt_len, src_len)`."""
        lengths = mask.sum(1, keepdim=True).to(queries.dtype)
        starts = mask.int().argmax(1, keepdim=True).to(queries.dtype)
        fraction = torch.sigmoid(self.position_energy(torch.tanh(self.position_proj(queries)))).squeeze(-1)
        centers = starts + (lengths - 1).clamp(min=0) * fraction  # (batch, tgt_len)
        return local_window(centers, mask.size(1), self.width, queries.dtype)
