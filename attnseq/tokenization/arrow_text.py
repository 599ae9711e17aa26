"""Normalizing batches of training text held as Arrow string arrays, word by word, for a subword trainer.

A `tokenizers` trainer normalizes every text it counts, and for a corpus that repeats its words (any natural
language corpus) that is about half of the trainer's time. The normalizers of attnseq's subword tokenizers (NFC or
NFKC, then optionally lower-casing) work on one character at a time, or on a run of combining marks with the
character before them, and never join anything across a space (U+0020 composes with nothing), so a line's
normalized text is its space-separated words' normalized texts joined by spaces. A batch of lines is therefore
normalized from its distinct words: Arrow splits the lines and dictionary-encodes the words, the tokenizer's own
normalizer runs once for each distinct word, and Arrow joins the lines again; a line of ASCII characters only,
which NFC and NFKC keep as it is, is lower-cased by Arrow (or left as it is) without being split. A trainer given
these lines and no normalizer counts exactly the words a trainer given the raw lines and the normalizer counts.

The work runs on a second thread a batch ahead of the trainer (Arrow releases the interpreter lock while it
computes), and the first line of every batch is checked against the normalizer applied to the whole line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.compute as pc

# The normalizers whose result on a line is the join of their results on its space-separated words.
WORD_BY_WORD_NORMALIZERS = frozenset({"NFC", "NFKC", "Lowercase"})
# Distinct words whose normalized text is remembered from one batch to the next (bounded, for corpora with millions
# of distinct words; the ones past it are normalized again in each batch that holds them).
MAX_REMEMBERED_WORDS = 200_000


def normalizes_word_by_word(normalizer) -> bool:
    """Whether `normalizer` (a `tokenizers` normalizer) is a sequence of NFC, NFKC and lower-casing only."""
    return all(step in WORD_BY_WORD_NORMALIZERS for step in _step_types(normalizer))


def _step_types(normalizer) -> list[str | None]:
    description = json.loads(normalizer.__getstate__())
    steps = description.get("normalizers", [description]) if description.get("type") == "Sequence" else [description]
    return [step.get("type") for step in steps]


def is_arrow_text(batch) -> bool:
    """Whether `batch` is an Arrow array (plain or chunked), the form `datasets` holds text in."""
    return type(batch).__module__.startswith("pyarrow") and isinstance(batch, (pa.Array, pa.ChunkedArray))


def normalized_batches(batches: Iterable, normalizer) -> Iterator[list[str]]:
    """The lines of each Arrow string array of `batches`, normalized by `normalizer` (see the module docstring),
    as a list of Python strings per array, computed a batch ahead on a second thread.

    Raises:
        ValueError: `normalizer` is not one that works word by word.
        TypeError: a batch that is not an Arrow array of strings, or that holds missing (null) texts.
        RuntimeError: a line normalized word by word differs from the normalizer's result on the whole line.
    """
    if not normalizes_word_by_word(normalizer):
        raise ValueError(f"the normalizer {normalizer.__getstate__()} does not work word by word")
    words = _WordNormalizer(normalizer)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="attnseq-normalize") as pool:
        pending = None
        for index, batch in enumerate(batches):
            submitted = pool.submit(words.normalize_batch, batch, index)
            if pending is not None:
                yield pending.result()
            pending = submitted
        if pending is not None:
            yield pending.result()


class _WordNormalizer:
    """Normalizes Arrow arrays of lines from their distinct words, remembering up to `MAX_REMEMBERED_WORDS`."""

    def __init__(self, normalizer):
        self.normalizer = normalizer
        self.lowercases = "Lowercase" in _step_types(normalizer)
        self.remembered: dict[str, str] = {}

    def normalize_batch(self, batch, index: int) -> list[str]:
        if not is_arrow_text(batch):
            raise TypeError(f"text batch {index} is a {type(batch).__name__}; every batch must be an Arrow array")
        chunks = batch.chunks if isinstance(batch, pa.ChunkedArray) else [batch]
        lines = []
        for chunk in chunks:
            if not (pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type)):
                raise TypeError(f"text batch {index} is an Arrow array of {chunk.type}, not of strings")
            if chunk.null_count:
                raise TypeError(f"text batch {index} holds {chunk.null_count} missing (null) texts")
            lines.extend(self.normalize_lines(chunk).to_pylist())
        return lines

    def normalize_lines(self, lines: pa.Array) -> pa.Array:
        """The normalized text of every line of `lines` (an Arrow string array without nulls): an ASCII line is
        lower-cased by Arrow or left as it is (NFC and NFKC keep ASCII text as it is), the others word by word."""
        if len(lines) == 0:
            return lines
        ascii_lines = pc.string_is_ascii(lines)
        normalized = pc.ascii_lower(lines) if self.lowercases else lines
        others = pc.invert(ascii_lines)
        if pc.any(others).as_py():
            normalized = pc.replace_with_mask(normalized, others, self._by_words(lines.filter(others)))
        self._check_first_line(lines, normalized)
        return normalized

    def _by_words(self, lines: pa.Array) -> pa.Array:
        split = pc.split_pattern(lines, " ")
        encoded = split.flatten().dictionary_encode()
        normalized = pa.array(self._normalized_words(encoded.dictionary.to_pylist()), type=lines.type)
        list_type = pa.LargeListArray if pa.types.is_large_list(split.type) else pa.ListArray
        separator = pa.scalar(" ", type=lines.type)
        joined = pc.binary_join(list_type.from_arrays(split.offsets, normalized.take(encoded.indices)), separator)
        self._check_first_line(lines, joined)
        return joined

    def _check_first_line(self, lines: pa.Array, normalized: pa.Array) -> None:
        expected = self.normalizer.normalize_str(lines[0].as_py())
        if normalized[0].as_py() != expected:
            raise RuntimeError(
                f"normalizing {lines[0].as_py()!r} word by word gave {normalized[0].as_py()!r}, the normalizer "
                f"{expected!r}"
            )

    def _normalized_words(self, words: list[str]) -> list[str]:
        remembered, normalize = self.remembered, self.normalizer.normalize_str
        room = MAX_REMEMBERED_WORDS - len(remembered)
        result = []
        for word in words:
            text = remembered.get(word)
            if text is None:
                text = normalize(word)
                if room > 0:
                    remembered[word] = text
                    room -= 1
            result.append(text)
        return result
