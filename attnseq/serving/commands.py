"""The serving parts of the `attnseq` command: `attnseq export --format ctranslate2`, and `--engine`/`--quantize`
for `generate` and `evaluate` (`attnseq.serving.decode`)."""

from __future__ import annotations

import argparse
import atexit
import shutil
import tempfile

from .quantization import QUANTIZE_CHOICES

ENGINES = ("torch", "ctranslate2")


def export_ctranslate2_command(args: argparse.Namespace) -> int:
    """`attnseq export CHECKPOINT OUTPUT_DIR --format ctranslate2` (its flags parsed by `attnseq.cli`)."""
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
