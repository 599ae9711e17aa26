"""Character-level tokenizer: one token per character, special tokens at fixed ids.

The vocabulary is built from the training texts (`CharTokenizer.from_texts`, `CharTokenizer.from_dataset`)
and saved as `vocab.json` (token -> id), beside a `tokenizer.json` that describes the same tokenizer for the
`tokenizers` library, so that `AutoTokenizer.from_pretrained` reads a saved folder correctly where attnseq is not
imported (or not installed). Ids 0-3 are pad, bos, eos and unk, matching the
defaults of the model configs (pad 0, bos 1, eos 2, decoder start = bos); characters follow in code
point order. Every encoded sequence ends with eos. Spaces are ordinary characters.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Iterable

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizer
from transformers.tokenization_python import Trie

from ..atomic import UPLOAD_ARGUMENTS, staged_folder

logger = logging.getLogger(__name__)

VOCAB_FILE_NAME = "vocab.json"
TOKENIZER_FILE_NAME = "tokenizer.json"
DEFAULT_SPECIAL_TOKENS = {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}


class UnknownCharacterCounter(Counter):
    """How often each character missing from the vocabulary was encoded (as unk) by one tokenizer object.

    It counts the work of this object only: a copy, a pickled tokenizer and a saved one start again from
    zero, so the tokenizer's fingerprint (used by `datasets` to cache `map` results) does not change when
    the counts do.
    """

    def __reduce__(self):
        return type(self), ()


class CharTokenizer(PreTrainedTokenizer):
    """A character-level [`PreTrainedTokenizer`] for seq2seq tasks.

    Each character is one token; characters missing from the vocabulary become `unk_token`, are counted in
    `unknown_characters` and logged once per character (never an error). `decode(..., skip_special_tokens=True)`
    returns exactly the encoded text when every character is known. Strings that look like the built-in special
    tokens (`"<s>"`) inside a text are ordinary characters unless `split_special_tokens=False` is passed; tokens
    added with `add_tokens`/`add_special_tokens` are matched whole, saved with the tokenizer and restored by
    `from_pretrained` (then `model.resize_token_embeddings(len(tokenizer))`).

    Args:
        vocab_file: path of a `vocab.json` mapping token -> id, as written by `save_pretrained`.
        vocab: the same mapping given directly (exactly one of `vocab_file` and `vocab`).
        pad_token, bos_token, eos_token, unk_token: the special tokens; each must be in the vocabulary.
    """

    vocab_files_names = {"vocab_file": VOCAB_FILE_NAME}
    model_input_names = ["input_ids", "attention_mask"]

    def __init__(
        self,
        vocab_file: str | None = None,
        vocab: dict[str, int] | None = None,
        pad_token: str = DEFAULT_SPECIAL_TOKENS["pad_token"],
        bos_token: str = DEFAULT_SPECIAL_TOKENS["bos_token"],
        eos_token: str = DEFAULT_SPECIAL_TOKENS["eos_token"],
        unk_token: str = DEFAULT_SPECIAL_TOKENS["unk_token"],
        **kwargs,
    ):
        if (vocab_file is None) == (vocab is None):
            raise ValueError(
                "CharTokenizer needs exactly one of `vocab_file` (a vocab.json path) and `vocab` (a dict)."
            )
        if vocab_file is not None:
            with open(vocab_file, encoding="utf-8") as handle:
                vocab = json.load(handle)
        self.vocab = _checked_vocab(vocab, [str(pad_token), str(bos_token), str(eos_token), str(unk_token)])
        self.ids_to_tokens = {index: token for token, index in self.vocab.items()}
        self.unknown_characters = UnknownCharacterCounter()
        kwargs.setdefault("special_tokens_pattern", "eos")
        kwargs.setdefault("split_special_tokens", True)
        super().__init__(pad_token=pad_token, bos_token=bos_token, eos_token=eos_token, unk_token=unk_token, **kwargs)

    @classmethod
    def from_texts(cls, texts: Iterable[str], min_frequency: int = 1, **kwargs) -> CharTokenizer:
        """Build the vocabulary from the characters of `texts` (e.g. the training sources and targets).

        Characters seen fewer than `min_frequency` times are left out (they will encode as unk). The ids are
        0-3 for pad, bos, eos, unk, then the characters in code point order, so the same texts always give
        the same vocabulary. `kwargs` go to the constructor (e.g. other special token strings).
        """
        if isinstance(texts, str):
            raise TypeError("from_texts expects an iterable of texts, got a single string; wrap it in a list.")
        if isinstance(min_frequency, bool) or not isinstance(min_frequency, int) or min_frequency < 1:
            raise ValueError(f"min_frequency must be a positive integer, got {min_frequency!r}.")
        counts: Counter[str] = Counter()
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"text {index} is of type {type(text).__name__}, not str: {text!r}")
            counts.update(text)
        specials = [kwargs.get(name, default) for name, default in DEFAULT_SPECIAL_TOKENS.items()]
        specials = [str(token) for token in specials]
        characters = sorted(char for char, count in counts.items() if count >= min_frequency and char not in specials)
        vocab = {token: index for index, token in enumerate(specials + characters)}
        return cls(vocab=vocab, **kwargs)

    @classmethod
    def from_dataset(
        cls, dataset, columns: Iterable[str] = ("source", "target"), split: str = "train", **kwargs
    ) -> CharTokenizer:
        """Build the vocabulary from text columns of a `datasets.Dataset`.

        A `DatasetDict` contributes its `split` split only (the training data), so characters that occur only
        in validation or test data are counted as unknown when encoded, as they would be for new inputs.
        """
        if isinstance(dataset, dict):  # a DatasetDict (a dict of splits); no `datasets` import, so that the
            # exported copy of this module (remote code) needs only torch and transformers
            if split not in dataset:
                raise ValueError(f"split {split!r} is not in the DatasetDict; its splits are {list(dataset)}.")
            dataset = dataset[split]
        columns = [columns] if isinstance(columns, str) else list(columns)
        missing = [column for column in columns if column not in dataset.column_names]
        if missing:
            raise ValueError(f"column(s) {missing} not in the dataset; its columns are {dataset.column_names}.")
        return cls.from_texts((text for column in columns for text in dataset[column]), **kwargs)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab, **self.added_tokens_encoder)

    @property
    def user_added_tokens(self) -> dict[str, int]:
        """Tokens added with `add_tokens`/`add_special_tokens` beyond the character vocabulary: token -> id."""
        return {token: index for token, index in self.added_tokens_encoder.items() if token not in self.vocab}

    def tokenize(self, text: str, **kwargs) -> list[str]:
        """Split `text` into characters, keeping every added token (`add_tokens`, `add_special_tokens`) whole.

        With the default `split_special_tokens=True` only the built-in special tokens (`"<s>"`, ...) are read as
        characters when they occur in a text; tokens a user added (language tags, domain markers) are always
        matched whole, longest first. `split_special_tokens=False` also matches the built-in ones.
        """
        split_special_tokens = kwargs.pop("split_special_tokens", self.split_special_tokens)
        added = self.user_added_tokens
        if not split_special_tokens or not added:
            return super().tokenize(text, split_special_tokens=split_special_tokens, **kwargs)
        text, kwargs = self.prepare_for_tokenization(text, **kwargs)
        trie = Trie()
        for token in added:
            trie.add(token)
        tokens: list[str] = []
        for piece in trie.split(text):
            tokens.extend([piece] if piece in added else self._tokenize(piece))
        return tokens

    def _tokenize(self, text: str, **kwargs) -> list[str]:
        return list(text)

    def _convert_token_to_id(self, token: str) -> int:
        index = self.vocab.get(token)
        if index is None:
            if token not in self.unknown_characters:
                logger.warning("character %r is not in the vocabulary; it is encoded as %s", token, self.unk_token)
            self.unknown_characters[token] += 1
            index = self.vocab[str(self.unk_token)]
        return index

    def _convert_id_to_token(self, index: int) -> str:
        return self.ids_to_tokens.get(index, str(self.unk_token))

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return "".join(tokens)

    def save_pretrained(
        self,
        save_directory,
        legacy_format: bool | None = None,
        filename_prefix: str | None = None,
        push_to_hub: bool = False,
        **kwargs,
    ) -> tuple[str, ...]:
        """Save like `PreTrainedTokenizer.save_pretrained`, but whole or not at all.

        The tokenizer files are written into a temporary folder next to `save_directory` and renamed into it
        only once all are complete, so a failed save leaves the previous tokenizer files intact; other files
        in the folder (the model's) are kept. With `push_to_hub=True` the tokenizer is then uploaded with
        `push_to_hub` (`repo_id`, `commit_message`, `private`, `token`, `create_pr`, `revision`).

        Returns:
            The paths of the saved files inside `save_directory`.
        """
        hub = {name: kwargs.pop(name) for name in UPLOAD_ARGUMENTS if name in kwargs} if push_to_hub else {}
        with staged_folder(save_directory) as staging:
            files = super().save_pretrained(staging, legacy_format=legacy_format, filename_prefix=filename_prefix)
        files = tuple(os.path.join(save_directory, os.path.relpath(file, staging)) for file in files)
        if push_to_hub:
            self.push_to_hub(hub.pop("repo_id", os.path.basename(os.path.abspath(save_directory))), **hub)
        return files

    def tokenizers_equivalent(self) -> Tokenizer:
        """This tokenizer for the `tokenizers` library: the same ids, eos appended, decoding by concatenation.

        Saved as `tokenizer.json`, it is what `AutoTokenizer.from_pretrained` loads (as transformers'
        `TokenizersBackend`) when the `CharTokenizer` class is unknown. Characters map one to one through a
        word-level model; the added tokens keep their ids and are matched whole. One difference remains: with
        `split_special_tokens=True` the `tokenizers` library also splits the special tokens a user added, which
        this class always matches whole.
        """
        backend = Tokenizer(models.WordLevel(vocab=self.vocab, unk_token=str(self.unk_token)))
        backend.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
        backend.decoder = decoders.Fuse()
        for index, token in sorted(self.added_tokens_decoder.items()):
            added = AddedToken(
                token.content,
                single_word=token.single_word,
                lstrip=token.lstrip,
                rstrip=token.rstrip,
                normalized=token.normalized,
                special=token.special,
            )
            (backend.add_special_tokens if token.special else backend.add_tokens)([added])
            if backend.token_to_id(token.content) != index:
                raise RuntimeError(
                    f"added token {token.content!r} got id {backend.token_to_id(token.content)}, "
                    f"not {index}, in the tokenizers equivalent."
                )
        eos = str(self.eos_token)
        backend.post_processor = processors.TemplateProcessing(
            single=f"$A {eos}", pair=f"$A {eos} $B {eos}", special_tokens=[(eos, self.eos_token_id)]
        )
        return backend

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str, str]:
        """Write the vocabulary as `vocab.json` (token -> id, in id order) and the whole tokenizer as
        `tokenizer.json` (`tokenizers_equivalent`)."""
        if not os.path.isdir(save_directory):
            raise ValueError(f"save_directory {save_directory!r} is not a directory.")
        name = f"{filename_prefix}-{VOCAB_FILE_NAME}" if filename_prefix else VOCAB_FILE_NAME
        path = os.path.join(save_directory, name)
        ordered = dict(sorted(self.vocab.items(), key=lambda item: item[1]))
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(ordered, handle, ensure_ascii=False, indent=0)
            handle.write("\n")
        name = f"{filename_prefix}-{TOKENIZER_FILE_NAME}" if filename_prefix else TOKENIZER_FILE_NAME
        backend_path = os.path.join(save_directory, name)
        self.tokenizers_equivalent().save(backend_path)
        return path, backend_path


def _checked_vocab(vocab, special_tokens: list[str]) -> dict[str, int]:
    """Validate a token -> id mapping: string tokens, distinct ids 0..n-1, every special token present."""
    if not isinstance(vocab, dict) or not vocab:
        raise ValueError(f"the vocabulary must be a non-empty dict of token -> id, got {type(vocab).__name__}.")
    bad = [(token, index) for token, index in vocab.items() if not isinstance(token, str) or type(index) is not int]
    if bad:
        raise ValueError(f"the vocabulary must map str tokens to int ids; bad entries: {bad[:5]}")
    if sorted(vocab.values()) != list(range(len(vocab))):
        raise ValueError(f"the vocabulary ids must be 0..{len(vocab) - 1}, each used once.")
    missing = [token for token in special_tokens if token not in vocab]
    if missing:
        raise ValueError(f"special token(s) {missing} are not in the vocabulary.")
    return dict(vocab)
