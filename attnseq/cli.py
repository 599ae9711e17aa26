"""The `attnseq` command: train, evaluate, generate, plot-attention, card, push, export, demo, space, average.

Each subcommand lives in its app (`attnseq.training.cli` for training, `attnseq.serving.decode` for decoding,
`attnseq.hub_cards.commands` for sharing) and is imported only when run; `attnseq space` and `attnseq average`, where
serving writes what hub_cards completes, meet here. `attnseq export` writes a checkpoint for
another way of loading it, which one app or the other owns: its flags are parsed here and `--format` picks the app.
Every subcommand spells its flags one way, `--max_new_tokens`, and also accepts `--max-new-tokens`
(`attnseq.flags`).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

# subcommand -> (module, function taking the arguments after the subcommand and returning an exit status)
COMMANDS = {
    "train": ("attnseq.training.cli", "train_command"),
    "evaluate": ("attnseq.serving.decode", "evaluate_command"),
    "generate": ("attnseq.serving.decode", "generate_command"),
    "plot-attention": ("attnseq.hub_cards.commands", "main_plot_attention"),
    "card": ("attnseq.hub_cards.commands", "main_card"),
    "push": ("attnseq.hub_cards.commands", "main_push"),
    "export": ("attnseq.cli", "export_command"),
    "demo": ("attnseq.serving.demo", "demo_command"),
    "space": ("attnseq.cli", "space_command"),
    "average": ("attnseq.cli", "average_command"),
}
# `attnseq export --format F` -> (module, function taking the parsed arguments and returning an exit status)
EXPORT_FORMATS = {
    "remote_code": ("attnseq.hub_cards.commands", "export_remote_code"),
    "ctranslate2": ("attnseq.serving.commands", "export_ctranslate2_command"),
}


def space_command(argv: Sequence[str]) -> int:
    """`attnseq space`: serving's demo page in a Space folder that hub_cards writes and uploads; the two apps meet
    here, where both may be imported."""
    from types import SimpleNamespace

    from .hub_cards.push import push_folder
    from .hub_cards.space import SPACE_MARKER, push_space, write_space
    from .serving.demo import space_command as write_demo_space

    sharing = SimpleNamespace(
        SPACE_MARKER=SPACE_MARKER, write_space=write_space, push_space=push_space, push_folder=push_folder
    )
    return write_demo_space(argv, sharing)


def average_command(argv: Sequence[str]) -> int:
    """`attnseq average CHECKPOINT... --output_dir OUT`: serving writes the averaged checkpoint, with the card that
    hub_cards writes; the two apps meet here."""
    from .hub_cards.card import write_model_card
    from .serving.average import average_command as write_average

    return write_average(argv, write_card=write_model_card)


def export_command(argv: Sequence[str]) -> int:
    """`attnseq export CHECKPOINT OUTPUT_DIR --format remote_code|ctranslate2`."""
    from .flags import FlagParser

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
    parser.add_argument("--format", choices=list(EXPORT_FORMATS), default="remote_code")
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
    module, function = EXPORT_FORMATS[args.format]
    return getattr(importlib.import_module(module), function)(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script (and of `python -m attnseq`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: attnseq {{{','.join(COMMANDS)}}} ...\n\nRun `attnseq COMMAND --help` for a command's options.")
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"attnseq: unknown command {command!r}; commands: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    module, function = COMMANDS[command]
    from .folders import FolderRefused

    try:
        return getattr(importlib.import_module(module), function)(rest) or 0
    except FolderRefused as error:  # nothing was touched
        print(f"attnseq {command}: error: {error}", file=sys.stderr)
        return error.exit_status
    except (ValueError, OSError) as error:  # a refusal of the input (exit_status 2) or a failure
        print(f"attnseq {command}: error: {error}", file=sys.stderr)
        return getattr(error, "exit_status", 1)


if __name__ == "__main__":
    sys.exit(main())
