"""`WordMemoEncoder` gives the ids of `Tokenizer.encode_batch` from remembered words, takes the shortcut only for
tokenizers and lines where that is exact, and refuses to go on when a line's ids ever differ."""

import pickle
import random

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from attnseq.data.word_memo import WordMemoEncoder, supports
from attnseq.tokenization import train_subword_tokenizer

CORPUS = [
    "Ein Mann läuft über die Straße .",
    "Zwei Hunde spielen im Gras mit einem roten Ball .",
    "A man runs across the street .",
    "Two dogs play in the grass with a red ball .",
    "ΣΟΦΙΑ und Straße , İstanbul und ﬁne Café",
] * 20
# Lines the backend must encode itself: special tokens in the text, empty words (two spaces, a space at an end),
# the Metaspace replacement, and characters that NFKC turns into a space (´, ¨) or a plain space (NBSP).
BACKEND_LINES = [
    "ein <s> Hund </s>",
    "Hund  läuft",
    " Hund",
    "Hund ",
    "a ▁b",
    "der ´ Akzent",
    "ein ¨ Zeichen",
    "Hund\u00a0läuft",
]
TRICKY_CHARACTERS = list("aäßΣσςİiıﬁ½´¨▁\u00a0\u0301\u2003\t日😀<>/s ") + ["<s>", "</s>", "<unk>", "  "]


def _tokenizer(model="bpe", lowercase=False):
    return train_subword_tokenizer(CORPUS, vocab_size=120, model=model, lowercase=lowercase).backend_tokenizer


def _expected(backend, texts):
    return [encoding.ids for encoding in backend.encode_batch(texts)]


@pytest.mark.parametrize("model", ["bpe", "unigram"])
@pytest.mark.parametrize("lowercase", [False, True])
def test_word_by_word_ids_are_the_backends(model, lowercase):
    backend = _tokenizer(model, lowercase)
    encoder = WordMemoEncoder(backend)
    assert encoder.word_by_word
    rng = random.Random(0)
    random_lines = ["".join(rng.choices(TRICKY_CHARACTERS, k=rng.randint(1, 12))) for _ in range(500)]
    texts = CORPUS + BACKEND_LINES + random_lines + ["Straße läuft İstanbul"]
    assert encoder.encode(texts) == _expected(backend, texts)
    assert encoder.lines_from_words >= len(CORPUS)  # the shortcut was taken
    assert encoder.lines_from_backend >= len(BACKEND_LINES)


def test_lines_the_shortcut_cannot_encode_go_to_the_backend():
    backend = _tokenizer()
    encoder = WordMemoEncoder(backend)
    assert encoder.encode(BACKEND_LINES) == _expected(backend, BACKEND_LINES)
    assert (encoder.lines_from_words, encoder.lines_from_backend) == (0, len(BACKEND_LINES))
    assert encoder.encode(CORPUS[:3]) == _expected(backend, CORPUS[:3])
    assert (encoder.lines_from_words, encoder.lines_from_backend) == (3, len(BACKEND_LINES))


def _variants():
    base = _tokenizer()
    dropout = Tokenizer.from_str(base.to_str())
    dropout.model = models.BPE(*_vocab_and_merges(base), dropout=0.5, unk_token="<unk>")
    byte_level = Tokenizer.from_str(base.to_str())
    byte_level.pre_tokenizer = pre_tokenizers.ByteLevel()
    first_only = Tokenizer.from_str(base.to_str())
    first_only.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first")
    added_word = Tokenizer.from_str(base.to_str())
    added_word.add_tokens(["Hund"])
    word_piece = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    word_piece.pre_tokenizer = pre_tokenizers.Metaspace()
    word_piece.train_from_iterator(CORPUS, trainers.WordPieceTrainer(vocab_size=80, special_tokens=["[UNK]"]))
    return {
        "bpe-dropout": dropout,
        "byte-level": byte_level,
        "metaspace-first": first_only,
        "added-word": added_word,
        "wordpiece": word_piece,
    }


def _vocab_and_merges(backend):
    import json

    model = json.loads(backend.to_str())["model"]
    return model["vocab"], [tuple(merge) for merge in model["merges"]]


@pytest.mark.parametrize("name", ["bpe-dropout", "byte-level", "metaspace-first", "added-word", "wordpiece"])
def test_other_tokenizers_are_encoded_by_the_backend(name):
    backend = _variants()[name]
    assert not supports(backend)
    encoder = WordMemoEncoder(backend)
    assert not encoder.word_by_word
    texts = CORPUS[:5] + ["Hund läuft"]
    if name != "bpe-dropout":  # dropout draws new ids each call
        assert encoder.encode(texts) == _expected(backend, texts)
    else:
        assert len(encoder.encode(texts)) == len(texts)
    assert encoder.lines_from_words == 0


def test_the_remembered_words_are_bounded():
    backend = _tokenizer()
    encoder = WordMemoEncoder(backend, max_words=5)
    assert encoder.encode(CORPUS) == _expected(backend, CORPUS)
    assert len(encoder._words) == 5
    assert encoder.lines_from_words == len(CORPUS)


def test_a_pickled_encoder_carries_the_backend_but_no_words():
    backend = _tokenizer()
    encoder = WordMemoEncoder(backend)
    encoder.encode(CORPUS)
    copy = pickle.loads(pickle.dumps(encoder))
    assert copy._words == {} and copy.max_words == encoder.max_words
    assert copy.encode(CORPUS[:4]) == _expected(backend, CORPUS[:4])


def test_ids_that_differ_from_the_tokenizers_raise():
    backend = _tokenizer()
    encoder = WordMemoEncoder(backend)
    encoder.encode(["Hund läuft"])
    encoder._words["Hund"] = [7, 7, 7]
    with pytest.raises(RuntimeError, match="'Hund läuft'.*bug in attnseq"):
        encoder.encode(["Hund läuft", "Ein Mann"])


def test_special_tokens_with_pattern_characters_send_their_lines_to_the_backend():
    backend = _tokenizer()
    backend.add_special_tokens(["[X|Y]", "(.*)"])
    encoder = WordMemoEncoder(backend)
    assert encoder.word_by_word
    texts = ["Hund [X|Y] läuft", "Hund X läuft", "ein (.*) Mann", "ein .* Mann", "Y|X"]
    assert encoder.encode(texts) == _expected(backend, texts)
    assert (encoder.lines_from_words, encoder.lines_from_backend) == (3, 2)


def test_an_empty_batch_gives_no_rows():
    encoder = WordMemoEncoder(_tokenizer())
    assert encoder.encode([]) == []
