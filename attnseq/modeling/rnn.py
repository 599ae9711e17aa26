"""Recurrent building blocks of the LSTM family, and the ways to run them fast.

- `make_rnn`, `run_rnn`: one-layer `nn.LSTM`/`nn.GRU` layers, run in float32 under CPU autocast;
- `single_step`: one time step through the cell kernel (generation and input feeding run one token at a time);
- `StackedRNN`: the decoder's stacked layers with dropout and residual connections between them;
- `ReadingOrder`: the order in which the encoder reads a padded, possibly reversed, source.
"""

from __future__ import annotations

import torch
from torch import nn

from ..configuration.lstm import Seq2SeqLSTMConfig

RNNState = tuple[torch.Tensor, torch.Tensor | None]  # (h, c) of one layer, each (batch, hidden); c is None for GRU


def make_rnn(cell: str, input_size: int, hidden_size: int) -> nn.RNNBase:
    rnn_class = nn.LSTM if cell == "lstm" else nn.GRU
    return rnn_class(input_size, hidden_size, num_layers=1, batch_first=True)


def run_rnn(rnn: nn.RNNBase, inputs: torch.Tensor, state=None):
    """`rnn(inputs, state)` for a fused `nn.LSTM`/`nn.GRU`, in float32 under CPU autocast.

    oneDNN's fused recurrent kernel has no bfloat16 form on CPUs without native bfloat16 (AVX2-only machines
    raise "could not create a primitive descriptor for the LSTM forward propagation primitive"), so under CPU
    autocast the recurrence always runs in float32, on every CPU alike; the layers around it keep autocast.
    """
    if inputs.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
        with torch.autocast("cpu", enabled=False):
            if state is not None:
                state = tuple(t.float() for t in state) if isinstance(state, tuple) else state.float()
            return rnn(inputs.float(), state)
    return rnn(inputs, state)


def _to_torch_state(state: RNNState):
    """`(h, c)` of shape `(batch, hidden)` -> the `(1, batch, hidden)` layout of a one-layer torch RNN."""
    h, c = state
    return h.unsqueeze(0) if c is None else (h.unsqueeze(0), c.unsqueeze(0))


def _from_torch_state(state) -> RNNState:
    h, c = state if isinstance(state, tuple) else (state, None)
    return h.squeeze(0), None if c is None else c.squeeze(0)


def source_permutation(mask: torch.Tensor, reverse: bool) -> torch.Tensor:
    """Permutation that moves each row's real tokens to the front (reversed if `reverse`).

    Args:
        mask: `(batch, src_len)` boolean; the real tokens of a row must be contiguous (right or
            left padding).

    Returns:
        `(batch, src_len)` indices: position j of the permuted row reads original position perm[j].
        The j-th real token of the permuted row is original token start + j (or start + L - 1 - j
        reversed); the padding positions follow in their original order.
    """
    batch, src_len = mask.shape
    lengths = mask.sum(1, keepdim=True)
    starts = mask.int().argmax(1, keepdim=True)
    j = torch.arange(src_len, device=mask.device).expand(batch, -1)
    real = starts + (lengths - 1 - j if reverse else j)
    k = j - lengths  # k-th padding position: before the real span, or after it
    pad = torch.where(k < starts, k, k + lengths)
    return torch.where(j < lengths, real, pad)


def gather_time(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """`x[b, index[b, j]]` for `x` `(batch, seq, features)` and `index` `(batch, seq)`."""
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.size(-1)))


class StackedRNN(nn.Module):
    """The decoder's stacked single-layer RNNs, with dropout between layers and optional residual
    connections (DL from Scratch 2, §8.4.3): one fused `nn.LSTM`/`nn.GRU` call per layer."""

    def __init__(self, config: Seq2SeqLSTMConfig, input_size: int, num_layers: int):
        super().__init__()
        self.layers = nn.ModuleList(
            make_rnn(config.cell, input_size if i == 0 else config.hidden_size, config.hidden_size)
            for i in range(num_layers)
        )
        self.residual = config.residual
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, inputs: torch.Tensor, states: list[RNNState]):
        """Run every layer from `states`.

        Args:
            inputs: `(batch, seq_len, input_size)`.
            states: per layer `(h, c)` of shape `(batch, hidden)` (c is None for GRU).

        Returns:
            `(outputs, final_states, layer_outputs)`: the top layer's output `(batch, seq_len, hidden)`,
            each layer's final `(h, c)`, and every layer's output.
        """
        x, finals, layer_outputs = inputs, [], []
        for i, rnn in enumerate(self.layers):
            layer_input = x if i == 0 else self.dropout(x)
            if layer_input.size(1) == 1:
                final = single_step(rnn, layer_input[:, 0], states[i])
                y = final[0].unsqueeze(1)
            else:
                y, final = run_rnn(rnn, layer_input, _to_torch_state(states[i]))
                final = _from_torch_state(final)
            if self.residual and i > 0:
                y = y + x
            finals.append(final)
            layer_outputs.append(y)
            x = y
        return x, finals, layer_outputs


def single_step(rnn: nn.RNNBase, inputs: torch.Tensor, state: RNNState) -> RNNState:
    """One time step of a one-layer `nn.LSTM`/`nn.GRU` with its own weights: `(batch, input)` -> `(h, c)`.

    The same equations as `rnn` over a sequence of length one, through the cell kernel: a whole-sequence
    call prepares its weights for the fused kernel on every call, which costs several times the step itself
    when the decoder runs one token at a time (generation, input feeding). A dynamically quantized layer keeps
    its int8 weights packed, with no `weight_ih_l0`, and already runs a one-step sequence fast.
    """
    if not hasattr(rnn, "weight_ih_l0"):  # dynamically quantized to int8 (attnseq.serving): packed weights
        return _from_torch_state(rnn(inputs.unsqueeze(1), _to_torch_state(state))[1])
    h, c = state
    weights = (rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0)
    if c is None:
        return torch.gru_cell(inputs, h, *weights), None
    return torch.lstm_cell(inputs, (h, c), *weights)


class ReadingOrder:
    """The order in which the encoder reads each source row, and the way back to source order.

    The forward RNN reads each row's real tokens first (reversed with `reverse_source`), so that one fused call
    per layer serves a padded batch: padding comes after every real token and cannot change a real state. The
    backward direction reads each row's real tokens from the other end, padding behind them again.
    """

    def __init__(self, mask: torch.Tensor, reverse: bool):
        """`mask`: `(batch, src_len)` boolean, each row's real tokens contiguous."""
        batch, src_len = mask.shape
        self.mask, self.reverse = mask, reverse
        self.lengths = mask.sum(1)
        self.padded = bool((self.lengths < src_len).any())
        if self.padded:
            self.permutation = source_permutation(mask, reverse)
            self.inverse = torch.empty_like(self.permutation).scatter_(
                1, self.permutation, torch.arange(src_len, device=mask.device).expand(batch, -1)
            )
            real = torch.arange(src_len, device=mask.device) < self.lengths[:, None]
            self.backward_order = source_permutation(real, reverse=True)

    def to_reading(self, t: torch.Tensor) -> torch.Tensor:
        """`(batch, src_len, features)` in source order -> in reading order."""
        if self.padded:
            return gather_time(t, self.permutation)
        return t.flip(1) if self.reverse else t

    def to_source(self, t: torch.Tensor) -> torch.Tensor:
        """`(batch, src_len, features)` in reading order -> in source order, zeros at padding positions."""
        if self.padded:
            return gather_time(t, self.inverse).masked_fill(~self.mask.unsqueeze(-1), 0.0)
        return t.flip(1) if self.reverse else t

    def backward(self, rnn: nn.RNNBase, layer_input: torch.Tensor) -> torch.Tensor:
        """Run the backward-direction `rnn` over `layer_input` `(batch, src_len, features)` (reading order) and
        return its outputs in reading order: position j holds the state after reading the row from its end to j."""
        if self.padded:
            return gather_time(run_rnn(rnn, gather_time(layer_input, self.backward_order))[0], self.backward_order)
        return run_rnn(rnn, layer_input.flip(1))[0].flip(1)
