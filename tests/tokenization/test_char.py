"""CharTokenizer: vocabulary layout, round trips, unknown characters, save/load and AutoTokenizer."""

import copy
import json
import logging
import os

import pytest
from datasets import Dataset, DatasetDict
from datasets.fingerprint import Hasher
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer
from transformers.models.auto.tokenization_auto import TOKENIZER_MAPPING

import attnseq  # noqa: F401  (registers the tokenizer)
from attnseq.configuration.lstm import Seq2SeqLSTMConfig
from attnseq.configuration.transformer import Seq2SeqTransformerConfig
from attnseq.tokenization import CharTokenizer

TEXTS = ["september 27, 1994", "1994-09-27", "57+5", "62", "Tuesday <s> x"]
ALPHABET = sorted(set("".join(TEXTS)))


@pytest.fixture(scope="module")
def tokenizer():
    return CharTokenizer.from_texts(TEXTS)


def test_special_tokens_come_first_then_characters_in_code_point_order(tokenizer):
    vocab = tokenizer.get_vocab()
    special_ids = [tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id]
    assert special_ids == [0, 1, 2, 3]
    assert [token for token, _ in sorted(vocab.items(), key=lambda item: item[1])] == [
        "<pad>",
        "<s>",
        "</s>",
        "<unk>",
        *ALPHABET,
    ]
    assert len(tokenizer) == tokenizer.vocab_size == 4 + len(ALPHABET)
    # The same texts in another order give the same vocabulary.
    assert CharTokenizer.from_texts(reversed(TEXTS)).get_vocab() == vocab


def test_min_frequency_leaves_rare_characters_out():
    tokenizer = CharTokenizer.from_texts(["aab", "ac"], min_frequency=2)
    assert set(tokenizer.get_vocab()) == {"<pad>", "<s>", "</s>", "<unk>", "a"}
    with pytest.raises(ValueError, match="min_frequency"):
        CharTokenizer.from_texts(["a"], min_frequency=0)


def test_encoding_is_one_id_per_character_then_eos(tokenizer):
    encoded = tokenizer("57+5")
    vocab = tokenizer.get_vocab()
    assert encoded["input_ids"] == [vocab["5"], vocab["7"], vocab["+"], vocab["5"], tokenizer.eos_token_id]
    assert encoded["attention_mask"] == [1] * 5
    assert tokenizer(text_target="62")["input_ids"] == [vocab["6"], vocab["2"], tokenizer.eos_token_id]
    # A space is an ordinary character; a special token's text inside the input is read character by character.
    assert tokenizer.tokenize("x <s>") == ["x", " ", "<", "s", ">"]


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=40))
def test_decode_round_trips_known_characters(text):
    tokenizer = CharTokenizer.from_texts(TEXTS)
    ids = tokenizer(text)["input_ids"]
    assert len(ids) == len(text) + 1
    assert tokenizer.decode(ids, skip_special_tokens=True) == text
    assert tokenizer.decode(ids) == text + "</s>"


def test_batches_pad_on_the_right_with_pad_id(tokenizer):
    batch = tokenizer(["62", "57+5"], text_target=["1", "62"], padding=True, return_tensors="pt")
    assert batch["input_ids"].tolist()[0][3:] == [0, 0]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert batch["labels"].shape == (2, 3)
    assert tokenizer.batch_decode(batch["input_ids"], skip_special_tokens=True) == ["62", "57+5"]


def test_unknown_characters_become_unk_are_counted_and_logged(caplog):
    tokenizer = CharTokenizer.from_texts(["abc"])
    with caplog.at_level(logging.WARNING, logger="attnseq.tokenization.char"):
        ids = tokenizer("aéxé")["input_ids"]
        tokenizer("é")
    assert ids == [tokenizer.get_vocab()["a"], 3, 3, 3, tokenizer.eos_token_id]
    assert tokenizer.unknown_characters == {"é": 3, "x": 1}
    # One warning per new character, not per occurrence.
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 2 and "'é'" in warnings[0] and "'x'" in warnings[1]
    assert tokenizer.decode(ids, skip_special_tokens=True) == "a"


def test_counts_do_not_travel_with_copies_or_change_the_fingerprint():
    tokenizer = CharTokenizer.from_texts(["abc"])
    fingerprint = Hasher.hash(tokenizer)
    tokenizer("zz")
    assert tokenizer.unknown_characters == {"z": 2}
    assert Hasher.hash(tokenizer) == fingerprint
    assert copy.deepcopy(tokenizer).unknown_characters == {}


def test_save_and_load_keep_vocabulary_and_behaviour(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path)
    with open(tmp_path / "vocab.json", encoding="utf-8") as handle:
        saved = json.load(handle)
    assert saved == tokenizer.get_vocab()
    assert list(saved.values()) == list(range(len(saved)))  # written in id order
    with open(tmp_path / "tokenizer_config.json", encoding="utf-8") as handle:
        assert json.load(handle)["tokenizer_class"] == "CharTokenizer"
    for loaded in (CharTokenizer.from_pretrained(tmp_path), AutoTokenizer.from_pretrained(tmp_path)):
        assert type(loaded) is CharTokenizer
        assert loaded.get_vocab() == tokenizer.get_vocab()
        assert loaded("Tuesday, 27 <s>")["input_ids"] == tokenizer("Tuesday, 27 <s>")["input_ids"]
        assert loaded.unknown_characters == {}


@pytest.mark.parametrize("config_class", [Seq2SeqLSTMConfig, Seq2SeqTransformerConfig])
def test_auto_tokenizer_knows_both_model_types(config_class, tokenizer, tmp_path):
    assert TOKENIZER_MAPPING[config_class] is CharTokenizer
    # A checkpoint folder whose tokenizer is found through the model config alone.
    config_class(vocab_size=len(tokenizer)).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    os.remove(tmp_path / "tokenizer_config.json")
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert type(loaded) is CharTokenizer
    assert loaded.get_vocab() == tokenizer.get_vocab()


def test_from_dataset_reads_the_training_split_only():
    splits = DatasetDict(
        train=Dataset.from_dict({"source": ["ab"], "target": ["c"], "other": ["z"]}),
        test=Dataset.from_dict({"source": ["xy"], "target": ["w"], "other": ["z"]}),
    )
    tokenizer = CharTokenizer.from_dataset(splits)
    assert set(tokenizer.get_vocab()) == {"<pad>", "<s>", "</s>", "<unk>", "a", "b", "c"}
    assert set(CharTokenizer.from_dataset(splits["test"], columns="source").get_vocab()) > {"x", "y"}
    with pytest.raises(ValueError, match=r"column\(s\) \['question'\] not in the dataset"):
        CharTokenizer.from_dataset(splits, columns=["question"])
    with pytest.raises(ValueError, match="split 'training' is not in the DatasetDict"):
        CharTokenizer.from_dataset(splits, split="training")


def test_bad_vocabularies_and_texts_are_refused():
    with pytest.raises(ValueError, match="exactly one of"):
        CharTokenizer()
    with pytest.raises(ValueError, match=r"special token\(s\) \['<unk>'\]"):
        CharTokenizer(vocab={"<pad>": 0, "<s>": 1, "</s>": 2, "a": 3})
    with pytest.raises(ValueError, match="ids must be 0..4"):
        CharTokenizer(vocab={"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "a": 7})
    with pytest.raises(TypeError, match="single string"):
        CharTokenizer.from_texts("abc")
    with pytest.raises(TypeError, match="text 1 is of type int"):
        CharTokenizer.from_texts(["abc", 5])


def test_added_tokens_are_matched_whole_saved_and_restored(tmp_path):
    import torch

    from attnseq import Seq2SeqTransformerForConditionalGeneration

    tokenizer = CharTokenizer.from_texts(["abc"])
    assert tokenizer.add_tokens(["<new1>"]) == 1
    assert tokenizer.add_special_tokens({"additional_special_tokens": ["<lang>"]}) == 1
    new1, lang = len(tokenizer) - 2, len(tokenizer) - 1
    assert tokenizer.tokenize("<lang><new1>ab") == ["<lang>", "<new1>", "a", "b"]
    assert tokenizer("<lang><new1>ab")["input_ids"] == [lang, new1, 4, 5, tokenizer.eos_token_id]
    assert tokenizer.unknown_characters == {}  # no character of the added tokens fell to unk
    assert tokenizer.tokenize("<s>a") == ["<", "s", ">", "a"]  # the built-in specials stay characters in a text
    assert tokenizer.decode(tokenizer("<lang>a<new1>")["input_ids"], skip_special_tokens=True) == "a<new1>"

    config = Seq2SeqTransformerConfig(
        vocab_size=tokenizer.vocab_size,
        d_model=8,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=8,
        decoder_ffn_dim=8,
    )
    model = Seq2SeqTransformerForConditionalGeneration(config)
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert len(loaded) == len(tokenizer) == model.config.vocab_size
    ids = loaded("<lang><new1>ab", return_tensors="pt")["input_ids"]
    assert ids[0].tolist() == [lang, new1, 4, 5, loaded.eos_token_id]
    assert model(input_ids=ids, labels=ids).logits.shape[-1] == len(loaded)
    assert torch.isfinite(model(input_ids=ids, labels=ids).loss)


LOAD_WITHOUT_ATTNSEQ = """
import json, sys
from transformers import AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained(sys.argv[1])
texts = json.loads(sys.argv[2])
print(json.dumps({"class": type(tokenizer).__name__, "attnseq": "attnseq" in sys.modules,
                  "ids": [tokenizer(text)["input_ids"] for text in texts],
                  "decoded": [tokenizer.decode(tokenizer(text)["input_ids"], skip_special_tokens=True) for text in texts],
                  "padded": tokenizer(texts, padding=True)["input_ids"]}))
"""


def test_auto_tokenizer_reads_a_saved_folder_without_attnseq(tmp_path):
    """Without `import attnseq` transformers knows no CharTokenizer; the saved tokenizer.json gives the same ids."""
    import subprocess
    import sys

    tokenizer = CharTokenizer.from_texts(TEXTS + ["a\nb\té😀"])
    tokenizer.add_tokens(["<new1>"])
    tokenizer.save_pretrained(tmp_path)
    texts = ["september 27, 1994", "<new1>62 <s>", "a\nb\té😀", "unseen: Ω", ""]
    done = subprocess.run(
        [sys.executable, "-c", LOAD_WITHOUT_ATTNSEQ, str(tmp_path), json.dumps(texts)],
        env=dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["attnseq"] is False and result["class"] == "TokenizersBackend"
    assert result["ids"] == [tokenizer(text)["input_ids"] for text in texts]
    assert result["decoded"] == [
        tokenizer.decode(tokenizer(text)["input_ids"], skip_special_tokens=True) for text in texts
    ]
    assert result["padded"] == tokenizer(texts, padding=True)["input_ids"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from(ALPHABET + ["\n", "é", "<new1>", "<s>", "</s>"]), max_size=20).map("".join),
        min_size=1,
        max_size=4,
    )
)
def test_the_tokenizers_equivalent_encodes_and_decodes_alike(texts):
    from transformers import TokenizersBackend

    tokenizer = CharTokenizer.from_texts(TEXTS)
    tokenizer.add_tokens(["<new1>"])
    fast = TokenizersBackend(
        tokenizer_object=tokenizer.tokenizers_equivalent(),
        split_special_tokens=True,
        **{name: str(getattr(tokenizer, name)) for name in ("pad_token", "bos_token", "eos_token", "unk_token")},
    )
    for text in texts:
        ids = tokenizer(text)["input_ids"]
        assert fast(text)["input_ids"] == ids
        for skip in (False, True):
            assert fast.decode(ids, skip_special_tokens=skip) == tokenizer.decode(ids, skip_special_tokens=skip)
