"""How much of this machine's float32 matrix-multiply peak the Transformer's training step uses.

Command that produced the table in benchmarks/README.md:

    .venv/bin/python benchmarks/utilisation.py --repeats 3

* Peak: a large square `torch.mm` (4096 × 4096, float32) timed in this run, 2·n³ FLOPs per call.
* Model FLOPs: the floating-point operations of one training step's forward and backward pass as
  `torch.utils.flop_counter.FlopCounterMode` counts them (matrix products and attention; the elementwise
  work and the AdamW update are not counted, but their time is), at d_model 512 (3 + 3 layers, 8 heads,
  feed-forward 2048, vocabulary 1000, learned positions, post-norm, dropout 0, `attn_implementation="sdpa"`),
  batch 32 × 32 source × 32 target tokens.
* Utilisation = model FLOPs / median step time / measured peak. The step and the `torch.mm` are
  interleaved, so both see the same load on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import interleaved, machine_summary, markdown_table, median  # noqa: E402
from transformer_vs_bart import BATCH, batch, build, training_step  # noqa: E402

MATMUL_SIZE = 4096


def step_flops(model, inputs) -> int:
    """Forward + backward FLOPs of one training step, counted by torch."""
    with FlopCounterMode(display=False) as counter:
        model(**inputs).loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (after a warm-up)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the step and the peak alike")
    parser.add_argument("--d-model", type=int, default=512)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"Machine: {machine_summary()}\n")

    model = build("ours", args.d_model, "sdpa").train()
    inputs = batch(BATCH)
    flops = step_flops(model, inputs)
    a, b = torch.randn(MATMUL_SIZE, MATMUL_SIZE), torch.randn(MATMUL_SIZE, MATMUL_SIZE)
    times = interleaved({"step": training_step(model, inputs), "mm": lambda: torch.mm(a, b)}, args.repeats)
    peak = 2 * MATMUL_SIZE**3 / median(times["mm"])
    achieved = flops / median(times["step"])
    rows = [[args.d_model, args.threads, flops / 1e9, median(times["step"]) * 1000, achieved / 1e9, peak / 1e9,
             f"{100 * achieved / peak:.0f} %"]]  # fmt: skip
    headers = ["d_model", "threads", "GFLOP per step", "ms per step", "model GFLOP/s", "mm peak GFLOP/s", "utilisation"]
    print(markdown_table(headers, rows))
    print(f"\nMedians of {args.repeats} interleaved runs of the training step and a {MATMUL_SIZE}² float32 torch.mm.")


if __name__ == "__main__":
    main()
