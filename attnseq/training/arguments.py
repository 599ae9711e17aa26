"""Command-line arguments of `attnseq train`: model, data and `Seq2SeqTrainingArguments`.

The model arguments are generated from the two configuration classes, so every option of a family
can be set by name on the command line (`--attention additive --bidirectional_encoder`) and a new
config option needs no change here. Each option defaults to None, meaning "the family's default".
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from dataclasses import dataclass, field

from transformers import PretrainedConfig

from ..families import DEFAULT_FAMILY, FAMILIES

FAMILY_CONFIGS: dict[str, type[PretrainedConfig]] = {name: family.config_class for name, family in FAMILIES.items()}
# Set from the tokenizer, never by hand.
_DERIVED = {
    "vocab_size",
    "decoder_vocab_size",
    "pad_token_id",
    "bos_token_id",
    "eos_token_id",
    "decoder_start_token_id",
    "use_cache",
    "is_encoder_decoder",
}
_BASE_FIELDS = {f.name for f in dataclasses.fields(PretrainedConfig)}


def family_options(family: str) -> dict[str, object]:
    """The config options of `family` that a user may set, with their resolved types."""
    config_class = FAMILY_CONFIGS[family]
    namespace = vars(sys.modules[config_class.__module__])
    return {
        f.name: eval(f.type, namespace) if isinstance(f.type, str) else f.type  # annotations are strings
        for f in dataclasses.fields(config_class)
        if f.name not in _BASE_FIELDS and f.name not in _DERIVED
    }


def _optional(annotation) -> object:
    """`int` -> `int | None`, so that an option left out stays None ("the family's default")."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    base = args[0] if args else annotation
    return base | None


def _model_option_fields() -> list[tuple[str, object, dataclasses.Field]]:
    options: dict[str, tuple[object, list[str]]] = {}
    old_names: dict[str, list[str]] = {}  # an option's flags under its names before a rename, still accepted
    for family, config_class in FAMILY_CONFIGS.items():
        for old, name in getattr(config_class, "renamed_options", {}).items():
            old_names.setdefault(name, []).extend([f"--{old}", f"--{old.replace('_', '-')}"])
        for name, annotation in family_options(family).items():
            if name in options:
                options[name][1].append(family)
            else:
                options[name] = (annotation, [family])
    return [
        (
            name,
            _optional(annotation),
            field(
                default=None,
                metadata={"help": f"config option of: {', '.join(fams)}", "aliases": old_names.get(name, [])},
            ),
        )
        for name, (annotation, fams) in sorted(options.items())
    ]


@dataclass
class _ModelChoice:
    model: str = field(
        default=DEFAULT_FAMILY, metadata={"help": "model family of a new model", "choices": list(FAMILY_CONFIGS)}
    )
    model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "start from a saved checkpoint (local folder or Hub repo id): model, tokenizer and "
            "generation config come from it"
        },
    )
    revision: str | None = field(default=None, metadata={"help": "Hub revision of --model_name_or_path"})


ModelArguments = dataclasses.make_dataclass("ModelArguments", _model_option_fields(), bases=(_ModelChoice,))
ModelArguments.__doc__ = "The model family (or a checkpoint to start from) and any of its config options."


def allow_bare_flags(parser) -> None:
    """Let a boolean config option be given bare (`--peeky` means `--peeky true`).

    `HfArgumentParser` gives `bool | None` fields that default to None a required value; the model
    options default to None ("the family's default") and should still read like flags.
    """
    for f in dataclasses.fields(ModelArguments):
        if f.type == bool | None:
            for option in (f"--{f.name}", f"--{f.name.replace('_', '-')}"):
                action = parser._option_string_actions.get(option)
                if action is not None:
                    action.nargs, action.const = "?", True


def chosen_options(model_args) -> dict[str, object]:
    """The config options the user set (not None)."""
    return {
        f.name: getattr(model_args, f.name)
        for f in dataclasses.fields(model_args)
        if f.name not in {g.name for g in dataclasses.fields(_ModelChoice)} and getattr(model_args, f.name) is not None
    }


def config_overrides(model_args) -> dict[str, object]:
    """The config options the user set (not None), over the family's `train_defaults` for a new model, checked
    against the chosen family."""
    allowed = family_options(model_args.model)
    chosen = chosen_options(model_args)
    if model_args.model_name_or_path is None:
        chosen = {**FAMILIES[model_args.model].train_defaults, **chosen}
    foreign = sorted(set(chosen) - set(allowed))
    if foreign:
        raise ValueError(
            f"option(s) {', '.join('--' + name for name in foreign)} are not options of the {model_args.model!r} "
            f"family; its options: {', '.join(sorted(allowed))}."
        )
    return chosen


@dataclass
class DataArguments:
    """Where the training pairs come from, how they become token ids and what they are scored by."""

    task: str | None = field(
        default=None,
        metadata={"help": "built-in task (addition, date, reverse); the default when no --train_file is given"},
    )
    train_file: str | None = field(
        default=None, metadata={"help": "training pairs: .txt (book format), .tsv, .csv, .jsonl"}
    )
    validation_file: str | None = field(default=None, metadata={"help": "validation pairs (default: split off train)"})
    test_file: str | None = field(default=None, metadata={"help": "test pairs (default: split off train)"})
    source_file: str | None = field(
        default=None,
        metadata={"help": "training sources, one a line (plain text, .gz, .bz2 or .xz), parallel to --target_file"},
    )
    target_file: str | None = field(
        default=None, metadata={"help": "training targets, one a line (plain, .gz, .bz2 or .xz)"}
    )
    validation_source_file: str | None = field(default=None, metadata={"help": "validation sources, one a line"})
    validation_target_file: str | None = field(default=None, metadata={"help": "validation targets, one a line"})
    test_source_file: str | None = field(default=None, metadata={"help": "test sources, one a line"})
    test_target_file: str | None = field(default=None, metadata={"help": "test targets, one a line"})
    source_lang: str | None = field(default=None, metadata={"help": "language code of the sources (card metadata)"})
    target_lang: str | None = field(default=None, metadata={"help": "language code of the targets (card metadata)"})
    source_column: str = field(
        default="source",
        metadata={"help": "source column of CSV/JSONL/TSV-with-header files (dotted for a nested JSONL field)"},
    )
    target_column: str = field(
        default="target",
        metadata={"help": "target column of CSV/JSONL/TSV-with-header files (dotted for a nested JSONL field)"},
    )
    validation_size: float = field(
        default=0.05, metadata={"help": "fraction (below 1) or row count (1 or more) split off train for validation"}
    )
    test_size: float = field(
        default=0.1, metadata={"help": "fraction (below 1) or row count (1 or more) split off train for test"}
    )
    validation_split_percentage: float | None = field(
        default=None,
        metadata={
            "help": "percent of train split off for validation when the data set has no validation split (default: "
            "--validation_size)"
        },
    )
    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": "a data set through datasets.load_dataset: a local data-set folder or data files, or a Hub "
            "repository (parquet/json/csv, or a `translation` column with --source_lang/--target_lang)"
        },
    )
    dataset_config_name: str | None = field(default=None, metadata={"help": "configuration of --dataset_name"})
    streaming: bool = field(
        default=False,
        metadata={
            "help": "train from a stream (datasets.IterableDataset, tokenized on the fly) instead of a cached data "
            "set; needs --max_steps"
        },
    )
    preprocessing_num_workers: int | None = field(
        default=None, metadata={"help": "processes that read and tokenize the data (default: the CPU cores)"}
    )
    tokenizer_train_lines: int | None = field(
        default=None,
        metadata={"help": "train a new tokenizer on the first N training pairs (default: all of them)"},
    )
    num_train: int | None = field(default=None, metadata={"help": "rows of a built-in task's train split"})
    num_validation: int | None = field(default=None, metadata={"help": "rows of a built-in task's validation split"})
    num_test: int | None = field(default=None, metadata={"help": "rows of a built-in task's test split"})
    max_eval_samples: int | None = field(
        default=None,
        metadata={"help": "validation rows evaluated during training (default: all of them; all test rows always)"},
    )
    task_seed: int = field(default=1234, metadata={"help": "seed of built-in task generation and file splits"})
    tokenizer: str = field(
        default="char", metadata={"help": "tokenizer of a new model", "choices": ["char", "bpe", "unigram"]}
    )
    subword_vocab_size: int = field(default=8000, metadata={"help": "vocabulary size of a bpe/unigram tokenizer"})
    min_frequency: int | None = field(
        default=None, metadata={"help": "bpe only: the least count of a pair to be merged (default 2)"}
    )
    lowercase: bool = field(default=False, metadata={"help": "a bpe/unigram tokenizer lower-cases all text"})
    shared_vocabulary: bool = field(
        default=True,
        metadata={
            "help": "one bpe/unigram vocabulary for sources and targets (true), or one for each side of up to "
            "--subword_vocab_size tokens (false: the model's decoder_vocab_size is the target side's size; the "
            "Transformer then keeps separate encoder and decoder embeddings)"
        },
    )
    max_source_length: int | None = field(default=None, metadata={"help": "most source tokens (eos included)"})
    max_target_length: int | None = field(default=None, metadata={"help": "most target tokens (eos included)"})
    overlong: str = field(
        default="truncate", metadata={"help": "rows over the length limits", "choices": ["truncate", "drop", "error"]}
    )
    bad_rows: str = field(
        default="error", metadata={"help": "rows with a missing/empty/non-string value", "choices": ["error", "drop"]}
    )
    metrics: str | None = field(
        default=None,
        metadata={
            "help": "comma-separated: exact_match, token_accuracy, bleu, chrf (default: exact_match,token_accuracy "
            "on a built-in task, bleu,chrf on files; checkpoints are then ranked by bleu)"
        },
    )
    lowercase_metrics: bool = field(
        default=False, metadata={"help": "BLEU and chrF compare lower-cased texts (as most Multi30k figures do)"}
    )

    @property
    def uses_files(self) -> bool:
        """Whether the pairs come from files (scored by BLEU) rather than a built-in exact-match task."""
        return self.train_file is not None or self.source_file is not None or self.dataset_name is not None

    @property
    def metric_names(self) -> list[str]:
        """The chosen `--metrics`, or the defaults of the data's kind (`attnseq.data.metrics.DEFAULT_METRICS`)."""
        from ..data.metrics import metric_names

        return metric_names(self.metrics, from_files=self.uses_files)


@dataclass
class RunArguments:
    """How the run goes beyond transformers' training arguments: its time budget, early stopping, the final test
    decoding and the examples it prints."""

    max_train_minutes: float | None = field(
        default=None,
        metadata={
            "help": "wall-clock budget of training (validation included; a resumed run's counts the minutes before "
            "the resume): training stops after the step or the validation that crosses it, then the best checkpoint "
            "is evaluated on test and saved with its card"
        },
    )
    test_num_beams: int | None = field(
        default=None, metadata={"help": "beams for the final test decoding (default: --generation_num_beams or 1)"}
    )
    test_length_penalty: float = field(
        default=1.0, metadata={"help": "length penalty of beam search in the final test decoding"}
    )
    early_stopping_patience: int | None = field(
        default=None, metadata={"help": "stop after this many evaluations without improvement of metric_for_best_model"}
    )
    show_examples: int = field(default=8, metadata={"help": "decoded test examples printed at the end"})
    average_last: int | None = field(
        default=None,
        metadata={
            "help": "the saved (and tested) model is the element-wise mean of the weights of the last N >= 2 "
            "checkpoints; the run keeps them whatever --save_total_limit says; needs --save_strategy other than no; "
            "replaces --load_best_model_at_end (turned off); excludes --average_best"
        },
    )
    average_best: int | None = field(
        default=None,
        metadata={
            "help": "the saved (and tested) model is the element-wise mean of the weights of the N >= 2 best "
            "checkpoints by --metric_for_best_model (their evaluation at their step); the run keeps them whatever "
            "--save_total_limit says; needs saving and evaluation; replaces --load_best_model_at_end (turned off); "
            "excludes --average_last"
        },
    )


# Training defaults of `attnseq train` where they differ from transformers': the date task trains to
# >= 99 % exact match in a few minutes on two CPU cores with these.
TRAINING_DEFAULTS = {
    "output_dir": "outputs/attnseq-model",
    "num_train_epochs": 2,
    "per_device_train_batch_size": 64,
    "per_device_eval_batch_size": 256,
    "learning_rate": 5e-3,
    "lr_scheduler_type": "linear",
    "warmup_steps": 100,
    "max_grad_norm": 5.0,
    "weight_decay": 0.0,
    "eval_strategy": "epoch",
    "save_strategy": "epoch",
    "logging_steps": 50,
    "save_total_limit": 2,
    "load_best_model_at_end": True,
    "metric_for_best_model": "exact_match",
    "greater_is_better": True,
    "predict_with_generate": True,
    "report_to": "none",
    "dataloader_num_workers": 0,
    "seed": 42,
    "disable_tqdm": False,
}
