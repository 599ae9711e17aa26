"""Training-step time and peak memory against source length, for both model families.

Command that produced the table and `benchmarks/scaling.png` in benchmarks/README.md:

    .venv/bin/python benchmarks/scaling.py --repeats 2 --lengths 16 64 256 1024

Models: the Transformer at d_model 256 (3 + 3 layers, 4 heads, feed-forward 1024, sinusoidal positions so
that any length works, `attn_implementation="sdpa"`) and the attention LSTM at hidden size 256 (word vectors
128, bidirectional encoder, "general" attention, the fused path), vocabulary 1000, dropout 0. Each step is
forward + loss + backward + AdamW step on 8 rows × `src_len` source tokens × 32 target tokens. The two
families are interleaved at every length. Peak memory is the extra resident memory of one step, measured in
a fresh subprocess per point (see `common.py`). The plot (`--plot`, default `benchmarks/scaling.png`) needs
matplotlib (the `[plot]` extra).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import interleaved, machine_summary, markdown_table, measure_own_peak, median, peak_rss_delta  # noqa: E402

import attnseq  # noqa: E402,F401
from attnseq import (  # noqa: E402
    Seq2SeqLSTMConfig,
    Seq2SeqLSTMForConditionalGeneration,
    Seq2SeqTransformerConfig,
    Seq2SeqTransformerForConditionalGeneration,
)

VOCAB, BATCH, TGT_LEN = 1000, 8, 32
LENGTHS = (16, 32, 64, 128, 256, 512, 1024)
FAMILIES = ("transformer", "lstm")


def build(family: str):
    torch.manual_seed(0)
    if family == "transformer":
        config = Seq2SeqTransformerConfig(
            vocab_size=VOCAB, d_model=256, encoder_layers=3, decoder_layers=3, encoder_attention_heads=4,
            decoder_attention_heads=4, encoder_ffn_dim=1024, decoder_ffn_dim=1024, dropout=0.0,
        )  # fmt: skip
        model = Seq2SeqTransformerForConditionalGeneration(config)
        model.set_attn_implementation("sdpa")
        return model
    config = Seq2SeqLSTMConfig(
        vocab_size=VOCAB, embedding_size=128, hidden_size=256, attention="general", bidirectional_encoder=True,
        reverse_source=False, dropout=0.0,
    )  # fmt: skip
    return Seq2SeqLSTMForConditionalGeneration(config)


def training_step(family: str, src_len: int):
    model = build(family).train()
    generator = torch.Generator().manual_seed(1)
    inputs = {
        "input_ids": torch.randint(4, VOCAB, (BATCH, src_len), generator=generator),
        "attention_mask": torch.ones(BATCH, src_len, dtype=torch.long),
        "labels": torch.randint(4, VOCAB, (BATCH, TGT_LEN), generator=generator),
    }
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        optimizer.zero_grad(set_to_none=True)
        model(**inputs).loss.backward()
        optimizer.step()

    return step


def plot(rows: list[list[object]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (time_axis, memory_axis) = plt.subplots(1, 2, figsize=(10, 4))
    for column, family in enumerate(FAMILIES):
        lengths = [row[0] for row in rows]
        time_axis.plot(lengths, [row[1 + column] for row in rows], marker="o", label=family)
        memory_axis.plot(lengths, [row[3 + column] or float("nan") for row in rows], marker="o", label=family)
    for axis, label in ((time_axis, "ms per training step"), (memory_axis, "peak MiB above start")):
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.set_xlabel("source length (tokens)")
        axis.set_ylabel(label)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    figure.suptitle(f"attnseq training step, batch {BATCH}, target {TGT_LEN} tokens")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds per point (after a warm-up)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: stable timings on a shared CPU)")
    parser.add_argument("--lengths", type=int, nargs="+", default=list(LENGTHS))
    parser.add_argument("--plot", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "scaling.png"))
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_child:
        spec = json.loads(args.memory_child)
        print(measure_own_peak(training_step(spec["family"], spec["src_len"])))
        return

    print(f"Machine: {machine_summary()}\n")
    rows = []
    for src_len in args.lengths:
        times = interleaved({family: training_step(family, src_len) for family in FAMILIES}, args.repeats)
        memory = [peak_rss_delta(__file__, {"family": family, "src_len": src_len}) for family in FAMILIES]
        rows.append([src_len, *(median(times[family]) * 1000 for family in FAMILIES), *memory])
        print(f"source length {src_len} done", file=sys.stderr)
    headers = ["source length", "Transformer ms/step", "LSTM ms/step", "Transformer peak MiB", "LSTM peak MiB"]
    print(markdown_table(headers, rows))
    plot(rows, args.plot)
    print(f"\nMedians of {args.repeats} interleaved runs, {args.threads} torch thread(s); plot: {args.plot}")


if __name__ == "__main__":
    main()
