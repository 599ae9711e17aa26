"""Upload a saved checkpoint folder to the Hub: `attnseq push FOLDER REPO_ID [--remote_code]`.

The folder's checkpoint files (config, safetensors weights, tokenizer files, generation config, model
card, attention picture) are staged in a temporary folder and go up in one commit with
`HfApi.upload_folder`; optimizer state, pickled training arguments and `checkpoint-*` folders stay
behind, and the folder itself is not changed. The staged card is (re)written from the folder's files by
`write_model_card`, as every other path writes it, with a usage snippet that names the target repo; a card
that attnseq did not write is uploaded as it is. With `remote_code=True` the staged folder is the flat export
of `export_for_remote_code`, which loads with `trust_remote_code=True` where attnseq is not installed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from huggingface_hub import HfApi, get_token

from ..folders import EXPORT_MARKER
from ..modeling.loading import check_safetensors_checkpoint
from .card import CARD_NAME, is_attnseq_card, write_model_card
from .export import copy_checkpoint, export_for_remote_code


def hub_api(token: str | None, how_to_pass: str) -> HfApi:
    """An `HfApi` with `token`, else the saved login or `HF_TOKEN`; `ValueError` saying how to give one if none."""
    token = token or get_token()
    if not token:
        raise ValueError(
            f"No Hugging Face token: {how_to_pass}, set the HF_TOKEN environment variable or run `hf auth login`; "
            "uploading needs a token with write access."
        )
    return HfApi(token=token)


def push_folder(
    folder,
    repo_id: str,
    *,
    remote_code: bool = False,
    private: bool | None = None,
    revision: str | None = None,
    token: str | None = None,
    commit_message: str | None = None,
    create_pr: bool = False,
    card_kwargs: dict | None = None,
):
    """Upload the checkpoint in `folder` to the Hub repo `repo_id` (created if missing).

    Args:
        folder: a saved checkpoint folder (config.json + model.safetensors, optionally tokenizer files).
        repo_id: `"user/name"` (or `"name"` in the token owner's namespace).
        remote_code: upload the flat export for users without attnseq (`trust_remote_code=True`).
        private: create the repo private (ignored if it exists).
        revision: a branch to commit to (created from `main` if missing); default `main`.
        token: a Hub token with write access; default: `HF_TOKEN` or the stored login.
        commit_message: the commit title.
        create_pr: open a pull request with the upload instead of committing to the branch.
        card_kwargs: arguments of `write_model_card` (dataset, metrics, example, ...) over what the folder holds.

    Returns:
        The `huggingface_hub.CommitInfo` of the upload.
    """
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise ValueError(f"{folder} has no config.json; save the model first (model.save_pretrained(folder)).")
    check_safetensors_checkpoint(folder)
    api = hub_api(token, "pass token=...")
    repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
    if revision not in (None, "main"):
        api.create_branch(repo_id, branch=revision, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="attnseq-push-") as tmp:
        staged = Path(tmp) / "checkpoint"
        staged.mkdir()
        copy_checkpoint(folder, staged, link=True)
        if not (staged / CARD_NAME).is_file() or is_attnseq_card(staged / CARD_NAME):
            # the same card every path writes, from what the folder holds, with the snippet loading `repo_id`
            write_model_card(staged, repo_id=repo_id, **(card_kwargs or {}))
        if remote_code:
            staged = export_for_remote_code(staged, Path(tmp) / "export")
        default_message = "Upload model with its code (trust_remote_code)" if remote_code else "Upload model"
        message = commit_message or default_message
        return api.upload_folder(
            folder_path=staged,
            repo_id=repo_id,
            revision=revision,
            commit_message=message,
            create_pr=create_pr,
            ignore_patterns=[EXPORT_MARKER],  # says which local folder an export may replace; nothing for the Hub
        )
