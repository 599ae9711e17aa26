"""The recurrent stack of the LSTM family (encoder and decoder), and the ways to run it fast.

- `RecurrentStack`: stacked layers with dropout and residual connections between them, written once; its input
  layout (`InputLayout`) and cell equations; a `step()` form (one time step: generation, input feeding) and an
  `unrolled()` form (a whole sequence: one fused call per layer, or, with a part fed back from each step's output
  (`Feedback`), a step loop whose backward pass computes the weight gradients once after the loop);
- `make_rnn`, `run_rnn`: one-layer `nn.LSTM`/`nn.GRU` layers, run in float32 under CPU autocast;
- `single_step`: one time step through the cell kernel;
- `ReadingOrder`: the order in which the encoder reads a padded, possibly reversed, source.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .loop_gradients import LoopLinear

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


def lstm_cell(gates: torch.Tensor, c: torch.Tensor) -> RNNState:
    """The LSTM cell from its gate pre-activations `(batch, 4 * hidden)` (input, forget, cell, output, torch's
    order) and the previous cell state `c` `(batch, hidden)`: the new `(h, c)`."""
    in_gate, forget_gate, cell_gate, out_gate = gates.chunk(4, dim=1)
    c = torch.sigmoid(forget_gate) * c + torch.sigmoid(in_gate) * torch.tanh(cell_gate)
    return torch.sigmoid(out_gate) * torch.tanh(c), c


def gru_cell(input_gates: torch.Tensor, hidden_gates: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """The GRU cell from the pre-activations of its input part `W_i x + b_i` and hidden part `W_h h + b_h`, each
    `(batch, 3 * hidden)` (reset, update, new, torch's order), and the previous state `h`: the new h."""
    input_r, input_z, input_n = input_gates.chunk(3, dim=1)
    hidden_r, hidden_z, hidden_n = hidden_gates.chunk(3, dim=1)
    reset = torch.sigmoid(input_r + hidden_r)
    update = torch.sigmoid(input_z + hidden_z)
    return (1 - update) * torch.tanh(input_n + reset * hidden_n) + update * h


class InputLayout:
    """The named parts of a stack's input, in the order its first layer's input weight holds their columns.

    Callers hand the stack its input as parts by name (`{"embedding": e, "feed": f}`); the stack concatenates them
    in this order, and the fast input-feeding loop finds a part's weight columns here, so that no caller depends on
    the order anyone else concatenates in.
    """

    def __init__(self, **sizes: int):
        """`sizes`: each part's size, in column order; a part of size 0 is left out (an option that is off)."""
        self.sizes = {name: size for name, size in sizes.items() if size}
        self.size = sum(self.sizes.values())

    def columns(self, name: str) -> slice:
        """The input weight's columns that read part `name`."""
        start = 0
        for part, size in self.sizes.items():
            if part == name:
                return slice(start, start + size)
            start += size
        raise KeyError(f"no input part {name!r}; the parts are {list(self.sizes)}")

    def concat(self, parts: dict[str, torch.Tensor | None], leave_out: str | None = None) -> torch.Tensor:
        """The parts `(..., size_k)` joined along the last dimension in column order (`leave_out` skipped)."""
        tensors = [parts.get(name) for name in self.sizes if name != leave_out]
        if None in tensors:
            given = sorted(name for name, t in parts.items() if t is not None)
            raise ValueError(f"the input needs the parts {list(self.sizes)}, got {given}")
        return tensors[0] if len(tensors) == 1 else torch.cat(tensors, dim=-1)

    def weight_columns(self, weight: torch.Tensor, leave_out: str) -> torch.Tensor:
        """`weight`'s columns of every part but `leave_out`, in the order `concat(..., leave_out)` joins them."""
        return torch.cat([weight[:, self.columns(name)] for name in self.sizes if name != leave_out], dim=1)


LinearFn = Callable[[nn.Module, torch.Tensor], torch.Tensor]  # `linear(module, x)`: apply a linear layer


def apply_linear(linear: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """`linear(x)`: how a feedback step applies its linear layers outside the fast loop."""
    return linear(x)


@dataclass
class Feedback:
    """An input part that each step computes from the previous step's top-layer output (Luong's input feeding).

    Args:
        part: the input part it fills (a name of the stack's `InputLayout`).
        first: `(batch, size)` its value at the first step.
        compute: `compute(top, linear)`, from the top layer's output `top` `(batch, 1, hidden)` of a step, returns
            a tuple of `(batch, 1, ...)` tensors whose first is the part's value for the next step. It applies any
            `nn.Linear` of its own as `linear(module, x)`, which lets the fast loop compute that weight's gradient
            once after the loop.
    """

    part: str
    first: torch.Tensor
    compute: Callable[[torch.Tensor, LinearFn], tuple[torch.Tensor, ...]]


class _LoopLinears:
    """`linear(module, x)` inside the fast loop: each `nn.Linear` runs as a `LoopLinear` (made on first use), so its
    weight gets its gradient in one product after the loop."""

    def __init__(self, steps: int, batch: int):
        self.steps, self.batch = steps, batch
        self.loops: dict[nn.Module, LoopLinear] = {}

    def at(self, t: int) -> LinearFn:
        """`linear(module, x)` at step `t`, for `x` `(batch, 1, in)`."""

        def linear(module: nn.Linear, x: torch.Tensor) -> torch.Tensor:
            loop = self.loops.get(module)
            if loop is None:
                weight = module.weight
                bias = weight.new_zeros(1, 1, 1) if module.bias is None else module.bias
                loop = self.loops[module] = LoopLinear(bias.expand(self.steps, self.batch, weight.size(0)), [weight])
            return loop.step(t, x[:, 0]).unsqueeze(1)

        return linear


class RecurrentStack(nn.Module):
    """Stacked one-layer `nn.LSTM`/`nn.GRU`s with dropout between layers and optional residual connections (DL from
    Scratch 2, §8.4.3), run a step at a time (`step`) or over a whole sequence (`unrolled`).

    The stack owns its input's layout (`InputLayout`) and the cell equations. `unrolled` runs one fused call per
    layer when every step's input is known in advance; when part of it is fed back from the previous step
    (`Feedback`) it loops over `step`, and under autograd over an equivalent loop whose recurrent and feedback
    weights get their gradients once after the loop (`LoopLinear`). A bidirectional stack (the encoder's) has a
    second set of layers, `reverse_layers`, read by `read`.
    """

    def __init__(
        self,
        cell: str,
        layout: InputLayout,
        hidden_size: int,
        num_layers: int,
        dropout: float,
        residual: bool,
        bidirectional: bool = False,
    ):
        """`hidden_size` is each layer's output size; a bidirectional stack gives each direction half of it."""
        super().__init__()
        self.cell, self.layout, self.residual = cell, layout, residual
        size = hidden_size // 2 if bidirectional else hidden_size
        inputs = [layout.size] + [hidden_size] * (num_layers - 1)
        self.layers = nn.ModuleList(make_rnn(cell, n, size) for n in inputs)
        self.reverse_layers = nn.ModuleList(make_rnn(cell, n, size) for n in inputs) if bidirectional else None
        self.dropout = nn.Dropout(dropout)

    def _stacked(self, x: torch.Tensor, run_layer: Callable[[int, torch.Tensor], torch.Tensor]) -> list[torch.Tensor]:
        """Every layer's output: layer i reads `run_layer(i, input)` of the layer below (`x` for the first), through
        dropout above the first layer, with a residual connection around every layer but the first."""
        outputs = []
        for i in range(len(self.layers)):
            y = run_layer(i, x if i == 0 else self.dropout(x))
            if self.residual and i > 0:
                y = y + x
            outputs.append(y)
            x = y
        return outputs

    def step(
        self, inputs: dict[str, torch.Tensor], states: list[RNNState]
    ) -> tuple[torch.Tensor, list[RNNState], list[torch.Tensor]]:
        """One time step.

        Args:
            inputs: every part of the layout, `(batch, size)` each.
            states: per layer `(h, c)` of shape `(batch, hidden)` (c is None for GRU).

        Returns:
            `(top, states, layer_outputs)`: the top layer's output `(batch, hidden)`, every layer's new `(h, c)`,
            and every layer's output `(batch, hidden)`.
        """
        new_states = []

        def run_layer(i: int, x: torch.Tensor) -> torch.Tensor:
            new_states.append(single_step(self.layers[i], x, states[i]))
            return new_states[-1][0]

        outputs = self._stacked(self.layout.concat(inputs), run_layer)
        return outputs[-1], new_states, outputs

    def unrolled(
        self,
        inputs: dict[str, torch.Tensor | None],
        states: list[RNNState],
        feedback: Feedback | None = None,
    ) -> tuple[torch.Tensor, list[RNNState], list[torch.Tensor], tuple[torch.Tensor, ...]]:
        """Run `steps` steps from `states`.

        Args:
            inputs: the layout's parts `(batch, steps, size)`, all but the fed-back one.
            states: per layer `(h, c)` of shape `(batch, hidden)` before the first step.
            feedback: the part computed from each step's output, or None (then one fused call per layer). With
                feedback under autograd, over more than one step, the loop computes the weight gradients once after
                the loop (`_fast_loop`); otherwise it runs `step` once per step (`_loop`).

        Returns:
            `(top, states, layer_outputs, fed)`: the top layer's outputs `(batch, steps, hidden)`, every layer's
            final `(h, c)`, every layer's outputs `(batch, steps, hidden)`, and `feedback.compute`'s tensors of every
            step joined along dim 1 (empty without feedback).
        """
        if feedback is not None:
            steps = next(t for t in inputs.values() if t is not None).size(1)
            fast = steps > 1 and torch.is_grad_enabled() and any(p.requires_grad for p in self.parameters())
            return (self._fast_loop if fast else self._loop)(inputs, list(states), feedback)
        finals = []

        def run_layer(i: int, x: torch.Tensor) -> torch.Tensor:
            if x.size(1) == 1:  # one step (generation): the cell kernel, without the fused kernel's set-up
                finals.append(single_step(self.layers[i], x[:, 0], states[i]))
                return finals[-1][0].unsqueeze(1)
            y, final = run_rnn(self.layers[i], x, _to_torch_state(states[i]))
            finals.append(_from_torch_state(final))
            return y

        outputs = self._stacked(self.layout.concat(inputs), run_layer)
        return outputs[-1], finals, outputs, ()

    def read(self, inputs: torch.Tensor, order: ReadingOrder) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Read a padded source from zero states, in both directions for a bidirectional stack (the encoder).

        Args:
            inputs: `(batch, src_len, input_size)` in source order.
            order: the reading order of each row (`ReadingOrder`).

        Returns:
            `(layer_outputs, finals)`: every layer's outputs `(batch, src_len, hidden)` in source order (zeros at
            padding positions, residual connection included), and every layer's summary `(batch, hidden)`: its output
            after the last real token each direction read (the forward direction's after the row's last token, the
            backward direction's after its first), plus, with residual connections, the layer's input at the row's
            last token.
        """
        last = (order.lengths - 1).clamp(min=0)  # an empty source keeps the state after one padding step
        rows = torch.arange(inputs.size(0), device=inputs.device)
        finals = []

        def run_layer(i: int, x: torch.Tensor) -> torch.Tensor:
            layer_input = order.to_reading(x)  # real tokens first
            y, _ = run_rnn(self.layers[i], layer_input)
            final = y[rows, last]
            if self.reverse_layers is not None:
                y_back = order.backward(self.reverse_layers[i], layer_input)
                final = torch.cat([final, y_back[:, 0]], dim=-1)
                y = torch.cat([y, y_back], dim=-1)
            finals.append(final)
            return order.to_source(y)

        outputs = self._stacked(inputs, run_layer)
        if self.residual:
            for i in range(1, len(finals)):
                finals[i] = finals[i] + order.to_reading(outputs[i - 1])[rows, last]
        return outputs, finals

    def _loop(self, inputs, states: list[RNNState], feedback: Feedback):
        """`unrolled` with feedback: `step` once per step, then `feedback.compute` on its output."""
        steps = next(t for t in inputs.values() if t is not None).size(1)

        def run_step(t: int, fed: torch.Tensor) -> list[torch.Tensor]:
            parts = {name: None if x is None else x[:, t] for name, x in inputs.items()}
            _, states[:], outputs = self.step({**parts, feedback.part: fed}, states)
            return outputs

        return self._feed_back(steps, run_step, feedback, states, lambda t: apply_linear)

    def _fast_loop(self, inputs, states: list[RNNState], feedback: Feedback):
        """`_loop`'s arithmetic for a backward pass: the recurrent weights, the fed-back part's input weights and
        the feedback's linear layers multiply detached weights step by step and get their gradients in one product
        each after the loop (`LoopLinear`); the first layer's input weights of the parts known in advance are
        applied to all steps at once before it."""
        known = self.layout.concat(inputs, leave_out=feedback.part)  # (batch, steps, known size)
        batch, steps = known.shape[:2]
        lstm = self.cell == "lstm"
        gates = []  # per layer: the LoopLinear of the input (and, LSTM, hidden) gates; GRU: of the hidden gates
        for i, rnn in enumerate(self.layers):
            w_ih, w_hh, b_ih, b_hh = rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0
            # LSTM gates = W_ih x + b_ih + W_hh h + b_hh; a GRU keeps the hidden part apart (see `gru_cell`)
            bias = b_ih + b_hh if lstm else b_ih
            if i == 0:
                w_known = self.layout.weight_columns(w_ih, leave_out=feedback.part)
                biases = nn.functional.linear(known.transpose(0, 1), w_known, bias)  # (steps, batch, gates)
                w_step = w_ih[:, self.layout.columns(feedback.part)]
            else:
                biases, w_step = bias.expand(steps, batch, -1), w_ih
            if lstm:
                gates.append((LoopLinear(biases, [w_step, w_hh]), None))
            else:
                gates.append((LoopLinear(biases, [w_step]), LoopLinear(b_hh.expand(steps, batch, -1), [w_hh])))

        def run_step(t: int, fed: torch.Tensor) -> list[torch.Tensor]:
            def run_layer(i: int, x: torch.Tensor) -> torch.Tensor:
                (h, c), (input_gates, hidden_gates) = states[i], gates[i]
                if lstm:
                    states[i] = lstm_cell(input_gates.step(t, x, h), c)
                else:
                    states[i] = (gru_cell(input_gates.step(t, x), hidden_gates.step(t, h), h), None)
                return states[i][0]

            return self._stacked(fed, run_layer)  # the known parts are in the first layer's biases

        return self._feed_back(steps, run_step, feedback, states, _LoopLinears(steps, batch).at)

    @staticmethod
    def _feed_back(steps: int, run_step, feedback: Feedback, states: list[RNNState], linear_at):
        """The feedback loop: `run_step(t, fed)` gives every layer's output `(batch, hidden)` at step t (advancing
        `states` in place), `feedback.compute` (applying linear layers with `linear_at(t)`) the part fed to the next
        step. Returns as `unrolled` does."""
        fed, per_step, layer_outputs = feedback.first, [], []
        for t in range(steps):
            layer_outputs.append(run_step(t, fed))
            per_step.append(feedback.compute(layer_outputs[-1][-1].unsqueeze(1), linear_at(t)))
            fed = per_step[-1][0][:, 0]
        if steps == 1:  # one step (generation): no copies
            layer_outputs = [y.unsqueeze(1) for y in layer_outputs[0]]
            return layer_outputs[-1], states, layer_outputs, per_step[0]
        layer_outputs = [torch.stack(per_layer, dim=1) for per_layer in zip(*layer_outputs)]
        joined = tuple(torch.cat(per_output, dim=1) for per_output in zip(*per_step))
        return layer_outputs[-1], states, layer_outputs, joined
