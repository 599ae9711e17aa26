"""Training a decoder with input feeding: its step loop, arranged for a fast backward pass.

With input feeding (Luong et al. 2015, §3.3) step t reads the attentional vector of step t-1, so even
teacher-forced training runs the decoder one step at a time. Written as a loop over
`Seq2SeqLSTMDecoder.forward_step`, autograd computes every recurrent weight's gradient once per step, as thin
products over the batch only; here the gate equations run on `LoopLinear`s instead, which compute each weight's
gradient once, after the loop. The result equals the plain loop (a test checks it to float precision).
"""

from __future__ import annotations

import torch
from torch import nn

from .loop_gradients import LoopLinear


def input_feeding_training_loop(decoder, embeddings, summary, hs, mask, cache):
    """The decoder's input-feeding step loop for a backward pass: the same arithmetic as running
    `decoder.forward_step` once per target step, with the recurrent and attentional weights getting their
    gradients in one product each after the loop (`LoopLinear`), and the embedding and peeky columns of the first
    layer's input weight applied to all steps at once before it.

    Args:
        decoder: a `Seq2SeqLSTMDecoder` with `input_feeding`.
        embeddings: `(batch, steps, embedding_size)` decoder input vectors.
        summary: `(batch, steps, hidden)` the peeky summary at every step, or None.
        hs: `(batch, src_len, hidden)` encoder states; mask: `(batch, src_len)` boolean.
        cache: the `Seq2SeqLSTMCache` before the first step; advanced in place.

    Returns:
        `(features, weights, layer_outputs)`: `(batch, steps, output_features)`, `(batch, steps, src_len)` and
        every decoder layer's outputs `(batch, steps, hidden)`.
    """
    batch, steps, embedding_size = embeddings.shape
    lstm = decoder.config.cell == "lstm"
    feed_size = decoder.config.output_features

    def per_step(bias: torch.Tensor) -> torch.Tensor:  # (out,) -> (steps, batch, out)
        return bias.expand(steps, batch, -1)

    layers = []  # per layer: LoopLinear for the input (and hidden) gates, and one for the hidden gates (GRU)
    for i, rnn in enumerate(decoder.rnn.layers):
        w_ih, w_hh, b_ih, b_hh = rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0
        # LSTM gates = W_ih x + b_ih + W_hh h + b_hh; a GRU keeps the hidden part apart, for
        # n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        bias = b_ih + b_hh if lstm else b_ih
        if i == 0:  # input [embedding; feed; summary]: only the feed is known step by step
            known = embeddings if summary is None else torch.cat([embeddings, summary], dim=-1)
            w_known = torch.cat([w_ih[:, :embedding_size], w_ih[:, embedding_size + feed_size :]], dim=1)
            input_biases = nn.functional.linear(known.transpose(0, 1), w_known, bias)  # (steps, batch, gates)
            w_step = w_ih[:, embedding_size : embedding_size + feed_size]
        else:
            input_biases, w_step = per_step(bias), w_ih
        if lstm:
            layers.append((LoopLinear(input_biases, [w_step, w_hh]), None))
        else:
            layers.append((LoopLinear(input_biases, [w_step]), LoopLinear(per_step(b_hh), [w_hh])))
    projection = None
    if decoder.attentional_proj is not None:
        weight = decoder.attentional_proj.weight
        projection = LoopLinear(weight.new_zeros(1, 1, 1).expand(steps, batch, weight.size(0)), [weight])

    states = list(cache.states)
    features, weights, layer_outputs = [], [], [[] for _ in layers]
    for t in range(steps):
        x = cache.feed
        for i, (gates, hidden_gates) in enumerate(layers):
            layer_input = x if i == 0 else decoder.rnn.dropout(x)
            h, c = states[i]
            if lstm:
                in_gate, forget_gate, cell_gate, out_gate = gates.step(t, layer_input, h).chunk(4, dim=1)
                c = torch.sigmoid(forget_gate) * c + torch.sigmoid(in_gate) * torch.tanh(cell_gate)
                h = torch.sigmoid(out_gate) * torch.tanh(c)
            else:
                input_r, input_z, input_n = gates.step(t, layer_input).chunk(3, dim=1)
                hidden_r, hidden_z, hidden_n = hidden_gates.step(t, h).chunk(3, dim=1)
                reset = torch.sigmoid(input_r + hidden_r)
                update = torch.sigmoid(input_z + hidden_z)
                h = (1 - update) * torch.tanh(input_n + reset * hidden_n) + update * h
            states[i] = (h, c)
            y = h + x if decoder.rnn.residual and i > 0 else h
            layer_outputs[i].append(y.unsqueeze(1))
            x = y
        step_summary = None if summary is None else summary[:, t : t + 1]
        project = None if projection is None else (lambda v, t=t: projection.step(t, v[:, 0]).unsqueeze(1))
        step_features, step_weights = decoder._attend(x.unsqueeze(1), step_summary, hs, mask, cache.keys, project)
        cache.feed = step_features[:, 0]
        features.append(step_features)
        weights.append(step_weights)
    cache.states = states
    cache.seen_tokens += steps
    layer_outputs = [torch.cat(per_layer, dim=1) for per_layer in layer_outputs]
    return torch.cat(features, dim=1), torch.cat(weights, dim=1), layer_outputs
