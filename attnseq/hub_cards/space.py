"""A Hub Space folder (Gradio SDK) for a checkpoint, and its upload.

`write_space` writes `app.py` and the files it imports (given by the caller: the demo page lives with the other
serving code), `requirements.txt`, a README whose YAML header is the Space's configuration (`sdk: gradio`,
`app_file`, title, `models:`), and the checkpoint under `model/` as the remote-code export
(`export_for_remote_code`), so that the Space runs without attnseq. The folder follows the export rules of
`attnseq.folders`: built next to its destination and swapped into place; a non-empty folder no export wrote, one
holding files added or changed since the earlier Space, the checkpoint or the current directory is refused.
`push_space` uploads the folder as a Space (without the export marker).
"""

from __future__ import annotations

from pathlib import Path

from ..folders import EXPORT_MARKER, check_export_folder, export_folder
from .export import export_for_remote_code
from .push import hub_api

SPACE_MARKER = "# Written by `attnseq space`"
APP_FILE = "app.py"
MODEL_FOLDER = "model"


def space_readme(title: str, sdk_version: str, models: list[str] | None = None, license: str = "mit") -> str:
    """The Space's README: its YAML configuration header (the Hub reads `sdk`, `sdk_version`, `app_file`,
    `title` and `models` from it) and a short description."""
    import yaml

    config = {
        "title": title,
        "emoji": "🔍",
        "colorFrom": "blue",
        "colorTo": "green",
        "sdk": "gradio",
        "sdk_version": sdk_version,
        "app_file": APP_FILE,
        "pinned": False,
        "license": license,
    }
    if models:
        config["models"] = list(models)
    header = yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
    return (
        f"---\n{header}---\n\n# {title}\n\n"
        "Type an input and see which source tokens each output token attended to: the decoder-to-encoder attention "
        "of the chosen hypothesis (greedy, beam n-best or sampling) as a heatmap; hover a cell for its source token, "
        "output token and weight. The model is in `model/` with its own code (`trust_remote_code=True`), so the "
        "Space needs only `requirements.txt`.\n"
    )


def write_space(
    checkpoint,
    out,
    *,
    app_source: str,
    app_files: dict[str, str],
    requirements: list[str],
    title: str,
    sdk_version: str,
    models: list[str] | None = None,
) -> Path:
    """Write a Space folder at `out` for the checkpoint folder `checkpoint`.

    Args:
        app_source: the text of `app.py`; it must begin with `SPACE_MARKER` (so that a later run may replace it).
        app_files: other files `app.py` imports, name -> text.
        requirements: the lines of `requirements.txt` (pinned packages).
        title, sdk_version, models: the Space's YAML header (`models`: the Hub model repos it uses).

    Returns:
        The folder. A folder written by an earlier `write_space` is replaced as a whole.
    """
    if not app_source.startswith(SPACE_MARKER):
        raise ValueError(f"app.py must begin with {SPACE_MARKER!r}.")
    checkpoint = Path(checkpoint)
    out = check_export_folder(out, inputs=[checkpoint], overwrite=True, command="a new folder")
    with export_folder(out, export_format="space", source=str(checkpoint)) as build:
        export_for_remote_code(checkpoint, build / MODEL_FOLDER)
        (build / APP_FILE).write_text(app_source, encoding="utf-8")
        for name, text in app_files.items():
            (build / name).write_text(text, encoding="utf-8")
        (build / "requirements.txt").write_text("\n".join(requirements) + "\n", encoding="utf-8")
        (build / "README.md").write_text(space_readme(title, sdk_version, models), encoding="utf-8")
    return out


def push_space(folder, repo_id: str, *, token: str | None = None, private: bool | None = None, message=None):
    """Upload the Space folder `folder` to the Space repo `repo_id` (created with the Gradio SDK if missing).

    Returns the `huggingface_hub.CommitInfo` of the upload."""
    api = hub_api(token, "pass --token")
    repo_id = api.create_repo(repo_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True).repo_id
    return api.upload_folder(
        folder_path=folder,
        repo_id=repo_id,
        repo_type="space",
        commit_message=message or "Upload attention demo",
        ignore_patterns=[EXPORT_MARKER, f"{MODEL_FOLDER}/{EXPORT_MARKER}"],
    )
