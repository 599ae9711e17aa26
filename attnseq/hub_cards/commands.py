"""Command-line entry points of `attnseq card`, `attnseq push` and `attnseq plot-attention`.

Each `main_*` function takes the arguments after the subcommand and returns an exit status, so the
package's `attnseq` console script (`attnseq.cli`) can dispatch to them; `add_*_arguments` fill a parser.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..flags import FlagParser


def add_card_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("folder", help="a saved checkpoint folder")
    parser.add_argument("--repo_id", help="the Hub repo the card is for (the usage snippet loads from it)")
    parser.add_argument("--model_name", help="title of the card (default: repo or folder name)")
    parser.add_argument("--dataset", help="Hub dataset id (or name) the model was trained and evaluated on")
    parser.add_argument("--license", default="mit", help="license id of the model (default: mit)")
    parser.add_argument("--language", action="append", help="language code (repeatable)")
    parser.add_argument("--tag", action="append", default=[], help="extra tag (repeatable)")
    parser.add_argument("--example", help="source text of one validation example for the attention heatmap")
    parser.add_argument("--target", help="the example's reference output, shown next to the heatmap")
    parser.add_argument("--max_new_tokens", type=int, help="generation length in the heatmap and snippet")
    return parser


def _card_kwargs(args: argparse.Namespace) -> dict:
    example = None if args.example is None else (args.example, args.target)
    return {
        "model_name": args.model_name,
        "dataset": args.dataset,
        "license": args.license,
        "language": args.language,
        "tags": args.tag,
        "example": example,
        "max_new_tokens": args.max_new_tokens,
    }


def add_push_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("folder", help="a saved checkpoint folder")
    parser.add_argument("repo_id", help="Hub repo id, user/name")
    parser.add_argument(
        "--remote_code",
        action="store_true",
        help="upload the flat export that loads with trust_remote_code=True without attnseq",
    )
    parser.add_argument("--private", action="store_true", default=None, help="create the repo private")
    parser.add_argument("--revision", help="branch to commit to (created from main if missing)")
    parser.add_argument("--token", help="Hub token with write access (default: HF_TOKEN or the stored login)")
    parser.add_argument("--message", help="commit message")
    return parser


def add_plot_attention_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("checkpoint", help="a saved checkpoint folder or Hub repo id")
    parser.add_argument("text", help="the source text")
    parser.add_argument("--output", default="attention.png", help="the PNG file to write")
    parser.add_argument("--max_new_tokens", type=int, default=64)
    parser.add_argument("--layer", type=int, default=-1, help="decoder layer of a Transformer (default: the last)")
    parser.add_argument("--head", type=int, default=None, help="attention head of that layer (default: their mean)")
    return parser


def _run(action) -> int:
    from huggingface_hub.errors import HfHubHTTPError

    from ..folders import FolderRefused

    try:
        action()
    except FolderRefused:
        raise  # the command line's one line and exit status 2
    except (ValueError, OSError, HfHubHTTPError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def main_card(argv: list[str] | None = None) -> int:
    """`attnseq card FOLDER`: write README.md (and the attention heatmap) into a checkpoint folder. A README.md that
    attnseq did not write is left as it is (refused with exit status 2)."""
    args = add_card_arguments(FlagParser(prog="attnseq card", description=main_card.__doc__)).parse_args(argv)

    def action():
        from .card import write_model_card

        path = write_model_card(args.folder, repo_id=args.repo_id, **_card_kwargs(args))
        print(path)

    return _run(action)


def main_push(argv: list[str] | None = None) -> int:
    """`attnseq push FOLDER REPO_ID`: upload a checkpoint folder (with its model card) to the Hub. The upload is
    staged in a temporary folder of its own; FOLDER is not changed."""
    args = add_push_arguments(FlagParser(prog="attnseq push", description=main_push.__doc__)).parse_args(argv)

    def action():
        from .push import push_folder

        info = push_folder(
            args.folder,
            args.repo_id,
            remote_code=args.remote_code,
            private=args.private,
            revision=args.revision,
            token=args.token,
            commit_message=args.message,
        )
        print(info.commit_url)

    return _run(action)


def main_plot_attention(argv: list[str] | None = None) -> int:
    """`attnseq plot-attention CHECKPOINT TEXT`: draw the cross-attention of one input as a PNG heatmap."""
    args = add_plot_attention_arguments(
        FlagParser(prog="attnseq plot-attention", description=main_plot_attention.__doc__)
    ).parse_args(argv)

    def action():
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        from .attention_map import attention_matrix, describe_attention, write_attention_heatmap

        tokenizer = AutoTokenizer.from_pretrained(args.checkpoint)
        model = AutoModelForSeq2SeqLM.from_pretrained(args.checkpoint).eval()
        matrix = attention_matrix(
            model, tokenizer, args.text, max_new_tokens=args.max_new_tokens, layer=args.layer, head=args.head
        )
        if matrix is None:
            raise ValueError(f"the model at {args.checkpoint} has no attention to plot (attention='none').")
        source_tokens, output_tokens, weights = matrix
        shown = describe_attention(model.config, args.layer, args.head)
        write_attention_heatmap(Path(args.output), source_tokens, output_tokens, weights, f"{args.text} ({shown})")
        print(f"wrote {args.output}: {len(output_tokens)} output x {len(source_tokens)} source tokens, {shown}")

    return _run(action)


def export_remote_code(args: argparse.Namespace) -> int:
    """`attnseq export CHECKPOINT OUTPUT_DIR --format remote_code` (its flags parsed by `attnseq.cli`)."""
    if args.quantization is not None or args.max_positions is not None:
        raise ValueError("--quantization and --max_positions apply to --format ctranslate2 only.")
    from .export import export_for_remote_code

    print(export_for_remote_code(args.checkpoint, args.output_dir, overwrite=args.overwrite))
    return 0
