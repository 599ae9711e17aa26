"""`attnseq train`, `attnseq evaluate` and `attnseq generate` (the console script itself is `attnseq.cli`).

`attnseq train` with no arguments trains the attention LSTM on the built-in date task and saves the
checkpoint with its tokenizer, generation config and model card under `outputs/date-lstm`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence

from ..flags import FlagParser
from ..serving.commands import add_serving_flags, load_for_serving


def parse_train_arguments(argv: Sequence[str]):
    """`(model_args, data_args, training_args)` from flags, or from one JSON/YAML file plus flags."""
    from transformers import HfArgumentParser, Seq2SeqTrainingArguments

    from ..families import FAMILIES
    from .arguments import TRAINING_DEFAULTS, DataArguments, ModelArguments, allow_bare_flags

    parser = HfArgumentParser((ModelArguments, DataArguments, Seq2SeqTrainingArguments), prog="attnseq train")
    allow_bare_flags(parser)
    parser.set_defaults(**TRAINING_DEFAULTS)
    argv = list(argv)
    from_file: dict = {}
    if argv and argv[0].endswith((".json", ".yaml", ".yml")):
        path = argv.pop(0)
        from_file = _read_arguments_file(path)
        known = {action.dest for action in parser._actions}
        unknown = sorted(set(from_file) - known)
        if unknown:
            raise ValueError(f"{path} names unknown option(s) {', '.join(unknown)}; `attnseq train --help` lists them.")
        parser.set_defaults(**from_file)
    model_args, data_args, training_args = parser.parse_args_into_dataclasses(args=argv)

    def user_chose(name: str) -> bool:
        flags = (f"--{name}", f"--{name.replace('_', '-')}")
        return name in from_file or any(arg.split("=")[0] in flags for arg in argv)

    family = FAMILIES[model_args.model]
    for name, value in family.training_defaults.items():
        if not user_chose(name):
            setattr(training_args, name, value)
    if not user_chose("dataloader_pin_memory") and not _has_accelerator():
        training_args.dataloader_pin_memory = False  # pinned memory needs an accelerator; torch warns otherwise
    if not user_chose("metric_for_best_model"):
        # checkpoints are ranked by the first chosen metric of: BLEU (files), exact match (built-in tasks)
        names = data_args.metric_names
        ranked = [name for name in ("bleu", "exact_match", "chrf", "token_accuracy") if name in names]
        training_args.metric_for_best_model = ranked[0] if ranked else "loss"
        training_args.greater_is_better = bool(ranked)
    if not user_chose("output_dir"):
        task = data_args.task or ("custom" if data_args.uses_files else "date")
        if data_args.source_lang and data_args.target_lang:
            task = f"{data_args.source_lang}-{data_args.target_lang}"
        training_args.output_dir = os.path.join("outputs", f"{task}-{model_args.model}")
    if model_args.model_name_or_path is None and family.settle_options is not None:
        settle_new_model_options(model_args, family, user_chose)
    return model_args, data_args, training_args


def settle_new_model_options(model_args, family, user_chose) -> None:
    """Apply the choices one option of a new model implies for another (the family's `settle_options`, e.g. no
    source reversal with a bidirectional LSTM encoder) to `model_args`, and print why."""
    from .arguments import chosen_options

    options = {**family.train_defaults, **chosen_options(model_args)}
    changes, note = family.settle_options(options, [name for name in options if user_chose(name)])
    for name, value in changes.items():
        setattr(model_args, name, value)
    if note:
        print(note)


def _has_accelerator() -> bool:
    import torch

    accelerator = getattr(torch, "accelerator", None)
    return accelerator.is_available() if accelerator is not None else torch.cuda.is_available()


def _read_arguments_file(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        if path.endswith(".json"):
            return json.load(handle)
        import yaml

        return yaml.safe_load(handle) or {}


def train_command(argv: Sequence[str]) -> int:
    _use_cpu_processes_without_accelerator()
    from .pipeline import train

    model_args, data_args, training_args = parse_train_arguments(argv)
    metrics = train(model_args, data_args, training_args)
    if metrics and _is_main_process():
        shown = {key: round(value, 4) for key, value in metrics.items() if isinstance(value, float)}
        print(f"test metrics: {json.dumps(shown)}")
        for key, value in metrics.items():
            if key.endswith("_signature"):
                print(f"{key.removeprefix('test_')}: {value}")
        print(f"checkpoint saved to {training_args.output_dir}")
    return 0


def _use_cpu_processes_without_accelerator() -> None:
    """Several processes on a machine without an accelerator train with DDP over gloo on the CPU.

    `accelerate launch --multi_gpu --num_processes N` (or torchrun) starts the processes; accelerate
    chooses its multi-CPU mode only when told to use the CPU, which is said here.
    """
    import torch

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available():
        os.environ.setdefault("ACCELERATE_USE_CPU", "true")


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _add_generation_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("generation")
    group.add_argument("--num_beams", type=int, default=1)
    group.add_argument("--do_sample", action="store_true")
    group.add_argument("--top_k", type=int, default=None)
    group.add_argument("--top_p", type=float, default=None)
    group.add_argument("--temperature", type=float, default=None)
    group.add_argument("--num_return_sequences", type=int, default=1)
    group.add_argument("--max_new_tokens", type=int, default=None)
    group.add_argument("--seed", type=int, default=None, help="seed for sampling")


def _generation_kwargs(args: argparse.Namespace) -> dict:
    kwargs = {
        "num_beams": args.num_beams,
        "do_sample": args.do_sample,
        "num_return_sequences": args.num_return_sequences,
    }
    for name in ("top_k", "top_p", "temperature", "max_new_tokens"):
        if getattr(args, name) is not None:
            kwargs[name] = getattr(args, name)
    return kwargs


def generate_command(argv: Sequence[str]) -> int:
    parser = FlagParser(
        prog="attnseq generate",
        description="Decode texts (arguments, --source_file, or one per line on stdin) to stdout, one line each.",
    )
    parser.add_argument("checkpoint", help="a saved checkpoint folder or Hub repo id")
    parser.add_argument("texts", nargs="*", help="source texts; none reads --source_file or stdin")
    parser.add_argument(
        "--source_file", "--test_source_file", help="a file with one source text per line (plain or .gz)"
    )
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument(
        "--overlong", choices=["error", "skip", "truncate"], default="error",
        help="a source longer than the model's learned positions: error (before decoding anything, naming the line), "
        "skip (an empty output line in its place, reported on stderr) or truncate",
    )  # fmt: skip
    _add_generation_flags(parser)
    add_serving_flags(parser)
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        raise ValueError(f"--batch_size must be a positive integer, got {args.batch_size}.")
    from .readers import read_text_lines, read_text_stream

    if args.texts:
        texts = list(args.texts)
        origins = [f"text argument {number}" for number in range(1, len(texts) + 1)]
    elif args.source_file:
        texts = read_text_lines(args.source_file)
        origins = [f"{args.source_file}:{number}" for number in range(1, len(texts) + 1)]
    else:
        texts = read_text_stream(sys.stdin.buffer if hasattr(sys.stdin, "buffer") else sys.stdin, "<stdin>")
        origins = [f"<stdin>:{number}" for number in range(1, len(texts) + 1)]
    from .inference import fit_sources, generate_texts

    tokenizer, model = load_for_serving(args)
    limit = getattr(getattr(model, "config", None), "position_limit", None)
    kept, skipped = fit_sources(texts, origins, tokenizer, limit, args.overlong)
    if skipped:
        print(
            f"attnseq generate: skipped {len(skipped)} source(s) longer than {limit} tokens (empty output lines): "
            + ", ".join(skipped),
            file=sys.stderr,
        )
    decoded = generate_texts(
        model,
        tokenizer,
        [texts[index] for index in kept],
        batch_size=args.batch_size,
        seed=args.seed,
        max_source_length=limit if args.overlong == "truncate" else None,
        **_generation_kwargs(args),
    )
    outputs = dict(zip(kept, decoded))
    for index in range(len(texts)):
        print("\t".join(outputs.get(index, [""])))
    return 0


def evaluate_command(argv: Sequence[str]) -> int:
    parser = FlagParser(prog="attnseq evaluate", description="Score a checkpoint on a task or a file.")
    parser.add_argument("checkpoint")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--task", help="built-in task (addition, date, reverse)")
    source.add_argument("--file", help="pairs file: .txt (book format), .tsv, .csv, .jsonl")
    source.add_argument(
        "--source_file", "--test_source_file", help="sources, one a line (plain or .gz), parallel to --target_file"
    )
    parser.add_argument("--target_file", "--test_target_file", help="references, one a line, parallel to --source_file")
    parser.add_argument("--bad_rows", default="error", choices=["error", "drop"], help="pairs with an empty side")
    parser.add_argument("--split", default="test", help="split of a built-in task")
    parser.add_argument("--task_seed", type=int, default=1234)
    parser.add_argument("--source_column", default="source")
    parser.add_argument("--target_column", default="target")
    parser.add_argument("--metrics", default=None, help="default: exact_match,bleu,chrf (bleu,chrf for --source_file)")
    parser.add_argument("--lowercase_metrics", action="store_true", help="BLEU and chrF on lower-cased text")
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--max_samples", type=int, default=None)
    _add_generation_flags(parser)
    add_serving_flags(parser)
    args = parser.parse_args(argv)
    from .inference import evaluate_pairs
    from .readers import column_arguments, read_pairs, read_parallel_files
    from .tasks import load_task

    if args.task:
        pairs = load_task(args.task, seed=args.task_seed)
        if args.split not in pairs:
            raise ValueError(f"--split {args.split!r} is not a split of the task; its splits: {', '.join(pairs)}.")
        pairs = pairs[args.split]
    elif args.source_file:
        if args.target_file is None:
            raise ValueError("--source_file needs --target_file (the references, one a line).")
        pairs = read_parallel_files(args.source_file, args.target_file, bad_rows=args.bad_rows)
    else:
        pairs = read_pairs(args.file, **column_arguments(args.file, args.source_column, args.target_column))
    if args.max_samples is not None:
        pairs = pairs.select(range(min(args.max_samples, len(pairs))))
    tokenizer, model = load_for_serving(args)
    chosen = args.metrics or ("bleu,chrf" if args.source_file else "exact_match,bleu,chrf")
    metrics = [name.strip() for name in chosen.split(",") if name.strip()]
    started = time.perf_counter()
    results = evaluate_pairs(
        model,
        tokenizer,
        pairs,
        metrics=metrics,
        batch_size=args.batch_size,
        lowercase=args.lowercase_metrics,
        **_generation_kwargs(args),
    )
    results["sentences_per_second"] = len(pairs) / (time.perf_counter() - started)
    rounded = {key: round(value, 4) if isinstance(value, float) else value for key, value in results.items()}
    print(json.dumps({"rows": len(pairs), **rounded}))
    return 0
