"""Subword tokenizers for word-level tasks such as translation, trained with the `tokenizers` library.

`train_subword_tokenizer` trains a BPE or unigram model on training texts and wraps it in a
`PreTrainedTokenizerFast` with the same special tokens and ids as `CharTokenizer` (pad 0, bos 1, eos 2,
unk 3) and a post-processor that appends eos to every sequence. `train_seq2seq_tokenizers` trains either
one vocabulary shared by sources and targets or one for each side; `train_seq2seq_tokenizer` returns either as
the one tokenizer a model uses (a `SourceTargetTokenizer` for separate vocabularies). The training options are
saved with the tokenizer (`tokenizer_config.json`) and come back with `from_pretrained`
(`subword_training_options`); the lower-casing is part of the saved normalizer, so a loaded tokenizer lower-cases
as the trained one did.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from .char import DEFAULT_SPECIAL_TOKENS

SUBWORD_MODELS = ("bpe", "unigram")
DEFAULT_MIN_FREQUENCY = 2
_TRAINING_BATCH_TEXTS = 10_000
# The key of `tokenizer_config.json` under which the training options are saved (and restored by from_pretrained).
TRAINING_OPTIONS_KEY = "attnseq_subword_training"
SPECIAL_TOKENS = [
    DEFAULT_SPECIAL_TOKENS["pad_token"],
    DEFAULT_SPECIAL_TOKENS["bos_token"],
    DEFAULT_SPECIAL_TOKENS["eos_token"],
    DEFAULT_SPECIAL_TOKENS["unk_token"],
]


def train_subword_tokenizer(
    texts: Iterable[str] | Iterable[list[str]],
    vocab_size: int = 8000,
    model: str = "bpe",
    min_frequency: int | None = None,
    lowercase: bool = False,
    show_progress: bool = False,
) -> PreTrainedTokenizerFast:
    """Train a subword tokenizer on `texts` and return it as a `PreTrainedTokenizerFast`.

    Text is NFKC-normalised (and lower-cased with `lowercase=True`) and split SentencePiece-style: a space
    becomes part of the following piece, so `decode` restores the spacing. `model="bpe"` learns byte-pair
    merges seen at least `min_frequency` times; `model="unigram"` a unigram language model vocabulary.
    Characters never seen in training encode as unk. Special tokens get ids 0-3 (pad, bos, eos, unk) and
    eos is appended to every encoded sequence.

    Args:
        texts: training texts, or lists of them (batches, as `tokenizers` takes them; a list is passed on as it
            is), or Arrow string arrays (as `datasets` holds text), which are normalized word by word
            (`attnseq.tokenization.arrow_text`): the same tokenizer in about half the time on a natural-language
            corpus; an iterable is consumed once.
        vocab_size: the size of the vocabulary, special tokens included (an upper bound for BPE).
        model: one of `"bpe"`, `"unigram"`.
        min_frequency: BPE only: the least count of a pair to be merged (default 2). The unigram trainer has no
            such option, so a value with `model="unigram"` is refused rather than ignored.
        lowercase: lower-case all text before tokenizing.
        show_progress: show the trainer's progress bar.
    """
    if model not in SUBWORD_MODELS:
        raise ValueError(f"model={model!r} is not supported; allowed: {', '.join(map(repr, SUBWORD_MODELS))}.")
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size <= len(SPECIAL_TOKENS):
        raise ValueError(f"vocab_size must be an integer larger than {len(SPECIAL_TOKENS)}, got {vocab_size!r}.")
    if model == "unigram" and min_frequency is not None:
        raise ValueError(f"min_frequency={min_frequency!r} is a BPE option; the unigram trainer has none (pass None).")
    if model == "bpe" and min_frequency is None:
        min_frequency = DEFAULT_MIN_FREQUENCY
    if min_frequency is not None and (
        isinstance(min_frequency, bool) or not isinstance(min_frequency, int) or min_frequency < 1
    ):
        raise ValueError(f"min_frequency must be a positive integer, got {min_frequency!r}.")
    if isinstance(texts, str):
        raise TypeError("texts must be an iterable of texts, got a single string; wrap it in a list.")
    pad, bos, eos, unk = SPECIAL_TOKENS

    if model == "bpe":
        backend = Tokenizer(models.BPE(unk_token=unk))
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=SPECIAL_TOKENS,
            show_progress=show_progress,
        )
    else:
        backend = Tokenizer(models.Unigram())
        trainer = trainers.UnigramTrainer(
            vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, unk_token=unk, show_progress=show_progress
        )
    steps = [normalizers.NFKC()] + ([normalizers.Lowercase()] if lowercase else [])
    normalizer = normalizers.Sequence(steps)
    backend.pre_tokenizer = pre_tokenizers.Metaspace()
    backend.decoder = decoders.Metaspace()
    batches, normalized = _training_batches(texts, normalizer)
    if not normalized:  # the trainer normalizes each text itself
        backend.normalizer = normalizer
    backend.train_from_iterator(batches, trainer=trainer)
    backend.normalizer = normalizer

    ids = [backend.token_to_id(token) for token in SPECIAL_TOKENS]
    if ids != list(range(len(SPECIAL_TOKENS))):
        raise RuntimeError(f"the trainer placed the special tokens {SPECIAL_TOKENS} at ids {ids}, not 0-3.")
    backend.post_processor = processors.TemplateProcessing(
        single=f"$A {eos}", pair=f"$A {eos} $B {eos}", special_tokens=[(eos, ids[2])]
    )
    options = {"model": model, "vocab_size": vocab_size, "min_frequency": min_frequency, "lowercase": lowercase}
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token=pad,
        bos_token=bos,
        eos_token=eos,
        unk_token=unk,
        **{TRAINING_OPTIONS_KEY: options},
    )


def subword_training_options(tokenizer) -> dict | None:
    """The options a subword tokenizer was trained with (`model`, `vocab_size`, `min_frequency`, `lowercase`), as
    `train_subword_tokenizer` recorded them in `tokenizer_config.json`; None for another tokenizer."""
    return tokenizer.init_kwargs.get(TRAINING_OPTIONS_KEY)


def train_seq2seq_tokenizers(
    sources: Iterable[str], targets: Iterable[str], shared: bool = True, **kwargs
) -> tuple[PreTrainedTokenizerFast, PreTrainedTokenizerFast]:
    """Train the tokenizers of a seq2seq task: `(source_tokenizer, target_tokenizer)`.

    With `shared=True` one vocabulary is trained on sources and targets together and the same object is
    returned twice (what a model with one shared vocabulary and tied embeddings needs); with `shared=False`
    each side gets its own vocabulary of `vocab_size`. `kwargs` go to `train_subword_tokenizer`.
    """
    if shared:
        tokenizer = train_subword_tokenizer(_chain(sources, targets), **kwargs)
        return tokenizer, tokenizer
    return train_subword_tokenizer(sources, **kwargs), train_subword_tokenizer(targets, **kwargs)


def train_seq2seq_tokenizer(sources: Iterable[str], targets: Iterable[str], shared: bool = True, **kwargs):
    """The one tokenizer a seq2seq model needs: with `shared=True` the `PreTrainedTokenizerFast` of one vocabulary
    trained on sources and targets together (for `vocab_size=len(tokenizer)`); with `shared=False` a
    `SourceTargetTokenizer` holding a source and a target vocabulary of up to `vocab_size` each (for
    `vocab_size=len(tokenizer)`, `decoder_vocab_size=tokenizer.target_len()`), whose saved training options add
    `shared_vocabulary: False`. `kwargs` go to `train_subword_tokenizer`.
    """
    from .pair import SourceTargetTokenizer

    source, target = train_seq2seq_tokenizers(sources, targets, shared=shared, **kwargs)
    if shared:
        return source
    options = {**subword_training_options(source), "shared_vocabulary": False}
    return SourceTargetTokenizer.from_tokenizers(source, target, **{TRAINING_OPTIONS_KEY: options})


def _chain(*iterables: Iterable[str]) -> Iterator[str]:
    for iterable in iterables:
        if isinstance(iterable, str):
            raise TypeError("sources and targets must be iterables of texts, got a single string; wrap it in a list.")
        yield from iterable


def _training_batches(texts: Iterable, normalizer) -> tuple[Iterator[list[str]], bool]:
    """The trainer's batches of `texts`, and whether they are already normalized: Arrow string arrays are normalized
    word by word (`arrow_text.normalized_batches`), anything else goes to the trainer as it is."""
    iterator = iter(texts)
    first = next(iterator, None)
    if first is None:
        return iter(()), False
    texts = itertools.chain([first], iterator)
    if type(first).__module__.startswith("pyarrow"):  # pyarrow is imported only for Arrow input
        from .arrow_text import is_arrow_text, normalized_batches

        if is_arrow_text(first):
            return normalized_batches(texts, normalizer), True
    return _checked_batches(texts), False


def _checked_batches(texts: Iterable[str], batch_size: int = _TRAINING_BATCH_TEXTS) -> Iterator[list[str]]:
    """The texts, checked to be strings, in lists of `batch_size`: the trainer's threads then take a list at a time
    from this generator instead of waiting on the interpreter for each text."""
    batch = []
    index = 0
    for item in texts:
        if type(item) is list:  # a batch of texts
            if not all(type(text) is str for text in item):
                for position, text in enumerate(item):
                    _check_text(text, index + position)
            index += len(item)
            yield item
            continue
        _check_text(item, index)
        index += 1
        batch.append(item)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _check_text(text, index: int) -> None:
    if not isinstance(text, str):
        raise TypeError(f"text {index} is of type {type(text).__name__}, not str: {text!r}")
