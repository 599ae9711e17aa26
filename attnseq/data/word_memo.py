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

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
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
            self._special_pattern = "|".join(map(re.escape, specials))  # Arrow's RE2 reads Python's escapes
            prefix, suffix = _special_ids_around(backend)
            self._prefix_ids, self._suffix_ids = np.array(prefix, np.int32), np.array(suffix, np.int32)

    def __getstate__(self) -> dict:
        return {"backend": self.backend, "max_words": self.max_words}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["backend"], state["max_words"])

    def encode(self, texts: list[str]) -> list[list[int]]:
        """The token ids of each text, special tokens included, equal to `backend.encode_batch(texts)`'s."""
        return self.encode_arrow(pa.array(texts, type=pa.string())).to_pylist()

    def encode_arrow(self, texts: pa.Array | pa.ChunkedArray) -> pa.ListArray:
        """`encode` on an Arrow string array, giving a `list<int32>` array (one row of ids per text).

        The lines are split into words and the words dictionary-encoded by Arrow; only the batch's distinct words
        are looked up in Python, and the rows are assembled with numpy from their words' ids."""
        if isinstance(texts, pa.ChunkedArray):
            texts = texts.combine_chunks()
        if not self.word_by_word:
            self.lines_from_backend += len(texts)
            return _list_array([encoding.ids for encoding in backend_encodings(self.backend, texts.to_pylist())])
        words = pc.split_pattern(texts, _SPACE)
        word_starts = np.asarray(words.offsets)[:-1]  # every line has at least one (maybe empty) word
        distinct = pc.dictionary_encode(words.flatten())
        word_index = np.asarray(distinct.indices)
        piece_ids, piece_starts, piece_lengths, unsafe = self._pieces(distinct.dictionary.to_pylist())
        by_backend = np.maximum.reduceat(unsafe[word_index], word_starts) if len(texts) else np.zeros(0, bool)
        if self._special_pattern:
            by_backend |= np.asarray(pc.match_substring_regex(texts, self._special_pattern), dtype=bool)
        encoded = self._lines(piece_ids, piece_starts[word_index], piece_lengths[word_index], word_starts)
        lines = len(texts)
        rows = np.flatnonzero(by_backend)
        self.lines_from_backend += len(rows)
        self.lines_from_words += lines - len(rows)
        if len(rows):
            texts_by_backend = texts.take(pa.array(rows)).to_pylist()
            encoded = replace_rows(
                encoded, rows, [encoding.ids for encoding in backend_encodings(self.backend, texts_by_backend)]
            )
        first_from_words = np.flatnonzero(~by_backend)[:1]
        if len(first_from_words):
            row = int(first_from_words[0])
            self._check(texts[row].as_py(), encoded[row].as_py())
        return encoded

    def _pieces(self, words: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The ids of `words` one after the other, where each word's ids start, how many there are, and whether
        the word must be seen inside its line (then it has none)."""
        pieces = [self._piece(word) for word in words]
        unsafe = np.fromiter((piece is _UNSAFE for piece in pieces), dtype=bool, count=len(pieces))
        lengths = np.fromiter((len(piece or ()) for piece in pieces), dtype=np.int64, count=len(pieces))
        ids = np.fromiter(chain.from_iterable(piece or () for piece in pieces), dtype=np.int32)
        return ids, np.cumsum(lengths) - lengths, lengths, unsafe

    def _lines(
        self, piece_ids: np.ndarray, word_starts: np.ndarray, word_lengths: np.ndarray, line_starts: np.ndarray
    ) -> pa.ListArray:
        """The lines' ids: for each line the prefix, the ids of its words (word `w`'s are
        `piece_ids[word_starts[w]:][:word_lengths[w]]`; line `i`'s words start at word `line_starts[i]`), the
        suffix."""
        prefix, suffix = self._prefix_ids, self._suffix_ids
        pool = np.concatenate([prefix, piece_ids, suffix])  # what the lines' ids are gathered from
        segments_per_line = np.diff(np.append(line_starts, len(word_starts))) + 2  # prefix, words, suffix
        first = np.cumsum(segments_per_line) - segments_per_line
        last = first + segments_per_line - 1
        starts = np.empty(int(segments_per_line.sum()), dtype=np.int64)
        lengths = np.empty_like(starts)
        inner = np.ones(len(starts), dtype=bool)
        inner[first] = inner[last] = False
        starts[first], lengths[first] = 0, len(prefix)
        starts[last], lengths[last] = len(prefix) + len(piece_ids), len(suffix)
        starts[inner], lengths[inner] = len(prefix) + word_starts, word_lengths
        line_lengths = np.add.reduceat(lengths, first) if len(first) else np.zeros(0, np.int64)
        return _from_lengths(pool[_gather_ranges(starts, lengths)], line_lengths)

    def _piece(self, word: str) -> list[int] | None:
        piece = self._words.get(word, False)
        return self._encode_word(word) if piece is False else piece

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


def replace_rows(encoded: pa.ListArray, rows, replacements: list[list[int]]) -> pa.ListArray:
    """`encoded` (a `list<int32>` array) with row `rows[i]` replaced by `replacements[i]`."""
    rows = np.asarray(rows, dtype=np.int64)
    offsets = np.asarray(encoded.offsets, dtype=np.int64)
    lengths = np.diff(offsets)
    values = np.asarray(encoded.flatten(), dtype=np.int32)
    new_lengths = np.fromiter((len(ids) for ids in replacements), dtype=np.int64, count=len(replacements))
    new_values = np.fromiter(chain.from_iterable(replacements), dtype=np.int32, count=int(new_lengths.sum()))
    starts = offsets[:-1].copy()
    starts[rows] = len(values) + np.cumsum(new_lengths) - new_lengths
    lengths[rows] = new_lengths
    pool = np.concatenate([values, new_values])
    return _from_lengths(pool[_gather_ranges(starts, lengths)], lengths)


def _gather_ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The indices `starts[0] .. starts[0] + lengths[0] - 1`, then those of the second range, and so on."""
    total = int(lengths.sum())
    out_starts = np.cumsum(lengths) - lengths
    return np.repeat(starts - out_starts, lengths) + np.arange(total, dtype=np.int64)


def _from_lengths(values: np.ndarray, lengths: np.ndarray) -> pa.ListArray:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values.astype(np.int32, copy=False)))


def _list_array(rows: list[list[int]]) -> pa.ListArray:
    return pa.array(rows, type=pa.list_(pa.int32()))
