"""Training text held as Arrow string arrays is normalized word by word (`attnseq.tokenization.arrow_text`): each
line must come out as the tokenizer's normalizer makes it, and the trained tokenizer must be the one trained from
the same texts as Python strings."""

import json
import random

import pyarrow as pa
import pytest
from tokenizers import normalizers

from attnseq.tokenization import arrow_text, train_subword_tokenizer
from attnseq.tokenization.arrow_text import normalized_batches, normalizes_word_by_word

# Characters NFKC or lower-casing change, split, join with a neighbour or turn into spaces: sharp s, final sigma,
# dotted capital I (lower-cases to two characters), the fi ligature, vulgar half, spacing acute and diaeresis (NFKC:
# a space and a combining mark), the metaspace mark, no-break and em spaces (NFKC: a space), a combining acute
# (composes with the letter before it), tab, CJK, an emoji, and runs of spaces.
TRICKY_CHARACTERS = list("aAäÄßΣσςİiıﬁ½´¨▁\u00a0\u0301\u2003\t日😀e ") + ["  ", "e\u0301", "A\u0308"]
CORPUS = [
    "Ein Mann läuft über die Straße .",
    "A man runs across the STREET ,  twice",
    "Zwei Hunde spielen im Schnee ; ΣΟΦΙΑ σοφία",
    " leading and trailing spaces ",
    "ﬁve ½ apples and a café",
] * 20


def tricky_lines(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choices(TRICKY_CHARACTERS, k=rng.randint(0, 14))) for _ in range(count)]


def normalizer(lowercase: bool, form=normalizers.NFKC):
    return normalizers.Sequence([form()] + ([normalizers.Lowercase()] if lowercase else []))


@pytest.mark.parametrize("form", [normalizers.NFKC, normalizers.NFC])
@pytest.mark.parametrize("lowercase", [False, True])
def test_lines_normalized_word_by_word_are_the_normalizers_lines(lowercase, form):
    lines = CORPUS + tricky_lines(2000)
    chosen = normalizer(lowercase, form)
    batches = [pa.array(lines[start : start + 300]) for start in range(0, len(lines), 300)]
    assert [line for batch in normalized_batches(batches, chosen) for line in batch] == [
        chosen.normalize_str(line) for line in lines
    ]


@pytest.mark.parametrize("model", ["bpe", "unigram"])
@pytest.mark.parametrize("lowercase", [False, True])
def test_a_tokenizer_trained_from_arrow_arrays_is_the_one_trained_from_strings(model, lowercase):
    texts = CORPUS + tricky_lines(600, seed=1)
    from_strings = train_subword_tokenizer(texts, vocab_size=150, model=model, lowercase=lowercase)
    arrays = [pa.array(texts[:250]), pa.chunked_array([texts[250:400], texts[400:]]), pa.array([], pa.string())]
    from_arrays = train_subword_tokenizer(arrays, vocab_size=150, model=model, lowercase=lowercase)
    if model == "bpe":
        assert from_arrays.backend_tokenizer.to_str() == from_strings.backend_tokenizer.to_str()
        assert from_arrays("Ein MANN läuft")["input_ids"] == from_strings("Ein MANN läuft")["input_ids"]
    else:  # the unigram trainer gives the same pieces, with scores (so ids) that vary by up to 4e-4 run to run
        pieces, expected = (
            dict(json.loads(t.backend_tokenizer.to_str())["model"]["vocab"]) for t in (from_arrays, from_strings)
        )
        assert pieces.keys() == expected.keys()
        assert all(abs(pieces[piece] - score) < 1e-3 for piece, score in expected.items())


def test_large_strings_and_a_bounded_memory_of_words(monkeypatch):
    monkeypatch.setattr(arrow_text, "MAX_REMEMBERED_WORDS", 5)
    chosen = normalizer(lowercase=True)
    lines = CORPUS + tricky_lines(300, seed=2)
    words = arrow_text._WordNormalizer(chosen)
    for start in range(0, len(lines), 100):
        batch = pa.array(lines[start : start + 100], pa.large_string())
        assert words.normalize_batch(batch, 0) == [chosen.normalize_str(line) for line in lines[start : start + 100]]
    assert len(words.remembered) == 5


def test_a_wrongly_remembered_word_is_caught_on_the_first_line():
    chosen = normalizer(lowercase=True)
    words = arrow_text._WordNormalizer(chosen)
    words.remembered["Ein"] = "zwei"
    with pytest.raises(RuntimeError, match="word by word gave 'zwei mann läuft'"):
        words.normalize_batch(pa.array(["Ein Mann läuft"]), 0)


@pytest.mark.parametrize(
    "batches, error, message",
    [
        ([pa.array(["a b", None])], TypeError, "text batch 0 holds 1 missing"),
        ([pa.array(["a b"]), ["c d"]], TypeError, "text batch 1 is a list; every batch must be an Arrow array"),
        ([pa.array([1, 2])], TypeError, "text batch 0 is an Arrow array of int64, not of strings"),
    ],
)
def test_batches_that_are_not_arrow_text_are_refused(batches, error, message):
    with pytest.raises(error, match=message):
        train_subword_tokenizer(batches, vocab_size=50)


def test_only_normalizers_that_work_word_by_word_are_accepted():
    assert normalizes_word_by_word(normalizer(lowercase=True))
    assert normalizes_word_by_word(normalizers.NFKC())
    for other in (normalizers.Strip(), normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(" ", "_")])):
        assert not normalizes_word_by_word(other)
        with pytest.raises(ValueError, match="does not work word by word"):
            list(normalized_batches([pa.array(["a b"])], other))
