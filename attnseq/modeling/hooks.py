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


class Hook:
    """One function that a higher floor installs and a lower one calls (None until installed)."""

    def __init__(self, what: str):
        self.what = what
        self.function: Callable[..., object] | None = None

    def install(self, function: Callable[..., object] | None) -> None:
        """Make `function` the installed one (None: the lower floor's own behaviour)."""
        self.function = function

    def installed(self) -> Callable[..., object] | None:
        """The installed function, or None where the package did not install one."""
        return self.function


# `push_folder(folder, repo_id, *, create_pr, commit_message, private, token, revision)` -> the upload's CommitInfo:
# the upload of a saved checkpoint folder that `push_to_hub` uses
PUSH_FOLDER = Hook("the upload of a checkpoint folder with attnseq's card")
# `trainer_card(trainer, **card_arguments)`: write the model card into `trainer.args.output_dir`
TRAINER_CARD = Hook("the card a Trainer writes into its output folder")

install_push_folder = PUSH_FOLDER.install
installed_push_folder = PUSH_FOLDER.installed
install_trainer_card = TRAINER_CARD.install
installed_trainer_card = TRAINER_CARD.installed
