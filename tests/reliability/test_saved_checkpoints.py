"""Checkpoints saved by earlier versions of attnseq load unchanged and give the logits they gave then.

The folders under tests/fixtures/checkpoints/ were written by older code (each expected_logits.json says which);
a renamed config option or parameter that would break loading them fails here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

import attnseq  # noqa: F401  (registers the model types)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "checkpoints"
CHECKPOINTS = sorted(path.name for path in FIXTURES.iterdir() if (path / "config.json").is_file())
SOURCES, TARGETS = ["12+345", "9-8"], ["357", "1"]  # the batch make_checkpoints.py stored the logits of


def test_every_fixture_is_found():
    assert CHECKPOINTS == ["gru_additive", "lstm_input_feeding", "transformer"]


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_saved_checkpoint_loads_whole_and_gives_its_logits(name):
    folder = FIXTURES / name
    expected = json.loads((folder / "expected_logits.json").read_text())
    model, info = AutoModelForSeq2SeqLM.from_pretrained(folder, output_loading_info=True)
    assert {key: value for key, value in info.items() if value} == {}, "every saved weight maps to a parameter"
    tokenizer = AutoTokenizer.from_pretrained(folder)
    source = tokenizer(SOURCES, padding=True, return_tensors="pt")
    inputs = {key: torch.tensor(value) for key, value in expected["inputs"].items()}
    assert source["input_ids"].tolist() == expected["inputs"]["input_ids"]
    assert source["attention_mask"].tolist() == expected["inputs"]["attention_mask"]
    with torch.no_grad():
        logits = model.eval()(**inputs).logits
    torch.testing.assert_close(logits, torch.tensor(expected["logits"]), rtol=0, atol=2e-6)


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_saved_checkpoint_saves_again_and_reloads(name, tmp_path):
    model = AutoModelForSeq2SeqLM.from_pretrained(FIXTURES / name).eval()
    model.save_pretrained(tmp_path)
    again = AutoModelForSeq2SeqLM.from_pretrained(tmp_path).eval()
    saved, reloaded = model.config.to_dict(), again.config.to_dict()
    assert {**reloaded, "_name_or_path": None} == {**saved, "_name_or_path": None}
    expected = json.loads((FIXTURES / name / "expected_logits.json").read_text())
    inputs = {key: torch.tensor(value) for key, value in expected["inputs"].items()}
    with torch.no_grad():
        torch.testing.assert_close(again(**inputs).logits, model(**inputs).logits, rtol=0, atol=0)


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_saved_checkpoint_trains_with_the_dropout_it_had(name):
    """In training mode, after the same seed, a saved checkpoint drops the units it dropped when the separate dropout
    options (`embedding_dropout`, `hidden_dropout`, `output_dropout`, `word_dropout`) did not exist: their defaults
    leave training as it was, random draws included."""
    folder = FIXTURES / name
    expected = json.loads((folder / "expected_training_logits.json").read_text())
    inputs = json.loads((folder / "expected_logits.json").read_text())["inputs"]
    model = AutoModelForSeq2SeqLM.from_pretrained(folder).train()
    torch.manual_seed(expected["seed"])
    with torch.no_grad():
        logits = model(**{key: torch.tensor(value) for key, value in inputs.items()}).logits
    torch.testing.assert_close(logits, torch.tensor(expected["logits"]), rtol=0, atol=2e-6)
    eval_logits = torch.tensor(json.loads((folder / "expected_logits.json").read_text())["logits"])
    assert not torch.allclose(logits, eval_logits, atol=1e-3), "dropout was on: training and eval logits differ"
