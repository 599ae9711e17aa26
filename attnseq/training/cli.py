"""`attnseq train`, `attnseq evaluate` and `attnseq generate` (the console script itself is `attnseq.cli`).

`attnseq train` with no arguments trains the attention LSTM on the built-in date task and saves the
checkpoint with its tokenizer, generation config and model card under `outputs/date-lstm`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from ..flags import FlagParser
from ..serving.commands import add_serving_flags, load_for_serving


def parse_train_arguments(argv: Sequence[str]):
    """`(model_args, data_args, training_args)` from flags, or from one JSON/YAML file plus flags."""
    from transformers import HfArgumentParser, Seq2SeqTrainingArguments

    from .arguments import FAMILY_TRAINING_DEFAULTS, TRAINING_DEFAULTS, DataArguments, ModelArguments, allow_bare_flags

    parser = HfArgumentParser((ModelArguments, DataArguments, Seq2SeqTrainingArguments), prog="attnseq train")
    allow_bare_flags(parser)
    parser.set_defaults(**TRAINING_DEFAULTS)
    argv = list(argv)
    from_file: dict = {}
    if argv and argv[0].endswith((".json", ".yaml", ".yml")):
        from_file = _read_arguments_file(argv.pop(0))
        parser.set_defaults(**from_file)
    model_args, data_args, training_args = parser.parse_args_into_dataclasses(args=argv)

    def user_chose(name: str) -> bool:
        flags = (f"--{name}", f"--{name.replace('_', '-')}")
        return name in from_file or any(arg.split("=")[0] in flags for arg in argv)

    for name, value in FAMILY_TRAINING_DEFAULTS[model_args.model].items():
        if not user_chose(name):
            setattr(training_args, name, value)
    if not user_chose("dataloader_pin_memory") and not _has_accelerator():
        training_args.dataloader_pin_memory = False  # pinned memory needs an accelerator; torch warns otherwise
    if not user_chose("output_dir"):
        task = data_args.task or ("date" if data_args.train_file is None else "custom")
        training_args.output_dir = os.path.join("outputs", f"{task}-{model_args.model}")
    return model_args, data_args, training_args


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


def _load(checkpoint: str):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForSeq2SeqLM.from_pretrained(checkpoint).eval()
    return tokenizer, model


def generate_command(argv: Sequence[str]) -> int:
    parser = FlagParser(
        prog="attnseq generate", description="Decode texts (arguments, --file, or one per line on stdin) to stdout."
    )
    parser.add_argument("checkpoint", help="a saved checkpoint folder or Hub repo id")
    parser.add_argument("texts", nargs="*", help="source texts; none reads --file or stdin")
    parser.add_argument("--file", help="a file with one source text per line")
    parser.add_argument("--batch_size", type=int, default=64)
    _add_generation_flags(parser)
    add_serving_flags(parser)
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        raise ValueError(f"--batch_size must be a positive integer, got {args.batch_size}.")
    if args.texts:
        texts = list(args.texts)
    else:
        handle = open(args.file, encoding="utf-8") if args.file else sys.stdin
        with handle:
            texts = [line.rstrip("\n") for line in handle]
    from .inference import generate_texts

    tokenizer, model = load_for_serving(args)
    for outputs in generate_texts(
        model, tokenizer, texts, batch_size=args.batch_size, seed=args.seed, **_generation_kwargs(args)
    ):
        print("\t".join(outputs))
    return 0


def evaluate_command(argv: Sequence[str]) -> int:
    parser = FlagParser(prog="attnseq evaluate", description="Score a checkpoint on a task or a file.")
    parser.add_argument("checkpoint")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--task", help="built-in task (addition, date, reverse)")
    source.add_argument("--file", help="pairs file: .txt (book format), .tsv, .csv, .jsonl")
    parser.add_argument("--split", default="test", help="split of a built-in task")
    parser.add_argument("--task_seed", type=int, default=1234)
    parser.add_argument("--source_column", default="source")
    parser.add_argument("--target_column", default="target")
    parser.add_argument("--metrics", default="exact_match,bleu,chrf")
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--max_samples", type=int, default=None)
    _add_generation_flags(parser)
    add_serving_flags(parser)
    args = parser.parse_args(argv)
    from .inference import evaluate_pairs
    from .readers import column_arguments, read_pairs
    from .tasks import load_task

    if args.task:
        pairs = load_task(args.task, seed=args.task_seed)
        if args.split not in pairs:
            raise ValueError(f"--split {args.split!r} is not a split of the task; its splits: {', '.join(pairs)}.")
        pairs = pairs[args.split]
    else:
        pairs = read_pairs(args.file, **column_arguments(args.file, args.source_column, args.target_column))
    if args.max_samples is not None:
        pairs = pairs.select(range(min(args.max_samples, len(pairs))))
    tokenizer, model = load_for_serving(args)
    metrics = [name.strip() for name in args.metrics.split(",") if name.strip()]
    results = evaluate_pairs(
        model, tokenizer, pairs, metrics=metrics, batch_size=args.batch_size, **_generation_kwargs(args)
    )
    rounded = {key: round(value, 4) if isinstance(value, float) else value for key, value in results.items()}
    print(json.dumps({"rows": len(pairs), **rounded}))
    return 0
