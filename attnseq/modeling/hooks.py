"""What the models call but do not own: work that lives on a higher floor of the package, installed here by
`attnseq/__init__.py`, so that the models never import it.

`push_to_hub` uploads a checkpoint with attnseq's model card, written by `attnseq.hub_cards`, which builds on
the models. The package installs the upload as the "push folder" hook when it is imported; where it is not
installed (the remote-code export, which ships this module without the rest of attnseq), `push_to_hub` is
transformers' own. Likewise the card a Trainer of `attnseq.training` writes into its output folder (and
`Trainer.push_to_hub` uploads) is attnseq's card through the "trainer card" hook, so that training never imports
the card writer.
"""

from __future__ import annotations

from collections.abc import Callable

# `push_folder(folder, repo_id, *, create_pr, commit_message, private, token, revision)` -> the upload's CommitInfo
PushFolder = Callable[..., object]

_push_folder: PushFolder | None = None


def install_push_folder(function: PushFolder | None) -> None:
    """Make `function` the upload of a saved checkpoint folder that `push_to_hub` uses (None: transformers')."""
    global _push_folder
    _push_folder = function


def installed_push_folder() -> PushFolder | None:
    """The installed upload of a checkpoint folder, or None where the package did not install one."""
    return _push_folder


# `trainer_card(trainer, **card_arguments)`: write the model card into `trainer.args.output_dir`
TrainerCard = Callable[..., object]

_trainer_card: TrainerCard | None = None


def install_trainer_card(function: TrainerCard | None) -> None:
    """Make `function` the card a Trainer writes into its output folder (None: transformers' Trainer card)."""
    global _trainer_card
    _trainer_card = function


def installed_trainer_card() -> TrainerCard | None:
    """The installed card writer of a Trainer's output folder, or None where the package did not install one."""
    return _trainer_card
