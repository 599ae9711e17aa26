import json

import pytest
from transformers import AutoConfig, GenerationConfig

import attnseq  # noqa: F401  (registers the model types)
from attnseq.configuration.transformer import Seq2SeqTransformerConfig


@pytest.mark.parametrize(
    "options, message",
    [
        ({"vocab_size": 0}, "vocab_size must be a positive integer, got 0"),
        ({"d_model": 32.0}, "d_model must be a positive integer"),
        ({"encoder_layers": 0}, "encoder_layers must be a positive integer"),
        ({"decoder_layers": -1}, "decoder_layers"),
        ({"encoder_attention_heads": 0}, "encoder_attention_heads"),
        ({"decoder_attention_heads": True}, "decoder_attention_heads must be a positive integer"),
        ({"encoder_ffn_dim": 0}, "encoder_ffn_dim"),
        ({"decoder_ffn_dim": "big"}, "decoder_ffn_dim"),
        ({"max_position_embeddings": 0}, "max_position_embeddings"),
        (
            {"d_model": 30, "encoder_attention_heads": 4},
            r"d_model=30 must be divisible by encoder_attention_heads=4.*\[1, 2, 3, 5, 6, 10, 15, 30\]",
        ),
        ({"d_model": 32, "decoder_attention_heads": 3}, "d_model=32 must be divisible by decoder_attention_heads=3"),
        (
            {"d_model": 15, "encoder_attention_heads": 3, "decoder_attention_heads": 5},
            "d_model=15 must be even with position_embedding='sinusoidal'",
        ),
        ({"activation_function": "relu6"}, "activation_function='relu6'.*'relu', 'gelu', 'gelu_new', 'silu', 'tanh'"),
        ({"position_embedding": "rotary"}, "position_embedding='rotary'.*'sinusoidal', 'learned'"),
        ({"dropout": 1.0}, r"dropout must be a number in \[0, 1\)"),
        ({"attention_dropout": -0.1}, "attention_dropout"),
        ({"activation_dropout": "0.1"}, "activation_dropout"),
        ({"norm_first": 1}, "norm_first must be True or False"),
        ({"scale_embedding": "yes"}, "scale_embedding must be True or False"),
        ({"tie_word_embeddings": None}, "tie_word_embeddings must be True or False"),
        ({"share_encoder_decoder_embeddings": 0}, "share_encoder_decoder_embeddings must be True or False"),
        ({"use_cache": "no"}, "use_cache must be True or False"),
        ({"layer_norm_eps": 0}, "layer_norm_eps must be a positive number"),
        ({"init_std": -0.02}, "init_std must be a positive number"),
        ({"pad_token_id": 64}, r"pad_token_id must be an integer in \[0, vocab_size=64\)"),
        ({"eos_token_id": None}, "eos_token_id"),
        ({"decoder_start_token_id": 70}, "decoder_start_token_id"),
        ({"n_heads": 4}, "unknown option.*'n_heads'.*allowed options: .*encoder_attention_heads"),
    ],
)
def test_invalid_options_raise_value_error_naming_them(options, message):
    with pytest.raises(ValueError, match=message):
        Seq2SeqTransformerConfig(**options)


def test_defaults_are_the_papers_base_model_at_a_small_size():
    config = Seq2SeqTransformerConfig()
    assert (config.d_model, config.encoder_layers, config.decoder_layers) == (256, 3, 3)
    assert (config.encoder_attention_heads, config.decoder_attention_heads) == (4, 4)
    assert (config.encoder_ffn_dim, config.decoder_ffn_dim) == (1024, 1024)
    assert (config.activation_function, config.dropout, config.norm_first) == ("relu", 0.1, False)
    assert (config.position_embedding, config.scale_embedding) == ("sinusoidal", True)
    assert config.tie_word_embeddings and config.share_encoder_decoder_embeddings
    assert (config.pad_token_id, config.bos_token_id, config.eos_token_id) == (0, 1, 2)
    assert config.decoder_start_token_id == config.bos_token_id
    assert config.is_encoder_decoder


def test_generic_names_map_to_the_options():
    config = Seq2SeqTransformerConfig(hidden_size=64, encoder_layers=2, decoder_layers=5)
    assert (config.d_model, config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (64, 64, 2, 4)
    # generate() sizes the decoder cache from the decoder's view of the config
    assert config.get_text_config(decoder=True).num_hidden_layers == 5


def test_generation_config_takes_the_special_tokens():
    config = Seq2SeqTransformerConfig(vocab_size=20, pad_token_id=3, bos_token_id=4, eos_token_id=5)
    generation = GenerationConfig.from_model_config(config)
    assert (generation.pad_token_id, generation.eos_token_id, generation.decoder_start_token_id) == (3, 5, 4)


def test_round_trip_through_dict_json_and_folder(tmp_path):
    config = Seq2SeqTransformerConfig(
        vocab_size=40,
        d_model=48,
        encoder_layers=2,
        decoder_layers=1,
        encoder_attention_heads=6,
        decoder_attention_heads=3,
        encoder_ffn_dim=96,
        decoder_ffn_dim=64,
        activation_function="gelu",
        dropout=0.2,
        attention_dropout=0.1,
        activation_dropout=0.05,
        norm_first=True,
        position_embedding="learned",
        max_position_embeddings=32,
        scale_embedding=False,
        tie_word_embeddings=False,
        share_encoder_decoder_embeddings=False,
        layer_norm_eps=1e-6,
        init_std=0.05,
        decoder_start_token_id=2,
    )
    again = Seq2SeqTransformerConfig.from_dict(config.to_dict())
    assert again.to_dict() == config.to_dict()
    from_json = Seq2SeqTransformerConfig.from_dict(json.loads(config.to_json_string()))
    assert from_json.to_dict() == config.to_dict()
    config.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "seq2seq_transformer"
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, Seq2SeqTransformerConfig)
    assert {**loaded.to_dict(), "_name_or_path": ""} == config.to_dict()


def test_a_saved_config_with_a_bad_value_is_refused_on_load(tmp_path):
    Seq2SeqTransformerConfig(d_model=32).save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**saved, "encoder_attention_heads": 5}))
    with pytest.raises(ValueError, match="d_model=32 must be divisible by encoder_attention_heads=5"):
        AutoConfig.from_pretrained(tmp_path)


def test_auto_config_knows_the_model_type():
    config = AutoConfig.for_model("seq2seq_transformer", d_model=32)
    assert isinstance(config, Seq2SeqTransformerConfig) and config.d_model == 32
