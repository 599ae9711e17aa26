"""Pairs from a stream (`--streaming`): a `datasets.IterableDataset` of the data set `--dataset_name` names, read
and tokenized on the fly while training runs, for corpora larger than the disk cache.

What must have a size is taken from the stream as bounded, ordinary `Dataset`s: the validation and test rows (the
first rows of the stream's validation and test splits; where it has none, the first rows of train, which training
then skips) and the pairs a new tokenizer trains on (the first `--tokenizer_train_lines` training pairs).
Tokenization (`tokenize_stream`) encodes as `attnseq.data.encoding.tokenize_pairs` does: eos-terminated sources and
targets, rows over the length limits truncated, dropped or refused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from itertools import islice

from datasets import Dataset, IterableDataset

from .encoding import LENGTH_COLUMNS, encode_batch
from .hub_datasets import check_dataset_flags, column_structure, named_splits, open_dataset, pair_columns
from .readers import COLUMNS, check_pairs, pair_problem

logger = logging.getLogger(__name__)

DEFAULT_HELD_OUT_ROWS = 1000  # validation and test rows taken from a stream without --max_eval_samples


@dataclass
class StreamedPairs:
    """The `source`/`target` pairs of a stream: `train` streamed, `validation` and `test` bounded `Dataset`s."""

    train: IterableDataset
    validation: Dataset
    test: Dataset

    def take_train(self, rows: int) -> Dataset:
        """The first `rows` training pairs as a `Dataset` (the sample a new tokenizer trains on)."""
        return _bounded(self.train, rows, "train", "error")


def load_stream_pairs(data_args) -> StreamedPairs:
    """The pairs of `--dataset_name` as a stream (see the module's docstring); `--max_eval_samples` (default
    `DEFAULT_HELD_OUT_ROWS`) bounds the validation and the test rows."""
    check_dataset_flags(data_args)
    if data_args.validation_split_percentage is not None:
        raise ValueError(
            "--validation_split_percentage needs the size of the data, which a stream does not have; with --streaming "
            "the validation rows are the first --max_eval_samples rows of the validation split (or of train)."
        )
    name = data_args.dataset_name
    splits = named_splits(open_dataset(name, data_args.dataset_config_name, streaming=True), name)
    selected = {split: select_stream_pairs(part, data_args, split) for split, part in splits.items()}
    rows = data_args.max_eval_samples or DEFAULT_HELD_OUT_ROWS
    train, held_out, skipped = selected.pop("train"), {}, 0
    for split in ("validation", "test"):
        if split in selected:
            held_out[split] = _bounded(selected[split], rows, split, data_args.bad_rows)
        else:  # the next rows of train, which training skips
            held_out[split] = _bounded(train.skip(skipped), rows, f"train (held out as {split})", data_args.bad_rows)
            skipped += len(held_out[split])
    if skipped:
        logger.warning("the stream has no validation/test split: its first %d training rows are held out", skipped)
        train = train.skip(skipped)
    return StreamedPairs(train=train, validation=held_out["validation"], test=held_out["test"])


def select_stream_pairs(stream: IterableDataset, data_args, split: str = "train") -> IterableDataset:
    """The stream's pair columns (chosen as `hub_datasets.pair_columns` does) as `source` and `target`; rows with a
    missing or empty value raise (`--bad_rows error`, naming the row) or are skipped (`--bad_rows drop`)."""
    first = next(iter(stream.take(1)), None)
    if first is None:
        raise ValueError(f"the {split} split of {data_args.dataset_name!r} is empty.")
    structure = column_structure(stream.features) if stream.features is not None else column_structure(row=first)
    columns = pair_columns(structure, data_args, split)
    pairs = stream.map(
        partial(_select_batch, columns=columns, split=split, bad_rows=data_args.bad_rows),
        batched=True,
        with_indices=True,
        remove_columns=list(first),
    )
    if data_args.bad_rows == "drop":
        pairs = pairs.filter(lambda source, target: pair_problem(source, target) is None, input_columns=list(COLUMNS))
    return pairs


def tokenize_stream(
    stream: IterableDataset,
    tokenizer,
    max_source_length: int | None = None,
    max_target_length: int | None = None,
    overlong: str = "truncate",
    batch_size: int = 1000,
) -> IterableDataset:
    """Token ids of a `source`/`target` stream, encoded batch by batch as it is read: `input_ids`, `attention_mask`
    and `labels`, each ending with eos (the encoding of `attnseq.data.encoding.tokenize_pairs`). A row over a limit
    is truncated (keeping eos), dropped, or raises (`overlong`)."""
    limits = {"source": max_source_length, "target": max_target_length}
    return stream.map(
        partial(encode_pairs_batch, tokenizer=tokenizer, limits=limits, overlong=overlong),
        batched=True,
        batch_size=batch_size,
        remove_columns=list(COLUMNS),
    )


def encode_pairs_batch(batch: dict, tokenizer, limits: dict, overlong: str = "truncate") -> dict:
    """Encode one batch of pairs (`{"source": [str], "target": [str]}`) into lists of token ids as
    `encoding.encode_batch` does; rows with a side over its limit in `limits` (`{"source": int | None, "target":
    int | None}`) are truncated, dropped or refused."""
    encoded = encode_batch(batch, tokenizer, tokenizer, limits if overlong == "truncate" else dict.fromkeys(limits))
    lengths = {side: encoded.pop(column) for side, column in LENGTH_COLUMNS.items()}
    if overlong == "truncate":
        return encoded
    kept = [True] * len(encoded["input_ids"])
    for side, limit in limits.items():
        for row, length in enumerate(lengths[side]):
            if limit is None or length <= limit:
                continue
            if overlong == "error":
                raise ValueError(
                    f"a streamed {side} of {length} tokens is longer than max_{side}_length={limit}: "
                    f"{batch[side][row]!r}. Raise the limit, or pass --overlong truncate or --overlong drop."
                )
            kept[row] = False
    return {column: [row for row, keep in zip(rows, kept) if keep] for column, rows in encoded.items()}


def _bounded(stream: IterableDataset, rows: int, name: str, bad_rows: str) -> Dataset:
    """The first `rows` pairs of a `source`/`target` stream as a checked `Dataset`."""
    taken = list(islice(iter(stream), rows))
    if not taken:
        raise ValueError(f"no pairs to hold out as {name}: the stream ends first.")
    dataset = Dataset.from_dict({column: [row[column] for row in taken] for column in COLUMNS})
    return check_pairs(dataset, bad_rows=bad_rows, name=name)


def _select_batch(batch: dict, indices: list[int], columns: tuple[str, str], split: str, bad_rows: str) -> dict:
    selected = {side: _column_values(batch, column) for side, column in zip(COLUMNS, columns)}
    if bad_rows == "error":
        for index, source, target in zip(indices, selected["source"], selected["target"]):
            problem = pair_problem(source, target)
            if problem:
                raise ValueError(
                    f"row {index} of the {split} stream is bad: {problem}; --bad_rows drop skips such rows."
                )
    return selected


def _column_values(batch: dict, column: str) -> list:
    """The values of a column of a batch; `a.b` is field `b` of the dict column `a`."""
    if column in batch:
        return batch[column]
    top, _, field = column.partition(".")
    return [value.get(field) if isinstance(value, dict) else None for value in batch[top]]
