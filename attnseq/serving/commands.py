"""The serving parts of the `attnseq` command: `attnseq export`, and `--engine`/`--quantize` for `generate` and
`evaluate` (kept here so that the command-line module only wires them in)."""

from __future__ import annotations

import argparse
import atexit
import shutil
import tempfile
from collections.abc import Sequence

from .quantization import QUANTIZE_CHOICES

ENGINES = ("torch", "ctranslate2")
FORMATS = ("ctranslate2",)


def export_command(argv: Sequence[str]) -> int:
    from .ctranslate2 import QUANTIZATIONS, export_ctranslate2

    parser = argparse.ArgumentParser(
        prog="attnseq export",
        description="Write a checkpoint in another engine's format: CTranslate2 for the Transformer family.",
    )
    parser.add_argument("checkpoint", help="a saved Transformer checkpoint folder or Hub repo id")
    parser.add_argument("output_dir", help="the folder to write")
    parser.add_argument("--format", choices=FORMATS, required=True)
    parser.add_argument("--quantization", choices=QUANTIZATIONS, default=None, help="weight type (default float32)")
    parser.add_argument(
        "--max_positions", type=int, default=None, help="rows of the position table (default: learned positions' "
        "max_position_embeddings, 1024 for sinusoidal ones)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    folder = export_ctranslate2(args.checkpoint, args.output_dir, args.quantization, args.max_positions)
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

    import attnseq  # noqa: F401  (registers the model types)

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
