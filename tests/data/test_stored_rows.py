"""Selections of a stored data set (splits) read in stored order: the same texts, statistics and token rows, in
the selection's order, as reading them through the selection."""

import random
from collections import Counter

import numpy as np
import pytest
from datasets import Dataset

from attnseq.data import encoding
from attnseq.data.encoding import longest_sequence, tokenize_pairs
from attnseq.data.stored_rows import (
    iter_text_arrays_any_order,
    per_row,
    stored_rows,
    stored_view,
)
from attnseq.tokenization import train_subword_tokenizer

WORDS = "ein eine Hund Katze läuft sitzt auf dem Gras roten Ball the a dog cat runs sits on grass red ball".split()


def iter_texts_any_order(dataset, column):
    return [text for batch in iter_text_arrays_any_order(dataset, column) for text in batch.to_pylist()]


def pairs(count=400, seed=0):
    rng = random.Random(seed)
    return Dataset.from_dict(
        {
            "source": [" ".join(rng.choices(WORDS[:11], k=rng.randint(1, 30))) + f" {i}" for i in range(count)],
            "target": [" ".join(rng.choices(WORDS[11:], k=rng.randint(1, 30))) for _ in range(count)],
        }
    )


def test_a_split_shows_stored_rows_and_a_whole_table_none():
    stored = pairs()
    split = stored.train_test_split(test_size=0.25, seed=1)["train"]
    rows = stored_rows(split)
    assert stored_rows(stored) is None
    assert [stored[int(row)]["source"] for row in rows[:20]] == split[:20]["source"]
    assert len(stored_view(split)) == len(stored) and stored_rows(stored_view(split)) is None


def test_texts_in_any_order_are_the_selections_texts_with_their_repeats():
    stored = pairs()
    selection = stored.select([5, 3, 3, 399, 0, 5, 5, *range(200, 400)])  # half of the table: read in stored order
    assert Counter(iter_texts_any_order(selection, "source")) == Counter(selection[:]["source"])
    split = stored.train_test_split(test_size=0.3, seed=2)["test"]
    assert sorted(iter_texts_any_order(split, "target")) == sorted(split[:]["target"])
    assert list(iter_texts_any_order(stored, "source")) == stored[:]["source"]


def test_per_row_values_follow_the_selections_order():
    stored = pairs()
    selection = stored.select([7, 2, 2, 300, *range(399, 100, -1)])
    lengths = per_row(selection, "source", lambda values: np.array([len(text) for text in values.to_pylist()]))
    assert lengths.tolist() == [len(text) for text in selection[:]["source"]]


def test_a_tokenizer_trained_from_stored_order_is_the_one_trained_in_split_order():
    split = pairs(count=600).train_test_split(test_size=0.2, seed=3)["train"]
    in_split_order = train_subword_tokenizer(split[:]["source"] + split[:]["target"], vocab_size=60)
    any_order = train_subword_tokenizer(
        [*iter_text_arrays_any_order(split, "source"), *iter_text_arrays_any_order(split, "target")], vocab_size=60
    )
    assert in_split_order.backend_tokenizer.to_str() == any_order.backend_tokenizer.to_str()


@pytest.mark.parametrize("num_proc", [1, 2])
def test_a_large_split_is_tokenized_in_stored_order_and_returned_in_its_own(monkeypatch, num_proc):
    monkeypatch.setattr(encoding, "MIN_ROWS_PER_PROCESS", 50)
    stored = pairs(count=600)
    tokenizer = train_subword_tokenizer(stored[:]["source"] + stored[:]["target"], vocab_size=60)
    split = stored.train_test_split(test_size=0.1, seed=4)["train"]
    assert encoding._rows_to_read_in_stored_order(split) is not None  # the stored-order path is taken
    tokenized = tokenize_pairs(split, tokenizer, max_source_length=20, num_proc=num_proc)
    assert tokenized[:]["input_ids"] == tokenizer(split[:]["source"], truncation=True, max_length=20)["input_ids"]
    assert tokenized[:]["labels"] == tokenizer(text_target=split[:]["target"])["input_ids"]
    assert longest_sequence(tokenized, "labels") == max(len(ids) for ids in tokenized[:]["labels"])
    dropped = tokenize_pairs(split, tokenizer, max_source_length=20, overlong="drop", num_proc=num_proc)
    expected = [ids for ids in tokenizer(split[:]["source"])["input_ids"] if len(ids) <= 20]
    assert dropped[:]["input_ids"] == expected


def test_a_small_share_of_a_table_and_repeated_rows_take_the_selection_as_it_is(monkeypatch):
    monkeypatch.setattr(encoding, "MIN_ROWS_PER_PROCESS", 50)
    stored = pairs(count=600)
    assert encoding._rows_to_read_in_stored_order(stored.select(range(0, 600, 3))) is None  # a third of it
    assert encoding._rows_to_read_in_stored_order(stored.select([1] * 400)) is None
    assert encoding._rows_to_read_in_stored_order(stored) is None


def test_a_small_selection_is_read_through_itself(monkeypatch):
    stored = pairs()
    selection = stored.select([9, 4, 4])
    monkeypatch.setattr("attnseq.data.stored_rows.stored_batches", lambda *args, **kwargs: iter(()))  # never read
    assert list(iter_texts_any_order(selection, "source")) == selection[:]["source"]
    lengths = per_row(selection, "source", lambda values: np.array([len(text) for text in values.to_pylist()]))
    assert lengths.tolist() == [len(text) for text in selection[:]["source"]]
