"""Encoding many lines with a subword tokenizer by remembering the ids of each word.

A subword tokenizer whose pre-tokenizer splits the text at spaces (`Metaspace`, the one attnseq's BPE and
unigram tokenizers use) encodes every word on its own: the ids of a line are the ids of its words, one after
the other, between the special tokens the post-processor adds. A corpus repeats its words (a million lines of
short sentences hold a few tens of thousands of distinct words), so `WordMemoEncoder` encodes each distinct
word once with the Rust backend and builds the ids of a line from the remembered ones: about 20 times fewer
CPU-seconds than `Tokenizer.encode_batch` on such a corpus.

The ids are those of `backend.encode_batch(texts)`, never an approximation:

* the shortcut is taken only for a backend whose parts are known to encode word by word (`supports`): a
  normalizer made of NFC/NFKC/Lowercase steps (per-character or composing no character with a space), the
  `Metaspace` pre-tokenizer that splits at each space and prepends the replacement to every word, a BPE model
  without dropout or a unigram model, and no added tokens but special ones matched in the raw text;
* a line is encoded by the backend itself when it holds a special token's text, or a word that the normalizer
  would change at its edges or turn into several words (an empty word from two spaces in a row or a space at
  an end, a word holding `▁`, or one whose normalized form holds a space, such as `´` under NFKC);
* the first line of every batch that takes the shortcut is encoded by the backend as well and compared: a
  difference raises `RuntimeError` with the line, rather than training on ids the tokenizer does not give.

At most `max_words` words are remembered (the first distinct ones met, which in a corpus are the frequent
ones), so memory stays bounded whatever the corpus's vocabulary.
"""

from __future__ import annotations

import json
import re
from itertools import chain

from tokenizers import Tokenizer

MAX_WORDS = 200_000
_NORMALIZER_STEPS = frozenset({"NFC", "NFKC", "Lowercase"})
_SPACE = " "
_UNSAFE = None  # remembered for a word the backend must see inside its line


class WordMemoEncoder:
    """Encodes lines as `backend.encode_batch(lines)` would, from the remembered ids of their words when the
    backend encodes word by word (`word_by_word`, see the module's docstring), else with the backend itself.

    `encode(texts)` returns one list of token ids per text. The remembered words stay in the process that
    encodes: a pickled encoder (sent to a `datasets.map` worker) carries only the backend and `max_words`.
    """

    def __init__(self, backend: Tokenizer, max_words: int = MAX_WORDS):
        self.backend = backend
        self.max_words = max_words
        self.word_by_word = supports(backend)
        self._words: dict[str, list[int] | None] = {}
        self.lines_from_words = 0  # lines encoded from remembered words, and by the backend (for reports and tests)
        self.lines_from_backend = 0
        if self.word_by_word:
            self._normalizer = backend.normalizer
            self._replacement = json.loads(backend.to_str())["pre_tokenizer"]["replacement"]
            specials = sorted(token.content for token in backend.get_added_tokens_decoder().values())
            self._special_pattern = re.compile("|".join(map(re.escape, specials)) or r"(?!)")
            self._prefix, self._suffix = _special_ids_around(backend)

    def __getstate__(self) -> dict:
        return {"backend": self.backend, "max_words": self.max_words}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["backend"], state["max_words"])

    def encode(self, texts: list[str]) -> list[list[int]]:
        """The token ids of each text, special tokens included, equal to `backend.encode_batch(texts)`'s."""
        if not self.word_by_word:
            self.lines_from_backend += len(texts)
            return [encoding.ids for encoding in backend_encodings(self.backend, texts)]
        encoded: list[list[int] | None] = [None] * len(texts)
        by_backend = []
        first_from_words = None
        for row, text in enumerate(texts):
            ids = self._encode_line(text)
            if ids is None:
                by_backend.append(row)
            else:
                encoded[row] = ids
                if first_from_words is None:
                    first_from_words = row
        if by_backend:
            for row, encoding in zip(by_backend, backend_encodings(self.backend, [texts[row] for row in by_backend])):
                encoded[row] = encoding.ids
        self.lines_from_backend += len(by_backend)
        self.lines_from_words += len(texts) - len(by_backend)
        if first_from_words is not None:
            self._check(texts[first_from_words], encoded[first_from_words])
        return encoded

    def _encode_line(self, text: str) -> list[int] | None:
        """The ids of one line from its words' ids, or None when the backend must encode the line itself."""
        if self._special_pattern.search(text):
            return None
        words = self._words
        try:
            pieces = [words[word] for word in text.split(_SPACE)]
        except KeyError:
            pieces = [words[word] if word in words else self._encode_word(word) for word in text.split(_SPACE)]
        if _UNSAFE in pieces:
            return None
        return [*self._prefix, *chain.from_iterable(pieces), *self._suffix]

    def _encode_word(self, word: str) -> list[int] | None:
        """A word's ids as the backend gives them inside a line (remembered while there is room), or `_UNSAFE`."""
        piece = self._word_ids(word) if self._is_safe(word) else _UNSAFE
        if len(self._words) < self.max_words:
            self._words[word] = piece
        return piece

    def _word_ids(self, word: str) -> list[int]:
        return self.backend.encode(word, add_special_tokens=False).ids

    def _is_safe(self, word: str) -> bool:
        """Whether the backend encodes `word` inside a line as it encodes the word alone: a non-empty word whose
        normalized form holds no space nor the `Metaspace` replacement and normalizes the same beside spaces."""
        if not word or self._replacement in word:
            return False
        if self._normalizer is None:
            return True
        normalized = self._normalizer.normalize_str(word)
        return (
            bool(normalized)
            and _SPACE not in normalized
            and self._replacement not in normalized
            and self._normalizer.normalize_str(f" {word} ") == f" {normalized} "
        )

    def _check(self, text: str, ids: list[int]) -> None:
        expected = self.backend.encode(text).ids
        if ids != expected:
            raise RuntimeError(
                f"attnseq's word-by-word encoding gave {ids} for {text!r} where the tokenizer gives {expected}; "
                "this is a bug in attnseq (please report it with the line and the tokenizer.json)."
            )


def supports(backend: Tokenizer) -> bool:
    """Whether `backend` encodes a line word by word (see the module's docstring): checked from its serialized
    parts, so a tokenizer built differently (another pre-tokenizer, BPE dropout, added words) is left to the
    backend."""
    parts = json.loads(backend.to_str())
    if backend.truncation is not None or backend.padding is not None:
        return False
    if any(not token["special"] or token["normalized"] for token in parts.get("added_tokens") or []):
        return False
    if not _normalizer_is_supported(parts.get("normalizer")):
        return False
    pre_tokenizer = parts.get("pre_tokenizer") or {}
    if (
        pre_tokenizer.get("type") != "Metaspace"
        or pre_tokenizer.get("prepend_scheme") != "always"
        or pre_tokenizer.get("split") is not True
        or len(pre_tokenizer.get("replacement") or "") != 1
    ):
        return False
    model = parts.get("model") or {}
    if model.get("type") == "BPE":
        return not model.get("dropout")
    return model.get("type") == "Unigram"


def _normalizer_is_supported(normalizer: dict | None) -> bool:
    if normalizer is None:
        return True
    if normalizer.get("type") == "Sequence":
        return all(_normalizer_is_supported(step) for step in normalizer.get("normalizers") or [])
    return normalizer.get("type") in _NORMALIZER_STEPS


def _special_ids_around(backend: Tokenizer) -> tuple[list[int], list[int]]:
    """The ids the post-processor puts before and after a line's ids, found by encoding one probe word with and
    without special tokens."""
    for probe in ("a", "x", "0"):
        bare = backend.encode(probe, add_special_tokens=False).ids
        full = backend.encode(probe).ids
        for start in range(len(full) - len(bare) + 1):
            if bare and full[start : start + len(bare)] == bare:
                return full[:start], full[start + len(bare) :]
    raise ValueError("the tokenizer's special tokens around a line could not be found")


def backend_encodings(backend: Tokenizer, texts: list[str]):
    """`backend.encode_batch(texts)`, without the character offsets where the `tokenizers` version can skip them
    (`encode_batch_fast`)."""
    return getattr(backend, "encode_batch_fast", backend.encode_batch)(texts)
