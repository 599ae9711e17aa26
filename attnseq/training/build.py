"""The tokenizer and model of a run: new ones sized to the training pairs, or both loaded to fine-tune; and the
pairs as token ids within the model's limits."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile

import datasets.config
from datasets import Dataset, DatasetDict
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerFast

from ..data.encoding import tokenize_pairs
from ..data.progress import computed, data_phase, served_from_cache
from ..data.readers import iter_text_arrays, iter_texts
from ..data.stored_rows import BATCH_ROWS, iter_text_arrays_any_order
from ..families import FAMILIES
from ..tokenization.bpe import train_seq2seq_tokenizer, train_subword_tokenizer
from ..tokenization.char import CharTokenizer
from ..tokenization.pair import SourceTargetTokenizer
from .arguments import DataArguments, config_overrides

# New tokenizers trained on a file-backed train split are kept in DATASETS_CACHE/attnseq_tokenizers/HASH, the
# hash of the split's fingerprint and the tokenizer options; the version is part of it.
TOKENIZER_CACHE_FOLDER = "attnseq_tokenizers"
_TOKENIZER_CACHE_VERSION = 1


def build_tokenizer_and_model(model_args, data_args: DataArguments, pairs: DatasetDict):
    """A new tokenizer and model sized to it, or both loaded from `--model_name_or_path` to fine-tune."""
    if model_args.model_name_or_path is not None:
        overrides = config_overrides(model_args)
        kwargs = {"revision": model_args.revision} if model_args.revision else {}
        tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path, **kwargs)
        model = AutoModelForSeq2SeqLM.from_pretrained(model_args.model_name_or_path, **overrides, **kwargs)
        return tokenizer, model

    overrides = config_overrides(model_args)
    if data_args.tokenizer == "char" and not data_args.shared_vocabulary:
        raise ValueError(
            "--shared_vocabulary false trains a source and a target subword vocabulary; it needs --tokenizer bpe "
            "or --tokenizer unigram (the char tokenizer has one vocabulary of the characters of both sides: "
            "use --shared_vocabulary true with it)."
        )
    tokenizer = new_tokenizer(pairs["train"], data_args)
    vocabulary = {}
    if isinstance(tokenizer, SourceTargetTokenizer):
        vocabulary["decoder_vocab_size"] = tokenizer.target_len()
        vocabulary.update(FAMILIES[model_args.model].separate_vocabulary_options)
    family = FAMILIES[model_args.model]
    config_class, model_class = family.config_class, family.generation_class
    config = config_class(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.bos_token_id,
        **{**vocabulary, **overrides},
    )
    return tokenizer, model_class(config)


def new_tokenizer(train: Dataset, data_args: DataArguments):
    """A new tokenizer (`--tokenizer char|bpe|unigram`) trained on the train split, read from Arrow in batches, on
    its first `--tokenizer_train_lines` pairs when given. Trained on a file-backed split, it is kept in the
    datasets cache under a hash of the split's fingerprint and the options, and loaded from there by a later run
    with the same data and options (the `tokenizer training` phase line then says `(cached)`)."""
    limit = data_args.tokenizer_train_lines
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"--tokenizer_train_lines must be a positive number of pairs, got {limit!r}.")
    pairs = len(train) if limit is None else min(limit, len(train))
    with data_phase("tokenizer training") as phase:
        phase.count = pairs
        folder = _tokenizer_cache_folder(train, data_args)
        if folder is not None and os.path.isfile(os.path.join(folder, "tokenizer_config.json")):
            served_from_cache()
            return _load_cached_tokenizer(_tokenizer_class(data_args), folder)
        computed()
        tokenizer = _train_tokenizer(train, data_args, limit)
        if folder is not None:
            _store_tokenizer(tokenizer, folder)
    return tokenizer


def _train_tokenizer(train: Dataset, data_args: DataArguments, limit: int | None):
    def texts(*columns):
        if data_args.tokenizer == "char":
            return (text for column in columns for text in iter_texts(train, column, limit))
        if limit is None:  # word counts, whatever the order of the texts
            return (batch for column in columns for batch in iter_text_arrays_any_order(train, column))
        return (batch for column in columns for batch in iter_text_arrays(train, column, limit, BATCH_ROWS))

    if data_args.tokenizer == "char":
        return CharTokenizer.from_texts(texts("source", "target"))
    if data_args.shared_vocabulary:
        return train_subword_tokenizer(texts("source", "target"), **subword_options(data_args))
    return train_seq2seq_tokenizer(texts("source"), texts("target"), shared=False, **subword_options(data_args))


def _load_cached_tokenizer(tokenizer_class, folder: str):
    """The tokenizer kept in `folder`, as the freshly trained one was: loading adds the folder as its name and
    loading options (`is_local`, `local_files_only`) that would otherwise be saved with the run's checkpoint."""
    tokenizer = tokenizer_class.from_pretrained(folder)
    for key in ("is_local", "local_files_only"):
        tokenizer.init_kwargs.pop(key, None)
    tokenizer.name_or_path = ""
    return tokenizer


def _tokenizer_class(data_args: DataArguments):
    if data_args.tokenizer == "char":
        return CharTokenizer
    return PreTrainedTokenizerFast if data_args.shared_vocabulary else SourceTargetTokenizer


def _tokenizer_cache_folder(train: Dataset, data_args: DataArguments) -> str | None:
    """Where the tokenizer of this train split and these options is kept; None for a split held in memory (a
    built-in task), whose tokenizer is quick to train and whose fingerprint may not outlive the run."""
    if not train.cache_files:
        return None
    options = {
        "version": _TOKENIZER_CACHE_VERSION,
        "train": train._fingerprint,
        "tokenizer": data_args.tokenizer,
        "shared_vocabulary": data_args.shared_vocabulary,
        "subword": subword_options(data_args) if data_args.tokenizer != "char" else None,
        "tokenizer_train_lines": data_args.tokenizer_train_lines,
    }
    key = hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()[:32]
    return os.path.join(datasets.config.HF_DATASETS_CACHE, TOKENIZER_CACHE_FOLDER, key)


def _store_tokenizer(tokenizer, folder: str) -> None:
    """Save `tokenizer` into `folder` whole or not at all (written beside it, then renamed into place)."""
    root = os.path.dirname(folder)
    os.makedirs(root, exist_ok=True)
    staging = tempfile.mkdtemp(dir=root, prefix=os.path.basename(folder) + ".incomplete-")
    try:
        tokenizer.save_pretrained(staging)
        try:
            os.rename(staging, folder)
        except OSError:  # another process stored the same tokenizer meanwhile
            if not os.path.isfile(os.path.join(folder, "tokenizer_config.json")):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def subword_options(data_args: DataArguments) -> dict:
    """The `train_subword_tokenizer` options of the data arguments."""
    return {
        "vocab_size": data_args.subword_vocab_size,
        "model": data_args.tokenizer,
        "min_frequency": data_args.min_frequency,
        "lowercase": data_args.lowercase,
    }


def tokenized_splits(pairs: DatasetDict, tokenizer, model: PreTrainedModel, data_args: DataArguments) -> DatasetDict:
    """Token ids of every split; the source and target limits default to the model's position limit if it has
    one (learned positions), so that no row is longer than the model allows."""
    limit = model.config.position_limit
    max_source_length, max_target_length = data_args.max_source_length, data_args.max_target_length
    return tokenize_pairs(
        pairs,
        tokenizer,
        max_source_length=limit if max_source_length is None else max_source_length,
        max_target_length=limit if max_target_length is None else max_target_length,
        overlong=data_args.overlong,
        num_proc=preprocessing_workers(data_args),
    )


def preprocessing_workers(data_args: DataArguments) -> int:
    """`--preprocessing_num_workers`, by default the CPU cores (small splits still use one process)."""
    workers = data_args.preprocessing_num_workers
    if workers is None:
        return os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"--preprocessing_num_workers must be a positive number of processes, got {workers!r}.")
    return workers
