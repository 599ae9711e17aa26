"""`decoder_vocab_size`: a target vocabulary of its own, in both families' configs."""

import json

import pytest
from transformers import AutoConfig

import attnseq  # noqa: F401  (registers the model types)
from attnseq.configuration.lstm import Seq2SeqLSTMConfig
from attnseq.configuration.transformer import Seq2SeqTransformerConfig

SEPARATE = {
    Seq2SeqLSTMConfig: {},
    Seq2SeqTransformerConfig: {"share_encoder_decoder_embeddings": False},
}


@pytest.mark.parametrize("config_class", list(SEPARATE))
def test_default_is_one_vocabulary_and_is_saved_as_before(config_class, tmp_path):
    config = config_class(vocab_size=30)
    assert config.decoder_vocab_size is None
    assert config.target_vocab_size == 30 and not config.separate_vocabularies
    config.save_pretrained(tmp_path)
    assert "decoder_vocab_size" not in json.loads((tmp_path / "config.json").read_text())
    assert "decoder_vocab_size" not in config.to_json_string(use_diff=False)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert loaded.decoder_vocab_size is None and loaded.target_vocab_size == 30


@pytest.mark.parametrize("config_class", list(SEPARATE))
@pytest.mark.parametrize("target_size", [12, 50])
def test_separate_target_vocabulary_round_trips(config_class, target_size, tmp_path):
    config = config_class(vocab_size=30, decoder_vocab_size=target_size, **SEPARATE[config_class])
    assert (config.vocab_size, config.target_vocab_size, config.separate_vocabularies) == (30, target_size, True)
    assert config_class.from_dict(config.to_dict()).to_dict() == config.to_dict()
    config.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["decoder_vocab_size"] == target_size
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, config_class)
    assert (loaded.vocab_size, loaded.decoder_vocab_size, loaded.target_vocab_size) == (30, target_size, target_size)


@pytest.mark.parametrize("config_class", list(SEPARATE))
@pytest.mark.parametrize(
    "value, message",
    [
        (0, "decoder_vocab_size must be a positive integer, got 0"),
        (-3, "decoder_vocab_size must be a positive integer"),
        (12.0, "decoder_vocab_size must be a positive integer"),
        (True, "decoder_vocab_size must be a positive integer"),
        ("40", "decoder_vocab_size must be a positive integer"),
        (2, r"eos_token_id must be an integer in \[0, decoder_vocab_size=2\), got 2"),
    ],
)
def test_invalid_decoder_vocab_size_is_refused(config_class, value, message):
    with pytest.raises(ValueError, match=message):
        config_class(vocab_size=30, decoder_vocab_size=value, **SEPARATE[config_class])


def test_shared_encoder_decoder_embeddings_need_one_vocabulary():
    message = (
        r"share_encoder_decoder_embeddings=True needs one vocabulary, but decoder_vocab_size=20 differs from "
        r"vocab_size=30.*share_encoder_decoder_embeddings=False.*decoder_vocab_size=None"
    )
    with pytest.raises(ValueError, match=message):
        Seq2SeqTransformerConfig(vocab_size=30, decoder_vocab_size=20)
    # an equal size is one vocabulary, allowed
    assert Seq2SeqTransformerConfig(vocab_size=30, decoder_vocab_size=30).target_vocab_size == 30


def test_a_saved_config_with_a_shared_table_and_another_target_size_is_refused_on_load(tmp_path):
    Seq2SeqTransformerConfig(vocab_size=30, d_model=32).save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**saved, "decoder_vocab_size": 10}))
    with pytest.raises(ValueError, match="share_encoder_decoder_embeddings=True needs one vocabulary"):
        AutoConfig.from_pretrained(tmp_path)
