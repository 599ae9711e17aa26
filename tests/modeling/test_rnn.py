"""The recurrent stack: its forms (fused, step by step, the fast feedback loop) compute the same thing, and its
input layout, not the caller's dict order, decides which weight columns read which part."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attnseq.modeling.rnn import Feedback, InputLayout, RecurrentStack

BATCH, STEPS, HIDDEN = 3, 5, 6


def stack(cell: str, feed: int = 0, residual: bool = True, dropout: float = 0.0) -> RecurrentStack:
    torch.manual_seed(0)
    layout = InputLayout(embedding=4, feed=feed, summary=3)
    return RecurrentStack(cell, layout, HIDDEN, num_layers=3, dropout=dropout, residual=residual).double()


def start_states(cell: str) -> list:
    torch.manual_seed(1)
    return [
        (torch.randn(BATCH, HIDDEN, dtype=torch.double), torch.randn(BATCH, HIDDEN, dtype=torch.double))
        if cell == "lstm"
        else (torch.randn(BATCH, HIDDEN, dtype=torch.double), None)
        for _ in range(3)
    ]


def inputs() -> dict[str, torch.Tensor]:
    torch.manual_seed(2)
    return {
        "embedding": torch.randn(BATCH, STEPS, 4, dtype=torch.double),
        "summary": torch.randn(BATCH, STEPS, 3).double(),
    }


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_fused_unrolled_equals_one_step_at_a_time(cell):
    rnn, parts = stack(cell), inputs()
    top, finals, layers, fed = rnn.unrolled(parts, start_states(cell))
    assert fed == () and len(layers) == 3 and top is layers[-1]
    states, tops = start_states(cell), []
    for t in range(STEPS):
        step_top, states, _ = rnn.step({name: x[:, t] for name, x in parts.items()}, states)
        tops.append(step_top)
    torch.testing.assert_close(top, torch.stack(tops, dim=1), rtol=1e-12, atol=1e-12)
    for (h, c), (h_step, c_step) in zip(finals, states, strict=True):
        torch.testing.assert_close(h, h_step, rtol=1e-12, atol=1e-12)
        if cell == "lstm":
            torch.testing.assert_close(c, c_step, rtol=1e-12, atol=1e-12)


def test_parts_are_read_by_name_not_by_dict_order():
    rnn, parts = stack("lstm"), inputs()
    reordered = {"summary": parts["summary"], "embedding": parts["embedding"]}
    first = rnn.unrolled(parts, start_states("lstm"))[0]
    torch.testing.assert_close(rnn.unrolled(reordered, start_states("lstm"))[0], first, rtol=0, atol=0)
    swapped = {"embedding": parts["embedding"], "summary": parts["summary"] * 2}
    assert not torch.allclose(rnn.unrolled(swapped, start_states("lstm"))[0], first)
    with pytest.raises(ValueError, match=r"needs the parts \['embedding', 'summary'\], got \['embedding'\]"):
        rnn.unrolled({"embedding": parts["embedding"]}, start_states("lstm"))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_fast_feedback_loop_equals_the_step_loop(cell, monkeypatch):
    """Under autograd the feedback loop computes weight gradients after the loop; outputs and every gradient equal
    those of the plain loop over `step` (same dropout masks)."""
    results = []
    for fast in (True, False):
        rnn = stack(cell, feed=2, dropout=0.3).train()
        torch.manual_seed(3)
        project = nn.Linear(HIDDEN, 2).double()
        if not fast:
            monkeypatch.setattr(RecurrentStack, "_fast_loop", RecurrentStack._loop)

        def compute(top, linear, project=project):
            fed = torch.tanh(linear(project, top))
            return fed, top.sum(-1, keepdim=True)

        feedback = Feedback("feed", torch.zeros(BATCH, 2, dtype=torch.double), compute)
        torch.manual_seed(4)
        top, finals, layers, (fed, sums) = rnn.unrolled(inputs(), start_states(cell), feedback)
        assert fed.shape == (BATCH, STEPS, 2) and sums.shape == (BATCH, STEPS, 1)
        (top.sin().sum() + fed.cos().sum() + finals[-1][0].sum()).backward()
        grads = {name: p.grad for name, p in [*rnn.named_parameters(), *project.named_parameters()]}
        results.append((top, fed, layers, grads))
    (fast_top, fast_fed, fast_layers, fast_grads), (top, fed, layers, grads) = results
    torch.testing.assert_close(fast_top, top, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fast_fed, fed, rtol=1e-12, atol=1e-12)
    for fast_layer, layer in zip(fast_layers, layers, strict=True):
        torch.testing.assert_close(fast_layer, layer, rtol=1e-12, atol=1e-12)
    assert fast_grads.keys() == grads.keys() and all(g is not None for g in grads.values())
    for name in grads:
        torch.testing.assert_close(fast_grads[name], grads[name], rtol=1e-10, atol=1e-12, msg=name)
