"""`SourceTargetTokenizer`: separate source and target subword vocabularies in one tokenizer."""

import json
import random

import pytest
from transformers import AutoTokenizer, PreTrainedTokenizerFast

import attnseq  # noqa: F401  (registers the tokenizer with AutoTokenizer)
from attnseq.tokenization import SourceTargetTokenizer, train_seq2seq_tokenizer, train_seq2seq_tokenizers
from attnseq.tokenization.bpe import subword_training_options

ENGLISH = "the a cat dog sat on mat log and saw ran big small red".split()
GERMAN = "die eine Katze Hund saß auf Matte Klotz und sah lief groß klein rot".split()


def sentences(words, count=300, seed=0):
    rng = random.Random(seed)
    return [" ".join(rng.choices(words, k=rng.randint(3, 8))) for _ in range(count)]


@pytest.fixture(scope="module", params=["bpe", "unigram"])
def pair(request):
    return train_seq2seq_tokenizer(
        sentences(GERMAN), sentences(ENGLISH, seed=1), shared=False, vocab_size=70, model=request.param
    )


def test_sources_and_targets_use_their_own_vocabulary(pair):
    assert isinstance(pair, SourceTargetTokenizer)
    assert len(pair) != pair.target_len() or pair.get_vocab() != pair.get_target_vocab()
    assert pair.vocab_size == len(pair) and pair.target_vocab_size == pair.target_len()
    german, english = "die Katze sah den Hund", "the cat saw the dog"
    batch = pair([german], text_target=[english])
    assert batch["input_ids"][0] == pair(german)["input_ids"]
    assert batch["labels"][0] == pair(text_target=english)["input_ids"]
    # the same text gives different ids on the two sides
    assert pair(english)["input_ids"] != pair(text_target=english)["input_ids"]
    assert max(batch["labels"][0]) < pair.target_len() and max(batch["input_ids"][0]) < len(pair)
    # decode and batch_decode (what generate() output goes through) read target ids; source ids on request
    assert pair.decode(batch["labels"][0], skip_special_tokens=True) == english
    assert pair.batch_decode(batch["labels"], skip_special_tokens=True) == [english]
    assert pair.decode(batch["input_ids"][0], skip_special_tokens=True, use_source_tokenizer=True) == german
    assert pair.convert_ids_to_tokens(batch["labels"][0])[-1] == "</s>"
    # a call with text_target leaves the tokenizer encoding sources
    assert pair(german)["input_ids"] == batch["input_ids"][0]


def test_special_tokens_are_0_to_3_on_both_sides(pair):
    assert [pair.pad_token_id, pair.bos_token_id, pair.eos_token_id, pair.unk_token_id] == [0, 1, 2, 3]
    for vocab in (pair.get_vocab(), pair.get_target_vocab()):
        assert [vocab[token] for token in ("<pad>", "<s>", "</s>", "<unk>")] == [0, 1, 2, 3]
    assert pair(text_target="a dog")["input_ids"][-1] == 2 and pair("ein Hund")["input_ids"][-1] == 2


def test_padding_and_truncation_apply_to_each_side(pair):
    batch = pair(
        ["die Katze", "die Katze sah den Hund auf der Matte"],
        text_target=["the cat saw the big red dog on the mat", "a dog"],
        padding=True,
        truncation=True,
        max_length=4,
        return_tensors="pt",
    )
    assert batch["input_ids"].shape[1] <= 4 and batch["labels"].shape[1] <= 4
    assert batch["labels"][0, -1].item() == 2 and batch["labels"][1, -1].item() in (0, 2)


def test_save_and_auto_tokenizer_bring_back_both_sides_and_the_options(pair, tmp_path):
    pair.save_pretrained(tmp_path)
    names = {path.name for path in tmp_path.iterdir()}
    assert {"source_tokenizer.json", "target_tokenizer.json", "tokenizer_config.json"} <= names
    assert "tokenizer.json" not in names  # see test_without_attnseq_loading_fails_instead_of_using_one_side
    saved = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert saved["tokenizer_class"] == "SourceTargetTokenizer"
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert isinstance(loaded, SourceTargetTokenizer)
    options = subword_training_options(loaded)
    assert options == subword_training_options(pair)
    assert options["shared_vocabulary"] is False and options["vocab_size"] == 70
    assert (len(loaded), loaded.target_len()) == (len(pair), pair.target_len())
    assert loaded.get_target_vocab() == pair.get_target_vocab() and loaded.get_vocab() == pair.get_vocab()
    texts, targets = ["die Katze sah den Hund", "rot"], ["the cat saw the dog", "red"]
    assert loaded(texts, text_target=targets) == pair(texts, text_target=targets)
    ids = pair(text_target=targets)["input_ids"]
    assert loaded.batch_decode(ids, skip_special_tokens=True) == targets


def test_shared_vocabulary_stays_a_plain_fast_tokenizer_with_todays_files(tmp_path):
    sources, targets = sentences(GERMAN), sentences(ENGLISH, seed=1)
    shared = train_seq2seq_tokenizer(sources, targets, vocab_size=90)
    assert not isinstance(shared, SourceTargetTokenizer) and isinstance(shared, PreTrainedTokenizerFast)
    assert subword_training_options(shared) == {
        "model": "bpe",
        "vocab_size": 90,
        "min_frequency": 2,
        "lowercase": False,
    }
    reference, _ = train_seq2seq_tokenizers(sources, targets, vocab_size=90)
    shared.save_pretrained(tmp_path / "new")
    reference.save_pretrained(tmp_path / "old")
    new_files = sorted(p.name for p in (tmp_path / "new").iterdir())
    assert new_files == sorted(p.name for p in (tmp_path / "old").iterdir())
    assert "target_tokenizer.json" not in new_files
    for name in new_files:
        assert (tmp_path / "new" / name).read_bytes() == (tmp_path / "old" / name).read_bytes()


def test_a_target_side_is_required_and_must_agree_on_special_tokens():
    source, _ = train_seq2seq_tokenizers(sentences(GERMAN), sentences(ENGLISH), vocab_size=60)
    with pytest.raises(ValueError, match="needs its target side"):
        SourceTargetTokenizer(tokenizer_object=source.backend_tokenizer)
    odd = source.backend_tokenizer.__class__.from_str(source.backend_tokenizer.to_str())
    vocab = json.loads(odd.to_str())
    vocab["added_tokens"] = []
    vocab["model"]["vocab"] = {token: (1 - i if i < 2 else i) for token, i in vocab["model"]["vocab"].items()}
    swapped = odd.from_str(json.dumps(vocab))
    with pytest.raises(ValueError, match="pad_token '<pad>' has id 0 in the source vocabulary but 1 in the target"):
        SourceTargetTokenizer(tokenizer_object=source.backend_tokenizer, target_tokenizer_object=swapped)


def test_without_attnseq_loading_fails_instead_of_using_one_side(pair, tmp_path):
    """transformers alone would read a `tokenizer.json` as a tokenizer of one vocabulary and encode targets and
    decode outputs with the source side, silently; with no such file it refuses to load."""
    import os
    import subprocess
    import sys

    pair.save_pretrained(tmp_path)
    code = "import sys; from transformers import AutoTokenizer; AutoTokenizer.from_pretrained(sys.argv[1])"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, env=env)
    assert done.returncode != 0 and "Error" in done.stderr
