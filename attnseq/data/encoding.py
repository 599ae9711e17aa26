"""From `source`/`target` text pairs to model inputs: tokenization with `datasets.map` and the collator.

`tokenize_pairs` encodes sources into `input_ids`/`attention_mask` and targets into `labels` (both ending
with eos) in batches, on `num_proc` processes. Tokenizers with a `tokenizers` backend (the subword tokenizers,
`SourceTargetTokenizer`'s two sides, `CharTokenizer` through `tokenizers_equivalent`) encode with the backend's
batched Rust `encode_batch`, giving the ids `tokenizer(texts)` / `tokenizer(text_target=texts)` give; others go
through the tokenizer's own `__call__`. On a file-backed dataset (one read by `attnseq.data.readers`) the result
is cached by the datasets library under a fingerprint of the input's fingerprint, the tokenizer's serialized
content and the options, so a later run with the same data and tokenizer reuses it whatever object the tokenizer
is. Pairs longer than the chosen limits are truncated, dropped or refused (`overlong`), always with a logged
count. `build_data_collator` pads batches with `DataCollatorForSeq2Seq`, labels with -100 so padding is ignored by
the loss. Statistics over token columns (`longest_sequence`, the unknown-token count) read Arrow a batch at a time.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
from functools import partial

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets import Dataset, DatasetDict
from tokenizers import Tokenizer
from transformers import DataCollatorForSeq2Seq, PreTrainedTokenizerFast

from ..tokenization.char import CharTokenizer
from ..tokenization.pair import SourceTargetTokenizer
from .progress import computed, served_from_cache
from .readers import COLUMNS, check_pairs
from .stored_rows import per_row, stored_rows, stored_view
from .word_memo import WordMemoEncoder, backend_encodings, replace_rows

logger = logging.getLogger(__name__)

OVERLONG_ACTIONS = ("truncate", "drop", "error")
LABEL_PAD_TOKEN_ID = -100
LENGTH_COLUMNS = {"source": "source_length", "target": "target_length"}
_SHOWN_ROWS = 5
# A split gets one more process per this many rows (up to `num_proc`): below it, starting a process costs more
# than the Rust encoding it would share.
MIN_ROWS_PER_PROCESS = 50_000
_STATISTICS_BATCH_ROWS = 100_000
_ENCODING_VERSION = 1


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
    batch_size: int = 10_000,
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
        num_proc: the most processes that tokenize a split (default 1); a split gets one per
            `MIN_ROWS_PER_PROCESS` rows, so small splits stay in this process.
        batch_size, load_from_cache_file: passed to `datasets.Dataset.map`.

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
    truncation = limits if overlong == "truncate" else {"source": None, "target": None}
    kept = list(COLUMNS) if keep_text else []
    backends = rust_backends(tokenizer, target_tokenizer)
    map_options = {}
    source, rows = dataset, _rows_to_read_in_stored_order(dataset) if backends is not None else None
    if backends is not None:
        encoders = tuple(WordMemoEncoder(backend) for backend in backends)
        encode = partial(_encode_arrow_batch, encoders=encoders, limits=truncation, keep_text=keep_text)
        if rows is not None:
            # A selection of a stored table (a split): encode its rows in stored order, put them in its order after.
            shown = np.zeros(len(dataset.data), dtype=bool)
            shown[rows] = True
            source, encode = stored_view(dataset), partial(_encode_shown_rows, encode=encode, shown=shown)
            map_options["with_indices"] = True
        source = source.with_format("arrow")
        map_options["new_fingerprint"] = encoding_fingerprint(
            dataset, backends, truncation, keep_text, stored_order=rows is not None
        )
    else:
        encode = partial(encode_batch, tokenizer=tokenizer, target_tokenizer=target_tokenizer, limits=truncation)
    processes = max(1, min(num_proc or 1, len(dataset) // MIN_ROWS_PER_PROCESS))
    if processes > 1:  # each process encodes on one thread; also quiets the tokenizers warning about forking
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    existing = set(_cache_files(dataset))
    mapped = source.map(
        encode,
        batched=True,
        batch_size=batch_size,
        num_proc=processes if processes > 1 else None,
        remove_columns=[column for column in source.column_names if column not in kept or backends is not None],
        load_from_cache_file=load_from_cache_file,
        desc=f"Tokenizing {name}",
        **map_options,
    )
    written = {file["filename"] for file in mapped.cache_files}
    if written and written <= existing:
        served_from_cache()
    else:
        computed()
    if rows is not None:
        in_stored_order = np.empty(len(rows), dtype=np.int64)  # row i of the split is row k of `mapped`
        in_stored_order[np.argsort(rows, kind="stable")] = np.arange(len(rows))
        # A list, and a fingerprint named here: `select` turns any other sequence into a list of numpy scalars and
        # hashes the indices (0.44 s against 0.11 s for 1 M rows); the order follows from the tokenized data's own
        # fingerprint, which covers the selection.
        order_fingerprint = hashlib.sha256(f"{mapped._fingerprint}/selection-order".encode()).hexdigest()[:16]
        mapped = mapped.select(in_stored_order.tolist(), new_fingerprint=order_fingerprint)
    encoded = mapped.with_format(None)
    encoded = _apply_length_limits(encoded, name, limits, overlong)
    _log_unknown_tokens(encoded, name, {"source": tokenizer, "target": target_tokenizer})
    return encoded


def rust_backends(tokenizer, target_tokenizer=None) -> tuple[Tokenizer, Tokenizer] | None:
    """The `tokenizers.Tokenizer`s that encode sources and targets exactly as `tokenizer(texts)` and
    `target_tokenizer(text_target=texts)` do (copies, without truncation or padding), or None when a tokenizer
    has no such backend (a Python tokenizer, or a `CharTokenizer` with added tokens, which the `tokenizers`
    library would split differently)."""
    source = _rust_backend(tokenizer, target=False)
    target = _rust_backend(target_tokenizer or tokenizer, target=True)
    return None if source is None or target is None else (source, target)


def _rust_backend(tokenizer, target: bool) -> Tokenizer | None:
    if isinstance(tokenizer, SourceTargetTokenizer):
        backend = tokenizer.target_tokenizer if target else tokenizer.source_tokenizer
    elif isinstance(tokenizer, CharTokenizer):
        if tokenizer.user_added_tokens:
            return None
        backend = tokenizer.tokenizers_equivalent()
    elif isinstance(tokenizer, PreTrainedTokenizerFast):
        backend = tokenizer.backend_tokenizer
    else:
        return None
    backend = Tokenizer.from_str(backend.to_str())
    backend.no_truncation()
    backend.no_padding()
    backend.encode_special_tokens = bool(getattr(tokenizer, "split_special_tokens", False))
    return backend


def encoding_fingerprint(
    dataset: Dataset,
    backends: tuple[Tokenizer, Tokenizer],
    limits: dict,
    keep_text: bool,
    stored_order: bool = False,
) -> str:
    """The `datasets` fingerprint of a tokenized split: a hash of the input's fingerprint, both backends' serialized
    content and the options (and whether the rows are written in stored order), so the same data and tokenizer
    find the cached result in a later run."""
    content = {
        "version": _ENCODING_VERSION,
        "input": dataset._fingerprint,
        "backends": [backend.to_str() for backend in backends],
        "split_special_tokens": [backend.encode_special_tokens for backend in backends],
        "limits": limits,
        "keep_text": keep_text,
        "stored_order": stored_order,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def longest_sequence(dataset: Dataset, column: str) -> int:
    """The most tokens of any row of a list column (e.g. `labels`), read from the stored table a batch at a time;
    0 for an empty dataset."""
    lengths = per_row(dataset, column, lambda values: pc.list_value_length(values).to_numpy(zero_copy_only=False))
    return int(lengths.max()) if len(lengths) else 0


def _cache_files(dataset: Dataset) -> list[str]:
    """The files of the folder where `datasets.map` writes the cache files of `dataset` (none in memory)."""
    if not dataset.cache_files:
        return []
    folder = os.path.dirname(dataset.cache_files[0]["filename"])
    return glob.glob(os.path.join(glob.escape(folder), "*.arrow"))


def _rows_to_read_in_stored_order(dataset: Dataset) -> np.ndarray | None:
    """The stored rows of a large selection that shows each of them at most once and at least half of the stored
    table (a training split), which is then tokenized in stored order; None for any other dataset."""
    rows = stored_rows(dataset)
    if rows is None or len(rows) < MIN_ROWS_PER_PROCESS or 2 * len(rows) < len(dataset.data):
        return None
    return rows if np.bincount(rows).max(initial=0) <= 1 else None


def _encode_shown_rows(batch: pa.Table, indices: list[int], encode, shown: np.ndarray) -> pa.Table:
    """`encode` of the rows of a stored batch that the selection being tokenized shows (`shown[row]`)."""
    return encode(batch.filter(pa.array(shown[np.asarray(indices)])))


def _encode_arrow_batch(
    batch: pa.Table, encoders: tuple[WordMemoEncoder, WordMemoEncoder], limits: dict, keep_text: bool
):
    """Encode one Arrow batch with the Rust backends (`encode_batch`, through `WordMemoEncoder`, which gives the
    same ids from remembered words); rows over a limit are encoded again with the backend's truncation, which
    keeps eos as the tokenizer's does. Returns an Arrow table of `input_ids`, `attention_mask`, `labels`, the
    untruncated lengths (and the text columns with `keep_text`)."""
    columns = {}
    for side, encoder, column in (("source", encoders[0], "input_ids"), ("target", encoders[1], "labels")):
        backend = encoder.backend
        ids = encoder.encode_arrow(batch[side])
        lengths = pc.list_value_length(ids).to_numpy().astype(np.int32)
        limit = limits[side]
        if limit is not None and (lengths > limit).any():
            rows = np.flatnonzero(lengths > limit)
            truncating = Tokenizer.from_str(backend.to_str())
            truncating.encode_special_tokens = backend.encode_special_tokens
            truncating.enable_truncation(max_length=limit)
            texts = batch[side].take(pa.array(rows)).to_pylist()
            ids = replace_rows(ids, rows, [encoding.ids for encoding in backend_encodings(truncating, texts)])
        columns[column] = ids
        columns[LENGTH_COLUMNS[side]] = pa.array(lengths)
    columns["attention_mask"] = pa.ListArray.from_arrays(
        columns["input_ids"].offsets, pa.array(np.ones(len(columns["input_ids"].values), dtype=np.int8))
    )
    order = ["input_ids", "attention_mask", "labels", *LENGTH_COLUMNS.values()]
    if keep_text:
        order = [*COLUMNS, *order]
        columns.update({side: batch[side] for side in COLUMNS})
    return pa.table({name: columns[name] for name in order})


def encode_batch(batch: dict, tokenizer, target_tokenizer, limits: dict) -> dict:
    """Encode one batch (`{"source": [str], "target": [str]}`) with the tokenizers' own call; rows over a limit in
    `limits` are encoded again with the tokenizer's truncation. The untruncated lengths are returned too (columns
    `LENGTH_COLUMNS`), for counting, dropping or refusing."""
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
        LENGTH_COLUMNS["source"]: lengths["source"],
        LENGTH_COLUMNS["target"]: lengths["target"],
    }


def _apply_length_limits(encoded: Dataset, name: str, limits: dict, overlong: str) -> Dataset:
    """Count, report and act on the rows whose untruncated length exceeds a limit; drop the length columns."""
    lengths = {side: _int_column(encoded, column) for side, column in LENGTH_COLUMNS.items()}
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
    encoded = encoded.remove_columns(list(LENGTH_COLUMNS.values()))
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


def _int_column(dataset: Dataset, column: str) -> np.ndarray:
    """An integer column as one numpy array, in the dataset's order, read from the stored table a batch at a
    time."""
    return per_row(dataset, column, lambda values: values.to_numpy())


def _unknown_per_row(sequences: pa.Array, unk: int) -> np.ndarray:
    """How many `unk` ids each row of a list array holds."""
    unknown = pc.equal(pc.list_flatten(sequences), unk)
    if not pc.any(unknown).as_py():
        return np.zeros(len(sequences), dtype=np.int64)
    parents = pc.list_parent_indices(sequences).to_numpy()
    return np.bincount(parents[unknown.to_numpy(zero_copy_only=False)], minlength=len(sequences))


def _log_unknown_tokens(encoded: Dataset, name: str, tokenizers: dict) -> None:
    """Log how many unk tokens the sources and targets of a tokenized split hold."""
    for side, column in (("source", "input_ids"), ("target", "labels")):
        unk = tokenizers[side].unk_token_id
        if unk is None or len(encoded) == 0:
            continue
        unknown = per_row(encoded, column, partial(_unknown_per_row, unk=unk))
        count, rows = int(unknown.sum()), int(np.count_nonzero(unknown))
        if count:
            logger.warning(
                "%s: %d %s token(s) in %d row(s) are unknown (%s): the tokenizer's vocabulary lacks them",
                name,
                count,
                side,
                rows,
                tokenizers[side].unk_token,
            )
