"""From arguments to a trained, evaluated and saved checkpoint, on `Seq2SeqTrainer`.

`load_pairs` gets the text pairs (a built-in task or files), `build_tokenizer_and_model` makes a new
model (or loads a checkpoint to fine-tune), `build_trainer` wires `Seq2SeqTrainer` with the collator
and the packaged metrics, and `train` runs the whole job: train, evaluate on the test split, print a
few decoded examples, save model, tokenizer, generation config, metrics and the model card.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time

from datasets import DatasetDict
from transformers import (
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    EarlyStoppingCallback,
    PreTrainedModel,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    TrainerCallback,
    enable_full_determinism,
    set_seed,
)
from transformers.modelcard import extract_hyperparameters_from_trainer
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from ..families import FAMILIES
from ..hub_cards.card import write_run_info
from ..modeling.seq2seq import default_max_length
from ..tokenization.bpe import train_seq2seq_tokenizer, train_subword_tokenizer
from ..tokenization.char import CharTokenizer
from .arguments import DataArguments, config_overrides
from .data import build_data_collator, tokenize_pairs
from .metrics import build_compute_metrics
from .readers import BadRowsError, column_arguments, read_pairs, read_parallel_files, split_dataset
from .tasks import load_task

logger = logging.getLogger(__name__)

DEFAULT_TASK = "date"


def load_pairs(data_args: DataArguments) -> DatasetDict:
    """The `source`/`target` pairs as a `DatasetDict` with train, validation and test splits."""
    if data_args.source_file is not None or data_args.target_file is not None:
        return load_parallel_files(data_args)
    if data_args.train_file is None:
        task = data_args.task or DEFAULT_TASK
        return load_task(
            task,
            seed=data_args.task_seed,
            num_train=data_args.num_train,
            num_validation=data_args.num_validation,
            num_test=data_args.num_test,
        )
    if data_args.task is not None:
        raise ValueError("Pass either --task (a built-in task) or training files, not both.")

    def read_file(path):
        columns = column_arguments(path, data_args.source_column, data_args.target_column)
        try:
            return read_pairs(path, bad_rows=data_args.bad_rows, **columns)
        except BadRowsError as error:  # name the flag, not the Python argument
            raise error.with_drop_hint("--bad_rows drop") from None

    train = read_file(data_args.train_file)
    files = {"validation": data_args.validation_file, "test": data_args.test_file}
    splits = {name: read_file(path) for name, path in files.items() if path is not None}
    return complete_splits(train, splits, data_args)


PARALLEL_SPLITS = {
    "train": ("source_file", "target_file"),
    "validation": ("validation_source_file", "validation_target_file"),
    "test": ("test_source_file", "test_target_file"),
}


def load_parallel_files(data_args: DataArguments) -> DatasetDict:
    """Train, validation and test pairs from parallel text files (`--source_file train.de.gz --target_file
    train.en.gz`, ...); a validation or test split without files is split off train."""
    if data_args.task is not None or data_args.train_file is not None:
        raise ValueError("Pass one of --task, --train_file and --source_file/--target_file, not several.")
    splits = {}
    for split, (source_flag, target_flag) in PARALLEL_SPLITS.items():
        source, target = getattr(data_args, source_flag), getattr(data_args, target_flag)
        if (source is None) != (target is None):
            given, missing = (source_flag, target_flag) if source is not None else (target_flag, source_flag)
            raise ValueError(f"--{given} needs --{missing}: parallel files come in pairs.")
        if source is not None:
            try:
                splits[split] = read_parallel_files(source, target, bad_rows=data_args.bad_rows)
            except BadRowsError as error:
                raise error.with_drop_hint("--bad_rows drop") from None
    return complete_splits(splits.pop("train"), splits, data_args)


def complete_splits(train, splits: dict, data_args: DataArguments) -> DatasetDict:
    """Train, validation and test: the given `splits` (read from files), and those not given split off `train`
    (`--validation_size`, `--test_size`: a fraction, or a row count)."""
    missing = [name for name in ("validation", "test") if name not in splits]
    if len(missing) == 2:
        return split_dataset(train, data_args.validation_size, data_args.test_size, seed=data_args.task_seed)
    if missing:
        size = data_args.validation_size if missing[0] == "validation" else data_args.test_size
        size = int(size) if size >= 1 else size  # a row count, given on the command line as a float
        parts = train.train_test_split(test_size=size, seed=data_args.task_seed)
        train, splits[missing[0]] = parts["train"], parts["test"]
    return DatasetDict({"train": train, "validation": splits["validation"], "test": splits["test"]})


def build_tokenizer_and_model(model_args, data_args: DataArguments, pairs: DatasetDict):
    """A new tokenizer and model sized to it, or both loaded from `--model_name_or_path` to fine-tune."""
    if model_args.model_name_or_path is not None:
        overrides = config_overrides(model_args)
        kwargs = {"revision": model_args.revision} if model_args.revision else {}
        tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path, **kwargs)
        model = AutoModelForSeq2SeqLM.from_pretrained(model_args.model_name_or_path, **overrides, **kwargs)
        return tokenizer, model

    overrides = config_overrides(model_args)
    vocabulary = {}
    if data_args.tokenizer == "char":
        if not data_args.shared_vocabulary:
            raise ValueError(
                "--shared_vocabulary false trains a source and a target subword vocabulary; it needs --tokenizer bpe "
                "or --tokenizer unigram (the char tokenizer has one vocabulary of the characters of both sides: "
                "use --shared_vocabulary true with it)."
            )
        tokenizer = CharTokenizer.from_dataset(pairs["train"], columns=("source", "target"))
    elif data_args.shared_vocabulary:
        texts = (text for column in ("source", "target") for text in pairs["train"][column])
        tokenizer = train_subword_tokenizer(texts, **subword_options(data_args))
    else:
        train, options = pairs["train"], subword_options(data_args)
        tokenizer = train_seq2seq_tokenizer(train["source"], train["target"], shared=False, **options)
        vocabulary["decoder_vocab_size"] = tokenizer.target_len()
        vocabulary.update(FAMILIES[model_args.model].separate_vocabulary_options)
    family = FAMILIES[model_args.model]
    config_class, model_class = family.config_class, family.generation_class
    config = config_class(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.bos_token_id,
        **{**vocabulary, **overrides},
    )
    return tokenizer, model_class(config)


def subword_options(data_args: DataArguments) -> dict:
    """The `train_subword_tokenizer` options of the data arguments."""
    return {
        "vocab_size": data_args.subword_vocab_size,
        "model": data_args.tokenizer,
        "min_frequency": data_args.min_frequency,
        "lowercase": data_args.lowercase,
    }


def tokenized_splits(pairs: DatasetDict, tokenizer, model: PreTrainedModel, data_args: DataArguments) -> DatasetDict:
    """Token ids of every split; the source and target limits default to the model's position limit if it has
    one (learned positions), so that no row is longer than the model allows."""
    limit = model.config.position_limit
    max_source_length, max_target_length = data_args.max_source_length, data_args.max_target_length
    return tokenize_pairs(
        pairs,
        tokenizer,
        max_source_length=limit if max_source_length is None else max_source_length,
        max_target_length=limit if max_target_length is None else max_target_length,
        overlong=data_args.overlong,
    )


def build_trainer(
    model: PreTrainedModel,
    tokenizer,
    tokenized: DatasetDict,
    training_args: Seq2SeqTrainingArguments,
    data_args: DataArguments,
) -> AttnseqTrainer:
    """`Seq2SeqTrainer` with the seq2seq collator, the packaged metrics and optional early stopping."""
    longest_target = max(len(ids) for ids in tokenized["train"]["labels"])
    if training_args.generation_max_length is None:
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
    callbacks = []
    if data_args.early_stopping_patience is not None:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=data_args.early_stopping_patience))
    if data_args.max_train_minutes is not None:
        callbacks.append(TimeBudgetCallback(data_args.max_train_minutes))
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
    )


def decode_examples(model, tokenizer, pairs, count: int, max_length: int) -> list[tuple[str, str, str]]:
    """Greedy predictions for the first `count` rows of `pairs`: `(source, prediction, reference)`."""
    import torch

    rows = pairs.select(range(min(count, len(pairs))))
    if len(rows) == 0:
        return []
    inputs = tokenizer(list(rows["source"]), return_tensors="pt", padding=True).to(model.device)
    model.eval()
    with torch.no_grad():
        generated = model.generate(**inputs, max_length=max_length, num_beams=1, do_sample=False)
    predictions = tokenizer.batch_decode(generated, skip_special_tokens=True)
    return list(zip(rows["source"], predictions, rows["target"]))


def train(model_args, data_args: DataArguments, training_args: Seq2SeqTrainingArguments) -> dict[str, float]:
    """The whole job of `attnseq train`; returns the test metrics.

    The seed is set before the model is built, so that two runs with the same `--seed` start from the same
    weights and end with the same weights (`--full_determinism` also makes torch use deterministic kernels).
    """
    from ..folders import check_run_folder

    check_run_folder(training_args.output_dir)  # refused before any work
    if training_args.full_determinism:
        enable_full_determinism(training_args.seed)
    else:
        set_seed(training_args.seed)
    with datasets_progress_bars(enabled=not training_args.disable_tqdm):
        return _train(model_args, data_args, training_args)


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


def _train(model_args, data_args: DataArguments, training_args: Seq2SeqTrainingArguments) -> dict[str, float]:
    resume = resolve_resume_checkpoint(training_args.resume_from_checkpoint, training_args.output_dir)
    finished = finished_run_message(resume, training_args) if resume is not None else None
    if finished is not None:  # nothing is read, trained or written
        if _is_main_process():
            print(finished)
        return {}
    pairs = load_pairs(data_args)
    tokenizer, model = build_tokenizer_and_model(model_args, data_args, pairs)
    tokenized = tokenized_splits(pairs, tokenizer, model, data_args)
    trainer = build_trainer(model, tokenizer, tokenized, training_args, data_args)
    if trainer.is_world_process_zero():
        parameters = sum(p.numel() for p in model.parameters())
        print(f"{type(model).__name__}: {parameters:,} parameters; {len(tokenized['train']):,} training pairs")
    from ..folders import claim_run_folder

    claim_run_folder(training_args.output_dir, main_process=trainer.is_world_process_zero())
    if resume is not None and trainer.is_world_process_zero():
        print(f"resuming from {resume}")
    trainer.train(resume_from_checkpoint=resume)
    metrics = {}
    if "test" in tokenized and len(tokenized["test"]):
        metrics = evaluate_test_split(trainer, tokenizer, tokenized["test"], pairs["test"], data_args, training_args)
        trainer.log_metrics("test", metrics)
        trainer.save_metrics("test", metrics)
    if trainer.is_world_process_zero():
        if "test" in pairs and data_args.show_examples:
            examples = decode_examples(
                trainer.model, tokenizer, pairs["test"], data_args.show_examples, training_args.generation_max_length
            )
            print_examples(examples)
        os.makedirs(training_args.output_dir, exist_ok=True)
        write_run_info(
            training_args.output_dir,
            dataset=dataset_description(data_args),
            example=pairs["test"][0] if "test" in pairs and len(pairs["test"]) else None,
            hyperparameters=run_hyperparameters(trainer, data_args),
            base_model=model_args.model_name_or_path,
            language=[lang for lang in (data_args.source_lang, data_args.target_lang) if lang] or None,
        )
    trainer.save_state()
    # Under --push_to_hub this uploads the folder with the complete card (the Trainer calls create_model_card,
    # which reads the run info, test results and state written above); otherwise the card is written here.
    trainer.save_model(training_args.output_dir)
    if not training_args.push_to_hub:
        trainer.create_model_card()
    return metrics


def sorted_by_source_length(dataset):
    """`(dataset sorted by source length, order)`: batches of similar lengths decode with little padding; corpus
    metrics do not depend on the order, and `order[i]` is the original row of sorted row i."""
    import numpy as np

    order = np.argsort([len(ids) for ids in dataset["input_ids"]], kind="stable")
    return dataset.select(order), order


def test_generation_kwargs(data_args: DataArguments, training_args: Seq2SeqTrainingArguments) -> dict:
    """The decoding of the final test evaluation: `--test_num_beams` (default: `--generation_num_beams`, else
    greedy) with `--test_length_penalty`."""
    beams = data_args.test_num_beams or training_args.generation_num_beams or 1
    return {"num_beams": beams, "length_penalty": data_args.test_length_penalty} if beams > 1 else {"num_beams": 1}


def evaluate_test_split(trainer, tokenizer, tokenized_test, raw_test, data_args, training_args) -> dict:
    """Decode the test split (sorted by source length, in batches) and score it.

    Generation stops where `generate()` stops by default (128 tokens within the model's position limit), so that the
    figures are those of `attnseq generate`; validation during training stops 8 tokens after the longest training
    target, which is faster but hides outputs that run on. The loss and the metrics come from the Trainer as for
    validation; BLEU, chrF and exact match are then computed
    again against the raw reference texts (as `attnseq evaluate` does, so both give the same figures: decoded label
    ids would carry the tokenizer's normalisation, lower-casing and unknown characters). The hypotheses are written
    to `test_predictions.txt` in the order of the test set, and the decoding settings are recorded in the metrics.
    """
    from .inference import score_texts
    from .metrics import IGNORE_INDEX, TEXT_METRICS, aligned_prediction_ids

    ordered, order = sorted_by_source_length(tokenized_test)
    generation = test_generation_kwargs(data_args, training_args)
    # the length limit of `generate()` (and so of `attnseq generate`/`evaluate`), not the validation's shorter one
    max_length = default_max_length(trainer.model.config.position_limit)
    output = trainer.predict(ordered, metric_key_prefix="test", max_length=max_length, **generation)
    metrics = dict(output.metrics)
    for name, signature in getattr(trainer.compute_metrics, "signatures", {}).items():
        metrics[f"test_{name}_signature"] = signature  # how the score was computed, next to it
    metrics.update({f"test_{key}": value for key, value in generation.items()})
    names = [name for name in data_args.metric_names if name in TEXT_METRICS]
    if not trainer.is_world_process_zero() or len(raw_test) != len(ordered) or output.predictions is None:
        return metrics
    ids = aligned_prediction_ids(output.predictions, trainer.model.config.decoder_start_token_id)
    if ids.shape[0] != len(ordered):  # gathered from several processes in another layout: keep the Trainer's scores
        logger.warning("test predictions of %d rows for %d test rows: scored on decoded labels", len(ids), len(ordered))
        return metrics
    texts = tokenizer.batch_decode(
        [[token for token in row if token not in (IGNORE_INDEX, tokenizer.pad_token_id)] for row in ids.tolist()],
        skip_special_tokens=True,
    )
    hypotheses = [""] * len(texts)
    for position, row in enumerate(order):
        hypotheses[row] = texts[position]
    if names:
        scores = score_texts(hypotheses, raw_test["target"], names, tokenizer, lowercase=data_args.lowercase_metrics)
        metrics.update({f"test_{key}": value for key, value in scores.items()})
    os.makedirs(training_args.output_dir, exist_ok=True)
    with open(os.path.join(training_args.output_dir, TEST_PREDICTIONS_NAME), "w", encoding="utf-8") as handle:
        handle.writelines(hypothesis.replace("\n", " ") + "\n" for hypothesis in hypotheses)
    return metrics


TEST_PREDICTIONS_NAME = "test_predictions.txt"


class TimeBudgetCallback(TrainerCallback):
    """Stop training once `minutes` of wall-clock time (validation included) have passed since it began.

    The step that crosses the budget is the last: the model is then evaluated and saved as at the end of an epoch,
    so that `load_best_model_at_end` can choose among all checkpoints, and the job goes on to the test evaluation,
    the metrics and the card as after a complete run.
    """

    def __init__(self, minutes: float):
        if minutes <= 0:
            raise ValueError(f"--max_train_minutes must be positive, got {minutes!r}.")
        self.seconds = minutes * 60
        self.started: float | None = None
        self.stopped_at_step: int | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):
        if self.started is not None and time.monotonic() - self.started >= self.seconds:
            logger.warning(
                "stopping after step %d: the training budget of %.1f minutes (--max_train_minutes) is spent",
                state.global_step,
                self.seconds / 60,
            )
            self.stopped_at_step = state.global_step
            control.should_training_stop = True
            control.should_evaluate = args.eval_strategy != "no"
            control.should_save = args.save_strategy != "no"
        return control


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
            if _is_complete_checkpoint(folder):
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
    if not _is_complete_checkpoint(value):
        raise ValueError(
            f"--resume_from_checkpoint {value!r} is not a complete Trainer checkpoint: its {TRAINER_STATE_NAME} is "
            "missing or cut short (the Trainer writes it last). Pass an earlier checkpoint, or 'last'."
        )
    return value


def finished_run_message(checkpoint: str, training_args: Seq2SeqTrainingArguments) -> str | None:
    """What to say instead of training when `checkpoint` already reached this run's step budget, or None.

    The budget is `--max_steps` when set (positive), otherwise `--num_train_epochs`: resuming a run that spent
    it would train one step past the end and overwrite the final weights; raising the budget trains on.
    """
    import json

    with open(os.path.join(checkpoint, TRAINER_STATE_NAME), encoding="utf-8") as handle:
        state = json.load(handle)
    step, epoch = state.get("global_step", 0), state.get("epoch") or 0.0
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


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _is_complete_checkpoint(folder: str) -> bool:
    from ..folders import is_complete_checkpoint

    return is_complete_checkpoint(folder)


def run_hyperparameters(trainer, data_args: DataArguments) -> dict:
    """What the card lists under training hyperparameters: transformers' list, the tokenizer's training options,
    the time budget (and the step it stopped at) and the test decoding."""
    from ..tokenization.bpe import subword_training_options

    found = extract_hyperparameters_from_trainer(trainer)
    options = subword_training_options(trainer.processing_class)
    if options:
        found["tokenizer"] = ", ".join(f"{key} {value}" for key, value in options.items())
    if data_args.lowercase_metrics:
        found["metrics"] = "BLEU and chrF on lower-cased text"
    budget = next(
        (callback for callback in trainer.callback_handler.callbacks if isinstance(callback, TimeBudgetCallback)), None
    )
    if budget is not None:
        found["max_train_minutes"] = budget.seconds / 60
        if budget.stopped_at_step is not None:
            found["stopped_by_time_budget_at_step"] = budget.stopped_at_step
    return found


def dataset_description(data_args: DataArguments) -> dict:
    """How the card names the training data: a built-in task or local files (neither is a Hub dataset)."""
    if data_args.source_file is not None:
        pair = f"`{os.path.basename(data_args.source_file)}` + `{os.path.basename(data_args.target_file)}`"
        languages = f" ({data_args.source_lang} to {data_args.target_lang})" if data_args.source_lang else ""
        return {"name": f"local parallel files {pair}{languages}", "hub_id": None}
    if data_args.train_file is None:
        return {"name": f"the built-in `{data_args.task or DEFAULT_TASK}` task of attnseq", "hub_id": None}
    return {"name": f"local file `{os.path.basename(data_args.train_file)}`", "hub_id": None}


def print_examples(examples: list[tuple[str, str, str]]) -> None:
    width = max((len(source) for source, _, _ in examples), default=0)
    for source, prediction, reference in examples:
        mark = "ok" if prediction == reference else "WRONG"
        print(f"  {source:<{width}} -> {prediction:<14} (reference {reference}) {mark}")


class AttnseqTrainer(Seq2SeqTrainer):
    """`Seq2SeqTrainer` whose model card (also the one `push_to_hub` uploads) is attnseq's card."""

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None, **gen_kwargs):
        """`Seq2SeqTrainer.prediction_step`, keeping each row's summed token loss and token count (see
        `evaluation_loop`). (The generation defaults it fills into the model's generation config are the model's
        concern: `attnseq.configuration.generation`.)"""
        captured = {}

        def keep_logits(module, args, kwargs, output):
            if kwargs.get("labels") is not None and getattr(output, "logits", None) is not None:
                captured["logits"], captured["labels"] = output.logits, kwargs["labels"]

        hook = self.model.register_forward_hook(keep_logits, with_kwargs=True)
        try:
            result = super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys, **gen_kwargs)
        finally:
            hook.remove()
        rows = getattr(self, "_row_losses", None)
        if rows is not None and "logits" in captured:
            row_loss = token_losses_per_row(captured["logits"], captured["labels"], self.args.label_smoothing_factor)
            rows.append(self.accelerator.gather_for_metrics(row_loss).detach().cpu())
        return result

    def _get_eval_sampler(self, eval_dataset):
        """Evaluation reads its rows in order, whatever `train_sampling_strategy` says: the evaluation and test sets
        are already sorted by length, and predictions must come back in that order to be matched with their rows
        (transformers' `group_by_length` also shuffles evaluation batches).

        With several processes accelerate hands out the batches of this order in turn (batch i to process
        i mod N), so gathering them step by step gives the rows back in order (see `evaluation_loop`).
        """
        if eval_dataset is None or not hasattr(eval_dataset, "__len__"):
            return super()._get_eval_sampler(eval_dataset)
        from torch.utils.data import SequentialSampler

        return SequentialSampler(eval_dataset)

    def evaluation_loop(self, *args, **kwargs):
        """Transformers' evaluation loop, gathering predictions, labels and losses with `gather_for_metrics`.

        `Seq2SeqTrainer.evaluate`/`predict` switch the gathering to `accelerator.gather`, which keeps the rows that
        the last, uneven batches repeat to give every process a full share: with N processes a set of R rows came
        back as up to R + N * batch_size - 1 rows, some scored twice. `gather_for_metrics` drops the repeats, so
        every figure is computed on each row exactly once, in order, with one process or many.

        The loss is likewise each row's once: the mean over every target token of the set (transformers averages
        batch means, into which the repeated rows of the last batches enter).
        """
        import torch

        self.gather_function = self.accelerator.gather_for_metrics
        self._row_losses = []
        try:
            output = super().evaluation_loop(*args, **kwargs)
        finally:
            rows, self._row_losses = self._row_losses, None
        prefix = kwargs.get("metric_key_prefix", args[4] if len(args) > 4 else "eval")
        if rows and f"{prefix}_loss" in output.metrics:
            sums, counts = torch.cat(rows).double().sum(0)  # (2,): summed loss, token count
            output.metrics[f"{prefix}_loss"] = (sums / counts.clamp(min=1)).item()
        return output

    def train(self, *args, **kwargs):
        self.train_started = time.monotonic()
        return super().train(*args, **kwargs)

    def log(self, logs: dict[str, float], *args, **kwargs) -> None:
        """Every log line (and `trainer_state.json`'s log history) also says how many minutes of wall-clock time have
        passed since training began, so that a curve of validation BLEU against training time can be read off."""
        started = getattr(self, "train_started", None)
        if started is not None and self.state.global_step:
            logs = {**logs, "minutes": round((time.monotonic() - started) / 60, 2)}
        super().log(logs, *args, **kwargs)

    def create_model_card(self, **kwargs) -> None:
        if self.is_world_process_zero():
            from ..hub_cards.card import write_model_card_for_trainer

            write_model_card_for_trainer(self, **_card_arguments(kwargs))


def token_losses_per_row(logits, labels, label_smoothing: float = 0.0):
    """Each row's summed cross-entropy over its target tokens and its token count, `(batch, 2)`, from `logits`
    `(batch, length, vocab)` and `labels` `(batch, length)` padded with -100 (`label_smoothing` as the Trainer's
    `label_smoothing_factor`)."""
    import torch
    import torch.nn.functional as F

    losses = F.cross_entropy(
        logits.float().transpose(1, 2), labels, ignore_index=-100, reduction="none", label_smoothing=label_smoothing
    )
    counts = (labels != -100).sum(-1)
    return torch.stack([losses.sum(-1), counts.to(losses.dtype)], dim=-1)


def _card_arguments(kwargs: dict) -> dict:
    """The arguments of transformers' `create_model_card` that attnseq's card understands."""
    renamed = {"dataset": "dataset", "model_name": "model_name", "license": "license", "language": "language"}
    return {ours: kwargs[theirs] for theirs, ours in renamed.items() if kwargs.get(theirs) is not None}
