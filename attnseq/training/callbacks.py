"""The callbacks of `attnseq train`: the run's one clock, its time budget, early stopping and the checkpoints kept for
averaging (`averaging.CheckpointAveraging`)."""

from __future__ import annotations

import logging
import time

from transformers import EarlyStoppingCallback, TrainerCallback

logger = logging.getLogger(__name__)


class TrainingClock:
    """Wall-clock time since training began: the one clock of a run, read by the log's minutes and the time
    budget. A resumed run's clock starts at the minutes its checkpoint had logged, so that both count the whole
    run, as the Trainer's step count does."""

    def __init__(self):
        self.started: float | None = None

    def start(self, minutes_already: float = 0.0) -> None:
        """Start the clock now, `minutes_already` minutes into the run (those its checkpoint logged, when resumed)."""
        self.started = time.monotonic() - minutes_already * 60

    def minutes(self) -> float | None:
        """Minutes since `start`, or None before it."""
        return None if self.started is None else (time.monotonic() - self.started) / 60


class TimeBudgetCallback(TrainerCallback):
    """Stop training once `minutes` of wall-clock time (validation included) have passed since it began, read on
    the run's `clock`; a resumed run's budget counts the minutes spent before the resume.

    The budget is read after every step and after every evaluation. A step that crosses it is the last: the model is
    then evaluated and saved as at the end of an epoch, so that `load_best_model_at_end` and checkpoint averaging can
    choose among all checkpoints, and the job goes on to the test evaluation, the metrics and the card as after a
    complete run. An evaluation that crosses it ends training after that step's checkpoint is saved, instead of
    training one more step only to evaluate and save again: the budget is not overrun by a second evaluation, and
    checkpoint averaging does not get two checkpoints one step apart.
    """

    def __init__(self, minutes: float, clock: TrainingClock):
        if minutes <= 0:
            raise ValueError(f"--max_train_minutes must be positive, got {minutes!r}.")
        self.seconds = minutes * 60
        self.clock = clock
        self.stopped_at_step: int | None = None
        self.training = False

    def on_train_begin(self, args, state, control, **kwargs):
        self.training = True
        if self.clock.minutes() is None:  # a Trainer that does not start the clock itself
            self.clock.start()

    def on_train_end(self, args, state, control, **kwargs):
        self.training = False

    def _spent(self) -> bool:
        minutes = self.clock.minutes()
        return minutes is not None and minutes * 60 >= self.seconds

    def _stop(self, state, control) -> None:
        if self.stopped_at_step is None:
            logger.warning(
                "stopping after step %d: the training budget of %.1f minutes (--max_train_minutes) is spent",
                state.global_step,
                self.seconds / 60,
            )
            self.stopped_at_step = state.global_step
        control.should_training_stop = True

    def on_step_end(self, args, state, control, **kwargs):
        if self._spent():
            self._stop(state, control)
            control.should_evaluate = args.eval_strategy != "no"
            control.should_save = args.save_strategy != "no"
        return control

    def on_evaluate(self, args, state, control, **kwargs):
        # The Trainer saves this step's checkpoint (if due) after the evaluation, then sees the stop; the test set's
        # evaluation after training is not a reason to stop.
        if self.training and self._spent():
            self._stop(state, control)
        return control


def build_callbacks(run_args, clock: TrainingClock) -> tuple[list[TrainerCallback], TimeBudgetCallback | None]:
    """The callbacks `run_args` ask for (early stopping, the checkpoints kept for averaging, the time budget on
    `clock`), and the time budget among them (None without `--max_train_minutes`), which the run record reads after
    training."""
    callbacks: list[TrainerCallback] = []
    if run_args.early_stopping_patience is not None:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=run_args.early_stopping_patience))
    last, best = getattr(run_args, "average_last", None), getattr(run_args, "average_best", None)
    if last is not None or best is not None:
        from .averaging import CheckpointAveraging

        callbacks.append(CheckpointAveraging(best if best is not None else last, best=best is not None))
    budget = None
    if run_args.max_train_minutes is not None:
        budget = TimeBudgetCallback(run_args.max_train_minutes, clock)
        callbacks.append(budget)
    return callbacks, budget
