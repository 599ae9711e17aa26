"""Resuming `attnseq train`: which checkpoint `--resume_from_checkpoint` names, and whether its run is already
complete."""

from __future__ import annotations

import json
import logging
import os
import re

from transformers import Seq2SeqTrainingArguments
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from ..folders import is_complete_checkpoint

logger = logging.getLogger(__name__)

RESUME_LAST = ("true", "last", "yes")
RESUME_NONE = ("", "false", "no", "none")
_CHECKPOINT_FOLDER = re.compile(rf"{PREFIX_CHECKPOINT_DIR}-(\d+)")


def resolve_resume_checkpoint(value: str | bool | None, output_dir: str) -> str | None:
    """The checkpoint folder `--resume_from_checkpoint VALUE` names.

    `true`/`last` (or `True`) mean the newest complete `checkpoint-N` folder in `output_dir`; a folder the
    Trainer was still writing when the run was killed (its `trainer_state.json`, written last, is missing or cut
    short) is skipped with a warning. `false`/`none`/empty mean no resumption. Anything else is a checkpoint folder.

    Raises:
        ValueError: no complete checkpoint in `output_dir`, or the named folder is not a complete checkpoint.
    """
    if value is None or value is False or (isinstance(value, str) and value.strip().lower() in RESUME_NONE):
        return None
    if value is True or value.strip().lower() in RESUME_LAST:
        folders = [
            os.path.join(output_dir, name)
            for name in (os.listdir(output_dir) if os.path.isdir(output_dir) else [])
            if _CHECKPOINT_FOLDER.fullmatch(name) and os.path.isdir(os.path.join(output_dir, name))
        ]
        folders.sort(key=lambda folder: int(_CHECKPOINT_FOLDER.fullmatch(os.path.basename(folder)).group(1)))
        for folder in reversed(folders):
            if is_complete_checkpoint(folder):
                return folder
            logger.warning(
                "skipping %s: its %s is missing or cut short, so its run was stopped while saving it",
                folder,
                TRAINER_STATE_NAME,
            )
        raise ValueError(
            f"--resume_from_checkpoint {value}: {output_dir} holds no complete checkpoint-N folder to resume from "
            "(checkpoints are written every --save_steps steps with --save_strategy steps, or every epoch)."
        )
    if not os.path.isdir(value):
        raise ValueError(
            f"--resume_from_checkpoint {value!r} is not a folder; pass a checkpoint-N folder, or 'last' for the newest "
            "one in --output_dir."
        )
    if not is_complete_checkpoint(value):
        raise ValueError(
            f"--resume_from_checkpoint {value!r} is not a complete Trainer checkpoint: its {TRAINER_STATE_NAME} is "
            "missing or cut short (the Trainer writes it last). Pass an earlier checkpoint, or 'last'."
        )
    return value


def _trainer_state(checkpoint: str) -> dict:
    with open(os.path.join(checkpoint, TRAINER_STATE_NAME), encoding="utf-8") as handle:
        return json.load(handle)


def minutes_spent(checkpoint: str) -> float:
    """The training minutes `checkpoint`'s run had spent when it was saved: the last `minutes` of its log history
    (`AttnseqTrainer` logs them with every log line and evaluation), 0 for a checkpoint that logged none or has no
    readable trainer state (the Trainer then says what is wrong with it)."""
    try:
        history = _trainer_state(checkpoint).get("log_history", [])
    except (OSError, ValueError):
        return 0.0
    for entry in reversed(history):
        if isinstance(entry.get("minutes"), (int, float)):
            return float(entry["minutes"])
    return 0.0


def finished_run_message(
    checkpoint: str, training_args: Seq2SeqTrainingArguments, max_train_minutes: float | None = None
) -> str | None:
    """What to say instead of training when `checkpoint` already reached this run's budget, or None.

    The budget is `--max_steps` when set (positive), otherwise `--num_train_epochs`, and `--max_train_minutes`
    when given (counted from the run's start, the minutes before the resume included): resuming a run that spent it
    would train one step past the end and overwrite the final weights; raising the budget trains on.
    """
    state = _trainer_state(checkpoint)
    step, epoch = state.get("global_step", 0), state.get("epoch") or 0.0
    if max_train_minutes is not None:
        spent = minutes_spent(checkpoint)
        if spent >= max_train_minutes:
            return (
                f"the run is complete: {checkpoint} had trained for {spent:g} minutes, the budget of "
                f"--max_train_minutes {max_train_minutes:g} (it counts the minutes before a resume); nothing was "
                "trained or written. Raise --max_train_minutes to train on."
            )
    if training_args.max_steps > 0:
        if step < training_args.max_steps:
            return None
        budget = f"--max_steps {training_args.max_steps}"
    else:
        if epoch + 1e-6 < training_args.num_train_epochs:
            return None
        budget = f"--num_train_epochs {training_args.num_train_epochs:g} (it is at epoch {epoch:g})"
    return (
        f"the run is complete: {checkpoint} reached step {step}, the budget of {budget}; nothing was trained or "
        "written. Raise --max_steps or --num_train_epochs to train on."
    )
