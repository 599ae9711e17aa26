"""Smoke test of benchmarks/reproduce_book.py on small book-format files written by the test."""

import importlib.util
import logging
import os
import random
import sys

import pytest
import torch
from datasets.utils.logging import enable_progress_bar, is_progress_bar_enabled

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "reproduce_book.py")
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october"]


@pytest.fixture(scope="module")
def reproduce_book():
    spec = importlib.util.spec_from_file_location("reproduce_book", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the script runs
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


@pytest.fixture(autouse=True)
def restore_global_state():
    """The script's main() sets the torch thread count, quiets the attnseq logger and hides the datasets
    progress bars; later tests must not inherit that."""
    threads, level, bars = torch.get_num_threads(), logging.getLogger("attnseq").level, is_progress_bar_enabled()
    yield
    torch.set_num_threads(threads)
    logging.getLogger("attnseq").setLevel(level)
    if bars:
        enable_progress_bar()


@pytest.fixture
def data_dir(tmp_path):
    """addition.txt and date.txt in the book's fixed-width format; date.txt repeats lines, as the book's does."""
    rng = random.Random(0)
    with open(tmp_path / "addition.txt", "w") as handle:
        for _ in range(200):
            a, b = rng.randrange(1000), rng.randrange(1000)
            handle.write(f"{a}+{b}".ljust(7) + "_" + str(a + b).ljust(4) + "\n")
    with open(tmp_path / "date.txt", "w") as handle:
        lines = []
        for _ in range(150):
            year, month, day = rng.randrange(1970, 2030), rng.randrange(1, 11), rng.randrange(1, 29)
            question = f"{MONTHS[month - 1]} {day}, {year}"
            lines.append(question.ljust(29) + f"_{year:04d}-{month:02d}-{day:02d}\n")
        lines += lines[:50]
        rng.shuffle(lines)
        handle.writelines(lines)
    return tmp_path


def test_loads_like_the_book(reproduce_book, data_dir):
    data = reproduce_book.load_task(str(data_dir), "date")
    assert (len(data.train), len(data.test)) == (180, 20)
    assert data.test.targets[0].count("-") == 2 and " " not in data.test.targets[0]
    assert 0 < int(data.test.unseen.sum()) < len(data.test)  # some test lines repeat training lines


def test_runs_and_prints_the_tables(reproduce_book, data_dir, capsys):
    argv = ["--data_dir", str(data_dir), "--max_epochs", "1", "--variants", "reversed_peeky", "transformer"]
    results = reproduce_book.main(argv + ["--tasks", "addition", "date"])
    output = capsys.readouterr().out
    assert [(r.task, r.variant.name) for r in results] == [
        ("addition", "reversed_peeky"),
        ("addition", "transformer"),
        ("date", "reversed_peeky"),
        ("date", "transformer"),
    ]
    for result in results:
        assert len(result.curve) == 1 and all(0.0 <= value <= 100.0 for value in result.curve)
        assert result.unseen_rows <= result.test_rows == 20
    assert "| addition | + reversed source + peeky |" in output
    assert "98.14 % (25)" in output and "100.00 % (10)" in output
    assert "exact match on the test split after each epoch" in output


def test_exact_match_needs_the_whole_answer_and_eos(reproduce_book, data_dir):
    data = reproduce_book.load_task(str(data_dir), "addition")

    class Echo:
        """Generates the reference answers of the first rows, one of them without eos and one cut short."""

        def eval(self):
            return self

        def generate(self, input_ids, **kwargs):
            import torch

            labels = data.test.labels[: len(input_ids)].clamp(min=0).clone()
            labels[0, (labels[0] == data.tokenizer.eos_token_id).nonzero()] = data.tokenizer.pad_token_id
            labels[1, 0] = data.tokenizer.eos_token_id
            start = torch.full((len(input_ids), 1), data.tokenizer.bos_token_id)
            return torch.cat([start, labels], dim=1)

    hits = reproduce_book.exact_matches(Echo(), data.tokenizer, data.test)
    assert hits.tolist() == [False, False] + [True] * (len(data.test) - 2)


def test_goal_and_init_options(reproduce_book, data_dir, monkeypatch):
    data = reproduce_book.load_task(str(data_dir), "addition")
    monkeypatch.setitem(reproduce_book.BOOK_CURVES, ("addition", "reversed"), (0.0, 0.0))  # reached at once
    variant = reproduce_book.Variant(
        "reversed", "+ reversed source", "lstm", {"attention": "none"}, goal=100.0, max_epochs=2
    )
    assert len(reproduce_book.run_variant("addition", variant, data, seed=0, book_goal=True).curve) == 1
    assert len(reproduce_book.run_variant("addition", variant, data, seed=0).curve) == 2

    assert reproduce_book.parse_args([]).embedding_init_std == 1.0
    assert reproduce_book.parse_args(["--book_embedding_init"]).embedding_init_std == 0.01
    assert reproduce_book.parse_args(["--embedding_init_std", "0.1", "--goal", "book"]).goal == "book"
    with pytest.raises(SystemExit):
        reproduce_book.parse_args(["--book_embedding_init", "--embedding_init_std", "0.1"])
