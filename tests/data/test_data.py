"""Readers, bad rows, tokenization with length limits, caching and the collator."""

import bz2
import gzip
import io
import json
import logging
import lzma
import os
from pathlib import Path

import pytest
import torch
from datasets import Dataset, DatasetDict
from transformers import AutoModelForSeq2SeqLM

import attnseq  # noqa: F401  (registers the model types)
from attnseq.configuration.lstm import Seq2SeqLSTMConfig
from attnseq.data.encoding import build_data_collator, tokenize_pairs
from attnseq.data.readers import (
    check_pairs,
    read_book_file,
    read_csv,
    read_jsonl,
    read_pairs,
    read_parallel_files,
    read_text_lines,
    read_text_stream,
    read_tsv,
    select_pairs,
    split_dataset,
    split_like_book,
)
from attnseq.tokenization import CharTokenizer

BOOK_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "book"


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def pairs(dataset):
    return list(zip(dataset["source"], dataset["target"]))


@pytest.fixture
def cache(tmp_path):
    return str(tmp_path / "cache")


def test_book_format_splits_at_the_first_underscore_and_strips_padding(tmp_path, cache):
    path = write(tmp_path / "addition.txt", "16+75  _91  \n52+607 _659 \nseptember 27, 1994  _1994-09-27\n")
    dataset = read_book_file(path, cache_dir=cache)
    assert dataset.column_names == ["source", "target"]
    assert pairs(dataset) == [("16+75", "91"), ("52+607", "659"), ("september 27, 1994", "1994-09-27")]
    assert pairs(read_pairs(path, cache_dir=cache)) == pairs(dataset)  # .txt is the book's format


def test_book_format_reports_lines_without_separator(tmp_path, cache):
    path = write(tmp_path / "bad.txt", "1+1  _2  \n2+2 4\n_5\n3+3_6\n")
    with pytest.raises(
        ValueError, match=r"2 of 4 rows .* line 2: no '_' between question and answer; line 3: source is empty"
    ):
        read_book_file(path, cache_dir=cache)


def test_tsv_by_position_or_by_header(tmp_path, cache):
    path = write(tmp_path / "pairs.tsv", 'Go.\tVa !\tCC-BY 2.0\nHe said "hi".\tIl a dit « salut ».\tCC-BY 2.0\n')
    assert pairs(read_tsv(path, cache_dir=cache)) == [("Go.", "Va !"), ('He said "hi".', "Il a dit « salut ».")]
    assert pairs(read_pairs(path, cache_dir=cache, source_column=1, target_column=0))[0] == ("Va !", "Go.")
    named = write(tmp_path / "named.tsv", "id\ten\tfr\n1\tHi.\tSalut.\n")
    assert pairs(read_tsv(named, "fr", "en", cache_dir=cache)) == [("Salut.", "Hi.")]  # names imply a header line
    assert pairs(read_tsv(named, 1, 2, header=True, cache_dir=cache)) == [("Hi.", "Salut.")]
    with pytest.raises(ValueError, match=r"column 'de' is not in the header .* \['id', 'en', 'fr'\]"):
        read_tsv(named, "de", "en", cache_dir=cache)
    with pytest.raises(ValueError, match="without a header line are field positions"):
        read_tsv(path, "en", "fr", header=False, cache_dir=cache)


def test_files_without_pairs_are_refused(tmp_path, cache):
    with pytest.raises(ValueError, match="is empty; it needs at least one pair"):
        read_tsv(write(tmp_path / "empty.tsv", ""), cache_dir=cache)
    with pytest.raises(ValueError, match="has a header line but no pairs"):
        read_tsv(write(tmp_path / "header.tsv", "en\tfr\n"), "en", "fr", cache_dir=cache)
    with pytest.raises(ValueError, match="has a header line but no pairs"):
        read_csv(write(tmp_path / "header.csv", "source,target\n\n"), cache_dir=cache)
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_jsonl(tmp_path / "missing.jsonl", cache_dir=cache)


def test_csv_keeps_every_value_as_text(tmp_path, cache):
    path = write(tmp_path / "pairs.csv", 'id,question,answer\n1,"57+5, then",62\n2,"two\nlines",NA\n3,007,07\n')
    dataset = read_csv(path, "question", "answer", cache_dir=cache)
    assert pairs(dataset) == [("57+5, then", "62"), ("two\nlines", "NA"), ("007", "07")]
    with pytest.raises(ValueError, match=r"column 'source' is not in the header .* \['id', 'question', 'answer'\]"):
        read_pairs(path, cache_dir=cache)
    missing = write(tmp_path / "missing.csv", "source,target\na,b\nc,\n")
    with pytest.raises(ValueError, match="line 3: target is empty"):
        read_csv(missing, cache_dir=cache)


def test_jsonl_reports_each_bad_line_with_its_line_number(tmp_path, cache, caplog):
    lines = [
        {"source": "a", "target": "b", "id": 1},
        {"source": "a", "target": 3},
        [1, 2],
        None,  # written as an invalid line below
        {"source": None, "target": "x"},
        {"target": "x"},
        {"source": "c", "target": "d"},
    ]
    text = "\n".join("{not json" if line is None else json.dumps(line) for line in lines) + "\n"
    path = write(tmp_path / "pairs.jsonl", text)
    with pytest.raises(ValueError) as error:
        read_jsonl(path, cache_dir=cache)
    message = str(error.value)
    assert "5 of 7 rows" in message and "bad_rows='drop'" in message
    assert "line 2: target ('target') is of type int, not a string: 3" in message
    assert "line 3: a JSON value of type list, not an object" in message
    assert "line 4: invalid JSON" in message
    assert "line 5: source is missing (None)" in message
    assert "line 6: no key 'source' (source)" in message
    with caplog.at_level(logging.WARNING, logger="attnseq.data.readers"):
        dataset = read_pairs(path, bad_rows="drop", cache_dir=cache)
    assert pairs(dataset) == [("a", "b"), ("c", "d")]
    assert "dropped 5 bad rows of 7" in caplog.text


BOM = "\ufeff"  # the byte-order mark Windows tools write before UTF-8 text


@pytest.mark.parametrize(
    "name, text, columns",
    [
        ("pairs.tsv", f"{BOM}Hallo\tHello\r\nWelt\tWorld\r\n", {}),
        ("named.tsv", f"{BOM}de\ten\nHallo\tHello\nWelt\tWorld\n", {"source_column": "de", "target_column": "en"}),
        ("pairs.csv", f"{BOM}de,en\r\nHallo,Hello\r\nWelt,World\r\n", {"source_column": "de", "target_column": "en"}),
        ("pairs.jsonl", BOM + '{"source": "Hallo", "target": "Hello"}\n{"source": "Welt", "target": "World"}\n', {}),
        ("pairs.txt", f"{BOM}Hallo _Hello\nWelt _World\n", {}),
    ],
    ids=["tsv", "tsv-header", "csv", "jsonl", "book"],
)
def test_a_byte_order_mark_is_not_text(tmp_path, cache, name, text, columns):
    dataset = read_pairs(write(tmp_path / name, text), cache_dir=cache, **columns)
    assert pairs(dataset) == [("Hallo", "Hello"), ("Welt", "World")]


def test_a_byte_order_mark_is_not_text_of_parallel_files_or_text_lines(tmp_path, cache):
    source = write(tmp_path / "train.de", f"{BOM}Hallo\nWelt\n")
    target = write(tmp_path / "train.en", f"{BOM}Hello\nWorld\n")
    assert pairs(read_parallel_files(source, target, cache_dir=cache)) == [("Hallo", "Hello"), ("Welt", "World")]
    assert read_text_lines(source) == ["Hallo", "Welt"]
    assert read_text_stream(io.BytesIO(f"{BOM} Hallo\nWelt\n".encode())) == ["Hallo", "Welt"]
    assert read_text_stream(io.StringIO(f"{BOM}Hallo\n")) == ["Hallo"]


def test_blank_lines_are_skipped_and_bad_rows_named_by_their_line(tmp_path, cache, caplog):
    path = write(tmp_path / "pairs.tsv", "de\ten\na\tb\n\n \t \nc\n\nd\te\nf\n")
    with pytest.raises(ValueError, match=r"2 of 4 rows of .*pairs.tsv are bad: line 5: .*; line 8: "):
        read_tsv(path, "de", "en", cache_dir=cache)
    with caplog.at_level(logging.WARNING, logger="attnseq.data.readers"):
        assert pairs(read_tsv(path, "de", "en", bad_rows="drop", cache_dir=cache)) == [("a", "b"), ("d", "e")]
    assert "skipped 3 blank line(s) of" in caplog.text and "line 5: 1 tab-separated field(s)" in caplog.text
    jsonl = write(tmp_path / "pairs.jsonl", '\n{"source": "a", "target": "b"}\n\n\n{"source": "a"}\n')
    with pytest.raises(ValueError, match=r"1 of 2 rows .* line 5: no key 'target'"):
        read_jsonl(jsonl, cache_dir=cache)
    with pytest.raises(ValueError, match=r"holds no text \(every line is blank\)"):
        read_tsv(write(tmp_path / "blank.tsv", "\n \n\t\n"), cache_dir=cache)


def test_csv_bad_rows_are_named_by_the_line_their_record_starts_on(tmp_path, cache):
    path = write(tmp_path / "pairs.csv", 'source,target\n"two\nlines",x\n\nc,\n"d",""\ne,f\n')
    with pytest.raises(ValueError, match=r"2 of 4 rows of .*pairs.csv are bad: line 5: target is empty; line 6: "):
        read_csv(path, cache_dir=cache)


def test_jsonl_columns_may_name_fields_of_nested_objects(tmp_path, cache):
    records = [{"translation": {"de": "Hallo", "en": "Hello"}}, {"translation": {"de": "Welt"}}, {"translation": "x"}]
    path = write(tmp_path / "wmt.jsonl", "".join(json.dumps(record) + "\n" for record in records))
    with pytest.raises(
        ValueError, match=r"line 2: no key 'translation.en' \(target\); line 3: no key 'translation.de'"
    ):
        read_jsonl(path, "translation.de", "translation.en", cache_dir=cache)
    dataset = read_pairs(path, "jsonl", source_column="translation.en", target_column="translation.de", bad_rows="drop")
    assert pairs(dataset) == [("Hello", "Hallo")]
    flat = write(tmp_path / "flat.jsonl", json.dumps({"a.b": "x", "a": {"b": "nested"}, "c": "y"}) + "\n")
    assert pairs(read_jsonl(flat, "a.b", "c", cache_dir=cache)) == [("x", "y")]  # a key with a dot comes first


@pytest.mark.parametrize("compression", ["gz", "bz2", "xz"])
def test_compressed_files_are_read_as_their_inner_format(tmp_path, cache, compression):
    opener = {"gz": gzip.open, "bz2": bz2.open, "xz": lzma.open}[compression]

    def compressed(name, text):
        path = tmp_path / f"{name}.{compression}"
        with opener(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
        return path

    expected = [("Hallo", "Hello"), ("Welt", "World")]
    assert pairs(read_pairs(compressed("pairs.tsv", "Hallo\tHello\nWelt\tWorld\n"), cache_dir=cache)) == expected
    records = "".join(json.dumps({"translation": {"de": de, "en": en}}) + "\n" for de, en in expected)
    jsonl = compressed("pairs.jsonl", records)
    assert pairs(read_pairs(jsonl, source_column="translation.de", target_column="translation.en")) == expected
    csv_file = compressed("pairs.csv", 'de,en\n"Hallo",Hello\n\nWelt,\n')
    with pytest.raises(ValueError, match=r"line 4: target is empty"):
        read_pairs(csv_file, source_column="de", target_column="en", cache_dir=cache)
    source, target = compressed("train.de", "Hallo\nWelt\n"), compressed("train.en", "Hello\nWorld\n")
    assert pairs(read_parallel_files(source, target, cache_dir=cache)) == expected
    assert read_text_lines(source) == ["Hallo", "Welt"]
    with pytest.raises(ValueError, match=r"is empty; it needs at least one pair"):
        read_pairs(compressed("empty.tsv", ""), cache_dir=cache)
    latin1 = tmp_path / f"latin1.tsv.{compression}"
    with opener(latin1, "wb") as handle:
        handle.write("gut\tgood\nsch\u00f6n\tnice\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1.tsv.* line 2, byte offset 12 \(0xf6\) is not valid UTF-8"):
        read_pairs(latin1, cache_dir=cache)


def test_unknown_extension_and_format_are_refused(tmp_path):
    path = write(tmp_path / "pairs.dat", "a\tb\n")
    with pytest.raises(ValueError, match=r"extension '.dat'.*Pass format= one of 'book', 'tsv', 'csv', 'jsonl'"):
        read_pairs(path)
    with pytest.raises(ValueError, match="format='parquet' is not supported"):
        read_pairs(path, format="parquet")


def test_select_pairs_from_any_dataset():
    translation = Dataset.from_dict(
        {"translation": [{"de": "Hallo", "en": "Hello"}, {"de": "Welt", "en": "World"}], "id": [1, 2]}
    )
    selected = select_pairs(DatasetDict(train=translation, test=translation), "translation.en", "translation.de")
    assert set(selected) == {"train", "test"}
    assert selected["train"].column_names == ["source", "target"]
    assert pairs(selected["test"]) == [("Hello", "Hallo"), ("World", "Welt")]
    swapped = select_pairs(Dataset.from_dict({"source": ["q"], "target": ["a"]}), "target", "source")
    assert pairs(swapped) == [("a", "q")]


def test_select_pairs_reports_bad_rows_and_columns(caplog):
    rows = Dataset.from_dict({"q": ["1+1", None, "", "2+2"], "a": ["2", "x", "y", None]})
    with pytest.raises(
        ValueError,
        match=r"3 of 4 rows of dataset are bad: row 1: source is missing \(None\); "
        r"row 2: source is empty; row 3: target is missing \(None\)",
    ):
        select_pairs(rows, "q", "a")
    many = Dataset.from_dict({"source": ["a"] + [""] * 7, "target": ["b"] * 8})
    with pytest.raises(ValueError, match=r"7 of 8 rows of dataset are bad \(first 5 shown\)") as error:
        check_pairs(many)
    assert "row 5: source is empty" in str(error.value) and "row 6" not in str(error.value)
    with caplog.at_level(logging.WARNING, logger="attnseq.data.readers"):
        assert pairs(select_pairs(rows, "q", "a", bad_rows="drop")) == [("1+1", "2")]
    assert "dropped 3 bad rows of 4 from dataset" in caplog.text
    with pytest.raises(ValueError, match=r"column\(s\) \['answer'\] not in dataset; its columns are \['q', 'a'\]"):
        select_pairs(rows, "q", "answer")
    with pytest.raises(ValueError, match="column 'n' of dataset holds int64 values, not strings"):
        select_pairs(Dataset.from_dict({"n": [1], "a": ["x"]}), "n", "a")
    with pytest.raises(ValueError, match="all 1 rows of dataset are bad, nothing is left: row 0: target is empty"):
        check_pairs(Dataset.from_dict({"source": ["a"], "target": [""]}), bad_rows="drop")
    with pytest.raises(ValueError, match="bad_rows='skip' is not supported; allowed: 'error', 'drop'"):
        check_pairs(Dataset.from_dict({"source": ["a"], "target": ["b"]}), bad_rows="skip")


@pytest.fixture
def tokenizer():
    return CharTokenizer.from_texts(["abcdefghij+0123456789"])


def test_tokenize_pairs_gives_model_columns_ending_with_eos(tokenizer):
    dataset = DatasetDict(
        train=Dataset.from_dict({"source": ["1+1", "12+30"], "target": ["2", "42"]}),
        test=Dataset.from_dict({"source": ["5+5"], "target": ["10"]}),
    )
    encoded = tokenize_pairs(dataset, tokenizer)
    assert encoded["train"].column_names == ["input_ids", "attention_mask", "labels"]
    row = encoded["train"][1]
    assert row["input_ids"] == tokenizer("12+30")["input_ids"] and row["input_ids"][-1] == tokenizer.eos_token_id
    assert row["labels"] == tokenizer(text_target="42")["input_ids"] and row["attention_mask"] == [1] * 6
    assert tokenize_pairs(dataset["test"], tokenizer, keep_text=True).column_names == [
        "source",
        "target",
        "input_ids",
        "attention_mask",
        "labels",
    ]


def test_overlong_rows_are_truncated_dropped_or_refused_with_a_count(tokenizer, caplog):
    dataset = Dataset.from_dict(
        {"source": ["ab", "abcdefgh", "abc", "abcdefghij"], "target": ["1", "12", "123456", "1"]}
    )
    limits = {"max_source_length": 5, "max_target_length": 4}
    with caplog.at_level(logging.WARNING, logger="attnseq.data.encoding"):
        truncated = tokenize_pairs(dataset, tokenizer, **limits)
    assert len(truncated) == 4
    assert truncated[1]["input_ids"] == tokenizer("abcd")["input_ids"]  # 4 characters + eos
    assert truncated[2]["labels"] == tokenizer(text_target="123")["input_ids"]
    assert all(len(ids) <= 5 for ids in truncated["input_ids"]) and all(ids[-1] == 2 for ids in truncated["input_ids"])
    assert "truncated 3 of 4 rows" in caplog.text and "row 1 (9 tokens), row 3 (11 tokens)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="attnseq.data.encoding"):
        dropped = tokenize_pairs(dataset, tokenizer, overlong="drop", **limits)
    assert dropped["input_ids"] == [tokenizer("ab")["input_ids"]]
    assert "dropped 3 of 4 rows" in caplog.text
    with pytest.raises(ValueError, match=r"2 source\(s\) longer than max_source_length=5: row 1 \(9 tokens\)"):
        tokenize_pairs(dataset, tokenizer, overlong="error", **limits)
    with pytest.raises(ValueError, match="overlong='cut' is not supported; allowed: 'truncate', 'drop', 'error'"):
        tokenize_pairs(dataset, tokenizer, overlong="cut")


def test_unknown_tokens_are_counted_in_the_log(tokenizer, caplog):
    dataset = Dataset.from_dict({"source": ["1+x", "y+z"], "target": ["2", "3"]})
    with caplog.at_level(logging.WARNING, logger="attnseq.data.encoding"):
        tokenize_pairs(dataset, tokenizer)
    assert "3 source token(s) in 2 row(s) are unknown" in caplog.text
    with pytest.raises(ValueError, match=r"has no column\(s\) \['target'\]"):
        tokenize_pairs(Dataset.from_dict({"source": ["1"]}), tokenizer)


def test_tokenize_pairs_checks_rows_first(tokenizer):
    dataset = Dataset.from_dict({"source": ["1+1", None, "2+2"], "target": ["2", "0", ""]})
    with pytest.raises(ValueError, match=r"row 1: source is missing \(None\); row 2: target is empty"):
        tokenize_pairs(dataset, tokenizer)
    assert tokenize_pairs(dataset, tokenizer, bad_rows="drop")["labels"] == [tokenizer(text_target="2")["input_ids"]]


def test_tokenizing_a_file_backed_dataset_is_cached(tmp_path, cache, tokenizer):
    path = write(tmp_path / "pairs.tsv", "".join(f"{i}+{i}\t{2 * i}\n" for i in range(50)))
    first = tokenize_pairs(read_tsv(path, cache_dir=cache), tokenizer)
    files = sorted(os.listdir(os.path.dirname(first.cache_files[0]["filename"])))
    second = tokenize_pairs(read_tsv(path, cache_dir=cache), tokenizer)
    assert second.cache_files == first.cache_files
    assert sorted(os.listdir(os.path.dirname(first.cache_files[0]["filename"]))) == files
    assert second["input_ids"] == first["input_ids"]
    # Editing the file gives new rows, not the cached ones.
    write(path, "1+2\t3\n")
    assert len(tokenize_pairs(read_tsv(path, cache_dir=cache), tokenizer)) == 1


def test_collator_pads_inputs_with_pad_and_labels_with_minus_100(tokenizer):
    encoded = tokenize_pairs(Dataset.from_dict({"source": ["1+1", "12+30"], "target": ["2", "42"]}), tokenizer)
    batch = build_data_collator(tokenizer)([encoded[0], encoded[1]])
    assert batch["input_ids"].tolist()[0][-2:] == [0, 0]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 0, 0], [1] * 6]
    assert batch["labels"].tolist()[0] == [*tokenizer(text_target="2")["input_ids"], -100]
    model = AutoModelForSeq2SeqLM.from_config(Seq2SeqLSTMConfig(vocab_size=len(tokenizer), hidden_size=8))
    with_model = build_data_collator(tokenizer, model=model)([encoded[0], encoded[1]])
    expected = torch.tensor([[1, *encoded[0]["labels"]], [1, *encoded[1]["labels"][:-1]]])  # shifted right
    assert torch.equal(with_model["decoder_input_ids"], expected)


def test_split_dataset_and_the_books_split():
    dataset = Dataset.from_dict({"source": [str(i) for i in range(100)], "target": ["x"] * 100})
    splits = split_dataset(dataset, validation_size=0.1, test_size=20, seed=0)
    assert {name: len(part) for name, part in splits.items()} == {"train": 70, "validation": 10, "test": 20}
    assert len(set().union(*(part["source"] for part in splits.values()))) == 100
    with pytest.raises(ValueError, match="leave no training rows"):
        split_dataset(dataset, validation_size=50, test_size=50)
    book = split_like_book(dataset)
    assert (len(book["train"]), len(book["test"])) == (90, 10)
    assert book["test"]["source"] == split_like_book(dataset)["test"]["source"]


@pytest.mark.skipif(not (BOOK_DATA / "date.txt").exists(), reason="the book's data files are not next to this checkout")
def test_the_books_date_file_and_split(cache):
    splits = split_like_book(read_book_file(BOOK_DATA / "date.txt", cache_dir=cache))
    assert (len(splits["train"]), len(splits["test"])) == (45_000, 5_000)
    seen = set(pairs(splits["train"]))
    assert sum(pair in seen for pair in pairs(splits["test"])) == 1405  # as the book's SOURCE.md records
