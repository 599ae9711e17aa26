"""Command-line entry points of `attnseq card`, `attnseq push` and `attnseq export`.

Each `main_*` function takes the arguments after the subcommand and returns an exit status, so the
package's `attnseq` console script can dispatch to them; `add_*_arguments` fill a (sub)parser.
"""

from __future__ import annotations

import argparse
import sys


def add_card_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("folder", help="a saved checkpoint folder")
    parser.add_argument("--repo-id", help="the Hub repo the card is for (the usage snippet loads from it)")
    parser.add_argument("--model-name", help="title of the card (default: repo or folder name)")
    parser.add_argument("--dataset", help="Hub dataset id (or name) the model was trained and evaluated on")
    parser.add_argument("--license", default="mit", help="license id of the model (default: mit)")
    parser.add_argument("--language", action="append", help="language code (repeatable)")
    parser.add_argument("--tag", action="append", default=[], help="extra tag (repeatable)")
    parser.add_argument("--example", help="source text of one validation example for the attention heatmap")
    parser.add_argument("--target", help="the example's reference output, shown next to the heatmap")
    parser.add_argument("--max-new-tokens", type=int, help="generation length in the heatmap and snippet")
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
    parser.add_argument("--remote-code", action="store_true",
                        help="upload the flat export that loads with trust_remote_code=True without attnseq")
    parser.add_argument("--private", action="store_true", default=None, help="create the repo private")
    parser.add_argument("--revision", help="branch to commit to (created from main if missing)")
    parser.add_argument("--token", help="Hub token with write access (default: HF_TOKEN or the stored login)")
    parser.add_argument("--message", help="commit message")
    return parser


def add_export_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("folder", help="a saved checkpoint folder")
    parser.add_argument("out_folder", help="folder to write (replaced as a whole if it exists)")
    return parser


def _run(action) -> int:
    from huggingface_hub.errors import HfHubHTTPError

    try:
        action()
    except (ValueError, OSError, HfHubHTTPError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def main_card(argv: list[str] | None = None) -> int:
    """`attnseq card FOLDER`: write README.md (and the attention heatmap) into a checkpoint folder."""
    args = add_card_arguments(argparse.ArgumentParser(prog="attnseq card", description=main_card.__doc__)).parse_args(
        argv
    )

    def action():
        from .card import write_model_card

        path = write_model_card(args.folder, repo_id=args.repo_id, **_card_kwargs(args))
        print(path)

    return _run(action)


def main_push(argv: list[str] | None = None) -> int:
    """`attnseq push FOLDER REPO_ID`: upload a checkpoint folder (with its model card) to the Hub."""
    args = add_push_arguments(argparse.ArgumentParser(prog="attnseq push", description=main_push.__doc__)).parse_args(
        argv
    )

    def action():
        from .push import push_folder

        info = push_folder(args.folder, args.repo_id, remote_code=args.remote_code, private=args.private,
                           revision=args.revision, token=args.token, commit_message=args.message)
        print(info.commit_url)

    return _run(action)


def main_export(argv: list[str] | None = None) -> int:
    """`attnseq export FOLDER OUT_FOLDER`: write the flat folder that loads with trust_remote_code=True."""
    args = add_export_arguments(
        argparse.ArgumentParser(prog="attnseq export", description=main_export.__doc__)
    ).parse_args(argv)

    def action():
        from .export import export_for_remote_code

        print(export_for_remote_code(args.folder, args.out_folder))

    return _run(action)
