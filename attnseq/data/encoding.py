"""From `source`/`target` text pairs to model inputs: tokenization with `datasets.map` and the collator.

`tokenize_pairs` encodes sources into `input_ids`/`attention_mask` and targets into `labels` (both ending
with eos) in batches; on a file-backed dataset (one read by `attnseq.data.readers`) the result is cached
by the datasets library and reused when nothing changed. Pairs longer than the chosen limits are truncated,
dropped or refused (`overlong`), always with a logged count. `build_data_collator` pads batches with
`DataCollatorForSeq2Seq`, labels with -100 so padding is ignored by the loss.
"""

from __future__ import annotations

import logging
from functools import partial

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets import Dataset, DatasetDict
from transformers import DataCollatorForSeq2Seq

from .readers import COLUMNS, check_pairs

logger = logging.getLogger(__name__)

OVERLONG_ACTIONS = ("truncate", "drop", "error")
LABEL_PAD_TOKEN_ID = -100
_LENGTH_COLUMNS = {"source": "source_length", "target": "target_length"}
_SHOWN_ROWS = 5


def tokenize_pairs(
    dataset: Dataset | DatasetDict,
    tokenizer,
    target_tokenizer=None,
    max_source_length: int | None = None,
    max_target_length: int | None = None,
    overlong: str = "truncate",
    bad_rows: str = "error",
    keep_text: bool = False,
    num_proc: int | None = None,
    batch_size: int = 1000,
    load_from_cache_file: bool | None = None,
) -> Dataset | DatasetDict:
    """Tokenize a `source`/`target` dataset (or every split of a `DatasetDict`) for a seq2seq model.

    Args:
        dataset: rows with string columns `source` and `target` (see `attnseq.data.readers`).
        tokenizer: encodes the sources, and the targets unless `target_tokenizer` is given.
        target_tokenizer: a separate tokenizer for the targets (a model with its own target vocabulary).
        max_source_length, max_target_length: the most tokens (eos included) of a source or target;
            `None` for no limit.
        overlong: what to do with a longer row: `"truncate"` it (the tokenizer's truncation, which keeps eos),
            `"drop"` it, or raise an `"error"` listing the first such rows with their indices.
        bad_rows: rows with a missing, non-string or empty source or target raise an `"error"` listing them,
            or are dropped (`"drop"`) with a logged count (see `readers.check_pairs`).
        keep_text: keep the `source` and `target` text columns next to the token columns.
        num_proc, batch_size, load_from_cache_file: passed to `datasets.Dataset.map`.

    Returns:
        The same kind of object with columns `input_ids`, `attention_mask` and `labels` (and the text columns
        with `keep_text=True`). Unknown tokens (unk) in the result are counted and logged.
    """
    if overlong not in OVERLONG_ACTIONS:
        raise ValueError(f"overlong={overlong!r} is not supported; allowed: {', '.join(map(repr, OVERLONG_ACTIONS))}.")
    limits = {"source": max_source_length, "target": max_target_length}
    for side, limit in limits.items():
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 2):
            raise ValueError(
                f"max_{side}_length must be None or an integer of at least 2 (eos included), got {limit!r}."
            )
    options = dict(
        tokenizer=tokenizer,
        target_tokenizer=target_tokenizer or tokenizer,
        limits=limits,
        overlong=overlong,
        bad_rows=bad_rows,
        keep_text=keep_text,
        num_proc=num_proc,
        batch_size=batch_size,
        load_from_cache_file=load_from_cache_file,
    )
    if isinstance(dataset, DatasetDict):
        return DatasetDict({split: _tokenize_split(part, name=split, **options) for split, part in dataset.items()})
    return _tokenize_split(dataset, name="dataset", **options)


def build_data_collator(tokenizer, model=None, pad_to_multiple_of: int | None = None) -> DataCollatorForSeq2Seq:
    """The batch collator for `Seq2SeqTrainer`: pads `input_ids`/`attention_mask` with the tokenizer's pad id
    and `labels` with -100; given the model, it also builds `decoder_input_ids` from the labels."""
    return DataCollatorForSeq2Seq(
        tokenizer,
        model=model,
        label_pad_token_id=LABEL_PAD_TOKEN_ID,
        pad_to_multiple_of=pad_to_multiple_of,
        return_tensors="pt",
    )


def _tokenize_split(
    dataset: Dataset,
    name: str,
    tokenizer,
    target_tokenizer,
    limits: dict,
    overlong: str,
    bad_rows: str,
    keep_text: bool,
    num_proc,
    batch_size: int,
    load_from_cache_file,
) -> Dataset:
    missing = [column for column in COLUMNS if column not in dataset.column_names]
    if missing:
        raise ValueError(
            f"{name} has no column(s) {missing} (its columns are {dataset.column_names}); read it with "
            "attnseq.data.readers (e.g. select_pairs) first."
        )
    dataset = check_pairs(dataset, bad_rows=bad_rows, name=name)
    encode = partial(
        _encode_batch,
        tokenizer=tokenizer,
        target_tokenizer=target_tokenizer,
        limits=limits if overlong == "truncate" else {"source": None, "target": None},
    )
    kept = list(COLUMNS) if keep_text else []
    encoded = dataset.map(
        encode,
        batched=True,
        batch_size=batch_size,
        num_proc=num_proc,
        remove_columns=[column for column in dataset.column_names if column not in kept],
        load_from_cache_file=load_from_cache_file,
        desc=f"Tokenizing {name}",
    )
    encoded = _apply_length_limits(encoded, name, limits, overlong)
    _log_unknown_tokens(encoded, name, {"source": tokenizer, "target": target_tokenizer})
    return encoded


def _encode_batch(batch: dict, tokenizer, target_tokenizer, limits: dict) -> dict:
    """Encode one batch; rows over a limit in `limits` are encoded again with the tokenizer's truncation. The
    untruncated lengths are returned too, for counting."""
    sources = tokenizer(batch["source"])["input_ids"]
    targets = target_tokenizer(text_target=batch["target"])["input_ids"]
    lengths = {"source": [len(ids) for ids in sources], "target": [len(ids) for ids in targets]}
    for side, ids, side_tokenizer in (("source", sources, tokenizer), ("target", targets, target_tokenizer)):
        limit = limits[side]
        rows = [row for row, length in enumerate(lengths[side]) if limit is not None and length > limit]
        if rows:
            texts = [batch[side][row] for row in rows]
            text_argument = {"text": texts} if side == "source" else {"text_target": texts}
            shortened = side_tokenizer(**text_argument, truncation=True, max_length=limit)["input_ids"]
            for row, row_ids in zip(rows, shortened):
                ids[row] = row_ids
    return {
        "input_ids": sources,
        "attention_mask": [[1] * len(ids) for ids in sources],
        "labels": targets,
        _LENGTH_COLUMNS["source"]: lengths["source"],
        _LENGTH_COLUMNS["target"]: lengths["target"],
    }


def _apply_length_limits(encoded: Dataset, name: str, limits: dict, overlong: str) -> Dataset:
    """Count, report and act on the rows whose untruncated length exceeds a limit; drop the length columns."""
    lengths = {side: encoded.with_format("numpy")[column] for side, column in _LENGTH_COLUMNS.items()}
    over = np.zeros(len(encoded), dtype=bool)
    described = []
    for side, limit in limits.items():
        if limit is None:
            continue
        side_over = np.asarray(lengths[side]) > limit
        over |= side_over
        if side_over.any():
            rows = np.flatnonzero(side_over)
            shown = ", ".join(f"row {row} ({lengths[side][row]} tokens)" for row in rows[:_SHOWN_ROWS])
            described.append(f"{len(rows)} {side}(s) longer than max_{side}_length={limit}: {shown}")
    encoded = encoded.remove_columns(list(_LENGTH_COLUMNS.values()))
    if not over.any():
        return encoded
    report = f"{name}: " + "; ".join(described)
    if overlong == "error":
        raise ValueError(f"{report}. Raise the limit, or pass overlong='truncate' or overlong='drop'.")
    if overlong == "drop":
        logger.warning("dropped %d of %d rows of %s", int(over.sum()), len(encoded), report)
        return encoded.select(np.flatnonzero(~over))
    logger.warning("truncated %d of %d rows of %s", int(over.sum()), len(encoded), report)
    return encoded


def _log_unknown_tokens(encoded: Dataset, name: str, tokenizers: dict) -> None:
    """Log how many unk tokens the sources and targets of a tokenized split hold."""
    for side, column in (("source", "input_ids"), ("target", "labels")):
        unk = tokenizers[side].unk_token_id
        if unk is None or len(encoded) == 0:
            continue
        sequences = encoded.with_format("arrow")[column]
        if isinstance(sequences, pa.ChunkedArray):
            sequences = sequences.combine_chunks()
        unknown = pc.equal(pc.list_flatten(sequences), unk)
        count = pc.sum(unknown).as_py() or 0
        if count:
            rows = pc.count_distinct(pc.filter(pc.list_parent_indices(sequences), unknown)).as_py()
            logger.warning(
                "%s: %d %s token(s) in %d row(s) are unknown (%s): the tokenizer's vocabulary lacks them",
                name,
                count,
                side,
                rows,
                tokenizers[side].unk_token,
            )
