"""Readers that turn text pairs into a `datasets.Dataset` with the string columns `source` and `target`.

Files are read with `datasets.load_dataset` (the `text` and `csv` builders), parallel files in batches of lines
into an Arrow file of their own, so the result is backed by an Arrow file in the datasets cache and every later
`map` over it is cached too; editing the file invalidates the cache. Each reader checks its rows: a row with a
missing, non-string or empty source or target is a *bad row*, reported with its index (row i of a line-based
file is line i + 1, or i + 2 below a header line; of a CSV file, record i after the header). With
`bad_rows="error"` (the default) a `ValueError` lists the first bad rows; with `bad_rows="drop"` they are dropped
and the count is logged.
"""

from __future__ import annotations

import bz2
import contextlib
import csv
import gzip
import hashlib
import itertools
import json
import logging
import lzma
import os
import shutil
import tempfile
from collections.abc import Callable
from functools import partial

import datasets.config
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets import Dataset, DatasetDict, Features, Value, load_dataset

from .progress import computed, served_from_cache

logger = logging.getLogger(__name__)

COLUMNS = ("source", "target")
BAD_ROW_ACTIONS = ("error", "drop")
FORMATS = ("book", "tsv", "csv", "jsonl")
EXTENSIONS = {".txt": "book", ".tsv": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl"}
# a file whose name ends in one of these is read through its decompressor (`pairs.tsv.gz` is a `.tsv` file)
COMPRESSIONS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
PAIR_FEATURES = Features({"source": Value("string"), "target": Value("string"), "problem": Value("string")})
_STRING_TYPES = ("string", "large_string")
_SHOWN_BAD_ROWS = 5
# a file's text encoding: UTF-8, with the byte-order mark that Windows tools write first dropped (it is not text)
TEXT_ENCODING = "utf-8-sig"
BYTE_ORDER_MARK = "\ufeff"
# The cache of parallel files: DATASETS_CACHE/attnseq_parallel/HASH/{pairs.arrow, info.json}; the version is part
# of the hash, so a change of what is written there reads the files again.
PARALLEL_CACHE_FOLDER = "attnseq_parallel"
_PARALLEL_CACHE_VERSION = 2  # 2: a byte-order mark before the first line is dropped
_PARALLEL_DATA_FILE = "pairs.arrow"
_PARALLEL_INFO_FILE = "info.json"
_PARALLEL_FEATURES = Features({"source": Value("string"), "target": Value("string"), "line": Value("int64")})
_READ_BATCH_LINES = 50_000
_CHECK_BATCH_ROWS = 100_000


class BadRowsError(ValueError):
    """Rows with a missing or empty value were found; the message lists them and says how to drop them.

    `summary` is the list of bad rows; `drop_hint` is how the caller asks for dropping them: the Python
    argument `bad_rows='drop'` by default, `--bad_rows drop` for `attnseq train` (`with_drop_hint`).
    """

    def __init__(self, summary: str, drop_hint: str = "bad_rows='drop'"):
        self.summary, self.drop_hint = summary, drop_hint
        super().__init__(f"{summary}. Fix them, or pass {drop_hint} to drop them.")

    def with_drop_hint(self, drop_hint: str) -> BadRowsError:
        """The same error, telling the user to pass `drop_hint` (e.g. the command-line flag) instead."""
        return BadRowsError(self.summary, drop_hint)


def first_non_utf8(lines, name: str) -> str | None:
    """Where the first bytes that are not UTF-8 are in `lines` (byte strings, each ending in its newline), as
    `"NAME: line L, byte offset B (0xE9) is not valid UTF-8 ..."`, or None if every line decodes."""
    offset = 0
    for number, line in enumerate(lines, start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as error:
            return (
                f"{name}: line {number}, byte offset {offset + error.start} (0x{line[error.start]:02x}) is not valid "
                f"UTF-8 ({error.reason}); re-encode it as UTF-8 (e.g. iconv -f latin1 -t utf-8)."
            )
        offset += len(line)
    return None


def _split_compression(path) -> tuple[str, Callable | None]:
    """The name of `path` without a compression extension, and the decompressor's `open` (None: not compressed)."""
    stem, extension = os.path.splitext(str(path))
    opener = COMPRESSIONS.get(extension.lower())
    return (stem, opener) if opener else (str(path), None)


def _open_bytes(path):
    opener = _split_compression(path)[1] or open
    return opener(path, "rb")


def _holds_no_bytes(path) -> bool:
    """Whether `path` holds no data (once decompressed)."""
    if _split_compression(path)[1] is None:
        return os.path.getsize(path) == 0
    with _open_bytes(path) as handle:
        return not handle.read(1)


def _open_text(path, newline: str | None = None):
    """`path` as UTF-8 text (a byte-order mark dropped), decompressed as its extension says."""
    opener = _split_compression(path)[1] or open
    return opener(path, "rt", encoding=TEXT_ENCODING, newline=newline)


@contextlib.contextmanager
def utf8_errors_named(*paths):
    """Turn a UTF-8 decoding failure inside the block (raised directly, or as the cause of a `datasets` error) into
    one `ValueError` naming the file, the line and the byte offset of the first bad bytes of `paths`."""
    try:
        yield
    except Exception as error:
        cause = error
        while cause is not None and not isinstance(cause, UnicodeDecodeError):
            cause = cause.__cause__ or cause.__context__
        if cause is None:
            raise
        for path in paths:
            with _open_bytes(path) as handle:
                found = first_non_utf8(handle, str(path))
            if found:
                raise ValueError(found) from None
        raise


def read_text_stream(stream, name: str = "<stdin>") -> list[str]:
    """The stripped lines of a byte stream (stdin's), each decoded as UTF-8 (a text stream is read as it is).

    Raises:
        ValueError: bytes that are not UTF-8, named by line and byte offset (never read as unknown tokens).
    """
    data = stream.read()
    if isinstance(data, str):
        return [line.strip() for line in data.removeprefix(BYTE_ORDER_MARK).splitlines()]
    lines = data.splitlines(keepends=True)
    found = first_non_utf8(lines, name)
    if found:
        raise ValueError(found)
    texts = [line.decode("utf-8").strip() for line in lines]
    if texts:
        texts[0] = texts[0].removeprefix(BYTE_ORDER_MARK).strip()
    return texts


def read_pairs(path: str | os.PathLike, format: str | None = None, **kwargs) -> Dataset:
    """Read a file of text pairs; `format` is one of `FORMATS`, or `None` to pick it from the file extension
    (`.txt` book, `.tsv`, `.csv`, `.jsonl`/`.json`, each also compressed: `.gz`, `.bz2`, `.xz`). `kwargs` go to the
    reader of that format."""
    if format is None:
        extension = os.path.splitext(_split_compression(path)[0])[1].lower()
        if extension not in EXTENSIONS:
            raise ValueError(
                f"cannot tell the format of {str(path)!r} from its extension {extension!r}; known extensions: "
                f"{', '.join(EXTENSIONS)} (also compressed: {', '.join(COMPRESSIONS)}). Pass format= one of "
                f"{', '.join(map(repr, FORMATS))}."
            )
        format = EXTENSIONS[extension]
    readers = {"book": read_book_file, "tsv": read_tsv, "csv": read_csv, "jsonl": read_jsonl}
    if format not in readers:
        raise ValueError(f"format={format!r} is not supported; allowed: {', '.join(map(repr, FORMATS))}.")
    with utf8_errors_named(path):
        return readers[format](path, **kwargs)


def read_parallel_files(
    source_path: str | os.PathLike,
    target_path: str | os.PathLike,
    bad_rows: str = "error",
    cache_dir: str | None = None,
) -> Dataset:
    """Read a pair of parallel text files as NMT corpora come (`train.de` + `train.en`): line i of one file
    translates line i of the other. A name ending in `.gz`, `.bz2` or `.xz` is decompressed. Lines are stripped of
    surrounding whitespace (and of a final `\\r`).

    The files are read once, in batches of lines, into an Arrow file in the datasets cache (`cache_dir`, default
    the datasets cache) under a folder named by a hash of both files' paths, sizes and modification times; the
    returned data set is memory-mapped from it, so a second read of the same files costs no parsing and later
    `map`s over it are cached by `datasets`. Touching or editing a file reads it again.

    Empty lines: a line that is empty on both sides (a blank separator, as in many corpora) is skipped with a
    logged count; a line empty on one side only is a bad row, reported with its line number or dropped as
    `bad_rows` says.

    Raises:
        ValueError: the files hold different numbers of lines (the message names both files and both counts),
            bytes that are not UTF-8 (named by file, line and byte offset), or a bad row with `bad_rows="error"`.
    """
    if bad_rows not in BAD_ROW_ACTIONS:
        raise ValueError(f"bad_rows={bad_rows!r} is not supported; allowed: {', '.join(map(repr, BAD_ROW_ACTIONS))}.")
    for path in (source_path, target_path):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no such file: {str(path)!r}")
    dataset, blank = _cached_parallel_lines(source_path, target_path, cache_dir)
    if len(dataset) == 0:
        raise ValueError(f"{str(source_path)!r} and {str(target_path)!r} hold no text (every line is empty).")
    if blank:
        logger.warning("skipped %d line(s) empty in both %s and %s", blank, source_path, target_path)
    name = f"{os.path.basename(str(source_path))} + {os.path.basename(str(target_path))}"
    found: list[tuple[int, str]] = []
    offset = 0
    for batch in dataset.with_format("arrow").iter(batch_size=_CHECK_BATCH_ROWS):
        sources, targets = batch["source"], batch["target"]
        empty_source = pc.equal(sources, "")
        bad = pc.or_(empty_source, pc.equal(targets, ""))
        for row in np.flatnonzero(bad.to_numpy(zero_copy_only=False)):
            path = source_path if empty_source[int(row)].as_py() else target_path
            found.append((offset + int(row), f"line {batch['line'][int(row)].as_py()} of {str(path)!r} is empty"))
        offset += batch.num_rows
    dataset = dataset.remove_columns("line")
    return _settle_bad_rows(dataset, found, bad_rows, name)


def _cached_parallel_lines(source_path, target_path, cache_dir: str | None) -> tuple[Dataset, int]:
    """The non-blank lines of two parallel files as a memory-mapped `Dataset` (columns `source`, `target` and
    `line`, the 1-based line number), written to the cache on the first call, and the count of skipped lines
    that are empty in both files."""
    stamps = []
    for path in (source_path, target_path):
        status = os.stat(path)
        stamps.append([os.path.abspath(str(path)), status.st_size, status.st_mtime_ns])
    key = hashlib.sha256(json.dumps([_PARALLEL_CACHE_VERSION, stamps]).encode()).hexdigest()[:32]
    root = os.path.join(cache_dir or datasets.config.HF_DATASETS_CACHE, PARALLEL_CACHE_FOLDER)
    folder = os.path.join(root, key)
    if os.path.isfile(os.path.join(folder, _PARALLEL_INFO_FILE)):
        served_from_cache()
    else:
        computed()
        os.makedirs(root, exist_ok=True)
        staging = tempfile.mkdtemp(dir=root, prefix=f"{key}.incomplete-")
        try:
            with utf8_errors_named(source_path, target_path):
                info = _write_parallel_lines(source_path, target_path, os.path.join(staging, _PARALLEL_DATA_FILE))
            with open(os.path.join(staging, _PARALLEL_INFO_FILE), "w", encoding="utf-8") as handle:
                json.dump({**info, "files": stamps}, handle)
            try:
                os.rename(staging, folder)
            except OSError:  # another process wrote the same folder meanwhile: use that one
                if not os.path.isfile(os.path.join(folder, _PARALLEL_INFO_FILE)):
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    with open(os.path.join(folder, _PARALLEL_INFO_FILE), encoding="utf-8") as handle:
        info = json.load(handle)
    return Dataset.from_file(os.path.join(folder, _PARALLEL_DATA_FILE)), info["blank_lines"]


def _write_parallel_lines(source_path, target_path, data_file: str) -> dict:
    """Read both files in step, a batch of lines at a time, and write their non-blank pairs as an Arrow stream
    to `data_file`; return the counts (`lines`, `blank_lines`). Never holds more than one batch of lines.

    Raises:
        ValueError: the files hold different numbers of lines.
        UnicodeDecodeError: bytes that are not UTF-8 (`utf8_errors_named` around the call names them).
    """
    counts = {"source": 0, "target": 0}
    blank = 0
    with (
        _open_bytes(source_path) as sources,
        _open_bytes(target_path) as targets,
        pa.OSFile(data_file, "wb") as sink,
        pa.ipc.new_stream(sink, _PARALLEL_FEATURES.arrow_schema) as writer,
    ):
        while True:
            source_lines = _decoded_lines(sources, _READ_BATCH_LINES)
            target_lines = _decoded_lines(targets, _READ_BATCH_LINES)
            rows = min(len(source_lines), len(target_lines))
            start = counts["source"]
            if start == 0:  # a byte-order mark before the first line is not part of its text
                for lines in (source_lines, target_lines):
                    if lines:
                        lines[0] = lines[0].removeprefix(BYTE_ORDER_MARK).strip()
            counts["source"] += len(source_lines)
            counts["target"] += len(target_lines)
            if rows:
                source_array = pa.array(source_lines[:rows], pa.string())
                target_array = pa.array(target_lines[:rows], pa.string())
                lines = pa.array(np.arange(start + 1, start + rows + 1, dtype=np.int64))
                table = pa.table([source_array, target_array, lines], schema=_PARALLEL_FEATURES.arrow_schema)
                kept = table.filter(pc.or_(pc.not_equal(source_array, ""), pc.not_equal(target_array, "")))
                blank += rows - kept.num_rows
                if kept.num_rows:
                    writer.write_table(kept)
            if len(source_lines) < _READ_BATCH_LINES or len(target_lines) < _READ_BATCH_LINES:
                break
        for side, handle in (("source", sources), ("target", targets)):  # the rest of the longer file
            while more := _decoded_lines(handle, _READ_BATCH_LINES):
                counts[side] += len(more)
    if counts["source"] != counts["target"]:
        raise ValueError(
            f"parallel files differ in length: {str(source_path)!r} has {counts['source']:,} lines and "
            f"{str(target_path)!r} has {counts['target']:,} lines; line i of one must translate line i of the other."
        )
    return {"lines": counts["source"], "blank_lines": blank}


def _decoded_lines(handle, count: int) -> list[str]:
    """The next `count` (or fewer, at the end) lines of a binary file, decoded as UTF-8 and stripped."""
    return [line.decode("utf-8").strip() for line in itertools.islice(handle, count)]


def read_text_lines(path: str | os.PathLike) -> list[str]:
    """The stripped lines of a UTF-8 text file, decompressed when its name ends in `.gz`, `.bz2` or `.xz`."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {str(path)!r}")
    with utf8_errors_named(path), _open_text(path, newline="") as handle:
        text = handle.read()
    lines = text.split("\n")
    if lines[-1] == "":  # the newline that ends the last line (or an empty file)
        lines.pop()
    return [line.strip() for line in lines]


def column_arguments(path: str | os.PathLike, source_column: str = "source", target_column: str = "target") -> dict:
    """The column arguments of `read_pairs` for a file named on the command line.

    Book files have no columns; a TSV file is read header-less (fields 0 and 1) unless other column
    names than the defaults are given, which then name fields of its header line.
    """
    extension = os.path.splitext(_split_compression(path)[0])[1].lower()
    if EXTENSIONS.get(extension) == "book":
        return {}
    if EXTENSIONS.get(extension) == "tsv" and (source_column, target_column) == COLUMNS:
        return {}
    return {"source_column": source_column, "target_column": target_column}


def read_book_file(path: str | os.PathLike, bad_rows: str = "error", cache_dir: str | None = None) -> Dataset:
    """Read the format of the book's `addition.txt`/`date.txt`: one pair a line, question and answer split at
    the first `_`, the spaces that pad both to a fixed width stripped (`"16+75  _91  "` -> `16+75`, `91`)."""
    return _read_lines(path, _parse_book_lines, bad_rows, cache_dir)


def read_tsv(
    path: str | os.PathLike,
    source_column: int | str = 0,
    target_column: int | str = 1,
    header: bool | None = None,
    bad_rows: str = "error",
    cache_dir: str | None = None,
) -> Dataset:
    """Read tab-separated pairs, one a line, with no quoting (a `"` is an ordinary character).

    Columns are field positions (default: source in field 0, target in field 1; further fields, such as an
    attribution column, are ignored) or names from a header line. `header=None` expects a header line when a
    column is given by name; `header=True` skips the first line in either case.
    """
    _check_distinct(source_column, target_column)
    if header is None:
        header = isinstance(source_column, str) or isinstance(target_column, str)
    positions = [source_column, target_column]
    if header:
        with _open_text(path) as handle:
            names = handle.readline().rstrip("\r\n").split("\t")
        positions = [_column_position(column, names, path) for column in positions]
    for column in positions:
        if isinstance(column, bool) or not isinstance(column, int) or column < 0:
            raise ValueError(
                f"TSV columns without a header line are field positions (0, 1, ...), got {column!r}; name columns "
                "only with a header line."
            )
    _check_distinct(*positions)
    parse = partial(_parse_tsv_lines, source_field=positions[0], target_field=positions[1])
    return _read_lines(path, parse, bad_rows, cache_dir, skip_first_line=header)


def read_csv(
    path: str | os.PathLike,
    source_column: str = "source",
    target_column: str = "target",
    bad_rows: str = "error",
    cache_dir: str | None = None,
) -> Dataset:
    """Read a CSV file with a header row (standard quoting; fields may span lines). Every value is read as
    text, so `"07"` stays `"07"` and `"NA"` stays `"NA"`; a missing value reads as empty (a bad row)."""
    with _open_text(path, newline="") as handle:
        records = csv.reader(handle)
        names = next(records, [])
        has_rows = next((record for record in records if record), None) is not None
    if not names:
        raise ValueError(f"{str(path)!r} is empty; it needs a header line and at least one pair.")
    _check_distinct(source_column, target_column)
    for column in (source_column, target_column):
        if column not in names:
            raise ValueError(f"column {column!r} is not in the header of {str(path)!r}; its columns are {names}.")
    if not has_rows:
        raise ValueError(f"{str(path)!r} has a header line but no pairs.")
    dataset = load_dataset(
        "csv",
        data_files=str(path),
        split="train",
        cache_dir=cache_dir,
        usecols=[source_column, target_column],
        features=Features({source_column: Value("string"), target_column: Value("string")}),
        keep_default_na=False,
        na_filter=False,
        encoding=TEXT_ENCODING,
    )
    dataset = dataset.rename_columns({source_column: "source", target_column: "target"})
    return check_pairs(dataset, bad_rows=bad_rows, name=str(path), row_labels=partial(_csv_record_lines, path))


def read_jsonl(
    path: str | os.PathLike,
    source_column: str = "source",
    target_column: str = "target",
    bad_rows: str = "error",
    cache_dir: str | None = None,
) -> Dataset:
    """Read JSON Lines: one object a line with string values under `source_column` and `target_column` (a dotted
    name is a field of a nested object, e.g. `translation.de` for WMT-style `{"translation": {"de": ..., "en": ...}}`).

    Lines are parsed one by one, so an invalid line, a missing key or a non-string value is a bad row with
    its index rather than a failure of the whole file.
    """
    _check_distinct(source_column, target_column)
    parse = partial(_parse_jsonl_lines, source_key=source_column, target_key=target_column)
    return _read_lines(path, parse, bad_rows, cache_dir)


def select_pairs(
    dataset: Dataset | DatasetDict,
    source_column: str = "source",
    target_column: str = "target",
    bad_rows: str = "error",
) -> Dataset | DatasetDict:
    """Take the pair columns of any `Dataset` or `DatasetDict` (e.g. a `load_dataset` result), rename them to
    `source` and `target`, drop the other columns and check the rows (of every split).

    A nested column is named with dots, e.g. `translation.de` for `{"translation": {"de": ..., "en": ...}}`.
    """
    if isinstance(dataset, DatasetDict):
        return DatasetDict(
            {
                split: _select_pair_columns(part, source_column, target_column, bad_rows, name=split)
                for split, part in dataset.items()
            }
        )
    if not isinstance(dataset, Dataset):
        raise TypeError(f"expected a datasets.Dataset or DatasetDict, got {type(dataset).__name__}.")
    return _select_pair_columns(dataset, source_column, target_column, bad_rows, name="dataset")


def check_pairs(
    dataset: Dataset,
    bad_rows: str = "error",
    name: str = "dataset",
    row_labels: Callable[[list[int]], list[str]] | None = None,
) -> Dataset:
    """Find the bad rows of a `source`/`target` dataset: a value that is missing (None) or empty, or a problem
    a reader recorded in a `problem` column (which is removed). Raise a `ValueError` listing the first bad
    rows (`bad_rows="error"`), or drop them and log how many (`bad_rows="drop"`).

    A bad row is named `row I` (its 0-based index) unless `row_labels` maps the indices listed to other names,
    as the file readers do with the rows' line numbers (`line N`, 1-based)."""
    if bad_rows not in BAD_ROW_ACTIONS:
        raise ValueError(f"bad_rows={bad_rows!r} is not supported; allowed: {', '.join(map(repr, BAD_ROW_ACTIONS))}.")
    missing = [column for column in COLUMNS if column not in dataset.column_names]
    if missing:
        raise ValueError(f"{name} has no column(s) {missing}; its columns are {dataset.column_names}.")
    columns = [column for column in (*COLUMNS, "problem") if column in dataset.column_names]
    found: list[tuple[int, str]] = []
    offset = 0
    if not _any_suspect_row(dataset, columns):  # the usual case, without gathering the rows of a selection
        return dataset.remove_columns("problem") if "problem" in columns else dataset
    for batch in dataset.select_columns(columns).with_format("arrow").iter(batch_size=_CHECK_BATCH_ROWS):
        suspect = _suspect_rows(batch)
        for row in np.flatnonzero(suspect):
            values = {column: batch[column][int(row)].as_py() for column in columns}
            reason = values.get("problem") or pair_problem(values["source"], values["target"])
            if reason:
                found.append((offset + int(row), reason))
        offset += batch.num_rows
    if "problem" in dataset.column_names:
        dataset = dataset.remove_columns("problem")
    return _settle_bad_rows(dataset, found, bad_rows, name, row_labels)


def _any_suspect_row(dataset: Dataset, columns: list[str]) -> bool:
    """Whether any row of the Arrow table under `dataset` may be bad (see `_suspect_rows`). The table is read as it
    is stored, a batch at a time, whatever rows a selection (`select`, `train_test_split`) of it shows: no suspect
    row there means none in the selection."""
    table = dataset.data.table.select(columns)
    return any(_suspect_rows(pa.Table.from_batches([batch])).any() for batch in table.to_batches(_CHECK_BATCH_ROWS))


def _suspect_rows(batch: pa.Table) -> np.ndarray:
    """A boolean mask of the rows of an Arrow batch that may be bad: a recorded problem, or a source or target
    that is missing, empty or not a string (only these rows are looked at one by one)."""
    suspect = np.zeros(batch.num_rows, dtype=bool)
    for column in COLUMNS:
        values = batch[column]
        if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
            return np.ones(batch.num_rows, dtype=bool)
        empty = pc.fill_null(pc.equal(values, ""), True)
        suspect |= empty.to_numpy(zero_copy_only=False)
    if "problem" in batch.column_names:
        suspect |= pc.is_valid(batch["problem"]).to_numpy(zero_copy_only=False)
    return suspect


def _settle_bad_rows(
    dataset: Dataset,
    found: list[tuple[int, str]],
    bad_rows: str,
    name: str,
    row_labels: Callable[[list[int]], list[str]] | None = None,
) -> Dataset:
    """Raise for the `found` bad rows (`(index, reason)`) or drop them, as `bad_rows` says (see `check_pairs`)."""
    if not found:
        return dataset
    shown = found[:_SHOWN_BAD_ROWS]
    labels = row_labels([index for index, _ in shown]) if row_labels else [f"row {index}" for index, _ in shown]
    listed = "; ".join(f"{label}: {reason}" for label, (_, reason) in zip(labels, shown))
    more = f" (first {_SHOWN_BAD_ROWS} shown)" if len(found) > _SHOWN_BAD_ROWS else ""
    if bad_rows == "error":
        raise BadRowsError(f"{len(found)} of {len(dataset)} rows of {name} are bad{more}: {listed}")
    if len(found) == len(dataset):
        raise ValueError(f"all {len(dataset)} rows of {name} are bad{more}, nothing is left: {listed}.")
    logger.warning("dropped %d bad rows of %d from %s%s: %s", len(found), len(dataset), name, more, listed)
    keep = np.ones(len(dataset), dtype=bool)
    keep[[index for index, _ in found]] = False
    return dataset.select(np.flatnonzero(keep))


def split_like_book(dataset: Dataset, seed: int = 1984) -> DatasetDict:
    """The book's train/test split: shuffle the rows as `numpy.random.seed(seed); numpy.random.shuffle(...)`
    does and keep the last `len // 10` rows as `test` (45,000 train and 5,000 test rows of the book's files)."""
    indices = np.arange(len(dataset))
    np.random.RandomState(seed).shuffle(indices)
    split_at = len(dataset) - len(dataset) // 10
    return DatasetDict({"train": dataset.select(indices[:split_at]), "test": dataset.select(indices[split_at:])})


def split_dataset(
    dataset: Dataset, validation_size: float | int = 0.1, test_size: float | int = 0.1, seed: int = 42
) -> DatasetDict:
    """Split one dataset at random into `train`, `validation` and `test`; each size is a fraction of all rows
    (a float between 0 and 1) or a row count (an int, or a whole float such as 4.0)."""
    total = len(dataset)
    test_count = _row_count("test_size", test_size, total)
    validation_count = _row_count("validation_size", validation_size, total)
    if test_count + validation_count >= total:
        raise ValueError(
            f"test_size={test_size!r} and validation_size={validation_size!r} leave no training rows of {total}."
        )
    first = dataset.train_test_split(test_size=test_count, seed=seed)
    second = first["train"].train_test_split(test_size=validation_count, seed=seed)
    return DatasetDict({"train": second["train"], "validation": second["test"], "test": first["test"]})


def _row_count(name: str, size: float | int, total: int) -> int:
    if isinstance(size, float) and 0 < size < 1:
        return max(1, round(size * total))
    if isinstance(size, float) and size >= 1 and size.is_integer():
        return int(size)  # a count given on the command line, where the option is a float
    if isinstance(size, int) and not isinstance(size, bool) and size > 0:
        return size
    raise ValueError(f"{name} must be a fraction between 0 and 1 or a positive row count, got {size!r}.")


def _read_lines(path, parse, bad_rows: str, cache_dir: str | None, skip_first_line: bool = False) -> Dataset:
    """Load a line-based file with the `text` builder and parse its lines into pairs with a batched map.

    Blank lines (nothing but whitespace) hold no pair and are skipped with a logged count, as blank lines of a CSV
    file or of parallel text files are; a bad row is reported with its line number in the file."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {str(path)!r}")
    if _holds_no_bytes(path):
        raise ValueError(f"{str(path)!r} is empty; it needs at least one pair.")
    lines = load_dataset("text", data_files=str(path), split="train", cache_dir=cache_dir, encoding=TEXT_ENCODING)
    if len(lines) == 0:  # a compressed empty file has a size
        raise ValueError(f"{str(path)!r} is empty; it needs at least one pair.")
    first_line = 1
    if skip_first_line:
        if len(lines) < 2:
            raise ValueError(f"{str(path)!r} has a header line but no pairs.")
        lines, first_line = lines.select(range(1, len(lines))), 2
    blank = _blank_line_rows(lines)
    if len(blank):
        if len(blank) == len(lines):
            raise ValueError(f"{str(path)!r} holds no text (every line is blank).")
        logger.warning("skipped %d blank line(s) of %s", len(blank), path)
        lines = lines.select(np.setdiff1d(np.arange(len(lines)), blank, assume_unique=True))
    pairs = lines.map(parse, batched=True, input_columns="text", remove_columns="text", features=PAIR_FEATURES)
    # row r of `pairs` is line r + first_line of the file, plus one line for each blank line skipped before it
    kept_before_blank = blank - np.arange(len(blank))

    def line_numbers(rows: list[int]) -> list[str]:
        skipped = np.searchsorted(kept_before_blank, rows, side="right")
        return [f"line {row + int(before) + first_line}" for row, before in zip(rows, skipped)]

    return check_pairs(pairs, bad_rows=bad_rows, name=str(path), row_labels=line_numbers)


def _blank_line_rows(lines: Dataset) -> np.ndarray:
    """The 0-based rows of the `text` column of `lines` (as it shows them) that hold only whitespace."""
    column = lines.with_format("arrow")
    found, offset = [], 0
    for batch in column.iter(batch_size=_CHECK_BATCH_ROWS):
        blank = pc.equal(pc.utf8_trim_whitespace(batch["text"]), "").to_numpy(zero_copy_only=False)
        found.append(np.flatnonzero(blank) + offset)
        offset += batch.num_rows
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def _csv_record_lines(path, rows: list[int]) -> list[str]:
    """`line N` for the CSV records at 0-based indices `rows` (after the header): the line each record starts on,
    read again with Python's `csv` (a quoted field may span lines); blank lines hold no record, as for pandas."""
    wanted, labels = set(rows), {}
    with _open_text(path, newline="") as handle:
        records = csv.reader(handle)
        next(records, None)
        index, start = 0, records.line_num + 1
        for record in records:
            if record:
                if index in wanted:
                    labels[index] = f"line {start}"
                    if len(labels) == len(wanted):
                        break
                index += 1
            start = records.line_num + 1
    return [labels.get(row, f"row {row}") for row in rows]


def _parse_book_lines(lines: list[str]) -> dict[str, list]:
    sources, targets, problems = [], [], []
    for line in lines:
        question, separator, answer = line.rstrip("\r").partition("_")
        sources.append(question.strip(" "))
        targets.append(answer.strip(" ") if separator else None)
        problems.append(None if separator else "no '_' between question and answer")
    return {"source": sources, "target": targets, "problem": problems}


def _parse_tsv_lines(lines: list[str], source_field: int, target_field: int) -> dict[str, list]:
    sources, targets, problems = [], [], []
    needed = max(source_field, target_field) + 1
    for line in lines:
        fields = line.rstrip("\r").split("\t")
        if len(fields) < needed:
            sources.append(None)
            targets.append(None)
            problems.append(f"{len(fields)} tab-separated field(s), needs at least {needed}")
        else:
            sources.append(fields[source_field])
            targets.append(fields[target_field])
            problems.append(None)
    return {"source": sources, "target": targets, "problem": problems}


def _parse_jsonl_lines(lines: list[str], source_key: str, target_key: str) -> dict[str, list]:
    sources, targets, problems = [], [], []
    for line in lines:
        values, problem = [None, None], None
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            problem = f"invalid JSON ({error.msg} at character {error.pos})"
        else:
            if not isinstance(record, dict):
                problem = f"a JSON value of type {type(record).__name__}, not an object"
            else:
                for position, (key, side) in enumerate(((source_key, "source"), (target_key, "target"))):
                    found, value = _json_field(record, key)
                    if not found:
                        problem = problem or f"no key {key!r} ({side})"
                    elif value is not None and not isinstance(value, str):
                        problem = (
                            problem or f"{side} ({key!r}) is of type {type(value).__name__}, not a string: {value!r}"
                        )
                    else:
                        values[position] = value
        sources.append(values[0])
        targets.append(values[1])
        problems.append(problem)
    return {"source": sources, "target": targets, "problem": problems}


def _json_field(record: dict, key: str) -> tuple[bool, object]:
    """`(True, value)` of `key` in a JSON object: the key itself, or a dotted path into nested objects
    (`translation.de` for `{"translation": {"de": ...}}`); `(False, None)` where there is neither."""
    if key in record:
        return True, record[key]
    value = record
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


def pair_problem(source, target) -> str | None:
    """What is wrong with one pair of values, or None."""
    for side, value in (("source", source), ("target", target)):
        if value is None:
            return f"{side} is missing (None)"
        if not isinstance(value, str):
            return f"{side} is of type {type(value).__name__}, not a string: {value!r}"
        if not value:
            return f"{side} is empty"
    return None


def _column_position(column: int | str, names: list[str], path) -> int:
    if isinstance(column, int):
        return column
    if column not in names:
        raise ValueError(f"column {column!r} is not in the header of {str(path)!r}; its columns are {names}.")
    return names.index(column)


def _check_distinct(source_column, target_column) -> None:
    if source_column == target_column:
        raise ValueError(f"source_column and target_column are both {source_column!r}; they must differ.")


def _select_pair_columns(dataset: Dataset, source_column: str, target_column: str, bad_rows: str, name: str) -> Dataset:
    _check_distinct(source_column, target_column)
    wanted = (source_column, target_column)
    if any(column not in dataset.column_names and "." in column for column in wanted):
        dataset = dataset.flatten()
    missing = [column for column in wanted if column not in dataset.column_names]
    if missing:
        raise ValueError(f"column(s) {missing} not in {name}; its columns are {dataset.column_names}.")
    dataset = dataset.select_columns(list(wanted))
    for column in wanted:
        dtype = getattr(dataset.features[column], "dtype", type(dataset.features[column]).__name__)
        if dtype == "null":
            dataset = dataset.cast_column(column, Value("string"))
        elif dtype not in _STRING_TYPES:
            raise ValueError(
                f"column {column!r} of {name} holds {dtype} values, not strings; convert it first, e.g. "
                f"dataset.cast_column({column!r}, datasets.Value('string'))."
            )
    dataset = dataset.rename_columns({source_column: "source", target_column: "target"})
    return check_pairs(dataset, bad_rows=bad_rows, name=name)


def iter_text_arrays(dataset: Dataset, column: str, limit: int | None = None, batch_size: int = 10_000):
    """The texts of one column of `dataset` (its first `limit` rows, or all), as Arrow string arrays of up to
    `batch_size`, in the data set's order: a whole column is never held as a Python list (e.g. to train a tokenizer
    on a sample)."""
    if limit is not None and limit < len(dataset):
        dataset = dataset.select(range(limit))
    for batch in dataset.select_columns([column]).with_format("arrow").iter(batch_size=batch_size):
        yield batch[column].combine_chunks()


def iter_texts(dataset: Dataset, column: str, limit: int | None = None, batch_size: int = 10_000):
    """The strings of `iter_text_arrays`, one at a time."""
    for texts in iter_text_arrays(dataset, column, limit, batch_size):
        yield from texts.to_pylist()
