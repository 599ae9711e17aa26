"""`attnseq train` takes its per-family defaults and the choices one option implies for another from the family's
row (attnseq/families.py)."""

import dataclasses

from attnseq.families import FAMILIES
from attnseq.training.arguments import config_overrides
from attnseq.training.cli import parse_train_arguments


def parse(tmp_path, *argv):
    return parse_train_arguments([*argv, "--output_dir", str(tmp_path / "out")])


def test_the_row_gives_the_model_and_training_defaults(tmp_path):
    model_args, _, _, training_args = parse(tmp_path, "--model", "transformer")
    assert training_args.learning_rate == FAMILIES["transformer"].training_defaults["learning_rate"]
    assert config_overrides(model_args) == dict(FAMILIES["transformer"].train_defaults)
    model_args, _, _, training_args = parse(
        tmp_path, "--model", "transformer", "--learning_rate", "0.5", "--d_model", "8"
    )
    assert training_args.learning_rate == 0.5 and config_overrides(model_args)["d_model"] == 8
    model_args, _, _, training_args = parse(tmp_path)
    assert model_args.model == "lstm" and training_args.learning_rate == 5e-3  # no per-family override
    assert config_overrides(model_args) == {"hidden_size": 128, "embedding_size": 64}


def test_the_lstm_row_settles_a_bidirectional_encoder_on_the_command_line(tmp_path, capsys):
    model_args, *_ = parse(tmp_path, "--bidirectional_encoder")
    assert model_args.reverse_source is False
    assert "hidden_size 128 is the decoder state" in capsys.readouterr().out
    model_args, *_ = parse(tmp_path, "--bidirectional_encoder", "--reverse_source", "true", "--hidden_size", "64")
    out = capsys.readouterr().out
    assert model_args.reverse_source is True and "hidden_size 64" in out and "off by default" not in out
    parse(tmp_path, "--model_name_or_path", str(tmp_path / "somewhere"), "--bidirectional_encoder")
    assert capsys.readouterr().out == ""  # a checkpoint keeps its own options


def test_a_row_without_a_settling_hook_changes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(FAMILIES, "lstm", dataclasses.replace(FAMILIES["lstm"], settle_options=None))
    model_args, *_ = parse(tmp_path, "--bidirectional_encoder")
    assert model_args.reverse_source is None and capsys.readouterr().out == ""
