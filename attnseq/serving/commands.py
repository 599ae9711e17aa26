"""The serving parts of the `attnseq` command: `attnseq export`, and `--engine`/`--quantize` for `generate` and
`evaluate` (kept here so that the command-line module only wires them in)."""

from __future__ import annotations

import argparse
import atexit
import shutil
import tempfile
from collections.abc import Sequence

from ..flags import FlagParser
from .quantization import QUANTIZE_CHOICES

ENGINES = ("torch", "ctranslate2")
FORMATS = ("remote_code", "ctranslate2")


def export_command(argv: Sequence[str]) -> int:
    """`attnseq export CHECKPOINT OUTPUT_DIR --format remote_code|ctranslate2`."""
    parser = FlagParser(
        prog="attnseq export",
        description="Write a checkpoint for another way of loading it: remote_code (flat code files that load with "
        "trust_remote_code=True where attnseq is not installed) or ctranslate2 (a CTranslate2 model of a Transformer "
        "checkpoint).",
    )
    parser.add_argument("checkpoint", help="a saved checkpoint folder (or, for ctranslate2, a Hub repo id)")
    parser.add_argument(
        "output_dir",
        help="the folder to write: a new or empty one; an export never writes into a folder it did not write, nor "
        "one that holds the checkpoint or the current directory (refused with exit status 2, nothing touched)",
    )
    parser.add_argument("--format", choices=FORMATS, default="remote_code")
    parser.add_argument(
        "--overwrite", action="store_true",
        help="replace an earlier export in OUTPUT_DIR (one that holds only the files that export wrote): the new "
        "folder is built beside it and swapped in whole, so an interrupted export leaves the old one",
    )  # fmt: skip
    parser.add_argument(
        "--quantization", default=None, help="ctranslate2: int8, int8_float32, float16 or float32 (the default)"
    )
    parser.add_argument(
        "--max_positions", type=int, default=None, help="ctranslate2: rows of the position table (default: learned "
        "positions' max_position_embeddings, 1024 for sinusoidal ones)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.format == "remote_code":
        if args.quantization is not None or args.max_positions is not None:
            raise ValueError("--quantization and --max_positions apply to --format ctranslate2 only.")
        from ..hub_cards.export import export_for_remote_code

        print(export_for_remote_code(args.checkpoint, args.output_dir, overwrite=args.overwrite))
        return 0
    from .ctranslate2 import QUANTIZATIONS, export_ctranslate2

    if args.quantization is not None and args.quantization not in QUANTIZATIONS:
        raise ValueError(f"--quantization {args.quantization!r} is not supported; allowed: {', '.join(QUANTIZATIONS)}.")
    folder = export_ctranslate2(
        args.checkpoint, args.output_dir, args.quantization, args.max_positions, overwrite=args.overwrite
    )
    print(f"wrote a CTranslate2 model ({args.quantization or 'float32'}) to {folder}")
    return 0


def add_serving_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("engine")
    group.add_argument(
        "--engine", choices=ENGINES, default="torch",
        help="ctranslate2: decode a Transformer with CTranslate2 (a folder from attnseq export, or a checkpoint, "
        "exported on the fly); needs pip install 'attnseq[serve]'",
    )  # fmt: skip
    group.add_argument(
        "--quantize", choices=QUANTIZE_CHOICES, default=None,
        help="int8 weights: dynamic int8 quantization in PyTorch, or CTranslate2's int8 compute type",
    )  # fmt: skip


def load_for_serving(args: argparse.Namespace):
    """`(tokenizer, model)` for `args.checkpoint`, on `args.engine`, quantized as `args.quantize` says."""
    from transformers import AutoTokenizer

    if args.engine == "torch":
        from .quantization import load_model

        return AutoTokenizer.from_pretrained(args.checkpoint), load_model(args.checkpoint, quantize=args.quantize)
    from .ctranslate2 import CTranslate2Model, export_ctranslate2, is_ctranslate2_folder, set_seed

    folder = args.checkpoint
    if not is_ctranslate2_folder(folder):  # a checkpoint: export it for this run
        folder = tempfile.mkdtemp(prefix="attnseq-ctranslate2-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        export_ctranslate2(args.checkpoint, folder)
    if getattr(args, "seed", None) is not None:
        set_seed(args.seed)
    model = CTranslate2Model(folder, compute_type=args.quantize or "default")
    return AutoTokenizer.from_pretrained(folder), model
