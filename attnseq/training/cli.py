"""`attnseq train` (the console script itself is `attnseq.cli`; decoding, `generate` and `evaluate`, is
`attnseq.serving.decode`).

`attnseq train` with no arguments trains the attention LSTM on the built-in date task and saves the
checkpoint with its tokenizer, generation config and model card under `outputs/date-lstm`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence


def parse_train_arguments(argv: Sequence[str]):
    """`(model_args, data_args, run_args, training_args)` from flags, or from one JSON/YAML file plus flags."""
    from transformers import HfArgumentParser, Seq2SeqTrainingArguments

    from ..families import FAMILIES
    from .arguments import TRAINING_DEFAULTS, DataArguments, ModelArguments, RunArguments, allow_bare_flags

    parser = HfArgumentParser(
        (ModelArguments, DataArguments, RunArguments, Seq2SeqTrainingArguments), prog="attnseq train"
    )
    allow_bare_flags(parser)
    parser.set_defaults(**TRAINING_DEFAULTS)
    argv = list(argv)
    from_file: dict = {}
    if argv and argv[0].endswith((".json", ".yaml", ".yml")):
        path = argv.pop(0)
        from_file = _read_arguments_file(path)
        known = {action.dest for action in parser._actions}
        unknown = sorted(set(from_file) - known)
        if unknown:
            raise ValueError(f"{path} names unknown option(s) {', '.join(unknown)}; `attnseq train --help` lists them.")
        parser.set_defaults(**from_file)
    model_args, data_args, run_args, training_args = parser.parse_args_into_dataclasses(args=argv)

    def user_chose(name: str) -> bool:
        flags = (f"--{name}", f"--{name.replace('_', '-')}")
        return name in from_file or any(arg.split("=")[0] in flags for arg in argv)

    family = FAMILIES[model_args.model]
    for name, value in family.training_defaults.items():
        if not user_chose(name):
            setattr(training_args, name, value)
    if not user_chose("dataloader_pin_memory") and not _has_accelerator():
        training_args.dataloader_pin_memory = False  # pinned memory needs an accelerator; torch warns otherwise
    if not user_chose("metric_for_best_model"):
        # checkpoints are ranked by the first chosen metric of: BLEU (files), exact match (built-in tasks)
        from ..data.metrics import ranking_metric

        ranked = ranking_metric(data_args.metric_names)
        training_args.metric_for_best_model = ranked or "loss"
        training_args.greater_is_better = ranked is not None
    elif not user_chose("greater_is_better"):
        # transformers' rule for a chosen metric (the default above says True): a loss is better lower
        training_args.greater_is_better = not training_args.metric_for_best_model.endswith("loss")
    if not user_chose("output_dir"):
        task = data_args.task or ("custom" if data_args.uses_files else "date")
        if data_args.source_lang and data_args.target_lang:
            task = f"{data_args.source_lang}-{data_args.target_lang}"
        training_args.output_dir = os.path.join("outputs", f"{task}-{model_args.model}")
    if model_args.model_name_or_path is None and family.settle_options is not None:
        settle_new_model_options(model_args, family, user_chose)
    return model_args, data_args, run_args, training_args


def settle_new_model_options(model_args, family, user_chose) -> None:
    """Apply the choices one option of a new model implies for another (the family's `settle_options`, e.g. no
    source reversal with a bidirectional LSTM encoder) to `model_args`, and print why."""
    from .arguments import chosen_options

    options = {**family.train_defaults, **chosen_options(model_args)}
    changes, note = family.settle_options(options, [name for name in options if user_chose(name)])
    for name, value in changes.items():
        setattr(model_args, name, value)
    if note:
        print(note)


def _has_accelerator() -> bool:
    import torch

    accelerator = getattr(torch, "accelerator", None)
    return accelerator.is_available() if accelerator is not None else torch.cuda.is_available()


def _read_arguments_file(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        if path.endswith(".json"):
            return json.load(handle)
        import yaml

        return yaml.safe_load(handle) or {}


def train_command(argv: Sequence[str]) -> int:
    from .processes import check_launch, use_cpu_processes_without_accelerator

    check_launch()
    use_cpu_processes_without_accelerator()
    from .pipeline import train

    model_args, data_args, run_args, training_args = parse_train_arguments(argv)
    metrics = train(model_args, data_args, run_args, training_args)
    if metrics and _is_main_process():
        shown = {key: round(value, 4) for key, value in metrics.items() if isinstance(value, float)}
        print(f"test metrics: {json.dumps(shown)}")
        for key, value in metrics.items():
            if key.endswith("_signature"):
                print(f"{key.removeprefix('test_')}: {value}")
        print(f"checkpoint saved to {training_args.output_dir}")
    return 0


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0
