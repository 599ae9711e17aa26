"""Pairs from data sets that `datasets.load_dataset` opens (`--dataset_name`), on local data-set folders written
here: parquet and JSON Lines files named by split, a WMT-like `translation` column, a `save_to_disk` folder; and
the same data sets as streams (`--streaming`)."""

import json

import pytest
from datasets import Dataset, DatasetDict, Features, Translation, Value
from transformers import AutoTokenizer

import attnseq  # noqa: F401
from attnseq.data.encoding import tokenize_pairs
from attnseq.data.loading import load_pairs
from attnseq.data.streaming import load_stream_pairs, tokenize_stream
from attnseq.tokenization.char import CharTokenizer
from attnseq.training.cli import parse_train_arguments

GERMAN = [f"hallo welt {i}" for i in range(40)]
ENGLISH = [f"hello world {i}" for i in range(40)]
SPLITS = {"train": range(0, 30), "validation": range(30, 35), "test": range(35, 40)}


def data_args(tmp_path, *flags):
    return parse_train_arguments([*flags, "--output_dir", str(tmp_path / "out")])[1]


def translation_rows(rows):
    return [{"translation": {"de": GERMAN[i], "en": ENGLISH[i]}, "id": i} for i in rows]


def write_parquet_translation(folder, splits=SPLITS):
    folder.mkdir()
    for split, rows in splits.items():
        Dataset.from_list(translation_rows(rows)).to_parquet(str(folder / f"{split}.parquet"))
    return str(folder)


def write_jsonl_columns(folder, names=("train", "dev", "test")):
    """Flat `src`/`tgt` columns and a nested `meta.note` in JSON Lines files; the validation split named `dev`."""
    folder.mkdir()
    for name, rows in zip(names, SPLITS.values()):
        with open(folder / f"{name}.jsonl", "w", encoding="utf-8") as handle:
            for i in rows:
                handle.write(json.dumps({"src": GERMAN[i], "tgt": ENGLISH[i], "meta": {"note": f"n{i}"}}) + "\n")
    return str(folder)


@pytest.fixture
def wmt_like(tmp_path):
    return write_parquet_translation(tmp_path / "wmt")


def as_pairs(dataset):
    return list(zip(dataset["source"], dataset["target"]))


def test_translation_column_sides_are_picked_by_the_languages(tmp_path, wmt_like):
    pairs = load_pairs(data_args(tmp_path, "--dataset_name", wmt_like, "--source_lang", "de", "--target_lang", "en"))
    for split, rows in SPLITS.items():
        assert as_pairs(pairs[split]) == [(GERMAN[i], ENGLISH[i]) for i in rows]
    reversed_pairs = load_pairs(
        data_args(tmp_path, "--dataset_name", wmt_like, "--source_lang", "en", "--target_lang", "de")
    )
    assert as_pairs(reversed_pairs["test"]) == [(ENGLISH[i], GERMAN[i]) for i in SPLITS["test"]]


def test_save_to_disk_folder_with_translation_feature(tmp_path):
    features = Features({"translation": Translation(languages=["de", "en"]), "id": Value("int64")})
    saved = DatasetDict(
        {split: Dataset.from_list(translation_rows(rows), features=features) for split, rows in SPLITS.items()}
    )
    folder = str(tmp_path / "saved")
    saved.save_to_disk(folder)
    pairs = load_pairs(data_args(tmp_path, "--dataset_name", folder, "--source_lang", "en", "--target_lang", "de"))
    assert as_pairs(pairs["validation"]) == [(ENGLISH[i], GERMAN[i]) for i in SPLITS["validation"]]
    assert len(pairs["train"]) == 30
    streamed = load_stream_pairs(
        data_args(tmp_path, "--dataset_name", folder, "--source_lang", "de", "--target_lang", "en", "--streaming")
    )
    assert [row["target"] for row in streamed.train] == ENGLISH[:30]
    assert as_pairs(streamed.test) == [(GERMAN[i], ENGLISH[i]) for i in SPLITS["test"]]


def test_named_flat_and_nested_columns_and_dev_split(tmp_path):
    folder = write_jsonl_columns(tmp_path / "jsonl")
    pairs = load_pairs(
        data_args(tmp_path, "--dataset_name", folder, "--source_column", "src", "--target_column", "tgt")
    )
    assert as_pairs(pairs["validation"]) == [(GERMAN[i], ENGLISH[i]) for i in SPLITS["validation"]]  # from dev
    nested = load_pairs(
        data_args(tmp_path, "--dataset_name", folder, "--source_column", "meta.note", "--target_column", "tgt")
    )
    assert as_pairs(nested["test"])[0] == ("n35", ENGLISH[35])


def test_missing_validation_split_is_split_off_train_by_percentage(tmp_path):
    folder = write_parquet_translation(tmp_path / "no_validation", {"train": range(0, 30), "test": range(35, 40)})
    flags = ["--dataset_name", folder, "--source_lang", "de", "--target_lang", "en"]
    pairs = load_pairs(data_args(tmp_path, *flags, "--validation_split_percentage", "20"))
    assert (len(pairs["train"]), len(pairs["validation"]), len(pairs["test"])) == (24, 6, 5)
    train, validation = set(as_pairs(pairs["train"])), set(as_pairs(pairs["validation"]))
    assert not train & validation and len(train | validation) == 30
    default = load_pairs(data_args(tmp_path, *flags, "--validation_size", "3"))  # without it: --validation_size
    assert (len(default["train"]), len(default["validation"])) == (27, 3)


def test_one_data_file_is_the_train_split(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in translation_rows(range(20))), encoding="utf-8")
    flags = ["--dataset_name", str(path), "--source_lang", "de", "--target_lang", "en", "--test_size", "5"]
    pairs = load_pairs(data_args(tmp_path, *flags, "--validation_split_percentage", "25"))
    assert (len(pairs["train"]), len(pairs["validation"]), len(pairs["test"])) == (
        10,
        5,
        5,
    )  # 25 % of the 20 rows, then 5 test rows
    assert set(as_pairs(pairs["train"])) | set(as_pairs(pairs["validation"])) | set(as_pairs(pairs["test"])) == {
        (GERMAN[i], ENGLISH[i]) for i in range(20)
    }
    streamed = load_stream_pairs(data_args(tmp_path, *flags[:6], "--streaming", "--max_eval_samples", "2"))
    assert [row["source"] for row in streamed.train] == GERMAN[4:20]


def test_missing_test_and_validation_splits_use_the_split_sizes(tmp_path):
    folder = write_parquet_translation(tmp_path / "train_only", {"train": range(40)})
    flags = ["--dataset_name", folder, "--source_lang", "de", "--target_lang", "en"]
    pairs = load_pairs(data_args(tmp_path, *flags, "--validation_size", "4", "--test_size", "6"))
    assert (len(pairs["train"]), len(pairs["validation"]), len(pairs["test"])) == (30, 4, 6)


@pytest.mark.parametrize(
    "flags, error, message",
    [
        (["--source_lang", "fr", "--target_lang", "en"], ValueError, "--source_lang 'fr' is not a language"),
        (["--source_lang", "de", "--target_lang", "xx"], ValueError, "its languages: de, en"),
        ([], ValueError, "pick its sides with --source_lang and --target_lang"),
        (["--source_column", "translation.de", "--target_column", "english"], ValueError, "its columns: "),
        (["--validation_split_percentage", "100", "--source_lang", "de", "--target_lang", "en"], ValueError, "below"),
        (["--dataset_config_name", "nope", "--source_lang", "de", "--target_lang", "en"], ValueError, "'nope'"),
        (["--train_file", "x.tsv"], ValueError, "cannot be combined with --train_file"),
        (["--task", "date"], ValueError, "cannot be combined with --task"),
    ],
)
def test_bad_settings_are_refused_in_one_line(tmp_path, wmt_like, flags, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(".", r"\.")) as raised:
        load_pairs(data_args(tmp_path, "--dataset_name", wmt_like, *flags))
    assert "\n" not in str(raised.value)


def test_missing_column_names_the_columns_there_are(tmp_path, wmt_like):
    with pytest.raises(ValueError) as raised:
        load_pairs(data_args(tmp_path, "--dataset_name", wmt_like, "--source_column", "de", "--target_column", "en"))
    assert "translation.de, translation.en, id" in str(raised.value)


def test_unknown_data_sets_and_folders_are_refused_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="no such data-set folder"):
        load_pairs(data_args(tmp_path, "--dataset_name", str(tmp_path / "missing" / "folder")))
    with pytest.raises(FileNotFoundError, match="the Hub cannot be reached"):
        load_pairs(data_args(tmp_path, "--dataset_name", "nobody-here/no-such-dataset"))


def test_a_data_set_without_train_split_is_refused(tmp_path):
    folder = write_parquet_translation(tmp_path / "test_only", {"test": range(5)})
    with pytest.raises(ValueError, match="has no train split; its splits: test"):
        load_pairs(data_args(tmp_path, "--dataset_name", folder, "--source_lang", "de", "--target_lang", "en"))


@pytest.mark.parametrize("flags", [["--streaming"], ["--dataset_config_name", "x"]])
def test_data_set_flags_without_a_data_set_are_refused(tmp_path, flags):
    with pytest.raises(ValueError, match="--dataset_name"):
        load_pairs(data_args(tmp_path, *flags))


def test_stream_holds_out_bounded_validation_and_test_rows(tmp_path, wmt_like):
    flags = ["--dataset_name", wmt_like, "--source_lang", "de", "--target_lang", "en", "--streaming"]
    streamed = load_stream_pairs(data_args(tmp_path, *flags, "--max_eval_samples", "3"))
    assert as_pairs(streamed.validation) == [(GERMAN[i], ENGLISH[i]) for i in range(30, 33)]
    assert as_pairs(streamed.test) == [(GERMAN[i], ENGLISH[i]) for i in range(35, 38)]
    assert [(row["source"], row["target"]) for row in streamed.train] == [(GERMAN[i], ENGLISH[i]) for i in range(30)]
    assert as_pairs(streamed.take_train(4)) == [(GERMAN[i], ENGLISH[i]) for i in range(4)]


def test_stream_without_held_out_splits_skips_the_rows_it_holds_out(tmp_path):
    folder = write_jsonl_columns(tmp_path / "train_only", names=("train",))
    flags = ["--dataset_name", folder, "--source_column", "src", "--target_column", "tgt", "--streaming"]
    streamed = load_stream_pairs(data_args(tmp_path, *flags, "--max_eval_samples", "4"))
    assert as_pairs(streamed.validation) == [(GERMAN[i], ENGLISH[i]) for i in range(4)]
    assert as_pairs(streamed.test) == [(GERMAN[i], ENGLISH[i]) for i in range(4, 8)]
    assert [row["source"] for row in streamed.train] == GERMAN[8:30]  # the held-out rows are not trained on
    with pytest.raises(ValueError, match="--validation_split_percentage needs the size"):
        load_stream_pairs(data_args(tmp_path, *flags, "--validation_split_percentage", "10"))


def test_bad_streamed_rows_raise_or_are_dropped(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    rows = [{"source": "a b", "target": "b a"}, {"source": "", "target": "x"}, {"source": "c", "target": "c"}] * 3
    Dataset.from_list(rows).to_parquet(str(folder / "train.parquet"))
    flags = ["--dataset_name", str(folder), "--streaming", "--max_eval_samples", "1"]
    with pytest.raises(ValueError, match="row 1 of the train stream is bad: source is empty"):
        load_stream_pairs(data_args(tmp_path, *flags))
    streamed = load_stream_pairs(data_args(tmp_path, *flags, "--bad_rows", "drop"))
    assert [row["source"] for row in streamed.train] == ["a b", "c", "a b", "c"]  # 2 held out, the empty ones gone


@pytest.mark.parametrize("overlong", ["truncate", "drop"])
def test_stream_tokenization_matches_tokenize_pairs(tmp_path, wmt_like, overlong):
    flags = ["--dataset_name", wmt_like, "--source_lang", "de", "--target_lang", "en", "--streaming"]
    streamed = load_stream_pairs(data_args(tmp_path, *flags))
    sample = streamed.take_train(30)
    tokenizer = CharTokenizer.from_dataset(sample, columns=("source", "target"))
    tokenizer.save_pretrained(tmp_path / "tok")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "tok")
    limits = {"max_source_length": 13, "max_target_length": 14}  # "hallo welt 1" + eos fits, "... 12" + eos not
    expected = tokenize_pairs(sample, tokenizer, overlong=overlong, **limits)
    stream = tokenize_stream(streamed.train, tokenizer, overlong=overlong, batch_size=7, **limits)
    rows = list(stream)
    assert [row["input_ids"] for row in rows] == expected["input_ids"]
    assert [row["labels"] for row in rows] == expected["labels"]
    assert [row["attention_mask"] for row in rows] == expected["attention_mask"]
    assert all(ids[-1] == tokenizer.eos_token_id for row in rows for ids in (row["input_ids"], row["labels"]))
    assert len(rows) == (30 if overlong == "truncate" else 10)
    with pytest.raises(ValueError, match="longer than max_source_length=13"):
        list(tokenize_stream(streamed.train, tokenizer, overlong="error", **limits))
