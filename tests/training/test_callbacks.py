"""The run's one clock: the time budget and the log's minutes read the same `TrainingClock`; the run record finds
the budget by reference."""

from types import SimpleNamespace

import pytest
from transformers import TrainerControl, TrainerState

from attnseq.training.callbacks import TimeBudgetCallback, TrainingClock, build_callbacks


def _args():
    return SimpleNamespace(eval_strategy="epoch", save_strategy="epoch")


def test_the_budget_stops_training_when_the_clock_passes_it():
    clock = TrainingClock()
    budget = TimeBudgetCallback(1.0, clock)
    state, control = TrainerState(), TrainerControl()
    state.global_step = 3
    budget.on_train_begin(_args(), state, control)  # starts the clock no one started
    assert clock.minutes() is not None
    budget.on_step_end(_args(), state, control)
    assert not control.should_training_stop and budget.stopped_at_step is None
    clock.started -= 61  # the same clock, a minute and a second later
    budget.on_step_end(_args(), state, control)
    assert control.should_training_stop and control.should_evaluate and control.should_save
    assert budget.stopped_at_step == 3


def test_a_started_clock_is_not_restarted_by_the_budget():
    clock = TrainingClock()
    clock.start()
    clock.started -= 120
    TimeBudgetCallback(5.0, clock).on_train_begin(_args(), TrainerState(), TrainerControl())
    assert clock.minutes() >= 2


def test_build_callbacks_hands_back_the_budget_it_made():
    clock = TrainingClock()
    run = SimpleNamespace(early_stopping_patience=2, max_train_minutes=3.0)
    callbacks, budget = build_callbacks(run, clock)
    assert budget in callbacks and budget.clock is clock and len(callbacks) == 2
    assert build_callbacks(SimpleNamespace(early_stopping_patience=None, max_train_minutes=None), clock) == ([], None)


def test_a_budget_must_be_positive():
    with pytest.raises(ValueError, match="--max_train_minutes must be positive"):
        TimeBudgetCallback(0, TrainingClock())
