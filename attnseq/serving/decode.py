"""`attnseq generate` and `attnseq evaluate`: decode texts with a checkpoint, and score its decoding of a task's
split or of files against their references (read through `attnseq.data`, as `attnseq train` reads them)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from ..flags import FlagParser
from .commands import add_serving_flags, load_for_serving


def _add_generation_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("generation")
    group.add_argument("--num_beams", type=int, default=1)
    group.add_argument("--do_sample", action="store_true")
    group.add_argument("--top_k", type=int, default=None)
    group.add_argument("--top_p", type=float, default=None)
    group.add_argument("--temperature", type=float, default=None)
    group.add_argument("--num_return_sequences", type=int, default=1)
    group.add_argument("--max_new_tokens", type=int, default=None)
    group.add_argument(
        "--length_penalty", type=float, default=None,
        help="beam search: the exponent of the length a hypothesis score is divided by (above 1 favours longer "
        "outputs); default: the checkpoint's generation config",
    )  # fmt: skip
    group.add_argument("--seed", type=int, default=None, help="seed for sampling")


def _generation_kwargs(args: argparse.Namespace) -> dict:
    kwargs = {
        "num_beams": args.num_beams,
        "do_sample": args.do_sample,
        "num_return_sequences": args.num_return_sequences,
    }
    for name in ("top_k", "top_p", "temperature", "max_new_tokens", "length_penalty"):
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
        "--source_file", "--test_source_file", help="a file with one source text per line (plain, .gz, .bz2 or .xz)"
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
    from ..data.readers import read_text_lines, read_text_stream

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
    parser = FlagParser(prog="attnseq evaluate", description="Score a checkpoint on a task, files or a data set.")
    parser.add_argument("checkpoint")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--task", help="built-in task (addition, date, reverse)")
    source.add_argument("--file", help="pairs file: .txt (book format), .tsv, .csv, .jsonl")
    source.add_argument(
        "--source_file",
        "--test_source_file",
        help="sources, one a line (plain, .gz, .bz2 or .xz), parallel to --target_file",
    )
    source.add_argument(
        "--dataset_name",
        help="a data set that datasets.load_dataset opens (local folder, data file, Hub id), as attnseq train reads it",
    )
    parser.add_argument("--target_file", "--test_target_file", help="references, one a line, parallel to --source_file")
    parser.add_argument("--dataset_config_name", help="configuration of --dataset_name")
    parser.add_argument("--bad_rows", default="error", choices=["error", "drop"], help="pairs with an empty side")
    parser.add_argument(
        "--split", default="test", help="split of a built-in task or of --dataset_name (test, validation, train, ...)"
    )
    parser.add_argument("--task_seed", type=int, default=1234)
    parser.add_argument("--source_column", default="source", help="source column of --file or --dataset_name")
    parser.add_argument("--target_column", default="target", help="target column of --file or --dataset_name")
    parser.add_argument("--source_lang", help="source side of a `translation` column of --dataset_name")
    parser.add_argument("--target_lang", help="target side of a `translation` column of --dataset_name")
    parser.add_argument(
        "--metrics", default=None, help="comma-separated; default: exact_match,bleu,chrf (bleu,chrf for --source_file)"
    )
    parser.add_argument("--lowercase_metrics", action="store_true", help="BLEU and chrF on lower-cased text")
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--max_samples", type=int, default=None)
    _add_generation_flags(parser)
    add_serving_flags(parser)
    args = parser.parse_args(argv)
    from ..data.loading import load_task_split, read_pairs_file, read_parallel_split
    from .inference import evaluate_pairs

    if args.dataset_config_name is not None and args.dataset_name is None:
        raise ValueError("--dataset_config_name names a configuration of --dataset_name; pass --dataset_name too.")
    if args.dataset_name is None and (args.source_lang or args.target_lang):
        raise ValueError(
            "--source_lang/--target_lang pick the sides of a `translation` column of --dataset_name; pass "
            "--dataset_name, or name the columns of --file with --source_column/--target_column."
        )
    if args.task:
        pairs = load_task_split(args.task, args.split, seed=args.task_seed)
    elif args.dataset_name:
        from ..data.hub_datasets import read_dataset_split

        pairs = read_dataset_split(args, args.split)
    elif args.source_file:
        if args.target_file is None:
            raise ValueError("--source_file needs --target_file (the references, one a line).")
        pairs = read_parallel_split(args.source_file, args.target_file, bad_rows=args.bad_rows)
    else:
        pairs = read_pairs_file(args.file, args.source_column, args.target_column, bad_rows=args.bad_rows)
    if args.max_samples is not None:
        pairs = pairs.select(range(min(args.max_samples, len(pairs))))
    tokenizer, model = load_for_serving(args)
    from ..data.metrics import metric_names

    metrics = metric_names(args.metrics, from_files=bool(args.source_file or args.dataset_name), decoded=True)
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
