"""The `attnseq` command: train, evaluate, generate, plot-attention, card, push, export.

Each subcommand lives with what it uses (`attnseq.training.cli` for training and decoding,
`attnseq.hub_cards.commands` for sharing, `attnseq.serving.commands` for exports) and is imported only when
run. Every subcommand spells its flags one way, `--max_new_tokens`, and also accepts `--max-new-tokens`
(`attnseq.flags`).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

# subcommand -> (module, function taking the arguments after the subcommand and returning an exit status)
COMMANDS = {
    "train": ("attnseq.training.cli", "train_command"),
    "evaluate": ("attnseq.training.cli", "evaluate_command"),
    "generate": ("attnseq.training.cli", "generate_command"),
    "plot-attention": ("attnseq.hub_cards.commands", "main_plot_attention"),
    "card": ("attnseq.hub_cards.commands", "main_card"),
    "push": ("attnseq.hub_cards.commands", "main_push"),
    "export": ("attnseq.serving.commands", "export_command"),
    "demo": ("attnseq.serving.demo", "demo_command"),
    "space": ("attnseq.serving.demo", "space_command"),
}


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
    except (ValueError, OSError) as error:
        print(f"attnseq {command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
