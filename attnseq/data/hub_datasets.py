"""Pairs from a data set that `datasets.load_dataset` opens (`--dataset_name`): a local data-set folder (parquet,
JSON Lines or CSV files named by split, or a `save_to_disk` folder) or a Hub repository.

The pair columns are a `translation` column of per-language texts (`{"translation": {"de": ..., "en": ...}}`, as
WMT's data sets hold them) whose sides `--source_lang`/`--target_lang` pick, or the columns `--source_column` and
`--target_column` name (flat, or dotted for a nested field: `pair.src`). The data set's splits are mapped to train,
validation and test by their usual names; a missing validation split is split off train
(`--validation_split_percentage`, else `--validation_size`), a missing test split too (`--test_size`).

The data settings are any object with the fields of `attnseq.training.arguments.DataArguments`; the messages name
the command-line flags.
"""

from __future__ import annotations

import logging
import os

from datasets import Dataset, DatasetDict, IterableDatasetDict, load_dataset, load_from_disk

from .readers import select_pairs

logger = logging.getLogger(__name__)

# split -> the names a data set may give it, in order of preference
SPLIT_NAMES = {
    "train": ("train", "training"),
    "validation": ("validation", "valid", "dev", "val", "eval"),
    "test": ("test", "testing"),
}
TRANSLATION_COLUMN = "translation"
DEFAULT_COLUMNS = ("source", "target")
# flags that name another source of pairs
_OTHER_SOURCES = (
    "task",
    "train_file",
    "validation_file",
    "test_file",
    "source_file",
    "target_file",
    "validation_source_file",
    "validation_target_file",
    "test_source_file",
    "test_target_file",
)
# extension of a single data file -> the `load_dataset` builder that reads it
FILE_BUILDERS = {".parquet": "parquet", ".jsonl": "json", ".json": "json", ".csv": "csv", ".arrow": "arrow"}
_SAVED_MARKERS = ("dataset_dict.json", "state.json")  # what `save_to_disk` writes at a folder's top


def check_dataset_flags(data_args) -> None:
    """Refuse `--dataset_name` together with another source of pairs, or `--streaming` without it."""
    if data_args.dataset_name is None:
        if data_args.streaming:
            raise ValueError("--streaming reads a data set named by --dataset_name; pass --dataset_name NAME_OR_DIR.")
        if data_args.dataset_config_name is not None:
            raise ValueError("--dataset_config_name names a configuration of --dataset_name; pass --dataset_name too.")
        return
    others = [name for name in _OTHER_SOURCES if getattr(data_args, name, None) is not None]
    if others:
        flags = ", ".join(f"--{name}" for name in others)
        raise ValueError(
            f"--dataset_name reads all splits from the data set; it cannot be combined with {flags} (pass one of "
            "--task, --train_file, --source_file/--target_file and --dataset_name)."
        )
    percentage = data_args.validation_split_percentage
    if percentage is not None and not 0 < percentage < 100:
        raise ValueError(f"--validation_split_percentage must be above 0 and below 100, got {percentage!r}.")


def open_dataset(name: str, config_name: str | None = None, streaming: bool = False):
    """All splits of the data set `name` (a local folder or a Hub repository id) as `load_dataset` gives them: a
    `DatasetDict`, or an `IterableDatasetDict` with `streaming`. A `save_to_disk` folder is read with
    `load_from_disk` (and streamed from its Arrow files); one data file (a local path or a URL such as
    `hf://datasets/owner/name/train.parquet`, of an extension in `FILE_BUILDERS`) is the train split.

    Raises:
        FileNotFoundError: a local path that does not exist, or a name that is neither a folder nor reachable on the
            Hub (offline).
        ValueError: an unknown configuration, or files `load_dataset` cannot read.
    """
    name = os.path.expanduser(name)
    if os.path.isdir(name) and any(os.path.isfile(os.path.join(name, marker)) for marker in _SAVED_MARKERS):
        if config_name is not None:
            raise ValueError(f"--dataset_config_name: {name!r} is a save_to_disk folder, which has no configurations.")
        saved = load_from_disk(name)
        if isinstance(saved, Dataset):
            saved = DatasetDict({"train": saved})
        if streaming:
            return IterableDatasetDict({split: part.to_iterable_dataset() for split, part in saved.items()})
        return saved
    builder = FILE_BUILDERS.get(os.path.splitext(name)[1].lower())
    if builder is not None and (os.path.isfile(name) or "://" in name):  # one data file: the train split
        if config_name is not None:
            raise ValueError(f"--dataset_config_name: {name!r} is one data file, which has no configurations.")
        return _load(name, builder, data_files={"train": name}, streaming=streaming)
    if not os.path.isdir(name) and _looks_like_path(name):
        raise FileNotFoundError(f"--dataset_name {name!r}: no such data-set folder.")
    return _load(name, name, config_name, streaming=streaming)


def _load(name: str, path: str, config_name: str | None = None, **options):
    """`load_dataset(path, config_name, **options)` with its errors in one line naming `--dataset_name`."""
    try:
        return load_dataset(path, config_name, **options)
    except ConnectionError as error:
        offline = " (HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0") else ""
        raise FileNotFoundError(
            f"--dataset_name {name!r} is not a local folder and the Hub cannot be reached{offline}: "
            f"{_first_line(error)}"
        ) from None
    except FileNotFoundError as error:
        raise FileNotFoundError(f"--dataset_name {name!r}: {_first_line(error)}") from None
    except ValueError as error:  # an unknown configuration, data files of several formats, ...
        raise ValueError(f"--dataset_name {name!r}: {_first_line(error)}") from None


def named_splits(dataset: DatasetDict | IterableDatasetDict, name: str) -> dict:
    """The data set's splits under the names train, validation and test (those it has; `dev`, `valid`, ... count as
    validation); a data set without a train split is refused, naming the splits it has."""
    found = {}
    for split, names in SPLIT_NAMES.items():
        present = [candidate for candidate in names if candidate in dataset]
        if present:
            found[split] = dataset[present[0]]
    if "train" not in found:
        raise ValueError(
            f"--dataset_name {name!r} has no train split; its splits: {', '.join(dataset) or 'none'} "
            f"(train is read from one named {' or '.join(SPLIT_NAMES['train'])})."
        )
    return found


def pair_columns(structure: dict, data_args, split: str = "train") -> tuple[str, str]:
    """The source and target column names (dotted for a nested field) of a data set whose columns are `structure`
    (see `column_structure`), as `--source_column/--target_column` or `--source_lang/--target_lang` choose them.

    Raises:
        ValueError: a column or language the data set lacks (naming those it has), or a `translation` column
            without `--source_lang/--target_lang`.
    """
    name = data_args.dataset_name
    chosen = (data_args.source_column, data_args.target_column)
    if chosen == DEFAULT_COLUMNS and TRANSLATION_COLUMN in structure and not _has_columns(structure, chosen):
        languages = structure[TRANSLATION_COLUMN] or []
        sides = {"source_lang": data_args.source_lang, "target_lang": data_args.target_lang}
        if None in sides.values():
            raise ValueError(
                f"--dataset_name {name!r} has a `translation` column of the languages {', '.join(languages)}: pick "
                "its sides with --source_lang and --target_lang (or name the columns with --source_column and "
                "--target_column)."
            )
        for flag, language in sides.items():
            if language not in languages:
                raise ValueError(
                    f"--{flag} {language!r} is not a language of the `translation` column of {name!r} ({split} "
                    f"split); its languages: {', '.join(languages)}."
                )
        return tuple(f"{TRANSLATION_COLUMN}.{language}" for language in sides.values())
    for flag, column in zip(("source_column", "target_column"), chosen):
        if not _has_columns(structure, [column]):
            hint = " (or --source_lang/--target_lang for a `translation` column)" if column in DEFAULT_COLUMNS else ""
            raise ValueError(
                f"--{flag} {column!r} is not a column of {name!r} ({split} split); its columns: "
                f"{', '.join(column_listing(structure))}{hint}."
            )
    return chosen


def column_structure(features=None, row: dict | None = None) -> dict:
    """`{column: [its field names] or None}` of a data set, from its features or else from one of its rows; a
    `translation` column's fields are its languages."""
    if features is not None:
        structure = {}
        for column, feature in features.items():
            if isinstance(feature, dict):
                structure[column] = list(feature)
            else:
                structure[column] = list(getattr(feature, "languages", None) or []) or None
        return structure
    return {column: list(value) if isinstance(value, dict) else None for column, value in (row or {}).items()}


def column_listing(structure: dict) -> list[str]:
    """The column names of `structure`, a nested field as `column.field`."""
    return [
        f"{column}.{field}" if fields else column for column, fields in structure.items() for field in fields or [None]
    ]


def read_dataset_splits(data_args) -> tuple[Dataset, dict[str, Dataset]]:
    """The `source`/`target` pairs of `--dataset_name`: `(train, {"validation": ..., "test": ...})` with the splits
    the data set has, and validation split off train by `--validation_split_percentage` where it has none (the
    caller splits off what is still missing, as for files)."""
    check_dataset_flags(data_args)
    name = data_args.dataset_name
    splits = named_splits(open_dataset(name, data_args.dataset_config_name), name)
    source, target = pair_columns(column_structure(splits["train"].features), data_args)
    for split, part in splits.items():
        if split != "train":
            pair_columns(column_structure(part.features), data_args, split)  # the same columns in every split
        splits[split] = select_pairs(part, source, target, bad_rows=data_args.bad_rows)
    train = splits.pop("train")
    percentage = data_args.validation_split_percentage
    if percentage is not None:
        if "validation" in splits:
            logger.info("--validation_split_percentage is not used: %r has a validation split", name)
        else:
            parts = train.train_test_split(test_size=percentage / 100, seed=data_args.task_seed)
            train, splits["validation"] = parts["train"], parts["test"]
    return train, splits


def read_dataset_split(data_args, split: str) -> Dataset:
    """The `source`/`target` pairs of one split of `--dataset_name`, for scoring (`attnseq evaluate`): `train`,
    `validation` or `test` under any of their usual names (`SPLIT_NAMES`: `--split validation` reads a `dev` split,
    `--split dev` a `validation` one), or any split the data set has, by its own name.

    Raises:
        ValueError: a split the data set lacks (naming those it has), or a column or language it lacks.
    """
    name = data_args.dataset_name
    dataset = open_dataset(name, data_args.dataset_config_name)
    aliases = next((names for names in SPLIT_NAMES.values() if split in names), (split,))
    found = next((candidate for candidate in (split, *aliases) if candidate in dataset), None)
    if found is None:
        raise ValueError(
            f"--dataset_name {name!r} has no {split!r} split; its splits: {', '.join(dataset) or 'none'} (pick one "
            "with --split; a split `attnseq train` took off train is not part of the data set)."
        )
    part = dataset[found]
    source, target = pair_columns(column_structure(part.features), data_args, found)
    return select_pairs(part, source, target, bad_rows=data_args.bad_rows)


def _has_columns(structure: dict, columns) -> bool:
    for column in columns:
        if column in structure:
            continue
        top, _, field = column.partition(".")
        if not field or field not in (structure.get(top) or []):
            return False
    return True


def _looks_like_path(name: str) -> bool:
    """Whether `name` can only be a local path (a Hub id is `name` or `owner/name`)."""
    if "://" in name:  # a URL (hf://, https://) is for load_dataset to open
        return False
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
