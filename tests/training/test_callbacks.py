"""The run's one clock: the time budget and the log's minutes read the same `TrainingClock`; the run record finds
the budget by reference."""

import json
from types import SimpleNamespace

import pytest
import torch
from datasets import Dataset
from transformers import Seq2SeqTrainingArguments, TrainerCallback, TrainerControl, TrainerState

from attnseq import Seq2SeqLSTMConfig, Seq2SeqLSTMForConditionalGeneration
from attnseq.data.encoding import build_data_collator
from attnseq.tokenization.char import CharTokenizer
from attnseq.training.callbacks import TimeBudgetCallback, TrainingClock, build_callbacks
from attnseq.training.resume import finished_run_message, minutes_spent, resolve_resume_checkpoint
from attnseq.training.trainer import AttnseqTrainer


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


def _one_minute_budget_training_at(step):
    """A one-minute budget whose training has begun, with the Trainer's state at `step`."""
    clock = TrainingClock()
    budget = TimeBudgetCallback(1.0, clock)
    state, control = TrainerState(), TrainerControl()
    state.global_step = step
    budget.on_train_begin(_args(), state, control)
    return clock, budget, state, control


def test_an_evaluation_that_spends_the_budget_stops_training_without_another_evaluation():
    clock, budget, state, control = _one_minute_budget_training_at(600)
    budget.on_evaluate(_args(), state, control)
    assert not control.should_training_stop
    clock.started -= 61  # the evaluation took the rest of the budget
    control.should_save = True  # the periodic save the Trainer does after this evaluation
    budget.on_evaluate(_args(), state, control)
    assert control.should_training_stop and control.should_save and not control.should_evaluate
    assert budget.stopped_at_step == 600


def test_the_test_sets_evaluation_after_training_does_not_count_as_a_stop():
    clock, budget, state, control = _one_minute_budget_training_at(40)
    budget.on_train_end(_args(), state, control)  # training ended by its step budget
    clock.started -= 61
    budget.on_evaluate(_args(), state, control)
    assert budget.stopped_at_step is None and not control.should_training_stop


class _SlowEvaluation(TrainerCallback):
    """Makes the evaluation at `step` take `seconds` of the run's clock, as a long validation decode would."""

    def __init__(self, clock, step, seconds):
        self.clock, self.step, self.seconds = clock, step, seconds

    def on_evaluate(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            self.clock.started -= self.seconds


def _trainer(output_dir, callbacks, clock, max_steps=20) -> AttnseqTrainer:
    """A Trainer of a tiny LSTM on two reversed words, validated and saved every 2 steps, on `clock`."""
    tokenizer = CharTokenizer.from_texts(["abc", "cba", "hello", "olleh"])
    torch.manual_seed(0)
    model = Seq2SeqLSTMForConditionalGeneration(Seq2SeqLSTMConfig(vocab_size=len(tokenizer), hidden_size=8))
    rows = [
        {"input_ids": tokenizer(source)["input_ids"], "labels": tokenizer(text_target=target)["input_ids"]}
        for source, target in (("abc", "cba"), ("hello", "olleh"))
    ]
    data = Dataset.from_list(rows * 4)
    args = Seq2SeqTrainingArguments(
        str(output_dir),
        max_steps=max_steps,
        per_device_train_batch_size=2,
        eval_strategy="steps",
        eval_steps=2,
        save_steps=2,
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
    )
    return AttnseqTrainer(
        model=model,
        args=args,
        train_dataset=data,
        eval_dataset=data,
        data_collator=build_data_collator(tokenizer, model),
        processing_class=tokenizer,
        callbacks=callbacks,
        clock=clock,
    )


def test_a_trainer_whose_evaluation_spends_the_budget_keeps_that_checkpoint_as_its_last(tmp_path, one_thread):
    clock = TrainingClock()
    budget = TimeBudgetCallback(60.0, clock)  # an hour, all of it spent by the evaluation at step 4
    trainer = _trainer(tmp_path, [_SlowEvaluation(clock, step=4, seconds=3600), budget], clock)
    trainer.train()
    assert trainer.state.global_step == 4 and budget.stopped_at_step == 4
    assert sorted(path.name for path in tmp_path.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    evaluated = [entry["step"] for entry in trainer.state.log_history if "eval_loss" in entry]
    assert evaluated == [2, 4]


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


@pytest.mark.parametrize("resume", ["folder", "true"])
def test_a_resumed_run_counts_the_minutes_before_the_resume(tmp_path, one_thread, resume):
    clock = TrainingClock()
    first = _trainer(tmp_path, [_SlowEvaluation(clock, step=2, seconds=30 * 60)], clock, max_steps=4)
    first.train()  # 30 minutes and a little, logged in checkpoint-4
    assert resolve_resume_checkpoint("last", str(tmp_path)) == str(tmp_path / "checkpoint-4")
    assert 30 <= minutes_spent(str(tmp_path / "checkpoint-4")) < 31
    clock = TrainingClock()
    budget = TimeBudgetCallback(45.0, clock)  # 15 minutes left: the evaluation at step 6 spends them
    second = _trainer(tmp_path, [_SlowEvaluation(clock, step=6, seconds=20 * 60), budget], clock)
    second.train(resume_from_checkpoint=str(tmp_path / "checkpoint-4") if resume == "folder" else True)
    assert second.state.global_step == 6 and budget.stopped_at_step == 6
    minutes = [entry["minutes"] for entry in second.state.log_history if "minutes" in entry]
    assert minutes == sorted(minutes) and minutes[-1] >= 50  # the log counts on from 30, not from 0


def test_resuming_a_run_that_spent_its_time_budget_says_it_is_complete(tmp_path):
    checkpoint = tmp_path / "checkpoint-600"
    checkpoint.mkdir()
    history = [{"loss": 2.0, "step": 550, "minutes": 109.5}, {"eval_bleu": 30.0, "step": 600, "minutes": 115.2}]
    (checkpoint / "trainer_state.json").write_text(
        json.dumps({"global_step": 600, "epoch": 3.0, "log_history": history})
    )
    args = Seq2SeqTrainingArguments(str(tmp_path), num_train_epochs=60, report_to="none")
    message = finished_run_message(str(checkpoint), args, max_train_minutes=115)
    assert "had trained for 115.2 minutes" in message and "Raise --max_train_minutes" in message
    assert finished_run_message(str(checkpoint), args, max_train_minutes=120) is None
    assert finished_run_message(str(checkpoint), args) is None  # no time budget: the epochs decide
