"""The run record that training writes and the card reads."""

import pytest

from attnseq.data.run_record import RUN_INFO_NAME, read_run_info, write_run_info


def test_the_record_reads_back_what_was_written(tmp_path):
    assert read_run_info(tmp_path) == {}
    write_run_info(
        tmp_path,
        dataset={"name": "the built-in `date` task of attnseq", "hub_id": None},
        example={"source": "a", "target": "b"},
        hyperparameters={"learning_rate": 0.005},
        base_model=None,
        language=["de", "en"],
    )
    assert read_run_info(tmp_path) == {
        "dataset": {"name": "the built-in `date` task of attnseq", "hub_id": None},
        "example": {"source": "a", "target": "b"},
        "hyperparameters": {"learning_rate": 0.005},
        "base_model": None,
        "language": ["de", "en"],
    }


def test_a_broken_record_is_named(tmp_path):
    (tmp_path / RUN_INFO_NAME).write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match=RUN_INFO_NAME + " is not valid JSON"):
        read_run_info(tmp_path)
