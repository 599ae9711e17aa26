"""`attnseq train` flags of the separate dropout options reach the model's config and the saved checkpoint."""

import pytest
from cli_testing import run_attnseq
from transformers import AutoModelForSeq2SeqLM

import attnseq  # noqa: F401  (registers the model types)
from attnseq import Seq2SeqLSTMConfig, Seq2SeqTransformerConfig
from attnseq.training.arguments import config_overrides
from attnseq.training.cli import parse_train_arguments

LSTM_OPTIONS = ("embedding_dropout", "hidden_dropout", "output_dropout", "source_word_dropout", "target_word_dropout")


def test_train_flags_reach_the_config(tmp_path):
    flags = ["--embedding_dropout", "0.2", "--source_word_dropout", "0.1", "--target_word_dropout", "0.15"]
    model_args, *_ = parse_train_arguments(
        ["--model", "lstm", "--encoder_layers", "2", "--hidden_dropout", "0.3", "--output_dropout", "0.4", *flags,
         "--output_dir", str(tmp_path / "lstm")]
    )  # fmt: skip
    config = Seq2SeqLSTMConfig(**config_overrides(model_args))
    assert (config.embedding_dropout, config.hidden_dropout, config.output_dropout) == (0.2, 0.3, 0.4)
    assert (config.source_word_dropout, config.target_word_dropout) == (0.1, 0.15)
    model_args, *_ = parse_train_arguments(["--model", "transformer", *flags, "--output_dir", str(tmp_path / "t")])
    config = Seq2SeqTransformerConfig(**config_overrides(model_args))
    assert (config.embedding_dropout, config.source_word_dropout, config.target_word_dropout) == (0.2, 0.1, 0.15)
    model_args, *_ = parse_train_arguments(["--model", "transformer", "--output_dir", str(tmp_path / "t")])
    assert Seq2SeqTransformerConfig(**config_overrides(model_args)).embedding_dropout is None
    model_args, *_ = parse_train_arguments(["--model", "transformer", "--hidden_dropout", "0.1"])
    with pytest.raises(ValueError, match="--hidden_dropout are not options of the 'transformer' family"):
        config_overrides(model_args)


@pytest.mark.slow
def test_attnseq_train_saves_a_model_with_the_options(tmp_path):
    folder = tmp_path / "reverse-gru"
    run_attnseq(
        "train", "--task", "reverse", "--num_train", "200", "--num_validation", "16", "--num_test", "16",
        "--cell", "gru", "--hidden_size", "16", "--embedding_size", "8", "--encoder_layers", "2",
        "--dropout", "0.1", "--embedding_dropout", "0.2", "--hidden_dropout", "0.3", "--output_dropout", "0.4",
        "--source_word_dropout", "0.1", "--target_word_dropout", "0.05", "--num_train_epochs", "1",
        "--disable_tqdm", "true", "--show_examples", "0", "--output_dir", str(folder),
    )  # fmt: skip
    model = AutoModelForSeq2SeqLM.from_pretrained(folder)
    saved = {name: getattr(model.config, name) for name in (*LSTM_OPTIONS, "dropout")}
    assert saved == {
        "embedding_dropout": 0.2, "hidden_dropout": 0.3, "output_dropout": 0.4, "source_word_dropout": 0.1,
        "target_word_dropout": 0.05, "dropout": 0.1,
    }  # fmt: skip
    assert model.model.encoder.embedding_dropout.p == 0.2 and model.model.encoder.dropout.p == 0.3
    assert model.model.decoder.rnn.dropout.p == 0.3 and model.output_dropout.p == 0.4
