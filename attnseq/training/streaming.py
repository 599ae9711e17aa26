"""`attnseq train --streaming`: the pairs, tokenizer, model and token ids of a run that trains from a stream
(`attnseq.data.streaming`) instead of a cached data set."""

from __future__ import annotations

from datasets import DatasetDict
from transformers import Seq2SeqTrainingArguments

from ..data.streaming import load_stream_pairs, tokenize_stream
from .arguments import DataArguments
from .build import build_tokenizer_and_model, tokenized_splits

# the training stream is shuffled within a buffer of this many pairs (and its files' order), as a stream can be
SHUFFLE_BUFFER_ROWS = 10_000


def check_streaming_arguments(model_args, data_args: DataArguments, training_args: Seq2SeqTrainingArguments) -> None:
    """Refuse a streaming run that cannot be planned: one without `--max_steps` (a stream has no length to count
    epochs by), or a new model without `--tokenizer_train_lines` (its tokenizer trains on that many pairs)."""
    if training_args.max_steps is None or training_args.max_steps <= 0:
        raise ValueError(
            "--streaming needs --max_steps N: a stream has no length, so epochs (--num_train_epochs) cannot be counted."
        )
    if model_args.model_name_or_path is None and not data_args.tokenizer_train_lines:
        raise ValueError(
            "--streaming with a new model trains its tokenizer on the first --tokenizer_train_lines N pairs of the "
            "stream: pass --tokenizer_train_lines (e.g. 100000), or start from --model_name_or_path and its tokenizer."
        )


def prepare_streaming_run(model_args, data_args: DataArguments, training_args: Seq2SeqTrainingArguments):
    """`(pairs, tokenizer, model, tokenized)` of a streaming run.

    `pairs` holds the bounded validation and test pairs (and, under train, the tokenizer's training sample);
    `tokenized["train"]` is the token-id stream, `tokenized["validation"]`/`["test"]` ordinary `Dataset`s. The
    training pairs are shuffled within a buffer (`SHUFFLE_BUFFER_ROWS`, seeded by `--seed`). The generation length
    of evaluation, where not set, comes from the longest held-out target (a stream cannot be measured). Under
    several processes each one reads and tokenizes its own part of the stream: accelerate shards a
    `datasets.IterableDataset` by its files (or by batches) once batches are not dispatched from process 0, so
    the stream is not split here as well (`split_dataset_by_node` on top would leave rows unread).
    """
    check_streaming_arguments(model_args, data_args, training_args)
    streamed = load_stream_pairs(data_args)
    sample = streamed.take_train(data_args.tokenizer_train_lines or 1)
    pairs = DatasetDict({"train": sample, "validation": streamed.validation, "test": streamed.test})
    tokenizer, model = build_tokenizer_and_model(model_args, data_args, pairs)
    held_out = tokenized_splits(
        DatasetDict({"validation": pairs["validation"], "test": pairs["test"]}), tokenizer, model, data_args
    )
    limit = model.config.position_limit
    train = tokenize_stream(
        streamed.train.shuffle(seed=training_args.seed, buffer_size=SHUFFLE_BUFFER_ROWS),
        tokenizer,
        max_source_length=limit if data_args.max_source_length is None else data_args.max_source_length,
        max_target_length=limit if data_args.max_target_length is None else data_args.max_target_length,
        overlong=data_args.overlong,
    )
    if training_args.generation_max_length is None:
        training_args.generation_max_length = generation_length(held_out, limit)
    if training_args.world_size > 1:
        training_args.accelerator_config.dispatch_batches = False
    tokenized = {"train": train, "validation": held_out["validation"], "test": held_out["test"]}
    return pairs, tokenizer, model, tokenized


def generation_length(held_out: DatasetDict, position_limit: int | None) -> int:
    """The longest generated sequence of evaluation: the longest held-out target and 8 tokens more, within the
    model's position limit (the decoder start token and `position_limit` tokens)."""
    longest = max(len(ids) for split in held_out.values() for ids in split["labels"])
    length = longest + 8
    return length if position_limit is None else min(length, position_limit + 1)
