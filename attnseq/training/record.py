"""What `attnseq train` records about its run for the card (`attnseq.data.run_record`): the data, one example,
the hyperparameters (with the time budget, by reference to the run's callback) and the base model."""

from __future__ import annotations

import os

from transformers.modelcard import extract_hyperparameters_from_trainer

from ..data.loading import DEFAULT_TASK
from ..data.run_record import write_run_info
from .callbacks import TimeBudgetCallback


def record_run(
    trainer, model_args, data_args, pairs, budget: TimeBudgetCallback | None, averaged: dict | None = None
) -> None:
    """Write the run record into the output folder of `trainer` (`averaged`: the checkpoints the saved weights are
    the mean of, as `averaging.average_run_checkpoints` returns them)."""
    os.makedirs(trainer.args.output_dir, exist_ok=True)
    write_run_info(
        trainer.args.output_dir,
        dataset=dataset_description(data_args),
        example=pairs["test"][0] if "test" in pairs and len(pairs["test"]) else None,
        hyperparameters=run_hyperparameters(trainer, data_args, budget),
        base_model=model_args.model_name_or_path,
        language=[lang for lang in (data_args.source_lang, data_args.target_lang) if lang] or None,
        averaged=averaged,
    )


def run_hyperparameters(trainer, data_args, budget: TimeBudgetCallback | None) -> dict:
    """What the card lists under training hyperparameters: transformers' list, the tokenizer's training options,
    the time budget (and the step it stopped at) and the test decoding."""
    from ..tokenization.bpe import subword_training_options

    found = extract_hyperparameters_from_trainer(trainer)
    options = subword_training_options(trainer.processing_class)
    if options:
        found["tokenizer"] = ", ".join(f"{key} {value}" for key, value in options.items())
    if data_args.lowercase_metrics:
        found["metrics"] = "BLEU and chrF on lower-cased text"
    if budget is not None:
        found["max_train_minutes"] = budget.seconds / 60
        if budget.stopped_at_step is not None:
            found["stopped_by_time_budget_at_step"] = budget.stopped_at_step
    return found


def dataset_description(data_args) -> dict:
    """How the card names the training data: a built-in task, local files, or a data set (`--dataset_name`, a Hub
    dataset unless it is a local folder)."""
    if data_args.dataset_name is not None:
        return dataset_name_description(data_args)
    if data_args.source_file is not None:
        pair = f"`{os.path.basename(data_args.source_file)}` + `{os.path.basename(data_args.target_file)}`"
        languages = f" ({data_args.source_lang} to {data_args.target_lang})" if data_args.source_lang else ""
        return {"name": f"local parallel files {pair}{languages}", "hub_id": None}
    if data_args.train_file is None:
        return {"name": f"the built-in `{data_args.task or DEFAULT_TASK}` task of attnseq", "hub_id": None}
    return {"name": f"local file `{os.path.basename(data_args.train_file)}`", "hub_id": None}


def dataset_name_description(data_args) -> dict:
    """The card's words for `--dataset_name` (and its configuration): a Hub id links to the Hub, a local folder
    is named by its last component, a URL is shown as it is."""
    name, config = data_args.dataset_name, data_args.dataset_config_name
    local = os.path.exists(os.path.expanduser(name))
    shown = f"local data set `{os.path.basename(os.path.normpath(name))}`" if local else f"`{name}`"
    if config:
        shown += f" (configuration `{config}`)"
    return {"name": shown, "hub_id": None if local or "://" in name else name}
