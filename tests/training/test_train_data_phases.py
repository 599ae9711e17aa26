"""`attnseq train` on parallel files: a new tokenizer trained from Arrow batches (on `--tokenizer_train_lines` pairs
when given) and kept in the datasets cache, the phase lines printed with `--disable_tqdm true`, and a second identical
run served from the cache in every phase."""

import os
import random
import re

import datasets.config
import pytest
from cli_testing import run_attnseq

from attnseq.data.readers import read_parallel_files
from attnseq.data.tasks import load_task
from attnseq.tokenization import train_subword_tokenizer
from attnseq.training.arguments import DataArguments
from attnseq.training.build import TOKENIZER_CACHE_FOLDER, new_tokenizer, preprocessing_workers

GERMAN = "die eine katze hund saß auf matte klotz und sah lief groß klein rot blau grün haus baum".split()
ENGLISH = "the a cat dog sat on mat log and saw ran big small red blue green house tree".split()
LINE = re.compile(
    r"^attnseq data: (?P<phase>reading|tokenizer training|tokenization): (?P<count>[\d,]+) pairs in "
    r"\d+\.\d s(?P<cached> \(cached\))? \([\d,]+ pairs/s\)$"
)


def write_pairs(folder, count=200, seed=0):
    rng = random.Random(seed)
    words = dict(zip(GERMAN, ENGLISH, strict=True))
    sources = [" ".join(rng.choices(GERMAN, k=rng.randint(2, 6))) for _ in range(count)]
    targets = [" ".join(words[word] for word in source.split()) for source in sources]
    (folder / "train.de").write_text("\n".join(sources) + "\n", encoding="utf-8")
    (folder / "train.en").write_text("\n".join(targets) + "\n", encoding="utf-8")
    return folder / "train.de", folder / "train.en"


def phases(output: str) -> dict[str, re.Match]:
    found = [LINE.match(line) for line in output.splitlines() if line.startswith("attnseq data:")]
    assert all(found), output
    return {match["phase"]: match for match in found}


@pytest.fixture
def datasets_cache(tmp_path, monkeypatch):
    folder = tmp_path / "datasets-cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(folder))
    return folder


def test_a_new_tokenizer_is_cached_and_retrained_when_an_option_changes(tmp_path, capsys, datasets_cache):
    train = read_parallel_files(*write_pairs(tmp_path))
    options = DataArguments(tokenizer="bpe", subword_vocab_size=60)
    first = new_tokenizer(train, options)
    assert phases(capsys.readouterr().out)["tokenizer training"]["cached"] is None
    second = new_tokenizer(train, options)
    training = phases(capsys.readouterr().out)["tokenizer training"]
    assert training["cached"] and training["count"] == "200"
    assert second.backend_tokenizer.to_str() == first.backend_tokenizer.to_str()
    first.save_pretrained(tmp_path / "first")
    second.save_pretrained(tmp_path / "second")
    for name in os.listdir(tmp_path / "first"):  # the run's checkpoint gets the same files either way
        assert (tmp_path / "first" / name).read_bytes() == (tmp_path / "second" / name).read_bytes(), name
    smaller = new_tokenizer(train, DataArguments(tokenizer="bpe", subword_vocab_size=50))
    assert phases(capsys.readouterr().out)["tokenizer training"]["cached"] is None
    assert len(smaller) < len(first)
    separate = new_tokenizer(train, DataArguments(tokenizer="bpe", subword_vocab_size=60, shared_vocabulary=False))
    assert type(
        new_tokenizer(train, DataArguments(tokenizer="bpe", subword_vocab_size=60, shared_vocabulary=False))
    ) is (type(separate))
    assert len(os.listdir(datasets_cache / TOKENIZER_CACHE_FOLDER)) == 3


def test_tokenizer_train_lines_trains_on_the_first_pairs(tmp_path, capsys, datasets_cache):
    source, target = write_pairs(tmp_path, count=100)
    with open(source, "a", encoding="utf-8") as handle:
        handle.write("xq\n")  # "x" and "q" occur in the last pair only
    with open(target, "a", encoding="utf-8") as handle:
        handle.write("qx\n")
    train = read_parallel_files(source, target)
    sample = new_tokenizer(train, DataArguments(tokenizer="char", tokenizer_train_lines=100))
    assert phases(capsys.readouterr().out)["tokenizer training"]["count"] == "100"
    assert "x" not in sample.get_vocab() and "a" in sample.get_vocab()
    everything = new_tokenizer(train, DataArguments(tokenizer="char"))
    assert phases(capsys.readouterr().out)["tokenizer training"]["cached"] is None  # N is part of the cache key
    assert "x" in everything.get_vocab()
    with pytest.raises(ValueError, match="--tokenizer_train_lines must be a positive"):
        new_tokenizer(train, DataArguments(tokenizer="char", tokenizer_train_lines=0))
    subword = new_tokenizer(train, DataArguments(tokenizer="bpe", subword_vocab_size=40, tokenizer_train_lines=100))
    expected = train_subword_tokenizer(train[:100]["source"] + train[:100]["target"], vocab_size=40)
    assert subword.backend_tokenizer.to_str() == expected.backend_tokenizer.to_str()
    assert "x" not in subword.get_vocab()


def test_a_tokenizer_of_pairs_held_in_memory_is_not_cached(datasets_cache):
    new_tokenizer(load_task("date", seed=0, num_train=50)["train"], DataArguments(tokenizer="char"))
    assert not (datasets_cache / TOKENIZER_CACHE_FOLDER).exists()


def test_preprocessing_workers_default_to_the_cores():
    assert preprocessing_workers(DataArguments()) == (os.cpu_count() or 1)
    assert preprocessing_workers(DataArguments(preprocessing_num_workers=3)) == 3
    with pytest.raises(ValueError, match="--preprocessing_num_workers"):
        preprocessing_workers(DataArguments(preprocessing_num_workers=0))


def test_train_prints_the_phases_and_a_second_run_is_served_from_the_cache(tmp_path, monkeypatch):
    source, target = write_pairs(tmp_path)
    tiny = (
        "--model transformer --d_model 16 --encoder_layers 1 --decoder_layers 1 --encoder_attention_heads 2 "
        "--decoder_attention_heads 2 --encoder_ffn_dim 32 --decoder_ffn_dim 32 --max_steps 1 --show_examples 0 "
        "--validation_size 10 --test_size 10 --tokenizer bpe --subword_vocab_size 60 --disable_tqdm true "
        "--preprocessing_num_workers 2"
    ).split()
    files = ["--source_file", str(source), "--target_file", str(target), *tiny]
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "datasets-cache"))
    outputs = []
    for run in range(2):
        result = run_attnseq("train", *files, "--output_dir", str(tmp_path / f"out{run}"))
        outputs.append(phases(result.stdout))
        assert "%|" not in result.stderr  # no progress bars under --disable_tqdm true, only the phase lines
    assert list(outputs[0]) == ["reading", "tokenizer training", "tokenization"]
    assert [match["count"] for match in outputs[0].values()] == ["200", "180", "200"]
    assert all(match["cached"] is None for match in outputs[0].values())
    assert all(match["cached"] for match in outputs[1].values())
    for name in ("tokenizer.json", "tokenizer_config.json"):
        assert (tmp_path / "out0" / name).read_bytes() == (tmp_path / "out1" / name).read_bytes()
