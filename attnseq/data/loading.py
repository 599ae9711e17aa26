"""The pairs a command reads, as its data settings name them: the train, validation and test splits of
`attnseq train`, and the one split `attnseq evaluate` scores, both through the same readers.

The data settings are any object with the fields of `attnseq.training.arguments.DataArguments` (`task`,
`train_file`, `source_file`, ...); the messages name the command-line flags.
"""

from __future__ import annotations

from datasets import Dataset, DatasetDict

from .readers import BadRowsError, column_arguments, read_pairs, read_parallel_files, split_dataset
from .tasks import load_task

DEFAULT_TASK = "date"
# split -> the flags of its source and target files
PARALLEL_SPLITS = {
    "train": ("source_file", "target_file"),
    "validation": ("validation_source_file", "validation_target_file"),
    "test": ("test_source_file", "test_target_file"),
}
_DROP_HINT = "--bad_rows drop"


def read_pairs_file(path, source_column: str = "source", target_column: str = "target", bad_rows: str = "error"):
    """Every pair of one pairs file (.txt in the book's format, .tsv, .csv, .jsonl) as a `Dataset`; a bad-rows
    error names the `--bad_rows drop` flag."""
    columns = column_arguments(path, source_column, target_column)
    try:
        return read_pairs(path, bad_rows=bad_rows, **columns)
    except BadRowsError as error:  # name the flag, not the Python argument
        raise error.with_drop_hint(_DROP_HINT) from None


def read_parallel_split(source, target, bad_rows: str = "error") -> Dataset:
    """Every pair of a source file and its parallel target file (one text a line, plain or .gz) as a `Dataset`;
    a bad-rows error names the `--bad_rows drop` flag."""
    try:
        return read_parallel_files(source, target, bad_rows=bad_rows)
    except BadRowsError as error:
        raise error.with_drop_hint(_DROP_HINT) from None


def load_task_split(task: str, split: str, seed: int) -> Dataset:
    """One split of a built-in task, generated with `seed`."""
    pairs = load_task(task, seed=seed)
    if split not in pairs:
        raise ValueError(f"--split {split!r} is not a split of the task; its splits: {', '.join(pairs)}.")
    return pairs[split]


def load_pairs(data_args) -> DatasetDict:
    """The `source`/`target` pairs as a `DatasetDict` with train, validation and test splits: a built-in task
    (`--task`, default the date task), a pairs file per split (`--train_file`, ...) or parallel files
    (`--source_file`/`--target_file`, ...) or a data set (`--dataset_name`); a validation or test split without a
    file is split off train."""
    if data_args.dataset_name is not None or data_args.streaming or data_args.dataset_config_name is not None:
        from .hub_datasets import read_dataset_splits

        return complete_splits(*read_dataset_splits(data_args), data_args)
    if data_args.source_file is not None or data_args.target_file is not None:
        return load_parallel_files(data_args)
    if data_args.train_file is None:
        return load_task(
            data_args.task or DEFAULT_TASK,
            seed=data_args.task_seed,
            num_train=data_args.num_train,
            num_validation=data_args.num_validation,
            num_test=data_args.num_test,
        )
    if data_args.task is not None:
        raise ValueError("Pass either --task (a built-in task) or training files, not both.")

    def read_file(path):
        return read_pairs_file(path, data_args.source_column, data_args.target_column, data_args.bad_rows)

    train = read_file(data_args.train_file)
    files = {"validation": data_args.validation_file, "test": data_args.test_file}
    splits = {name: read_file(path) for name, path in files.items() if path is not None}
    return complete_splits(train, splits, data_args)


def load_parallel_files(data_args) -> DatasetDict:
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
            splits[split] = read_parallel_split(source, target, bad_rows=data_args.bad_rows)
    return complete_splits(splits.pop("train"), splits, data_args)


def complete_splits(train, splits: dict, data_args) -> DatasetDict:
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
