"""Config options renamed so that both families share one name still work under their old flags."""

from __future__ import annotations

import pytest

from attnseq.configuration.lstm import Seq2SeqLSTMConfig
from attnseq.training.arguments import config_overrides
from attnseq.training.cli import parse_train_arguments


@pytest.mark.parametrize(
    "flags",
    [
        ["--encoder_layers", "2", "--decoder_layers", "3"],
        ["--num_encoder_layers", "2", "--num_decoder_layers", "3"],
        ["--num-encoder-layers", "2", "--num-decoder-layers", "3"],
    ],
)
def test_layer_count_flags_old_and_new(flags):
    model_args, *_ = parse_train_arguments(["--model", "lstm", *flags])
    overrides = config_overrides(model_args)
    assert (overrides["encoder_layers"], overrides["decoder_layers"]) == (2, 3)
    config = Seq2SeqLSTMConfig(**overrides)
    assert (config.encoder_layers, config.decoder_layers) == (2, 3)
