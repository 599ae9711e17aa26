"""Subword tokenizers trained with `tokenizers`: special token ids, eos, round trips, shared or own vocabularies."""

import random

import pytest
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from attnseq.tokenization import train_seq2seq_tokenizers, train_subword_tokenizer
from attnseq.tokenization.bpe import subword_training_options

ENGLISH = "the a cat dog sat on mat log and saw ran big small red".split()
GERMAN = "die eine Katze Hund saß auf Matte Klotz und sah lief groß klein rot".split()


def sentences(words, count=300, seed=0):
    rng = random.Random(seed)
    return [" ".join(rng.choices(words, k=rng.randint(3, 8))) for _ in range(count)]


@pytest.fixture(scope="module")
def bpe():
    return train_subword_tokenizer(sentences(ENGLISH), vocab_size=120)


def test_special_tokens_have_ids_0_to_3_and_eos_is_appended(bpe):
    assert isinstance(bpe, PreTrainedTokenizerFast)
    assert [bpe.pad_token_id, bpe.bos_token_id, bpe.eos_token_id, bpe.unk_token_id] == [0, 1, 2, 3]
    assert bpe.convert_ids_to_tokens([0, 1, 2, 3]) == ["<pad>", "<s>", "</s>", "<unk>"]
    ids = bpe("the cat sat on the mat")["input_ids"]
    assert ids[-1] == bpe.eos_token_id and bpe.eos_token_id not in ids[:-1]
    assert bpe(text_target="a dog")["input_ids"][-1] == bpe.eos_token_id
    # Frequent words become single pieces.
    assert len(ids) < len("the cat sat on the mat".split()) * 2


def test_decode_restores_the_text_and_unseen_characters_become_unk(bpe):
    text = "the big red dog ran on a log"
    assert bpe.decode(bpe(text)["input_ids"], skip_special_tokens=True) == text
    assert bpe.unk_token_id in bpe("the zebra")["input_ids"]


def test_save_and_load_with_auto_tokenizer(bpe, tmp_path):
    bpe.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    batch = ["the cat sat", "a small red log and a big mat"]
    assert loaded(batch)["input_ids"] == bpe(batch)["input_ids"]
    assert loaded.pad_token_id == 0 and loaded.eos_token_id == 2


def test_unigram_model_has_the_same_special_tokens():
    unigram = train_subword_tokenizer(sentences(ENGLISH) * 3, vocab_size=60, model="unigram")
    assert [unigram.pad_token_id, unigram.bos_token_id, unigram.eos_token_id, unigram.unk_token_id] == [0, 1, 2, 3]
    ids = unigram("a cat saw the dog")["input_ids"]
    assert ids[-1] == 2
    assert unigram.decode(ids, skip_special_tokens=True) == "a cat saw the dog"


def test_shared_or_separate_vocabularies():
    sources, targets = sentences(ENGLISH), sentences(GERMAN, seed=1)
    source_tokenizer, target_tokenizer = train_seq2seq_tokenizers(sources, targets, vocab_size=150)
    assert source_tokenizer is target_tokenizer
    assert source_tokenizer.unk_token_id not in source_tokenizer("die Katze saß")["input_ids"]
    source_tokenizer, target_tokenizer = train_seq2seq_tokenizers(sources, targets, shared=False, vocab_size=150)
    assert source_tokenizer is not target_tokenizer
    assert target_tokenizer.unk_token_id not in target_tokenizer(text_target="die Katze saß")["input_ids"]
    assert source_tokenizer.unk_token_id in source_tokenizer("saß")["input_ids"]  # "ß" only occurs in targets
    assert target_tokenizer.eos_token_id == source_tokenizer.eos_token_id == 2


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="allowed: 'bpe', 'unigram'"):
        train_subword_tokenizer(["a b"], model="wordpiece")
    with pytest.raises(ValueError, match="vocab_size"):
        train_subword_tokenizer(["a b"], vocab_size=4)
    with pytest.raises(TypeError, match="single string"):
        train_subword_tokenizer("a b")
    with pytest.raises(TypeError, match="text 1 is of type NoneType"):
        train_subword_tokenizer(["a b", None])


def test_added_tokens_are_matched_whole_saved_and_restored(tmp_path):
    tokenizer = train_subword_tokenizer(sentences(ENGLISH), vocab_size=60)
    assert tokenizer.add_tokens(["<new1>"]) == 1
    assert tokenizer.add_special_tokens({"additional_special_tokens": ["<lang>"]}) == 1
    new1, lang = tokenizer.convert_tokens_to_ids(["<new1>", "<lang>"])
    assert tokenizer.tokenize("<lang><new1>the cat")[:2] == ["<lang>", "<new1>"]
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert len(loaded) == len(tokenizer)
    assert loaded("<lang><new1>the cat")["input_ids"][:2] == [lang, new1]
    assert loaded("<lang><new1>the cat")["input_ids"] == tokenizer("<lang><new1>the cat")["input_ids"]


@pytest.mark.parametrize("model", ["bpe", "unigram"])
def test_training_options_and_lowercasing_are_saved_and_restored(tmp_path, model):
    min_frequency = 3 if model == "bpe" else None
    tokenizer = train_subword_tokenizer(
        [text.capitalize() for text in sentences(ENGLISH)],
        vocab_size=80,
        model=model,
        min_frequency=min_frequency,
        lowercase=True,
    )
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    expected = {"model": model, "vocab_size": 80, "min_frequency": min_frequency, "lowercase": True}
    assert subword_training_options(tokenizer) == subword_training_options(loaded) == expected
    assert len(loaded) == len(tokenizer) <= 80
    text = "The BIG Cat saw a Dog"
    assert loaded(text)["input_ids"] == tokenizer(text)["input_ids"] == tokenizer(text.lower())["input_ids"]
    assert loaded.decode(loaded(text)["input_ids"], skip_special_tokens=True) == text.lower()


def test_min_frequency_limits_bpe_merges_and_is_refused_for_unigram():
    texts = sentences(ENGLISH, count=40)
    few = train_subword_tokenizer(texts, vocab_size=400, min_frequency=30)
    many = train_subword_tokenizer(texts, vocab_size=400, min_frequency=1)
    assert len(few) < len(many)
    with pytest.raises(ValueError, match="min_frequency"):
        train_subword_tokenizer(texts, vocab_size=60, model="unigram", min_frequency=2)


def test_without_lowercase_case_is_kept():
    tokenizer = train_subword_tokenizer(["The Cat", "the cat"] * 20, vocab_size=40)
    assert tokenizer.decode(tokenizer("The Cat")["input_ids"], skip_special_tokens=True) == "The Cat"
    assert subword_training_options(tokenizer)["lowercase"] is False


def test_batches_of_texts_train_the_tokenizer_of_the_texts():
    texts = [f"ein Hund {i} läuft über die Wiese" for i in range(60)] + ["a dog runs"] * 30
    batches = [texts[:25], texts[25:26], texts[26:]]
    from_texts = train_subword_tokenizer(texts, vocab_size=60)
    assert train_subword_tokenizer(iter(batches), vocab_size=60).backend_tokenizer.to_str() == (
        from_texts.backend_tokenizer.to_str()
    )
    mixed = [texts[:25], *texts[25:]]  # a batch, then single texts
    assert train_subword_tokenizer(mixed, vocab_size=60).backend_tokenizer.to_str() == (
        from_texts.backend_tokenizer.to_str()
    )
    with pytest.raises(TypeError, match="text 3 is of type int"):
        train_subword_tokenizer([["a b", "c"], ["d", 7]])
