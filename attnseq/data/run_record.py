"""The run record `attnseq_training.json`: what `attnseq train` says about a run in its checkpoint folder (the data
set, one test example, the configured hyperparameters, the checkpoint it started from, the languages, the checkpoints
its weights are the mean of), so that
every card path (train, `attnseq card`, `attnseq push`, `Trainer.push_to_hub`) writes the same card from the
folder alone. The training app writes it, the card reads (and keeps) it; both go through this module.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..atomic import replaced_file

RUN_INFO_NAME = "attnseq_training.json"


def read_json(path) -> dict | None:
    """The JSON object in the file at `path`, or None where there is no such file.

    Raises:
        ValueError: the file is not valid JSON (its path named).
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error


def read_run_info(folder) -> dict:
    """The run record of the checkpoint `folder` (`{}` where it has none)."""
    return read_json(Path(folder) / RUN_INFO_NAME) or {}


def write_run_info(
    folder,
    *,
    dataset: dict | None,
    example: dict | None,
    hyperparameters: dict,
    base_model: str | None,
    language: list[str] | None = None,
    averaged: dict | None = None,
) -> Path:
    """Record what a card needs to know about a training run in `folder/attnseq_training.json`.

    Args:
        dataset: `{"name": shown name, "hub_id": Hub dataset id or None}` of the training data.
        example: one test example `{"source", "target"}` for the heatmap and the usage snippet.
        hyperparameters: the configured training hyperparameters (as transformers' Trainer card lists them).
        base_model: the checkpoint the run started from (a Hub repo id or a local folder), or None.
        language: the languages of the data (`["de", "en"]`: source, then target), for the card's metadata.
        averaged: where the weights are the mean of several checkpoints' (`attnseq average`, `attnseq train
            --average_last/--average_best`): `{"checkpoints": [their names], "selection": how they were chosen or
            None}`.
    """
    path = Path(folder) / RUN_INFO_NAME
    info = {"dataset": dataset, "example": example, "hyperparameters": hyperparameters, "base_model": base_model}
    if language:
        info["language"] = language
    if averaged:
        info["averaged"] = averaged
    with replaced_file(path) as tmp:
        tmp.write_text(json.dumps(info, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return path
