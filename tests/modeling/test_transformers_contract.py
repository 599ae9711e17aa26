"""The parts of the transformers model contract both families keep: strict `forward` signatures, the `cache`
argument (and its deprecated name), gradient accumulation through `Trainer`, config round trips, vocabulary
resizing, graph-connected hidden states, refused cache kinds, the default generation length, and bfloat16 on
CPUs without native bfloat16."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings

import pytest
import torch
from datasets import Dataset
from transformers import AutoConfig, AutoModelForSeq2SeqLM, Trainer, TrainingArguments
from transformers.cache_utils import DynamicCache, EncoderDecoderCache, StaticCache

from attnseq import (
    Seq2SeqLSTMConfig,
    Seq2SeqLSTMForConditionalGeneration,
    Seq2SeqLSTMModel,
    Seq2SeqTransformerConfig,
    Seq2SeqTransformerForConditionalGeneration,
    Seq2SeqTransformerModel,
)
from attnseq.modeling.seq2seq import DEFAULT_MAX_LENGTH

pytestmark = pytest.mark.usefixtures("one_thread")

VOCAB, PAD, BOS, EOS = 14, 0, 1, 2


def lstm_config(**options) -> Seq2SeqLSTMConfig:
    options = {"vocab_size": VOCAB, "embedding_size": 8, "hidden_size": 12, "init_std": 0.5, **options}
    return Seq2SeqLSTMConfig(**options)


def transformer_config(**options) -> Seq2SeqTransformerConfig:
    options = {
        "vocab_size": VOCAB, "d_model": 16, "encoder_layers": 1, "decoder_layers": 1, "encoder_attention_heads": 2,
        "decoder_attention_heads": 2, "encoder_ffn_dim": 32, "decoder_ffn_dim": 32, "dropout": 0.0, **options,
    }  # fmt: skip
    return Seq2SeqTransformerConfig(**options)


FAMILIES = {
    "lstm": (lstm_config, Seq2SeqLSTMModel, Seq2SeqLSTMForConditionalGeneration),
    "transformer": (transformer_config, Seq2SeqTransformerModel, Seq2SeqTransformerForConditionalGeneration),
}


def model_of(family: str, head: bool = True, seed: int = 0, **options):
    torch.manual_seed(seed)
    make_config, bare, with_head = FAMILIES[family]
    return (with_head if head else bare)(make_config(**options)).eval()


def batch(rows: int = 8, seed: int = 0):
    """Right-padded sources and labels of different lengths (labels padded with -100)."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.full((rows, 6), PAD)
    labels = torch.full((rows, 7), -100)
    for row in range(rows):
        source_length = 2 + row % 5
        target_length = 1 + (row * 3) % 6
        ids[row, :source_length] = torch.randint(3, VOCAB, (source_length,), generator=generator)
        labels[row, :target_length] = torch.randint(3, VOCAB, (target_length,), generator=generator)
        labels[row, target_length] = EOS
    return ids, (ids != PAD).long(), labels


# --- nothing swallows an argument ---------------------------------------------------------------------------------


@pytest.mark.parametrize("head", [False, True], ids=["bare", "with_head"])
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("misspelt", ["attention_msk", "past_key_value", "caches", "decoder_inputs_ids"])
def test_an_unknown_keyword_is_a_type_error(family, head, misspelt):
    model = model_of(family, head)
    ids, mask, _ = batch(2)
    with pytest.raises(TypeError, match=misspelt):
        model(input_ids=ids, attention_mask=mask, decoder_input_ids=torch.tensor([[BOS], [BOS]]), **{misspelt: mask})


@pytest.mark.parametrize("family", FAMILIES)
def test_the_encoder_refuses_unknown_keywords_too(family):
    model = model_of(family)
    ids, mask, _ = batch(2)
    with pytest.raises(TypeError, match="attention_msk"):
        model.get_encoder()(input_ids=ids, attention_msk=mask)


@pytest.mark.parametrize("family", FAMILIES)
def test_cache_argument_and_its_deprecated_name_give_the_same_step(family):
    model = model_of(family)
    ids, mask, _ = batch(2)

    def first_step_cache():
        start = torch.tensor([[BOS], [BOS]])
        cache = model(input_ids=ids, attention_mask=mask, decoder_input_ids=start, use_cache=True).cache
        assert cache is not None and cache.get_seq_length() == 1
        return cache

    step = {"input_ids": ids, "attention_mask": mask, "decoder_input_ids": torch.tensor([[5], [6]])}
    with_cache = model(cache=first_step_cache(), **step).logits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with_old_name = model(past_key_values=first_step_cache(), **step).logits
    full = model(
        input_ids=ids, attention_mask=mask, decoder_input_ids=torch.tensor([[BOS, 5], [BOS, 6]]), use_cache=False
    ).logits[:, -1:]
    torch.testing.assert_close(with_cache, full, atol=1e-5, rtol=1e-5)
    assert torch.equal(with_cache, with_old_name)


# --- gradient accumulation ----------------------------------------------------------------------------------------


def train_one_step(model, dataset, output_dir, batch_size: int, accumulation: int):
    arguments = TrainingArguments(
        output_dir=str(output_dir), per_device_train_batch_size=batch_size, gradient_accumulation_steps=accumulation,
        max_steps=1, optim="sgd", learning_rate=0.5, lr_scheduler_type="constant", max_grad_norm=1e9,
        logging_steps=1, save_strategy="no", report_to=[], use_cpu=True, disable_tqdm=True, seed=0,
        dataloader_drop_last=False,
    )  # fmt: skip
    trainer = Trainer(model=model, args=arguments, train_dataset=dataset)
    assert trainer.model_accepts_loss_kwargs
    result = trainer.train()
    return result.training_loss, {name: p.detach().clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("family", FAMILIES)
def test_gradient_accumulation_equals_one_large_batch(family, tmp_path):
    ids, mask, labels = batch(8, seed=3)
    dataset = Dataset.from_dict({"input_ids": ids.tolist(), "attention_mask": mask.tolist(), "labels": labels.tolist()})
    dataset.set_format("torch")
    large_loss, large_weights = train_one_step(model_of(family), dataset, tmp_path / "large", 8, 1)
    accumulated_loss, accumulated_weights = train_one_step(model_of(family), dataset, tmp_path / "acc", 2, 4)
    assert accumulated_loss == pytest.approx(large_loss, rel=1e-5)
    untrained = dict(model_of(family).named_parameters())
    assert any(not torch.equal(large_weights[name], untrained[name]) for name in large_weights)
    for name, weight in large_weights.items():
        torch.testing.assert_close(accumulated_weights[name], weight, atol=1e-6, rtol=1e-5, msg=name)


@pytest.mark.parametrize(
    "family, options",
    [
        ("transformer", {}),
        ("transformer", {"tie_word_embeddings": False}),
        ("lstm", {"tie_word_embeddings": True, "attentional_size": 8}),  # the output layer reads 8 = embedding_size
    ],
    ids=["shared-and-tied", "shared", "lstm-tied"],
)
def test_trainer_reloads_the_best_checkpoint_without_missing_key_warnings(family, options, tmp_path, caplog):
    model = model_of(family, **options)
    ids, mask, labels = batch(8, seed=1)
    dataset = Dataset.from_dict({"input_ids": ids.tolist(), "attention_mask": mask.tolist(), "labels": labels.tolist()})
    arguments = TrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=4, max_steps=4, learning_rate=0.05, eval_strategy="steps",
        eval_steps=1, save_strategy="steps", save_steps=1, load_best_model_at_end=True, report_to=[], use_cpu=True,
        disable_tqdm=True, seed=0,
    )  # fmt: skip
    trainer = Trainer(model=model, args=arguments, train_dataset=dataset, eval_dataset=dataset)
    with caplog.at_level(logging.WARNING):
        trainer.train()
    assert trainer.state.best_model_checkpoint is not None
    assert "missing keys" not in caplog.text, caplog.text
    ties = model.all_tied_weights_keys  # {tied copy: source}, the bare model's included
    assert ties and model._keys_to_ignore_on_save == set(ties)
    parameters = dict(model.named_parameters(remove_duplicate=False))
    for tied, source in ties.items():
        assert parameters[tied] is parameters[source], tied
    best = AutoModelForSeq2SeqLM.from_pretrained(trainer.state.best_model_checkpoint)
    for name, weight in best.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], weight, rtol=0, atol=0, msg=name)


@pytest.mark.parametrize("family", FAMILIES)
def test_loss_uses_num_items_in_batch(family):
    model = model_of(family)
    ids, mask, labels = batch(4)
    counted = int((labels != -100).sum())
    mean = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    summed = model(input_ids=ids, attention_mask=mask, labels=labels, num_items_in_batch=1).loss
    assert summed.item() == pytest.approx(mean.item() * counted, rel=1e-5)


# --- configs ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_whatever_save_pretrained_writes_from_pretrained_loads(family, tmp_path):
    model = model_of(family)
    model.config.rms_norm_eps = 1e-6  # what transformers' common tests set
    model.config.my_note = {"data": "dates", "version": 2}
    model.save_pretrained(tmp_path)
    config = AutoConfig.from_pretrained(tmp_path)
    assert (config.rms_norm_eps, config.my_note) == (1e-6, {"data": "dates", "version": 2})
    loaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    assert loaded.config.my_note["data"] == "dates"


@pytest.mark.parametrize(
    ("make_config", "misspelt", "meant"),
    [(lstm_config, "atention", "attention"), (transformer_config, "norm_frist", "norm_first")],
)
def test_a_misspelt_constructor_option_names_the_closest_one(make_config, misspelt, meant):
    with pytest.raises(ValueError, match=f"Did you mean '{meant}'"):
        make_config(**{misspelt: True})


def test_lstm_config_exposes_num_hidden_layers():
    config = lstm_config(decoder_layers=3)
    assert config.num_hidden_layers == 3
    assert lstm_config(num_hidden_layers=2).decoder_layers == 2


# --- vocabulary resizing ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [{}, {"attentional_size": 8, "tie_word_embeddings": True}, {"peeky": True, "input_feeding": True}],
    ids=["untied", "tied", "peeky_feeding"],
)
def test_lstm_resize_token_embeddings_covers_both_sides_and_the_output_layer(options, tmp_path):
    model = model_of("lstm", **options).train()
    new_size = VOCAB + 3
    model.resize_token_embeddings(new_size)
    assert model.config.vocab_size == new_size
    assert model.model.encoder.embed_tokens.num_embeddings == new_size
    assert model.model.decoder.embed_tokens.num_embeddings == new_size
    assert model.lm_head.out_features == new_size and model.lm_head.bias.shape == (new_size,)
    if options.get("tie_word_embeddings"):
        assert model.lm_head.weight is model.model.decoder.embed_tokens.weight
    ids, mask, labels = batch(4)
    ids[0, 0], labels[1, 0] = new_size - 1, new_size - 2  # new ids on both sides
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
    optimizer.step()
    model.eval().save_pretrained(tmp_path)
    loaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(
            loaded(input_ids=ids, attention_mask=mask, labels=labels).logits,
            model(input_ids=ids, attention_mask=mask, labels=labels).logits,
        )


def test_set_input_embeddings_keeps_the_transformer_tables_shared():
    model = model_of("transformer")
    table = torch.nn.Embedding(VOCAB, 16, padding_idx=PAD)
    model.set_input_embeddings(table)
    assert model.get_input_embeddings() is table and model.get_decoder().embed_tokens is table
    separate = model_of("transformer", share_encoder_decoder_embeddings=False)
    decoder_table = separate.get_decoder().embed_tokens
    separate.set_input_embeddings(table)
    assert separate.get_input_embeddings() is table and separate.get_decoder().embed_tokens is decoder_table


# --- hidden states are part of the graph --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [{}, {"reverse_source": False}, {"bidirectional_encoder": True, "encoder_layers": 2, "residual": True}],
    ids=["reversed", "plain", "bidirectional_deep"],
)
def test_lstm_encoder_hidden_states_receive_gradients(options):
    model = model_of("lstm", **options).train()
    ids, mask, labels = batch(3)  # padded rows: the encoder reorders them internally
    out = model(input_ids=ids, attention_mask=mask, labels=labels, output_hidden_states=True)
    states = out.encoder_hidden_states
    for state in states:
        state.retain_grad()
    out.loss.backward()
    assert len(states) == model.config.encoder_layers + 1
    for state in states:
        assert state.grad is not None and state.grad.abs().sum() > 0


# --- caches -------------------------------------------------------------------------------------------------------


def test_transformer_refuses_a_static_cache_with_a_clear_message():
    model = model_of("transformer")
    ids, mask, _ = batch(2)
    with pytest.raises(ValueError, match="cache_implementation='static' is not supported"):
        model.generate(ids, attention_mask=mask, cache_implementation="static", max_new_tokens=3)
    static = EncoderDecoderCache(StaticCache(config=model.config, max_cache_len=8), DynamicCache())
    with pytest.raises(ValueError, match="static"):
        model(input_ids=ids, attention_mask=mask, decoder_input_ids=torch.tensor([[BOS], [BOS]]), cache=static)


def test_lstm_refuses_a_key_value_cache():
    model = model_of("lstm")
    ids, mask, _ = batch(2)
    with pytest.raises(ValueError, match="cache_implementation='static' is not supported"):
        model.generate(ids, attention_mask=mask, cache_implementation="static", max_new_tokens=3)
    with pytest.raises(ValueError, match="Seq2SeqLSTMCache"):
        model(input_ids=ids, decoder_input_ids=torch.tensor([[BOS], [BOS]]), cache=DynamicCache())


# --- generation length --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_generate_defaults_to_a_long_length_without_warnings(family, caplog):
    model = model_of(family)
    model.generation_config.eos_token_id = None  # never stop early: the length limit ends the generation
    ids, mask, _ = batch(1)
    with caplog.at_level(logging.WARNING), warnings.catch_warnings():
        warnings.simplefilter("error")
        assert model.generate(ids, attention_mask=mask).size(1) == DEFAULT_MAX_LENGTH
        assert model.generate(ids, attention_mask=mask, max_new_tokens=5).size(1) == 6
        assert model.generate(ids, attention_mask=mask, max_length=9).size(1) == 9
    assert not [r for r in caplog.records if "max_length" in r.getMessage()], caplog.text


def test_learned_positions_bound_the_default_length():
    model = model_of("transformer", position_embedding="learned", max_position_embeddings=20)
    model.generation_config.eos_token_id = None
    ids, mask, _ = batch(1)
    assert model.generate(ids, attention_mask=mask).size(1) == 21


# --- bfloat16 on CPUs without native bfloat16 ---------------------------------------------------------------------

BF16_SCRIPT = """
import torch
from attnseq import Seq2SeqLSTMConfig, Seq2SeqLSTMForConditionalGeneration
torch.manual_seed(0)
config = Seq2SeqLSTMConfig(vocab_size=12, embedding_size=8, hidden_size=16, bidirectional_encoder=True,
                           decoder_layers=2, peeky=True)
model = Seq2SeqLSTMForConditionalGeneration(config)
ids = torch.randint(3, 12, (4, 6)); labels = torch.randint(3, 12, (4, 5))
with torch.autocast("cpu", dtype=torch.bfloat16):
    loss = model(input_ids=ids, labels=labels).loss
loss.backward()
assert torch.isfinite(loss)
print("trained", torch.backends.cpu.get_cpu_capability())
"""


def test_lstm_trains_under_bf16_autocast_on_a_cpu_without_avx512():
    # oneDNN limited to AVX2 has no bfloat16 LSTM kernel: the recurrence must fall back to float32.
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
    done = subprocess.run([sys.executable, "-c", BF16_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "trained avx2" in done.stdout.lower()


@pytest.mark.parametrize("family", FAMILIES)
def test_get_encoder_of_another_modality_is_the_model_itself(family):
    """transformers' exporters ask `get_encoder("image"/"audio")` whether a model is multimodal: a model without such
    an encoder answers with itself, as `PreTrainedModel.get_encoder` does."""
    model = model_of(family)
    assert model.get_encoder() is model.base_model.encoder
    for modality in ("image", "video", "audio"):
        assert model.get_encoder(modality) is model
        assert model.base_model.get_encoder(modality) is model.base_model
    with pytest.raises(ValueError, match="modality"):
        model.get_encoder("smell")


def test_the_transformer_exports_with_torch_export_and_computes_the_same_logits():
    """The input checks that read values (token ids in the vocabulary, a 0/1 mask, one run of real tokens) are left
    out while torch.export traces the model, which sees shapes only."""
    model = model_of("transformer")
    ids, mask, labels = batch(rows=4)
    decoder_input_ids = model.prepare_decoder_input_ids_from_labels(labels)
    inputs = {"input_ids": ids, "attention_mask": mask, "decoder_input_ids": decoder_input_ids, "use_cache": False}
    exported = torch.export.export(model, (), inputs, strict=False)
    torch.testing.assert_close(exported.module()(**inputs).logits, model(**inputs).logits)
    with pytest.raises(ValueError, match="outside the vocabulary"):  # eager calls still check the values
        model(**{**inputs, "input_ids": ids + VOCAB})
