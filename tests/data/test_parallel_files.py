"""Parallel text files as NMT corpora come (`train.de` + `train.en`): gzip, line counts, empty lines."""

import gzip

import pytest

from attnseq.data.readers import BadRowsError, read_parallel_files


def write(path, lines, end="\n"):
    text = "\n".join(lines) + end
    if str(path).endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_gzip_and_plain_files_read_the_same_pairs_in_order(tmp_path):
    german = ["Ein Mann läuft.", "Zwei Hunde spielen.", "Eine Frau liest."]
    english = ["A man runs.", "Two dogs play.", "A woman reads."]
    plain = read_parallel_files(write(tmp_path / "a.de", german), write(tmp_path / "a.en", english))
    packed = read_parallel_files(write(tmp_path / "b.de.gz", german), write(tmp_path / "b.en.gz", english))
    assert plain["source"] == packed["source"] == german
    assert plain["target"] == packed["target"] == english
    assert plain.column_names == ["source", "target"]


def test_a_missing_final_newline_and_crlf_line_ends_change_nothing(tmp_path):
    pairs = read_parallel_files(
        write(tmp_path / "s.txt", ["eins\r", "zwei\r"], end=""), write(tmp_path / "t.txt", ["one", "two"])
    )
    assert pairs["source"] == ["eins", "zwei"] and pairs["target"] == ["one", "two"]


def test_mismatched_line_counts_name_both_files_and_both_counts(tmp_path):
    source = write(tmp_path / "train.de.gz", ["a", "b", "c"])
    target = write(tmp_path / "train.en.gz", ["x", "y"])
    with pytest.raises(ValueError) as error:
        read_parallel_files(source, target)
    message = str(error.value)
    assert str(source) in message and str(target) in message
    assert "3 lines" in message and "2 lines" in message


def test_lines_empty_on_both_sides_are_skipped_one_sided_ones_are_bad_rows(tmp_path, caplog):
    source = write(tmp_path / "s.de", ["eins", "", "drei", "vier", ""])
    target = write(tmp_path / "t.en", ["one", "", "three", "", "five"])
    with pytest.raises(BadRowsError) as error:
        read_parallel_files(source, target)
    message = str(error.value)  # line numbers of the files, and the file whose line is empty
    assert "line 4 of" in message and "t.en" in message and "line 5 of" in message and "s.de" in message
    assert "2 of 4 rows" in message  # the blank separator line (2) is not a bad row
    pairs = read_parallel_files(source, target, bad_rows="drop")
    assert list(zip(pairs["source"], pairs["target"])) == [("eins", "one"), ("drei", "three")]
    assert "skipped 1 line(s) empty in both" in caplog.text


def test_files_of_only_empty_lines_are_refused(tmp_path):
    with pytest.raises(ValueError, match="hold no text"):
        read_parallel_files(write(tmp_path / "s", ["", ""]), write(tmp_path / "t", ["", ""]))
