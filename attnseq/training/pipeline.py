"""From arguments to a trained, evaluated and saved checkpoint, on `Seq2SeqTrainer`.

`load_pairs` gets the text pairs (a built-in task or files), `build_tokenizer_and_model` makes a new
model (or loads a checkpoint to fine-tune), `build_trainer` wires `Seq2SeqTrainer` with the collator
and the packaged metrics, and `train` runs the whole job: train, evaluate on the test split, print a
few decoded examples, save model, tokenizer, generation config, metrics and the model card.
"""

from __future__ import annotations

import logging
import os

from datasets import DatasetDict
from transformers import (
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    EarlyStoppingCallback,
    PreTrainedModel,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
)

from ..configuration.lstm import Seq2SeqLSTMConfig
from ..configuration.transformer import Seq2SeqTransformerConfig
from ..modeling.lstm import Seq2SeqLSTMForConditionalGeneration
from ..modeling.transformer import Seq2SeqTransformerForConditionalGeneration
from ..tokenization.bpe import train_subword_tokenizer
from ..tokenization.char import CharTokenizer
from .arguments import DataArguments, config_overrides
from .data import build_data_collator, tokenize_pairs
from .metrics import METRICS, build_compute_metrics
from .readers import column_arguments, read_pairs, split_dataset
from .tasks import load_task

logger = logging.getLogger(__name__)

FAMILIES = {
    "lstm": (Seq2SeqLSTMConfig, Seq2SeqLSTMForConditionalGeneration),
    "transformer": (Seq2SeqTransformerConfig, Seq2SeqTransformerForConditionalGeneration),
}
DEFAULT_TASK = "date"


def load_pairs(data_args: DataArguments) -> DatasetDict:
    """The `source`/`target` pairs as a `DatasetDict` with train, validation and test splits."""
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
        raise ValueError("Pass either --task (a built-in task) or --train_file, not both.")

    def read_file(path):
        columns = column_arguments(path, data_args.source_column, data_args.target_column)
        return read_pairs(path, bad_rows=data_args.bad_rows, **columns)

    train = read_file(data_args.train_file)
    files = {"validation": data_args.validation_file, "test": data_args.test_file}
    splits = {name: read_file(path) for name, path in files.items() if path is not None}
    missing = [name for name, path in files.items() if path is None]
    if len(missing) == 2:
        return split_dataset(train, data_args.validation_size, data_args.test_size, seed=data_args.task_seed)
    if missing:
        size = data_args.validation_size if missing[0] == "validation" else data_args.test_size
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

    if data_args.tokenizer == "char":
        tokenizer = CharTokenizer.from_dataset(pairs["train"], columns=("source", "target"))
    else:
        texts = (text for column in ("source", "target") for text in pairs["train"][column])
        tokenizer = train_subword_tokenizer(texts, vocab_size=data_args.subword_vocab_size, model=data_args.tokenizer)
    config_class, model_class = FAMILIES[model_args.model]
    config = config_class(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.bos_token_id,
        **config_overrides(model_args),
    )
    return tokenizer, model_class(config)


def tokenized_splits(pairs: DatasetDict, tokenizer, model: PreTrainedModel, data_args: DataArguments) -> DatasetDict:
    """Token ids of every split; the source limit defaults to the model's position limit if it has one."""
    max_source_length = data_args.max_source_length
    limit = getattr(model.config, "max_position_embeddings", None)
    if max_source_length is None and limit is not None and getattr(model.config, "position_embedding", "") == "learned":
        max_source_length = limit
    return tokenize_pairs(
        pairs,
        tokenizer,
        max_source_length=max_source_length,
        max_target_length=data_args.max_target_length,
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
    evaluation = tokenized.get("validation")
    if evaluation is not None and data_args.max_eval_samples is not None:
        evaluation = evaluation.select(range(min(len(evaluation), data_args.max_eval_samples)))
    callbacks = []
    if data_args.early_stopping_patience is not None:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=data_args.early_stopping_patience))
    return AttnseqTrainer(
        model=model,
        args=training_args,
        train_dataset=tokenized["train"],
        eval_dataset=evaluation,
        processing_class=tokenizer,
        data_collator=build_data_collator(tokenizer, model),
        compute_metrics=build_compute_metrics(
            tokenizer, metrics=data_args.metric_names, decoder_start_token_id=model.config.decoder_start_token_id
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
    """The whole job of `attnseq train`; returns the test metrics."""
    pairs = load_pairs(data_args)
    tokenizer, model = build_tokenizer_and_model(model_args, data_args, pairs)
    tokenized = tokenized_splits(pairs, tokenizer, model, data_args)
    trainer = build_trainer(model, tokenizer, tokenized, training_args, data_args)
    if trainer.is_world_process_zero():
        parameters = sum(p.numel() for p in model.parameters())
        print(f"{type(model).__name__}: {parameters:,} parameters; {len(tokenized['train']):,} training pairs")
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    metrics = {}
    if "test" in tokenized and len(tokenized["test"]):
        metrics = trainer.evaluate(tokenized["test"], metric_key_prefix="test")
        trainer.log_metrics("test", metrics)
        trainer.save_metrics("test", metrics)
    trainer.save_model(training_args.output_dir)
    trainer.save_state()
    if trainer.is_world_process_zero():
        if "test" in pairs and data_args.show_examples:
            examples = decode_examples(
                trainer.model, tokenizer, pairs["test"], data_args.show_examples, training_args.generation_max_length
            )
            print_examples(examples)
        trainer.card_kwargs = {
            "dataset": dataset_name(data_args),
            "metrics": {key: value for key, value in metrics.items() if key.removeprefix("test_") in METRICS},
            "example": pairs["test"][0] if "test" in pairs and len(pairs["test"]) else None,
        }
        trainer.create_model_card()
    return metrics


def dataset_name(data_args: DataArguments) -> str:
    if data_args.train_file is None:
        return f"attnseq/{data_args.task or DEFAULT_TASK}"
    return os.path.basename(data_args.train_file)


def print_examples(examples: list[tuple[str, str, str]]) -> None:
    width = max((len(source) for source, _, _ in examples), default=0)
    for source, prediction, reference in examples:
        mark = "ok" if prediction == reference else "WRONG"
        print(f"  {source:<{width}} -> {prediction:<14} (reference {reference}) {mark}")


class AttnseqTrainer(Seq2SeqTrainer):
    """`Seq2SeqTrainer` whose model card (also the one `push_to_hub` uploads) is attnseq's card."""

    card_kwargs: dict = {}

    def create_model_card(self, **kwargs) -> None:
        if self.is_world_process_zero():
            from ..hub_cards.card import write_model_card_for_trainer

            write_model_card_for_trainer(self, **{**self.card_kwargs, **_card_arguments(kwargs)})


def _card_arguments(kwargs: dict) -> dict:
    """The arguments of transformers' `create_model_card` that attnseq's card understands."""
    renamed = {"dataset": "dataset", "model_name": "model_name", "license": "license", "language": "language"}
    return {ours: kwargs[theirs] for theirs, ours in renamed.items() if kwargs.get(theirs) is not None}
