"""The Transformer before and after a change, side by side in one process: training step and decoding speed.

Both versions build the same weights from one seed (the script checks that their state dicts are equal and
that they decode the same tokens), then every round runs each workload once per version, the order
alternating (before/after, then after/before), so both see the same machine load. The table gives, per
workload, the median time of each version and the median of the per-round after/before ratios, which is the
figure to read on a loaded machine.

Workloads (CPU, one thread, the default Transformer config with a 100-token vocabulary, no dropout):
a training step (forward and backward, batch 32, 24 tokens, padded rows), greedy decoding at batch 1 (three
sources), beam 5 at batch 1 (two sources) and greedy at batch 32 (padded rows); every decoding makes exactly
16 new tokens per row.

Prepare the old version as a package named `attnseq_old` (its imports are relative, so a copy loads beside
`attnseq`), from the commit to compare against (here a160dcb, before the move to transformers' attention
interface):

    git worktree add --detach /tmp/attnseq-before a160dcb
    mkdir -p /tmp/oldpkg && cp -r /tmp/attnseq-before/attnseq /tmp/oldpkg/attnseq_old
    grep -rln "^from attnseq\\b\\|^import attnseq\\b" /tmp/oldpkg/attnseq_old  # must print nothing

Then, from the root of the checkout to measure:

    PYTHONPATH=$PWD:/tmp/oldpkg OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 python benchmarks/transformer_before_after.py \
        --rounds 40 --attn_implementation sdpa
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import time
from collections.abc import Callable

import torch

WORKLOADS = ("train step (batch 32, fwd+bwd)", "greedy, batch 1 (x3)", "beam 5, batch 1 (x2)", "greedy, batch 32")


def build(package: str, attn_implementation: str) -> torch.nn.Module:
    """The package's Transformer with the default config (vocabulary 100, no dropout), seeded so that both
    versions get the same weights."""
    config_class = importlib.import_module(f"{package}.configuration.transformer").Seq2SeqTransformerConfig
    model_class = importlib.import_module(f"{package}.modeling.transformer").Seq2SeqTransformerForConditionalGeneration
    torch.manual_seed(0)
    return model_class(config_class(vocab_size=100, attn_implementation=attn_implementation, dropout=0.0))


def padded_batch(generator: torch.Generator, rows: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`(rows, width)` token ids and their 1/0 mask; row r loses its last `(7 r) mod (width / 2)` tokens to padding."""
    ids = torch.randint(3, 100, (rows, width), generator=generator)
    mask = torch.ones_like(ids)
    for row in range(rows):
        mask[row, width - (row * 7) % (width // 2) :] = 0
    return ids.masked_fill(mask == 0, 0), mask


def workloads() -> dict[str, Callable[[torch.nn.Module], list | None]]:
    """Each workload as a function of the model; decoding ones return the generated sequences."""
    generator = torch.Generator().manual_seed(0)
    source, source_mask = padded_batch(generator, 32, 24)
    labels, label_mask = padded_batch(generator, 32, 24)
    labels = labels.masked_fill(label_mask == 0, -100)
    singles = [padded_batch(generator, 1, 20) for _ in range(3)]

    def train(model):
        model.train()
        model(input_ids=source, attention_mask=source_mask, labels=labels).loss.backward()
        model.zero_grad()

    def decode(model, sources, beams):
        model.eval()
        with torch.inference_mode():
            return [
                model.generate(
                    input_ids=ids,
                    attention_mask=mask,
                    num_beams=beams,
                    do_sample=False,
                    min_new_tokens=16,
                    max_new_tokens=16,
                )
                for ids, mask in sources
            ]

    functions = (
        train,
        lambda model: decode(model, singles, 1),
        lambda model: decode(model, singles[:2], 5),
        lambda model: decode(model, [(source, source_mask)], 1),
    )
    return dict(zip(WORKLOADS, functions))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40, help="interleaved rounds per workload")
    parser.add_argument("--attn_implementation", default="sdpa", choices=("eager", "sdpa"))
    parser.add_argument("--before", default="attnseq_old", help="package name of the old version")
    parser.add_argument("--after", default="attnseq", help="package name of the new version")
    args = parser.parse_args()
    if args.rounds < 2:
        parser.error(f"--rounds must be at least 2 (one round per order), got {args.rounds}.")
    torch.set_num_threads(1)
    models = {
        "before": build(args.before, args.attn_implementation),
        "after": build(args.after, args.attn_implementation),
    }
    states = [model.state_dict() for model in models.values()]
    if list(states[0]) != list(states[1]) or not all(torch.equal(states[0][k], states[1][k]) for k in states[0]):
        raise SystemExit("The two versions built different weights from one seed; nothing to compare.")

    print(f"{args.attn_implementation}, {args.rounds} interleaved rounds, medians (ms)")
    print(f"{'workload':32s} {'before':>9s} {'after':>9s} {'after/before':>13s}")
    for name, function in workloads().items():
        outputs = {version: function(model) for version, model in models.items()}  # also a warm-up
        if outputs["before"] is not None:
            same = all(torch.equal(a, b) for a, b in zip(outputs["before"], outputs["after"]))
            if not same:
                raise SystemExit(f"{name}: the two versions decoded different tokens.")
        times = {version: [] for version in models}
        for round_index in range(args.rounds):
            order = ("before", "after") if round_index % 2 == 0 else ("after", "before")
            for version in order:
                start = time.perf_counter()
                function(models[version])
                times[version].append(time.perf_counter() - start)
        ratio = statistics.median(a / b for a, b in zip(times["after"], times["before"]))
        before, after = (statistics.median(times[version]) * 1000 for version in ("before", "after"))
        print(f"{name:32s} {before:9.1f} {after:9.1f} {ratio:13.3f}", flush=True)


if __name__ == "__main__":
    main()
