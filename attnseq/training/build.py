"""The tokenizer and model of a run: new ones sized to the training pairs, or both loaded to fine-tune; and the
pairs as token ids within the model's limits."""

from __future__ import annotations

from datasets import DatasetDict
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, PreTrainedModel

from ..data.encoding import tokenize_pairs
from ..families import FAMILIES
from ..tokenization.bpe import train_seq2seq_tokenizer, train_subword_tokenizer
from ..tokenization.char import CharTokenizer
from .arguments import DataArguments, config_overrides


def build_tokenizer_and_model(model_args, data_args: DataArguments, pairs: DatasetDict):
    """A new tokenizer and model sized to it, or both loaded from `--model_name_or_path` to fine-tune."""
    if model_args.model_name_or_path is not None:
        overrides = config_overrides(model_args)
        kwargs = {"revision": model_args.revision} if model_args.revision else {}
        tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path, **kwargs)
        model = AutoModelForSeq2SeqLM.from_pretrained(model_args.model_name_or_path, **overrides, **kwargs)
        return tokenizer, model

    overrides = config_overrides(model_args)
    vocabulary = {}
    if data_args.tokenizer == "char":
        if not data_args.shared_vocabulary:
            raise ValueError(
                "--shared_vocabulary false trains a source and a target subword vocabulary; it needs --tokenizer bpe "
                "or --tokenizer unigram (the char tokenizer has one vocabulary of the characters of both sides: "
                "use --shared_vocabulary true with it)."
            )
        tokenizer = CharTokenizer.from_dataset(pairs["train"], columns=("source", "target"))
    elif data_args.shared_vocabulary:
        texts = (text for column in ("source", "target") for text in pairs["train"][column])
        tokenizer = train_subword_tokenizer(texts, **subword_options(data_args))
    else:
        train, options = pairs["train"], subword_options(data_args)
        tokenizer = train_seq2seq_tokenizer(train["source"], train["target"], shared=False, **options)
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
    )
