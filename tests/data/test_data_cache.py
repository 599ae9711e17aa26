"""Parallel files and pairs files through the datasets cache: read once into Arrow, tokenized with the Rust backends
under a fingerprint of the data and the tokenizer, served from the cache by a second identical run and rebuilt
when a file or the tokenizer changes; the phase lines say which."""

import os
import random
import re

import datasets.config
import pyarrow as pa
import pytest

from attnseq.data import encoding
from attnseq.data.encoding import longest_sequence, rust_backends, tokenize_pairs
from attnseq.data.loading import read_pairs_file
from attnseq.data.progress import data_phase, phase_line
from attnseq.data.readers import PARALLEL_CACHE_FOLDER, iter_text_arrays, iter_texts, read_parallel_files
from attnseq.tokenization import CharTokenizer, train_seq2seq_tokenizer, train_subword_tokenizer

WORDS = "ein eine Hund Katze läuft sitzt auf dem Gras roten Ball the a dog cat runs sits on grass red ball".split()
LINE = re.compile(
    r"^attnseq data: (?P<phase>reading|tokenizer training|tokenization): (?P<count>[\d,]+) pairs in "
    r"\d+\.\d s(?P<cached> \(cached\))? \([\d,]+ pairs/s\)$"
)


@pytest.fixture(autouse=True)
def datasets_cache(tmp_path, monkeypatch):
    """Every cache these tests write goes to a folder of their own."""
    folder = tmp_path / "datasets-cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(folder))
    return folder


def write_parallel(folder, count=200, seed=0, suffix=""):
    rng = random.Random(seed)
    sources = [" ".join(rng.choices(WORDS[:11], k=rng.randint(1, 9))) for _ in range(count)]
    targets = [" ".join(rng.choices(WORDS[11:], k=rng.randint(1, 9))) for _ in range(count)]
    source, target = folder / f"train{suffix}.de", folder / f"train{suffix}.en"
    source.write_text("\n".join(sources) + "\n", encoding="utf-8")
    target.write_text("\n".join(targets) + "\n", encoding="utf-8")
    return source, target


def phase_lines(capsys) -> dict[str, re.Match]:
    lines = [LINE.match(line) for line in capsys.readouterr().out.splitlines() if line.startswith("attnseq data:")]
    assert all(lines), lines
    return {line["phase"]: line for line in lines}


def read_in_phase(source, target):
    with data_phase("reading") as phase:
        pairs = read_parallel_files(source, target)
        phase.count = len(pairs)
    return pairs


def tokenize_in_phase(pairs, tokenizer, **options):
    with data_phase("tokenization") as phase:
        tokenized = tokenize_pairs(pairs, tokenizer, **options)
        phase.count = len(pairs)
    return tokenized


def test_phase_line_format():
    line = phase_line("tokenization", 1_000_000, "pairs", 21.3)
    assert line == "attnseq data: tokenization: 1,000,000 pairs in 21.3 s (46,948 pairs/s)"
    assert phase_line("reading", 1_000, "pairs", 0.5, cached=True) == (
        "attnseq data: reading: 1,000 pairs in 0.5 s (cached) (2,000 pairs/s)"
    )


def test_a_second_read_of_parallel_files_is_served_from_the_cache(tmp_path, capsys, datasets_cache):
    source, target = write_parallel(tmp_path)
    first = read_in_phase(source, target)
    assert phase_lines(capsys)["reading"]["cached"] is None
    second = read_in_phase(source, target)
    reading = phase_lines(capsys)["reading"]
    assert reading["cached"] and reading["count"] == "200"
    assert second.cache_files == first.cache_files
    assert str(datasets_cache / PARALLEL_CACHE_FOLDER) in first.cache_files[0]["filename"]
    assert second[:] == first[:] and len(os.listdir(datasets_cache / PARALLEL_CACHE_FOLDER)) == 1


def test_gzip_files_are_cached_too(tmp_path, capsys):
    import gzip

    source, target = write_parallel(tmp_path)
    packed = []
    for path in (source, target):
        packed.append(tmp_path / f"{path.name}.gz")
        packed[-1].write_bytes(gzip.compress(path.read_bytes()))
    first = read_in_phase(*packed)
    second = read_in_phase(*packed)
    assert first[:] == second[:] == read_parallel_files(source, target)[:]
    assert [match["cached"] is not None for match in [phase_lines(capsys)["reading"]]] == [True]


def test_a_touched_file_is_read_again(tmp_path, capsys, datasets_cache):
    source, target = write_parallel(tmp_path)
    read_in_phase(source, target)
    stamp = os.stat(source)
    target.write_text("\n".join(["changed"] * 200) + "\n", encoding="utf-8")  # same name, new content
    os.utime(target, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 5_000_000_000))
    capsys.readouterr()
    pairs = read_in_phase(source, target)
    assert phase_lines(capsys)["reading"]["cached"] is None
    assert set(pairs[:]["target"]) == {"changed"}
    assert len(os.listdir(datasets_cache / PARALLEL_CACHE_FOLDER)) == 2


def test_the_cached_read_keeps_the_checks_and_messages(tmp_path, caplog):
    source, target = tmp_path / "s.de", tmp_path / "t.en"
    source.write_text("eins\n\nzwei\n\n", encoding="utf-8")
    target.write_text("one\n\n\nfour\n", encoding="utf-8")
    for _ in range(2):  # the first read writes the cache, the second reads it back: the same errors
        caplog.clear()
        with pytest.raises(ValueError, match="2 of 3 rows") as raised:
            read_parallel_files(source, target)
        assert "line 3 of" in str(raised.value) and "line 4 of" in str(raised.value)
        assert "skipped 1 line(s) empty in both" in caplog.text
        pairs = read_parallel_files(source, target, bad_rows="drop")
        assert list(zip(pairs["source"], pairs["target"])) == [("eins", "one")]


def test_iter_texts_reads_a_column_in_batches(tmp_path):
    pairs = read_parallel_files(*write_parallel(tmp_path))
    assert list(iter_texts(pairs, "source", batch_size=7)) == pairs[:]["source"]
    assert list(iter_texts(pairs, "target", limit=5, batch_size=2)) == pairs[:5]["target"]
    arrays = list(iter_text_arrays(pairs, "target", limit=5, batch_size=2))
    assert [len(texts) for texts in arrays] == [2, 2, 1] and all(isinstance(texts, pa.Array) for texts in arrays)
    assert [text for texts in arrays for text in texts.to_pylist()] == pairs[:5]["target"]


def _tokenizers():
    rng = random.Random(1)
    texts = [" ".join(rng.choices(WORDS, k=rng.randint(1, 9))) for _ in range(300)]
    sources, targets = texts[::2], texts[1::2]
    char = CharTokenizer.from_texts([text for text in texts if "Ä" not in text])
    return {
        "bpe-shared": train_seq2seq_tokenizer(sources, targets, vocab_size=60),
        "bpe-separate": train_seq2seq_tokenizer(sources, targets, shared=False, vocab_size=60),
        "unigram": train_subword_tokenizer(texts, vocab_size=60, model="unigram"),
        "char": char,
    }


@pytest.mark.parametrize("name", ["bpe-shared", "bpe-separate", "unigram", "char"])
def test_rust_encoding_gives_the_ids_of_the_tokenizer_call(tmp_path, name):
    tokenizer = _tokenizers()[name]
    assert rust_backends(tokenizer) is not None
    source, target = write_parallel(tmp_path, count=120)
    lines = source.read_text(encoding="utf-8").splitlines()
    lines[:3] = ["ein <s> Hund </s>", "Ärger mit § und ☃", "Hund  läuft\tim  Gras"]  # specials, unknown, spaces
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    pairs = read_parallel_files(source, target)
    limits = {"max_source_length": 6, "max_target_length": 5}
    tokenized = tokenize_pairs(pairs, tokenizer, **limits)
    sources, targets = pairs[:]["source"], pairs[:]["target"]
    full_sources = tokenizer(sources)["input_ids"]
    assert any(len(ids) > 6 for ids in full_sources)  # truncation is exercised
    expected_sources = tokenizer(sources, truncation=True, max_length=6)["input_ids"]
    expected_targets = tokenizer(text_target=targets, truncation=True, max_length=5)["input_ids"]
    assert tokenized[:]["input_ids"] == expected_sources
    assert tokenized[:]["labels"] == expected_targets
    assert tokenized[:]["attention_mask"] == [[1] * len(ids) for ids in expected_sources]
    untruncated = tokenize_pairs(pairs, tokenizer)
    assert untruncated[:]["input_ids"] == full_sources
    assert untruncated[:]["labels"] == tokenizer(text_target=targets)["input_ids"]


def test_a_char_tokenizer_with_added_tokens_keeps_its_own_encoding(tmp_path):
    tokenizer = CharTokenizer.from_texts(WORDS)
    tokenizer.add_tokens(["<de>"])
    assert rust_backends(tokenizer) is None
    source, target = write_parallel(tmp_path, count=20)
    source.write_text("<de> Hund\n" * 20, encoding="utf-8")
    tokenized = tokenize_pairs(read_parallel_files(source, target), tokenizer)
    assert tokenized[0]["input_ids"] == tokenizer("<de> Hund")["input_ids"]


def test_tokenization_is_served_from_the_cache_whatever_the_tokenizer_object(tmp_path, capsys):
    source, target = write_parallel(tmp_path)
    pairs = read_parallel_files(source, target)
    tokenizer = train_subword_tokenizer(WORDS * 3, vocab_size=60)
    first = tokenize_in_phase(pairs, tokenizer)
    assert phase_lines(capsys)["tokenization"]["cached"] is None
    tokenizer.save_pretrained(tmp_path / "tok")
    from transformers import PreTrainedTokenizerFast

    reloaded = PreTrainedTokenizerFast.from_pretrained(tmp_path / "tok")  # another object, the same content
    second = tokenize_in_phase(pairs, reloaded)
    assert phase_lines(capsys)["tokenization"]["cached"]
    assert second.cache_files == first.cache_files and second[:] == first[:]
    tokenize_in_phase(pairs, train_subword_tokenizer(WORDS * 3, vocab_size=50))  # another tokenizer
    assert phase_lines(capsys)["tokenization"]["cached"] is None
    tokenize_in_phase(pairs, reloaded, max_source_length=4)  # another option
    assert phase_lines(capsys)["tokenization"]["cached"] is None


def test_tokenization_of_a_pairs_file_is_cached_too(tmp_path, capsys):
    path = tmp_path / "pairs.tsv"
    path.write_text("".join(f"{word} {word}\t{word}\n" for word in WORDS * 5), encoding="utf-8")
    tokenizer = CharTokenizer.from_texts(WORDS)
    first = tokenize_in_phase(read_pairs_file(str(path)), tokenizer)
    assert phase_lines(capsys)["tokenization"]["cached"] is None
    second = tokenize_in_phase(read_pairs_file(str(path)), CharTokenizer.from_texts(WORDS))
    assert phase_lines(capsys)["tokenization"]["cached"]
    assert second[:] == first[:]


def test_two_processes_give_the_data_set_of_one(tmp_path, monkeypatch):
    monkeypatch.setattr(encoding, "MIN_ROWS_PER_PROCESS", 50)
    pairs = read_parallel_files(*write_parallel(tmp_path, count=300))
    tokenizer = train_seq2seq_tokenizer(WORDS * 3, WORDS * 3, shared=False, vocab_size=40)
    two = tokenize_pairs(pairs, tokenizer, max_source_length=5, num_proc=2, batch_size=32)
    assert [file["filename"].endswith("_of_00002.arrow") for file in two.cache_files] == [True, True]
    alone = read_parallel_files(*write_parallel(tmp_path, count=300), cache_dir=str(tmp_path / "other-cache"))
    one = tokenize_pairs(alone, tokenizer, max_source_length=5, num_proc=1, batch_size=32)
    assert [file["filename"].endswith("_of_00002.arrow") for file in one.cache_files] == [False]
    assert two.column_names == one.column_names and two[:] == one[:]


def test_longest_sequence_reads_the_column_in_batches(tmp_path):
    pairs = read_parallel_files(*write_parallel(tmp_path))
    tokenized = tokenize_pairs(pairs, CharTokenizer.from_texts(WORDS))
    assert longest_sequence(tokenized, "labels") == max(len(ids) for ids in tokenized[:]["labels"])
    assert longest_sequence(tokenized.select([]), "labels") == 0
