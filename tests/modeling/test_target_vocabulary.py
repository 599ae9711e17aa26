"""Both families with a target vocabulary of its own (`decoder_vocab_size`), smaller and larger than the source's."""

import pytest
import torch
from transformers import AutoModelForSeq2SeqLM, GenerationConfig, WatermarkingConfig

import attnseq  # noqa: F401  (registers the model types)
from attnseq import (
    Seq2SeqLSTMConfig,
    Seq2SeqLSTMForConditionalGeneration,
    Seq2SeqTransformerConfig,
    Seq2SeqTransformerForConditionalGeneration,
)

SOURCE_SIZE = 20
FAMILIES = {
    "lstm": (Seq2SeqLSTMConfig, Seq2SeqLSTMForConditionalGeneration, {"embedding_size": 8, "hidden_size": 16}),
    "transformer": (
        Seq2SeqTransformerConfig,
        Seq2SeqTransformerForConditionalGeneration,
        {
            "d_model": 16,
            "encoder_layers": 1,
            "decoder_layers": 1,
            "encoder_attention_heads": 2,
            "decoder_attention_heads": 2,
            "encoder_ffn_dim": 32,
            "decoder_ffn_dim": 32,
            "dropout": 0.0,
            "share_encoder_decoder_embeddings": False,
        },
    ),
}
GENERATION = {"greedy": {}, "beam 3": {"num_beams": 3}, "sampling": {"do_sample": True, "top_k": 0}}


def model_of(family: str, target_size: int, **options):
    config_class, model_class, defaults = FAMILIES[family]
    torch.manual_seed(0)
    config = config_class(vocab_size=SOURCE_SIZE, decoder_vocab_size=target_size, **{**defaults, **options})
    return model_class(config).eval()


def batch(target_size: int, rows: int = 3):
    generator = torch.Generator().manual_seed(1)
    sources = torch.randint(4, SOURCE_SIZE, (rows, 6), generator=generator)
    labels = torch.randint(4, target_size, (rows, 5), generator=generator)
    labels[:, -1] = 2
    return sources, labels


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("target_size", [11, 37])
def test_tables_logits_and_loss_use_the_target_size(family, target_size):
    model = model_of(family, target_size)
    assert model.get_input_embeddings().num_embeddings == SOURCE_SIZE
    assert model.get_decoder().embed_tokens.num_embeddings == target_size
    assert model.get_output_embeddings().out_features == target_size
    sources, labels = batch(target_size)
    out = model(input_ids=sources, labels=labels)
    assert out.logits.shape == (3, 5, target_size)
    expected = torch.nn.functional.cross_entropy(out.logits.flatten(0, 1), labels.flatten())
    torch.testing.assert_close(out.loss, expected)
    out.loss.backward()
    # a target id beyond the source vocabulary is a valid label when the target is larger, and refused otherwise
    labels[0, 0] = target_size - 1
    model(input_ids=sources, labels=labels)
    labels[0, 0] = target_size
    with pytest.raises(ValueError, match=rf"labels contains token id {target_size}.*\[0, {target_size}\)"):
        model(input_ids=sources, labels=labels)


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("target_size", [11, 37])
@pytest.mark.parametrize("mode", list(GENERATION))
def test_generate_emits_target_ids_only_and_scores_them_over_the_target_vocabulary(family, target_size, mode):
    model = model_of(family, target_size)
    sources, _ = batch(target_size)
    torch.manual_seed(2)
    out = model.generate(
        sources, max_new_tokens=7, return_dict_in_generate=True, output_scores=True, **GENERATION[mode]
    )
    assert out.sequences.max().item() < target_size
    assert all(step.shape[-1] == target_size for step in out.scores)
    # transformers' transition scores (read with the step width of the target vocabulary) are the log-probabilities
    # a teacher-forced forward gives the chosen tokens, up to each row's eos
    transition = model.compute_transition_scores(
        out.sequences, out.scores, getattr(out, "beam_indices", None), normalize_logits=mode != "beam 3"
    )
    tokens = out.sequences[:, -transition.size(1) :]
    logits = model(input_ids=sources, decoder_input_ids=out.sequences[:, :-1]).logits[:, -transition.size(1) :]
    log_probs = torch.log_softmax(logits.float(), -1).gather(-1, tokens[..., None]).squeeze(-1)
    finished = (tokens == 2).long().cumsum(-1) - (tokens == 2).long() > 0  # positions after the first eos
    if mode == "beam 3":
        torch.testing.assert_close(transition.sum(-1), log_probs.masked_fill(finished, 0).sum(-1), atol=1e-4, rtol=0)
    else:
        torch.testing.assert_close(transition[~finished], log_probs[~finished], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("target_size", [11, 37])
@pytest.mark.parametrize(
    "option",
    [{"watermarking_config": WatermarkingConfig()}, {"prompt_lookup_num_tokens": 2}],
    ids=["watermarking", "prompt lookup"],
)
def test_options_sized_by_the_source_vocabulary_are_refused(family, target_size, option):
    """transformers sizes these by `config.vocab_size`: an IndexError deep inside it, or a green list drawn from the
    wrong vocabulary, without the refusal."""
    model = model_of(family, target_size)
    sources, _ = batch(target_size)
    name = next(iter(option))
    message = rf"{name} is not supported when the target vocabulary \({target_size} tokens"
    if family == "lstm" and name == "prompt_lookup_num_tokens":
        message = rf"{name} asks for assisted generation"  # which a recurrent model refuses first
    with pytest.raises(ValueError, match=message):
        model.generate(sources[:1], max_new_tokens=4, **option)
    with pytest.raises(ValueError, match=name):
        model.generate(sources[:1], generation_config=GenerationConfig(max_new_tokens=4, **option))


def test_the_options_still_work_with_one_vocabulary():
    model = model_of("transformer", SOURCE_SIZE)
    sources, _ = batch(SOURCE_SIZE)
    greedy = model.generate(sources[:1], max_new_tokens=6)
    assert torch.equal(model.generate(sources[:1], max_new_tokens=6, prompt_lookup_num_tokens=2), greedy)
    assert model.generate(sources[:1], max_new_tokens=6, watermarking_config=WatermarkingConfig()).max() < SOURCE_SIZE


@pytest.mark.parametrize("family", list(FAMILIES))
def test_tied_output_layer_shares_the_decoder_table(family):
    options = {"attentional_size": 8} if family == "lstm" else {}
    model = model_of(family, 13, tie_word_embeddings=True, **options)
    assert model.lm_head.weight is model.get_decoder().embed_tokens.weight
    assert model.lm_head.weight.shape[0] == 13
    assert model.get_input_embeddings().weight.shape[0] == SOURCE_SIZE


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("tied", [False, True])
def test_resizing_each_side_and_reloading(family, tied, tmp_path):
    options = {"tie_word_embeddings": tied, **({"attentional_size": 8} if family == "lstm" and tied else {})}
    model = model_of(family, 13, **options)
    model.resize_token_embeddings(SOURCE_SIZE + 4)
    assert (model.config.vocab_size, model.config.decoder_vocab_size) == (SOURCE_SIZE + 4, 13)
    assert model.get_input_embeddings().num_embeddings == SOURCE_SIZE + 4
    assert model.get_decoder().embed_tokens.num_embeddings == model.lm_head.out_features == 13
    model.resize_decoder_token_embeddings(17, mean_resizing=False)
    assert model.config.decoder_vocab_size == model.lm_head.out_features == 17
    assert model.get_decoder().embed_tokens.num_embeddings == 17
    if family == "lstm":
        assert model.lm_head.bias.shape == (17,)
    if tied:
        assert model.lm_head.weight is model.get_decoder().embed_tokens.weight
    sources, labels = batch(17)
    sources[0, 0], labels[1, 0] = SOURCE_SIZE + 3, 16  # new ids on both sides
    expected = model(input_ids=sources, labels=labels)
    assert expected.logits.shape[-1] == 17
    model.save_pretrained(tmp_path)
    loaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path).eval()
    assert (loaded.config.vocab_size, loaded.config.decoder_vocab_size) == (SOURCE_SIZE + 4, 17)
    torch.testing.assert_close(loaded(input_ids=sources, labels=labels).logits, expected.logits)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_resizing_the_target_side_of_one_vocabulary_is_refused(family):
    config_class, model_class, defaults = FAMILIES[family]
    model = model_class(config_class(vocab_size=SOURCE_SIZE, **defaults))
    with pytest.raises(ValueError, match="one vocabulary for source and target.*use resize_token_embeddings"):
        model.resize_decoder_token_embeddings(30)
    model.resize_token_embeddings(SOURCE_SIZE + 2)  # one vocabulary: every table, as before
    assert model.config.decoder_vocab_size is None
    assert model.get_decoder().embed_tokens.num_embeddings == model.lm_head.out_features == SOURCE_SIZE + 2


def test_transformer_shared_table_of_an_explicit_equal_size_resizes_everywhere():
    config_class, model_class, defaults = FAMILIES["transformer"]
    config = config_class(
        vocab_size=SOURCE_SIZE,
        decoder_vocab_size=SOURCE_SIZE,
        **{**defaults, "share_encoder_decoder_embeddings": True},
    )
    model = model_class(config)
    with pytest.raises(ValueError, match="share_encoder_decoder_embeddings=True"):
        model.resize_decoder_token_embeddings(30)
    model.resize_token_embeddings(SOURCE_SIZE + 2)
    assert model.config.vocab_size == model.config.decoder_vocab_size == SOURCE_SIZE + 2
    assert model.get_decoder().embed_tokens is model.get_input_embeddings()
