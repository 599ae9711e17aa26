"""The recipe of `attnseq train`: from arguments to a trained, evaluated and saved checkpoint, on `Seq2SeqTrainer`.

It wires the parts, each in its module: the pairs (`attnseq.data.loading`), a new or fine-tuned tokenizer and
model (`build`), the callbacks on the run's one clock (`callbacks`), the Trainer (`trainer`), resumption
(`resume`), checkpoint averaging (`averaging`), the test evaluation and printed examples (`evaluation`) and the run
record the card reads (`record`).
"""

from __future__ import annotations

import contextlib
import logging
import os

from datasets import DatasetDict
from transformers import PreTrainedModel, Seq2SeqTrainingArguments, enable_full_determinism, set_seed

from ..data.encoding import build_data_collator, longest_sequence
from ..data.loading import load_pairs
from ..data.metrics import build_compute_metrics
from ..data.progress import data_phase
from .arguments import DataArguments, RunArguments
from .averaging import average_run_checkpoints, check_averaging_arguments
from .build import build_tokenizer_and_model, tokenized_splits
from .callbacks import TrainingClock, build_callbacks
from .evaluation import decode_examples, evaluate_test_split, print_examples, sorted_by_source_length
from .record import record_run
from .resume import finished_run_message, resolve_resume_checkpoint
from .trainer import AttnseqTrainer

logger = logging.getLogger(__name__)


def build_trainer(
    model: PreTrainedModel,
    tokenizer,
    tokenized: DatasetDict,
    training_args: Seq2SeqTrainingArguments,
    data_args: DataArguments,
    callbacks: list | None = None,
    clock: TrainingClock | None = None,
) -> AttnseqTrainer:
    """`AttnseqTrainer` with the seq2seq collator, the packaged metrics, `callbacks` and the run's `clock`."""
    if training_args.generation_max_length is None:
        longest_target = longest_sequence(tokenized["train"], "labels")
        training_args.generation_max_length = longest_target + 8
        limit = model.config.position_limit
        if limit is not None:  # the decoder start token and `limit` generated tokens
            training_args.generation_max_length = min(training_args.generation_max_length, limit + 1)
    evaluation = tokenized.get("validation")
    if (
        evaluation is not None
        and data_args.max_eval_samples is not None
        and data_args.max_eval_samples < len(evaluation)
    ):
        logger.warning(
            "evaluating the first %d of %d validation rows (--max_eval_samples)",
            data_args.max_eval_samples,
            len(evaluation),
        )
        evaluation = evaluation.select(range(data_args.max_eval_samples))
    if evaluation is not None:
        evaluation = sorted_by_source_length(evaluation)[0]
    return AttnseqTrainer(
        model=model,
        args=training_args,
        train_dataset=tokenized["train"],
        eval_dataset=evaluation,
        processing_class=tokenizer,
        data_collator=build_data_collator(tokenizer, model),
        compute_metrics=build_compute_metrics(
            tokenizer,
            metrics=data_args.metric_names,
            decoder_start_token_id=model.config.decoder_start_token_id,
            lowercase=data_args.lowercase_metrics,
        ),
        callbacks=callbacks,
        clock=clock,
    )


def train(
    model_args, data_args: DataArguments, run_args: RunArguments, training_args: Seq2SeqTrainingArguments
) -> dict[str, float]:
    """The whole job of `attnseq train`; returns the test metrics.

    The seed is set before the model is built, so that two runs with the same `--seed` start from the same
    weights and end with the same weights (`--full_determinism` also makes torch use deterministic kernels).
    """
    from ..folders import check_run_folder

    check_run_folder(training_args.output_dir)  # refused before any work
    check_averaging_arguments(run_args, training_args)
    if training_args.full_determinism:
        enable_full_determinism(training_args.seed)
    else:
        set_seed(training_args.seed)
    with datasets_progress_bars(enabled=not training_args.disable_tqdm):
        return _train(model_args, data_args, run_args, training_args)


@contextlib.contextmanager
def datasets_progress_bars(enabled: bool):
    """Hide the progress bars of `datasets` (`map`, file reading) and of transformers' own steps (writing the
    weights) inside the block unless `enabled`, as `--disable_tqdm true` does for the Trainer's; the previous
    settings are restored after it."""
    from datasets.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars
    from transformers.utils import logging as transformers_logging

    datasets_disabled = are_progress_bars_disabled()
    transformers_enabled = transformers_logging.is_progress_bar_enabled()
    if not enabled:
        disable_progress_bars()
        transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if not datasets_disabled:
            enable_progress_bars()
        if transformers_enabled:
            transformers_logging.enable_progress_bar()


def _train(
    model_args, data_args: DataArguments, run_args: RunArguments, training_args: Seq2SeqTrainingArguments
) -> dict[str, float]:
    resume = resolve_resume_checkpoint(training_args.resume_from_checkpoint, training_args.output_dir)
    finished = None if resume is None else finished_run_message(resume, training_args, run_args.max_train_minutes)
    if finished is not None:  # nothing is read, trained or written
        if _is_main_process():
            print(finished)
        return {}
    if data_args.streaming:
        from .streaming import prepare_streaming_run

        pairs, tokenizer, model, tokenized = prepare_streaming_run(model_args, data_args, training_args)
    else:
        with data_phase("reading") as phase:
            pairs = load_pairs(data_args)
            phase.count = sum(len(split) for split in pairs.values())
        tokenizer, model = build_tokenizer_and_model(model_args, data_args, pairs)
        with data_phase("tokenization") as phase:
            tokenized = tokenized_splits(pairs, tokenizer, model, data_args)
            phase.count = sum(len(split) for split in pairs.values())
    clock = TrainingClock()
    callbacks, budget = build_callbacks(run_args, clock)
    trainer = build_trainer(model, tokenizer, tokenized, training_args, data_args, callbacks, clock)
    if trainer.is_world_process_zero():
        parameters = sum(p.numel() for p in model.parameters())
        rows = "streamed" if data_args.streaming else f"{len(tokenized['train']):,}"
        print(f"{type(model).__name__}: {parameters:,} parameters; {rows} training pairs")
    from ..folders import claim_run_folder

    claim_run_folder(training_args.output_dir, main_process=trainer.is_world_process_zero())
    if resume is not None and trainer.is_world_process_zero():
        print(f"resuming from {resume}")
    trainer.train(resume_from_checkpoint=resume)
    # --average_last/--average_best: from here on the model is the mean of the chosen checkpoints
    averaged = average_run_checkpoints(trainer)
    metrics = {}
    if "test" in tokenized and len(tokenized["test"]):
        metrics = evaluate_test_split(
            trainer, tokenizer, tokenized["test"], pairs["test"], data_args, run_args, training_args
        )
        trainer.log_metrics("test", metrics)
        trainer.save_metrics("test", metrics)
    if trainer.is_world_process_zero():
        if "test" in pairs and run_args.show_examples:
            examples = decode_examples(
                trainer.model, tokenizer, pairs["test"], run_args.show_examples, training_args.generation_max_length
            )
            print_examples(examples)
        record_run(trainer, model_args, data_args, pairs, budget, averaged=averaged)
    trainer.save_state()
    # Under --push_to_hub this uploads the folder with the complete card (the Trainer calls create_model_card,
    # which reads the run info, test results and state written above); otherwise the card is written here.
    trainer.save_model(training_args.output_dir)
    if not training_args.push_to_hub:
        trainer.create_model_card()
    return metrics


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0
