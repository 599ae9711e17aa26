"""LoopLinear: per-step products whose weight gradients are computed once after the loop."""

import pytest
import torch

from attnseq.modeling.loop_gradients import LoopLinear


def recurrence(weights, biases, x0, steps, loop_linear: bool):
    """h_t = tanh(b_t + x W_xᵀ + h_{t-1} W_hᵀ) with a fixed input x: a loop whose every step needs the last."""
    w_x, w_h = weights
    h, outputs = torch.zeros(x0.size(0), w_h.size(0), dtype=x0.dtype), []
    layer = LoopLinear(biases, [w_x, w_h]) if loop_linear else None
    for t in range(steps):
        pre = layer.step(t, x0, h) if loop_linear else biases[t] + x0 @ w_x.t() + h @ w_h.t()
        h = torch.tanh(pre)
        outputs.append(h)
    return torch.stack(outputs)


def test_gradients_equal_those_of_per_step_products():
    torch.manual_seed(0)
    steps, batch, n_in, n_out = 5, 3, 4, 6
    results = []
    for loop_linear in (False, True):
        torch.manual_seed(1)
        w_x = torch.randn(n_out, n_in, dtype=torch.float64, requires_grad=True)
        w_h = torch.randn(n_out, n_out, dtype=torch.float64, requires_grad=True)
        bias = torch.randn(n_out, dtype=torch.float64, requires_grad=True)
        x0 = torch.randn(batch, n_in, dtype=torch.float64, requires_grad=True)
        out = recurrence((w_x, w_h), bias.expand(steps, batch, -1), x0, steps, loop_linear)
        (out * torch.arange(out.numel(), dtype=out.dtype).view_as(out).sin()).sum().backward()
        results.append((out.detach(), w_x.grad, w_h.grad, bias.grad, x0.grad))
    for reference, deferred in zip(*results):
        torch.testing.assert_close(deferred, reference, rtol=1e-12, atol=1e-12)


def test_weights_without_gradients_and_no_grad_mode():
    w = torch.randn(3, 2)
    biases = torch.zeros(2, 4, 3)
    layer = LoopLinear(biases, [w])  # nothing requires grad: plain products
    out = torch.stack([layer.step(t, torch.ones(4, 2)) for t in range(2)])
    torch.testing.assert_close(out, (torch.ones(4, 2) @ w.t()).expand(2, 4, 3))
    w.requires_grad_(True)
    with torch.no_grad():
        layer = LoopLinear(biases, [w])
        assert not layer.step(0, torch.ones(4, 2)).requires_grad


def test_bad_bias_shape_and_skipped_steps_are_errors():
    with pytest.raises(ValueError, match=r"\(steps, batch, out\)"):
        LoopLinear(torch.zeros(4, 3), [torch.randn(3, 2)])
    w = torch.randn(3, 2, requires_grad=True)
    layer = LoopLinear(torch.zeros(2, 4, 3), [w])
    out = layer.step(0, torch.ones(4, 2))  # step 1 never runs
    with pytest.raises(RuntimeError, match="recorded 1 steps but the loop had 2"):
        out.sum().backward()


def test_bfloat16_autocast_gives_float32_gradients_close_to_autograds():
    steps, batch, n_in, n_out = 4, 8, 16, 16
    results = []
    for loop_linear in (False, True):
        torch.manual_seed(2)
        w_x = torch.randn(n_out, n_in, requires_grad=True)
        w_h = (0.3 * torch.randn(n_out, n_out)).requires_grad_(True)
        x0 = torch.randn(batch, n_in)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            biases = torch.nn.functional.linear(torch.randn(steps, batch, n_in), torch.randn(n_out, n_in))
            out = recurrence((w_x, w_h), biases, x0, steps, loop_linear)
        out.float().sum().backward()
        assert w_x.grad.dtype == w_h.grad.dtype == torch.float32
        results.append((w_x.grad, w_h.grad))
    for reference, deferred in zip(*results):
        torch.testing.assert_close(deferred, reference, rtol=0.05, atol=0.05)
