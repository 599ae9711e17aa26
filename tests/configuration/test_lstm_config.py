import json

import pytest
from transformers import AutoConfig

import attnseq  # noqa: F401  (registers the model types)
from attnseq.configuration.lstm import Seq2SeqLSTMConfig


@pytest.mark.parametrize(
    "options, message",
    [
        ({"cell": "rnn"}, "cell='rnn'.*'lstm', 'gru'"),
        ({"attention": "dott"}, "attention='dott'.*'none', 'dot', 'scaled_dot', 'general', 'additive'"),
        ({"vocab_size": 0}, "vocab_size must be a positive integer"),
        ({"hidden_size": 12.5}, "hidden_size must be a positive integer"),
        ({"embedding_size": -3}, "embedding_size"),
        ({"encoder_layers": 0}, "encoder_layers"),
        ({"decoder_layers": True}, "decoder_layers"),
        ({"dropout": 1.0}, r"dropout must be a number in \[0, 1\)"),
        ({"dropout": -0.1}, "dropout"),
        ({"attention_window": 0}, "attention_window"),
        ({"attentional_size": -1}, "attentional_size"),
        ({"init_std": 0}, "init_std"),
        ({"embedding_init_std": -1.0}, "embedding_init_std must be a positive number"),
        ({"peeky": "yes"}, "peeky must be True or False"),
        ({"pad_token_id": 99, "vocab_size": 10}, r"pad_token_id must be an integer in \[0, vocab_size=10\)"),
        ({"decoder_start_token_id": -1}, "decoder_start_token_id"),
        ({"attention": "none", "input_feeding": True}, "input_feeding=True .*needs attention"),
        ({"attention": "none", "attention_window": 3}, "attention_window=3 needs attention"),
        ({"attention": "none", "attentional_size": 8}, "attentional_size=8 needs attention"),
        ({"bidirectional_encoder": True, "hidden_size": 33}, "hidden_size=33 must be even"),
        ({"tie_word_embeddings": True}, "tie_word_embeddings=True needs .*attentional_size=16"),
        ({"atention": "dot"}, "unknown option.*'atention'.*allowed options: .*attention"),
    ],
)
def test_invalid_options_raise_value_error_naming_them(options, message):
    with pytest.raises(ValueError, match=message):
        Seq2SeqLSTMConfig(**options)


def test_defaults_are_the_books_attention_model():
    config = Seq2SeqLSTMConfig()
    assert (config.attention, config.reverse_source, config.cell, config.embedding_size) == ("dot", True, "lstm", 16)
    assert config.decoder_start_token_id == config.bos_token_id
    assert config.output_features == 2 * config.hidden_size


def test_round_trip_through_dict_json_and_folder(tmp_path):
    config = Seq2SeqLSTMConfig(
        vocab_size=30,
        hidden_size=24,
        cell="gru",
        attention="additive",
        attention_window=3,
        input_feeding=True,
        attentional_size=8,
        peeky=True,
        bidirectional_encoder=True,
        encoder_layers=2,
        decoder_layers=3,
        residual=True,
        dropout=0.2,
        tie_word_embeddings=True,
        embedding_size=8,
        init_std=0.05,
    )
    again = Seq2SeqLSTMConfig.from_dict(config.to_dict())
    assert again.to_dict() == config.to_dict()
    from_json = Seq2SeqLSTMConfig.from_dict(json.loads(config.to_json_string()))
    assert from_json.to_dict() == config.to_dict()
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, Seq2SeqLSTMConfig)
    assert {**loaded.to_dict(), "_name_or_path": ""} == config.to_dict()


def test_tied_word_vectors_start_at_an_untied_output_layers_scale_unless_set(tmp_path):
    assert Seq2SeqLSTMConfig().embedding_init_std == 1.0
    tied = Seq2SeqLSTMConfig(embedding_size=256, attentional_size=256, tie_word_embeddings=True)
    assert tied.embedding_init_std == 256**-0.5
    chosen = Seq2SeqLSTMConfig(
        embedding_size=256, attentional_size=256, tie_word_embeddings=True, embedding_init_std=1.0
    )
    assert chosen.embedding_init_std == 1.0
    for config in (tied, chosen):  # the number survives every way a config is written and read
        assert (
            Seq2SeqLSTMConfig.from_dict(json.loads(config.to_json_string())).embedding_init_std
            == config.embedding_init_std
        )
        config.save_pretrained(tmp_path)
        assert AutoConfig.from_pretrained(tmp_path).embedding_init_std == config.embedding_init_std


def test_auto_config_knows_the_model_type():
    assert isinstance(AutoConfig.for_model("seq2seq_lstm", hidden_size=8), Seq2SeqLSTMConfig)


def test_layer_counts_share_the_transformer_configs_names_and_the_old_ones_still_load(tmp_path):
    from attnseq.configuration.transformer import Seq2SeqTransformerConfig

    shared = {"encoder_layers": 2, "decoder_layers": 3, "dropout": 0.1}
    for config_class in (Seq2SeqLSTMConfig, Seq2SeqTransformerConfig):
        config = config_class(**shared)
        assert {name: getattr(config, name) for name in shared} == shared
        assert set(shared) <= set(config.to_dict())
    old = Seq2SeqLSTMConfig(num_encoder_layers=2, num_decoder_layers=3)
    assert (old.encoder_layers, old.decoder_layers, old.num_encoder_layers, old.num_hidden_layers) == (2, 3, 2, 3)
    assert "num_encoder_layers" not in old.to_dict() and old.to_dict()["decoder_layers"] == 3
    saved = {**Seq2SeqLSTMConfig().to_dict(), "num_encoder_layers": 4, "num_decoder_layers": 2}  # an older config.json
    del saved["encoder_layers"], saved["decoder_layers"]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert (loaded.encoder_layers, loaded.decoder_layers) == (4, 2)
    with pytest.raises(ValueError, match="encoder_layers must be a positive integer"):
        Seq2SeqLSTMConfig(num_encoder_layers=0)
