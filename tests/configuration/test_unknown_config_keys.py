"""A config.json key that is no option (`"dmodel": 128`) loads with a warning naming it and the closest option;
what the package and transformers save loads without one."""

import json
import logging

import pytest
from transformers import AutoConfig

from attnseq import Seq2SeqLSTMConfig, Seq2SeqTransformerConfig

LOGGER = "attnseq.configuration.validation"


@pytest.mark.parametrize(
    ("config", "misspelt", "meant"),
    [(Seq2SeqTransformerConfig(d_model=64), "dmodel", "d_model"), (Seq2SeqLSTMConfig(), "hiden_size", "hidden_size")],
    ids=["transformer", "lstm"],
)
def test_an_unknown_key_is_named_with_the_closest_option(config, misspelt, meant, tmp_path, caplog):
    config.save_pretrained(tmp_path)
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), misspelt: 128}))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        loaded = AutoConfig.from_pretrained(tmp_path)
    warnings = [record.getMessage() for record in caplog.records if record.name == LOGGER]
    assert len(warnings) == 1 and repr(misspelt) in warnings[0] and f"did you mean {meant!r}" in warnings[0]
    assert getattr(loaded, misspelt) == 128


@pytest.mark.parametrize("config_class", [Seq2SeqTransformerConfig, Seq2SeqLSTMConfig])
def test_what_the_package_and_transformers_save_loads_silently(config_class, tmp_path, caplog):
    config = config_class(
        output_hidden_states=True, return_dict=False, tie_word_embeddings=False, problem_type="regression"
    )
    config.rms_norm_eps = 1e-6  # what transformers' common tests set
    config.architectures = [config_class.__name__.replace("Config", "ForConditionalGeneration")]
    config.save_pretrained(tmp_path)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        loaded = AutoConfig.from_pretrained(tmp_path)
    assert [record for record in caplog.records if record.name == LOGGER] == []
    assert loaded.rms_norm_eps == 1e-6 and loaded.output_hidden_states
