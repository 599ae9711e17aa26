"""Checkpoint averaging in `attnseq train`: `--average_last N` and `--average_best N`.

The saved model of such a run is the element-wise mean of the weights of the last N checkpoints of the run, or of
the N best by `metric_for_best_model` (`attnseq.modeling.averaging`); it replaces `load_best_model_at_end`, which is
turned off. The run keeps the checkpoints the average needs whatever `save_total_limit` says (`CheckpointAveraging`,
which `AttnseqTrainer` asks before removing old checkpoints), and the mean is loaded into the trained model after
training, so that the test evaluation, the saved weights and the card are the average's.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from ..folders import is_complete_checkpoint
from ..modeling.averaging import average_weights, check_same_architecture, check_same_tokenizer, load_weights

logger = logging.getLogger(__name__)

_CHECKPOINT_FOLDER = re.compile(rf"{PREFIX_CHECKPOINT_DIR}-(\d+)")


def check_averaging_arguments(run_args, training_args) -> None:
    """Refuse `--average_last`/`--average_best` settings that cannot work, before any work; with either one, turn
    `load_best_model_at_end` off (the average replaces the best checkpoint).

    Raises:
        ValueError: both flags given, N below 2, `--save_strategy no`, or (for `--average_best`) no evaluation or
            no `metric_for_best_model` to rank the checkpoints by.
    """
    last, best = getattr(run_args, "average_last", None), getattr(run_args, "average_best", None)
    if last is None and best is None:
        return
    if last is not None and best is not None:
        raise ValueError("--average_last and --average_best exclude each other; give one of them.")
    flag, count = ("--average_last", last) if last is not None else ("--average_best", best)
    if count < 2:
        raise ValueError(f"{flag} {count}: the number of checkpoints to average must be 2 or more.")
    if training_args.save_strategy == "no":
        raise ValueError(f"{flag} averages saved checkpoints; it needs --save_strategy steps, epoch or best, not no.")
    if best is not None:
        if training_args.eval_strategy == "no":
            raise ValueError(
                "--average_best ranks checkpoints by their evaluation; it needs --eval_strategy steps or epoch."
            )
        if not training_args.metric_for_best_model:
            raise ValueError("--average_best ranks checkpoints by --metric_for_best_model; set it (e.g. bleu, loss).")
    training_args.load_best_model_at_end = False


class CheckpointAveraging(TrainerCallback):
    """Which checkpoints of a run its average is made of: the last `count`, or the `count` best by the run's
    `metric_for_best_model` (`best=True`). `AttnseqTrainer` keeps them when it removes old checkpoints.

    A checkpoint's metric is the evaluation logged at its step; checkpoints without one are not ranked.
    """

    def __init__(self, count: int, best: bool = False):
        self.count = count
        self.best = best
        self.save_total_limit: int | None = None  # the run's, applied by `AttnseqTrainer` while it trains

    @property
    def flag(self) -> str:
        return f"--average_{'best' if self.best else 'last'} {self.count}"

    def metric_key(self, args) -> str:
        name = args.metric_for_best_model
        return name if name.startswith("eval_") else f"eval_{name}"

    def chosen(self, checkpoints: list[Path], args, state) -> list[Path]:
        """The checkpoints of `checkpoints` (folders `checkpoint-N`) the average is made of, oldest first."""
        ordered = sorted(checkpoints, key=checkpoint_step)
        if not self.best:
            return ordered[-self.count :]
        metrics = checkpoint_metrics(state.log_history, self.metric_key(args))
        greater = args.greater_is_better
        sign = 1 if (greater if greater is not None else not self.metric_key(args).endswith("loss")) else -1
        ranked = [folder for folder in ordered if checkpoint_step(folder) in metrics]
        # best first; among equal scores the later checkpoint
        ranked.sort(key=lambda folder: (sign * metrics[checkpoint_step(folder)], checkpoint_step(folder)), reverse=True)
        return sorted(ranked[: self.count], key=checkpoint_step)

    def selection(self, chosen: list[Path], args, state) -> str:
        """How the card says the checkpoints were chosen."""
        if not self.best:
            return f"the last {len(chosen)} of the run; `{self.flag}`"
        key = self.metric_key(args)
        metrics = checkpoint_metrics(state.log_history, key)
        scores = ", ".join(f"{metrics[checkpoint_step(folder)]:.4g}" for folder in chosen)
        return f"the {len(chosen)} best of the run by {key}: {scores}; `{self.flag}`"


def checkpoint_step(folder: str | os.PathLike) -> int:
    """The step N of a `checkpoint-N` folder."""
    return int(_CHECKPOINT_FOLDER.fullmatch(Path(folder).name).group(1))


def checkpoint_metrics(log_history: list[dict], key: str) -> dict[int, float]:
    """step -> the value of the evaluation metric `key` logged at that step (the last one logged there)."""
    return {entry["step"]: entry[key] for entry in log_history if key in entry and "step" in entry}


def checkpoint_folders(run_dir: str | os.PathLike, complete: bool = True) -> list[Path]:
    """The `checkpoint-N` folders of `run_dir`, oldest first (with `complete`, only those written to the end)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = [
        entry
        for entry in run_dir.iterdir()
        if entry.is_dir()
        and _CHECKPOINT_FOLDER.fullmatch(entry.name)
        and (not complete or is_complete_checkpoint(entry))
    ]
    return sorted(found, key=checkpoint_step)


def rotate_checkpoints(run_dir: str | os.PathLike, limit: int | None, keep: set[Path]) -> list[Path]:
    """Remove the oldest `checkpoint-N` folders of `run_dir` beyond `limit` (`save_total_limit`), as the Trainer
    does, but never one of `keep`, nor the newest (to resume from). Returns the removed folders."""
    if not limit or limit <= 0:
        return []
    folders = checkpoint_folders(run_dir, complete=False)
    protected = {Path(folder).resolve() for folder in keep}
    if folders:
        protected.add(folders[-1].resolve())
    removed, remaining = [], len(folders)
    for folder in folders:
        if remaining <= max(limit, len(protected)):
            break
        if folder.resolve() not in protected:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
            remaining -= 1
    return removed


def average_run_checkpoints(trainer) -> dict | None:
    """Load the mean of the chosen checkpoints of the run into `trainer.model`, after training.

    Returns:
        What the run record says of it (`{"checkpoints": [names], "selection": how}`), or None where the run does
        not average (or saved fewer than two checkpoints to average, which is logged).
    """
    averaging = trainer.checkpoint_averaging
    if averaging is None:
        return None
    trainer.accelerator.wait_for_everyone()  # the main process has written the last checkpoint
    run_dir = Path(trainer.args.output_dir)
    saved = [folder for folder in checkpoint_folders(run_dir) if checkpoint_step(folder) <= trainer.state.global_step]
    chosen = averaging.chosen(saved, trainer.args, trainer.state)
    if len(chosen) < averaging.count:
        logger.warning(
            "%s: the run saved %d checkpoint(s) to choose from (%s)",
            averaging.flag,
            len(chosen),
            ", ".join(folder.name for folder in chosen) or "none",
        )
    if len(chosen) < 2:
        logger.warning("%s: nothing to average; the trained model is saved as it is", averaging.flag)
        return None
    check_same_architecture(chosen)
    check_same_tokenizer(chosen)
    load_weights(trainer.model, average_weights(chosen))
    names = [folder.name for folder in chosen]
    if trainer.is_world_process_zero():
        print(f"averaged the weights of {', '.join(names)} ({averaging.flag})")
    return {"checkpoints": names, "selection": averaging.selection(chosen, trainer.args, trainer.state)}
