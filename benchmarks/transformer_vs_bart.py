"""Our small Transformer against transformers' `BartForConditionalGeneration` at the same sizes, on the CPU.

Command that produced the tables in benchmarks/README.md:

    .venv/bin/python benchmarks/transformer_vs_bart.py --repeats 3

Both models are built from the same sizes and choices:

| choice | `Seq2SeqTransformerConfig` | `BartConfig` |
| --- | --- | --- |
| vocabulary | `vocab_size=1000` | `vocab_size=1000` |
| width | `d_model` (256 or 512) | `d_model` |
| layers | `encoder_layers=3`, `decoder_layers=3` | `encoder_layers=3`, `decoder_layers=3` |
| heads | `encoder/decoder_attention_heads = d_model // 64` | the same |
| feed-forward | `encoder/decoder_ffn_dim = 4 * d_model`, `activation_function="relu"` | the same |
| positions | `position_embedding="learned"`, `max_position_embeddings=128` | learned (BART's table has 2 extra rows) |
| norm | `norm_first=False` (post-norm) | post-norm (BART always) |
| embeddings | `scale_embedding=True`, shared, tied to the output layer | `scale_embedding`, `tie_word_embeddings` |
| dropout | 0 (`dropout`, `attention_dropout`, `activation_dropout`) | 0 (the same three) |

BART adds one thing ours has not: a LayerNorm right after the embeddings of each stack
(`layernorm_embedding`), 2 LayerNorms out of 23; it cannot be switched off. Its `final_logits_bias` is a
zero buffer added to the logits. `forced_eos_token_id` is set to `None` so that both decode the same way.

Workloads, each in `attn_implementation="eager"` and `"sdpa"`:

* training step: forward + cross-entropy loss + backward + `torch.optim.AdamW` step, batch 32 × 32 source
  tokens × 32 target tokens, no padding; reported as target tokens per second;
* greedy `generate` of exactly 32 new tokens (`min_new_tokens=max_new_tokens=32`) with the cache, batch 1
  and 32 (32 source tokens), and beam search with 4 beams at batch 1 and 32;
* peak memory: the extra resident memory of one training step and of one greedy generation at batch 32,
  measured in a fresh subprocess per contender (see `common.py`).

The contenders are interleaved (ours, BART, BART, ours, ...) after a warm-up; the table gives medians and
the ratio ours / BART (> 1 means ours is faster, or for memory: BART / ours > 1 means ours needs less).

`--compile` adds the training step with both models wrapped in `torch.compile` (inductor, sdpa), interleaved
with our uncompiled model, to show what compilation pays; the first (warm-up) call of each compiled
model includes the compile time, which is printed. Command for the table in benchmarks/README.md:

    .venv/bin/python benchmarks/transformer_vs_bart.py --repeats 3 --compile --implementations --no-memory
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch
from transformers import BartConfig, BartForConditionalGeneration

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import interleaved, machine_summary, markdown_table, measure_own_peak, median, peak_rss_delta  # noqa: E402

import attnseq  # noqa: E402,F401
from attnseq import Seq2SeqTransformerConfig, Seq2SeqTransformerForConditionalGeneration  # noqa: E402

VOCAB = 1000
LAYERS = 3
BATCH, SRC_LEN, TGT_LEN = 32, 32, 32
NEW_TOKENS = 32
PAD, BOS, EOS = 0, 1, 2


def build(family: str, d_model: int, implementation: str, seed: int = 0):
    """Our model (`family="ours"`) or BART with the mapping of the module docstring."""
    sizes = {
        "vocab_size": VOCAB,
        "d_model": d_model,
        "encoder_layers": LAYERS,
        "decoder_layers": LAYERS,
        "encoder_attention_heads": d_model // 64,
        "decoder_attention_heads": d_model // 64,
        "encoder_ffn_dim": 4 * d_model,
        "decoder_ffn_dim": 4 * d_model,
        "activation_function": "relu",
        "dropout": 0.0,
        "attention_dropout": 0.0,
        "activation_dropout": 0.0,
        "max_position_embeddings": 128,
        "scale_embedding": True,
        "tie_word_embeddings": True,
        "pad_token_id": PAD,
        "bos_token_id": BOS,
        "eos_token_id": EOS,
        "decoder_start_token_id": BOS,
    }
    torch.manual_seed(seed)
    if family == "ours":
        config = Seq2SeqTransformerConfig(**sizes, position_embedding="learned", norm_first=False)
        model = Seq2SeqTransformerForConditionalGeneration(config)
    else:
        config = BartConfig(**sizes, forced_eos_token_id=None, forced_bos_token_id=None)
        model = BartForConditionalGeneration(config)
    model.set_attn_implementation(implementation)
    return model


def batch(batch_size: int, seed: int = 1) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {
        "input_ids": torch.randint(3, VOCAB, (batch_size, SRC_LEN), generator=generator),
        "attention_mask": torch.ones(batch_size, SRC_LEN, dtype=torch.long),
        "labels": torch.randint(3, VOCAB, (batch_size, TGT_LEN), generator=generator),
    }


def training_step(model, inputs, compiled: bool = False):
    """A closure running forward + backward + AdamW step on `inputs` (through `torch.compile` if `compiled`)."""
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    forward = torch.compile(model) if compiled else model

    def step():
        optimizer.zero_grad(set_to_none=True)
        forward(**inputs).loss.backward()
        optimizer.step()

    return step


def generation(model, inputs, num_beams: int):
    """A closure running `generate` of exactly `NEW_TOKENS` tokens with the cache."""
    model.eval()
    arguments = {
        "input_ids": inputs["input_ids"],
        "attention_mask": inputs["attention_mask"],
        "max_new_tokens": NEW_TOKENS,
        "min_new_tokens": NEW_TOKENS,
        "num_beams": num_beams,
        "do_sample": False,
        "use_cache": True,
    }

    def run():
        with torch.inference_mode():
            model.generate(**arguments)

    return run


def workload(spec: dict):
    model = build(spec["family"], spec["d_model"], spec["implementation"])
    if spec["task"] == "train":
        return training_step(model, batch(BATCH), spec.get("compiled", False))
    return generation(model, batch(spec["batch"]), spec.get("beams", 1))


def compiled_training_rows(repeats: int) -> list[list]:
    """Training-step rows with both models under `torch.compile`, and ours compiled against ours uncompiled."""
    rows = []
    for d_model in (256, 512):
        spec = {"task": "train", "d_model": d_model, "implementation": "sdpa"}
        contenders = {
            "ours": workload({**spec, "family": "ours", "compiled": True}),
            "bart": workload({**spec, "family": "bart", "compiled": True}),
            "ours uncompiled": workload({**spec, "family": "ours"}),
        }
        for name, step in contenders.items():  # the first call compiles; timed apart from the rounds
            started = time.perf_counter()
            step()
            print(f"d_model {d_model}, {name}: first step (compiles) {time.perf_counter() - started:.1f} s", flush=True)
        times = interleaved(contenders, repeats)
        ours, bart, plain = (BATCH * TGT_LEN / median(times[name]) for name in contenders)
        workload_name = f"train step, d_model {d_model}"
        rows.append(["sdpa + torch.compile", workload_name, "target tokens/s", ours, bart, ours / bart])
        rows.append(["ours: compiled vs not", workload_name, "target tokens/s", ours, plain, ours / plain])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds per contender (after a warm-up)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: stable timings on a shared CPU)")
    parser.add_argument("--implementations", nargs="*", default=["eager", "sdpa"])
    parser.add_argument("--compile", action="store_true", help="also time the training step under torch.compile")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_child:
        print(measure_own_peak(workload(json.loads(args.memory_child))))
        return

    print(f"Machine: {machine_summary()}\n")
    rows = []
    for implementation in args.implementations:
        for d_model in (256, 512):
            spec = {"task": "train", "d_model": d_model, "implementation": implementation}
            times = interleaved(
                {family: workload({**spec, "family": family}) for family in ("ours", "bart")}, args.repeats
            )
            ours, bart = (BATCH * TGT_LEN / median(times[name]) for name in ("ours", "bart"))
            rows.append([implementation, f"train step, d_model {d_model}", "target tokens/s", ours, bart, ours / bart])
        for beams in (1, 4):
            for batch_size in (1, 32):
                spec = {"task": "generate", "d_model": 256, "implementation": implementation}
                spec.update(batch=batch_size, beams=beams)
                times = interleaved(
                    {family: workload({**spec, "family": family}) for family in ("ours", "bart")}, args.repeats
                )
                ours, bart = (median(times[name]) * 1000 for name in ("ours", "bart"))
                what = "greedy" if beams == 1 else f"beam {beams}"
                rows.append(
                    [
                        implementation,
                        f"{what}, batch {batch_size}, d_model 256",
                        "ms per generate",
                        ours,
                        bart,
                        bart / ours,
                    ]
                )
        if not args.no_memory:
            script = os.path.abspath(__file__)
            for spec in (
                {"task": "train", "d_model": 256},
                {"task": "train", "d_model": 512},
                {"task": "generate", "d_model": 256, "batch": 32},
            ):
                spec["implementation"] = implementation
                ours, bart = (peak_rss_delta(script, {**spec, "family": family}) for family in ("ours", "bart"))
                what = f"train step, d_model {spec['d_model']}" if spec["task"] == "train" else "greedy, batch 32"
                ratio = bart / ours if ours and bart else "n/a"
                rows.append([implementation, f"peak memory, {what}", "MiB above start", ours, bart, ratio])
    if args.compile:
        rows += compiled_training_rows(args.repeats)
    print(markdown_table(["attention", "workload", "unit", "attnseq", "BART", "speed-up (×)"], rows))
    print(
        f"\nMedians of {args.repeats} interleaved runs, {args.threads} torch thread(s). Speed-up: ours/BART for "
        "tokens/s, BART/ours for times and memory (> 1 = attnseq better)."
    )


if __name__ == "__main__":
    main()
