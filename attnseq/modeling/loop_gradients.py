"""Weight gradients of a decoder that has to run one step at a time, computed once after the loop.

A weight used at every step of a Python loop (the recurrent weights of a decoder with input feeding)
gets from autograd, at every step, one weight-gradient product whose inner size is only the batch,
`(out, batch) @ (batch, in)`, plus the addition of a weight-sized tensor into the running sum. Over
`steps` steps that is `steps` slow thin products and `steps` passes over the whole weight.

`LoopLinear` does the same arithmetic in fewer, larger operations: inside the loop it multiplies by a
detached weight (so backward computes only the gradient of the step's input), keeps each step's input,
and after the loop the gradient of the weight is one `(out, steps·batch) @ (steps·batch, in)` product.
The gradient of a step's output is the gradient of the per-step bias the loop adds, so one autograd
node (`_LoopWeightGradients`) that passes the biases through unchanged sees all of them at once.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable


class _LoopWeightGradients(torch.autograd.Function):
    """Identity on the per-step biases `(steps, batch, out)`; its backward also returns each weight's gradient
    Σ_t grad_tᵀ x_t from the inputs the loop recorded."""

    @staticmethod
    def forward(ctx, biases: torch.Tensor, recorded: tuple[list[torch.Tensor], ...], *weights: torch.Tensor):
        ctx.recorded = recorded  # filled by the loop after this call, read in backward
        ctx.weight_dtypes = [weight.dtype for weight in weights]
        return biases.view_as(biases)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        flat = grad.flatten(0, 1)  # (steps * batch, out)
        weight_grads = []
        for inputs, dtype, needed in zip(ctx.recorded, ctx.weight_dtypes, ctx.needs_input_grad[2:]):
            if len(inputs) != grad.size(0):
                raise RuntimeError(f"LoopLinear recorded {len(inputs)} steps but the loop had {grad.size(0)}.")
            if not needed:
                weight_grads.append(None)
                continue
            # under autocast the steps multiplied in a lower precision; the product uses the gradient's dtype
            # as autograd's would, and the result is cast back to the weight's dtype
            inputs = torch.stack(inputs).flatten(0, 1).to(flat.dtype)
            weight_grads.append(flat.t().mm(inputs).to(dtype))
        return (grad, None, *weight_grads)


class LoopLinear:
    """`out_t = bias_t + Σ_k x_{k,t} W_kᵀ` for every step t of a loop, with the weights' gradients computed once.

    Args:
        biases: `(steps, batch, out)`, the part of each step's output known before the loop: biases, and
            products with inputs that do not depend on earlier steps (an expanded view is fine).
        weights: the `(out, in_k)` weights whose inputs are only known step by step.

    Call `step(t, x_1, ..., x_k)` once per step, in order, with `(batch, in_k)` inputs; it returns `(batch, out)`.
    """

    def __init__(self, biases: torch.Tensor, weights: list[torch.Tensor]):
        if biases.dim() != 3:
            raise ValueError(f"biases must be (steps, batch, out), got shape {tuple(biases.shape)}.")
        self.recorded = tuple([] for _ in weights)
        self.weights_t = [weight.detach().t() for weight in weights]
        if torch.is_grad_enabled() and any(weight.requires_grad for weight in weights):
            biases = _LoopWeightGradients.apply(biases, self.recorded, *weights)
        self.biases = biases.unbind(0)  # one autograd node collects the gradients of every step's slice

    def step(self, t: int, *inputs: torch.Tensor) -> torch.Tensor:
        output = self.biases[t]
        for x, weight_t, recorded in zip(inputs, self.weights_t, self.recorded):
            recorded.append(x.detach())
            output = torch.addmm(output, x, weight_t)
        return output
