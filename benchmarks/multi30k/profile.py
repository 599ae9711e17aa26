"""Where a training step of each Multi30k recipe goes: steps per minute, and the share of a step spent in loading
and collating the batch, the forward pass (with the label-smoothed loss), the backward pass, gradient clipping, the
optimiser step and the rest (learning-rate schedule, zeroing the gradients, the Trainer's bookkeeping); and the
forward pass in parts: encoder, decoder, and the rest of it (the output layer and the label-smoothed loss).

Steps per minute are wall-clock; steps per CPU-minute divide by the CPU time the process got instead, which a shared
machine changes less (one torch thread: about what a core of its own would give, less the slowdown of sharing caches
and memory bandwidth with the other jobs).

Each recipe is the YAML file `attnseq train` reads, run by the real `Seq2SeqTrainer` of `attnseq train` on the
recipe's data, tokenizer, model and batch size, with validation and saving turned off. The sections are timed
around the Trainer's own calls (`get_batch_samples`, `compute_loss`, `training_step`, gradient clipping and the
optimiser-step callbacks); a step is the time from fetching one batch to fetching the next. The first `--warmup`
steps are left out. The batches are grouped by length as in the recipes, so steps differ in size: the figures are
means over the measured steps, and a handful of steps is a sample of the epoch's lengths, not all of them.

From the repository root, one torch thread (the recipes' setting):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/multi30k/profile.py --steps 40 --warmup 10 \
        --data_dir ../shared/data/multi30k

`--recipes` picks some of `transformer-de-en`, `lstm-de-en`, `transformer-en-de`, `transformer-tiny-de-en`,
`transformer-tiny-en-de`, `gru-attentional-de-en` (all by default). A variant of a recipe, to compare before
training it, is a label, the recipe it starts from and the `attnseq train` flags that change it, profiled in the same
process after the recipes (`--recipes` with no name: only the variants):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/multi30k/profile.py --data_dir ../shared/data/multi30k \
        --recipes transformer-de-en \
        --variant "d128=transformer-de-en --d_model 128 --encoder_layers 4 --decoder_layers 4"
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if __name__ == "__main__":
    # run as a script, this file's folder comes first on the path, where this file would hide the standard library's
    # `profile` module (which cProfile, imported by torch, reads); the checkout's attnseq is imported
    sys.path[:] = [str(ROOT)] + [entry for entry in sys.path if Path(entry or ".").resolve() != HERE]

# name -> (recipe file, whether source and target are swapped): the Transformer recipe's English -> German is its file
# with the languages and files swapped, as in benchmarks/README.md; Transformer-tiny has a file per direction
RECIPES = {
    "transformer-de-en": ("transformer.yaml", False),
    "lstm-de-en": ("lstm.yaml", False),
    "transformer-en-de": ("transformer.yaml", True),
    "transformer-tiny-de-en": ("transformer-tiny.yaml", False),
    "transformer-tiny-en-de": ("transformer-tiny-en-de.yaml", False),
    "gru-attentional-de-en": ("gru-attentional.yaml", False),
}
FILE_FLAGS = (
    "source_file",
    "target_file",
    "validation_source_file",
    "validation_target_file",
    "test_source_file",
    "test_target_file",
)
SECTIONS = ("data", "forward", "backward", "clip", "optimizer", "other")
FORWARD_PARTS = ("encoder", "decoder")  # the rest of the forward pass: the output layer and the loss


def recipe_arguments(name: str, data_dir: str | None, steps: int, output_dir: str, flags: Sequence[str] = ()):
    """`attnseq train`'s parsed arguments for recipe `name` with `flags` after the recipe file, training `steps` steps
    without validation or saving, source and target swapped where the recipe borrows the other direction's file;
    with `data_dir`, every data file is read from there (same file names)."""
    from attnseq.training.cli import parse_train_arguments

    recipe, swapped = RECIPES[name]
    model_args, data_args, run_args, training_args = parse_train_arguments(
        [
            str(HERE / recipe),
            *flags,
            "--max_steps", str(steps),
            "--eval_strategy", "no",
            "--save_strategy", "no",
            "--load_best_model_at_end", "false",
            "--logging_steps", str(steps + 1),
            "--output_dir", output_dir,
        ]
    )  # fmt: skip
    if swapped:
        data_args.source_lang, data_args.target_lang = data_args.target_lang, data_args.source_lang
        for source, target in zip(FILE_FLAGS[::2], FILE_FLAGS[1::2]):
            values = getattr(data_args, source), getattr(data_args, target)
            setattr(data_args, source, values[1])
            setattr(data_args, target, values[0])
    if data_dir is not None:
        for flag in FILE_FLAGS:
            value = getattr(data_args, flag)
            if value is not None:
                setattr(data_args, flag, os.path.join(data_dir, os.path.basename(value)))
    return model_args, data_args, run_args, training_args


def timed_trainer_class(base):
    """`base` (the Trainer of `attnseq train`) that records, per optimiser step, the seconds of each section."""
    from transformers import TrainerCallback

    class TimedTrainer(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.steps: list[dict[str, float]] = []
            self.target_tokens: list[int] = []
            self._current = defaultdict(float)
            self._step_start = None
            self.cpu_seconds: list[float] = []  # this process's CPU time per step: what the shared cores gave it
            self._cpu_start = None
            self.add_callback(_OptimizerTimer(self))
            # the forward pass in parts: the encoder and the decoder, each timed by hooks around its forward
            for part in FORWARD_PARTS:
                self._time_module(getattr(self.model.model, part), part)

        def _time_module(self, module, section: str) -> None:
            started = []
            module.register_forward_pre_hook(lambda *_: started.append(time.perf_counter()))
            module.register_forward_hook(lambda *_: self._add(section, time.perf_counter() - started.pop()))

        def _add(self, section: str, seconds: float) -> None:
            self._current[section] += seconds

        def get_batch_samples(self, *args, **kwargs):
            start, cpu = time.perf_counter(), time.process_time()
            if self._step_start is not None:  # a step ends where the next one fetches its batch
                total = start - self._step_start
                self._current["other"] = total - sum(self._current[section] for section in SECTIONS[:-1])
                self.steps.append(dict(self._current))
                self.cpu_seconds.append(cpu - self._cpu_start)
            self._current = defaultdict(float)
            self._step_start, self._cpu_start = start, cpu
            batches, items = super().get_batch_samples(*args, **kwargs)
            self._add("data", time.perf_counter() - start)
            self.target_tokens.append(sum(int((batch["labels"] != -100).sum()) for batch in batches))
            return batches, items

        def compute_loss(self, *args, **kwargs):
            start = time.perf_counter()
            try:
                return super().compute_loss(*args, **kwargs)
            finally:
                self._add("forward", time.perf_counter() - start)

        def training_step(self, *args, **kwargs):
            start, forward_before = time.perf_counter(), self._current["forward"]
            try:
                return super().training_step(*args, **kwargs)
            finally:  # the rest of the training step is the backward pass (and moving the inputs, nothing on a CPU)
                forward = self._current["forward"] - forward_before
                self._add("backward", time.perf_counter() - start - forward)

        def _clip_grad_norm(self, *args, **kwargs):
            start = time.perf_counter()
            try:
                return super()._clip_grad_norm(*args, **kwargs)
            finally:
                self._add("clip", time.perf_counter() - start)

    class _OptimizerTimer(TrainerCallback):
        def __init__(self, trainer):
            self.trainer, self.start = trainer, None

        def on_pre_optimizer_step(self, args, state, control, **kwargs):
            self.start = time.perf_counter()

        def on_optimizer_step(self, args, state, control, **kwargs):
            self.trainer._add("optimizer", time.perf_counter() - self.start)

    return TimedTrainer


def parse_variant(text: str) -> tuple[str, str, list[str]]:
    """`"LABEL=RECIPE FLAG..."` -> (label, recipe, flags); a `ValueError` names what is wrong."""
    label, equals, rest = text.partition("=")
    words = shlex.split(rest)
    if not equals or not label.strip() or not words:
        raise ValueError(
            f"a variant is 'LABEL=RECIPE FLAG...', e.g. 'small=transformer-de-en --d_model 128'; got {text!r}"
        )
    if words[0] not in RECIPES:
        raise ValueError(
            f"variant {label!r} starts from {words[0]!r}, which is not a recipe; recipes: {', '.join(RECIPES)}"
        )
    return label.strip(), words[0], words[1:]


def profile_recipe(
    name: str,
    data_dir: str | None,
    steps: int,
    warmup: int,
    seed: int,
    flags: Sequence[str] = (),
    label: str | None = None,
) -> dict:
    """Train recipe `name` (with `flags` after its file) for `warmup + steps` steps; the per-section means over the last
    `steps` steps, under `label` (default: the recipe's name)."""
    from transformers import set_seed

    from attnseq.data.loading import load_pairs
    from attnseq.training import pipeline
    from attnseq.training.build import build_tokenizer_and_model, tokenized_splits

    with tempfile.TemporaryDirectory(prefix="attnseq-profile-") as output_dir:
        model_args, data_args, _, training_args = recipe_arguments(
            name, data_dir, warmup + steps + 1, output_dir, flags
        )
        training_args.seed = seed
        set_seed(seed)
        with pipeline.datasets_progress_bars(enabled=False):
            pairs = load_pairs(data_args)
            tokenizer, model = build_tokenizer_and_model(model_args, data_args, pairs)
            tokenized = tokenized_splits(pairs, tokenizer, model, data_args)
        original = pipeline.AttnseqTrainer
        pipeline.AttnseqTrainer = timed_trainer_class(original)
        try:
            trainer = pipeline.build_trainer(model, tokenizer, tokenized, training_args, data_args)
        finally:
            pipeline.AttnseqTrainer = original
        trainer.train()
    measured = trainer.steps[warmup : warmup + steps]
    tokens = trainer.target_tokens[warmup : warmup + steps]
    seconds = [sum(step[section] for section in SECTIONS) for step in measured]
    mean_step = statistics.fmean(seconds)
    return {
        "name": label or name,
        "parameters": sum(p.numel() for p in model.parameters()),
        "steps": len(measured),
        "step_ms": 1000 * mean_step,
        "median_step_ms": 1000 * statistics.median(seconds),
        "steps_per_minute": 60 / mean_step,
        "steps_per_cpu_minute": 60 * len(measured) / sum(trainer.cpu_seconds[warmup : warmup + steps]),
        "target_tokens_per_s": sum(tokens) / sum(seconds),
        "shares": {
            section: sum(step.get(section, 0.0) for step in measured) / sum(seconds)
            for section in (*SECTIONS, *FORWARD_PARTS)
        },
    }


def print_table(results: list[dict], threads: int) -> None:
    head = ["recipe", "parameters", "steps/min", "steps/CPU-min", "ms/step (mean, median)", "target tokens/s"]
    head += [f"{section} %" for section in SECTIONS]
    print("| " + " | ".join(head) + " |")
    print("| " + " | ".join(["---"] + ["---:"] * (len(head) - 1)) + " |")
    for r in results:
        row = [
            r["name"],
            f"{r['parameters']:,}",
            f"{r['steps_per_minute']:.1f}",
            f"{r['steps_per_cpu_minute']:.1f}",
            f"{r['step_ms']:,.0f}, {r['median_step_ms']:,.0f}",
            f"{r['target_tokens_per_s']:,.0f}",
        ]
        row += [f"{100 * r['shares'][section]:.1f}" for section in SECTIONS]
        print("| " + " | ".join(row) + " |")
    print("\nThe forward pass in parts, % of the whole step:\n")
    print("| recipe | encoder % | decoder % | output layer and loss % |")
    print("| --- | ---: | ---: | ---: |")
    for r in results:
        shares = r["shares"]
        rest = shares["forward"] - shares["encoder"] - shares["decoder"]
        print(f"| {r['name']} | {100 * shares['encoder']:.1f} | {100 * shares['decoder']:.1f} | {100 * rest:.1f} |")
    steps = ", ".join(str(r["steps"]) for r in results)
    load = os.getloadavg()[0]
    print(f"\nMeans over {steps} steps after warm-up, {threads} torch thread(s); load average {load:.2f} at the end.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipes", nargs="*", choices=list(RECIPES), default=list(RECIPES))
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="LABEL=RECIPE FLAG...",
        help="a recipe with `attnseq train` flags that change it, profiled after the recipes (repeatable)",
    )
    parser.add_argument("--steps", type=int, default=40, help="measured steps per recipe")
    parser.add_argument("--warmup", type=int, default=10, help="steps left out before measuring")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the recipes train with one)")
    parser.add_argument("--data_dir", default=None, help="folder of the Multi30k files (default: the recipes' paths)")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        parser.error(f"--steps must be at least 1 and --warmup at least 0, got {args.steps} and {args.warmup}")
    if args.data_dir is not None and not os.path.isdir(args.data_dir):
        parser.error(f"--data_dir {args.data_dir!r} is not a folder")
    try:
        variants = [parse_variant(text) for text in args.variant]
    except ValueError as error:
        parser.error(str(error))
    runs = [(name, name, []) for name in args.recipes] + variants
    if not runs:
        parser.error("nothing to profile: name a recipe with --recipes or give a --variant")
    import torch

    torch.set_num_threads(args.threads)
    results = []
    for label, name, flags in runs:
        print(f"{label}: {args.warmup} + {args.steps} steps, load average {os.getloadavg()[0]:.2f}", flush=True)
        results.append(profile_recipe(name, args.data_dir, args.steps, args.warmup, args.seed, flags, label))
    print()
    print_table(results, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
