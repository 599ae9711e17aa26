"""CTranslate2 export of the Transformer family: the same log-probabilities for every config option, the same
greedy and beam outputs as `generate()` on a trained model, int8 within a stated accuracy, clear refusals."""

import sys

import pytest
import torch
from serving_testing import decode, exact_match, letters_tokenizer, reversal_pairs, train_reverser

from attnseq import (
    Seq2SeqLSTMConfig,
    Seq2SeqLSTMForConditionalGeneration,
    Seq2SeqTransformerConfig,
    Seq2SeqTransformerForConditionalGeneration,
)
from attnseq.serving import CTranslate2Model, export_ctranslate2

pytestmark = pytest.mark.usefixtures("one_thread")

OPTIONS = [  # (norm_first, position_embedding, tie_word_embeddings, share_encoder_decoder_embeddings, activation)
    (False, "sinusoidal", True, True, "relu"),
    (True, "sinusoidal", True, True, "relu"),
    (False, "learned", False, False, "gelu"),
    (True, "learned", True, False, "gelu_new"),
    (True, "sinusoidal", False, True, "silu"),
    (False, "sinusoidal", False, False, "tanh"),
]


def save(model, tokenizer, folder):
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def target_log_probs(model, tokenizer, sources, targets):
    """Our teacher-forced log-probability of every target token (eos included), per row."""
    batch = tokenizer(sources, text_target=targets, padding=True, return_tensors="pt")
    labels = batch["labels"]
    with torch.no_grad():
        log_probs = model(**batch).logits.log_softmax(-1)
    rows = []
    for row, label in enumerate(labels):
        length = int((label != tokenizer.pad_token_id).sum())
        rows.append(log_probs[row, torch.arange(length), label[:length]].tolist())
    return rows


@pytest.mark.parametrize("norm_first, position, tie, share, activation", OPTIONS)
def test_log_probabilities_match_ours_for_every_option(tmp_path, norm_first, position, tie, share, activation):
    tokenizer = letters_tokenizer()
    config = Seq2SeqTransformerConfig(
        vocab_size=len(tokenizer), d_model=32, encoder_layers=2, decoder_layers=3, encoder_attention_heads=4,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=48, norm_first=norm_first,
        position_embedding=position, tie_word_embeddings=tie, share_encoder_decoder_embeddings=share,
        activation_function=activation, scale_embedding=not norm_first, layer_norm_eps=1e-6, init_std=0.3,
        max_position_embeddings=32,
    )  # fmt: skip
    torch.manual_seed(0)
    model = Seq2SeqTransformerForConditionalGeneration(config).eval()
    exported = CTranslate2Model(export_ctranslate2(save(model, tokenizer, tmp_path / "ours"), tmp_path / "ct2"))
    sources, targets = reversal_pairs(8, seed=1)
    targets = [target[:-2] + "ab" for target in targets]  # not only the likeliest tokens
    ours = target_log_probs(model, tokenizer, sources, targets)
    theirs = exported.score(tokenizer(sources)["input_ids"], tokenizer(targets)["input_ids"])
    assert [len(row) for row in theirs] == [len(row) for row in ours]
    assert torch.tensor(sum(theirs, [])) == pytest.approx(torch.tensor(sum(ours, [])), abs=1e-4)
    # the scores are not all alike: a weight left out of the export would show
    assert torch.tensor(sum(ours, [])).std() > 0.1


@pytest.fixture(scope="module")
def trained_transformer(tmp_path_factory):
    tokenizer = letters_tokenizer()
    config = Seq2SeqTransformerConfig(
        vocab_size=len(tokenizer), d_model=64, encoder_layers=2, decoder_layers=2, encoder_ffn_dim=128,
        decoder_ffn_dim=128, dropout=0.0,
    )  # fmt: skip
    torch.manual_seed(0)
    model = train_reverser(Seq2SeqTransformerForConditionalGeneration(config), tokenizer, steps=500, learning_rate=3e-3)
    folder = save(model, tokenizer, tmp_path_factory.mktemp("transformer"))
    return model, tokenizer, folder


@pytest.mark.slow
@pytest.mark.parametrize("num_beams", [1, 4])
def test_float32_outputs_equal_generate_token_for_token(trained_transformer, tmp_path, num_beams):
    model, tokenizer, folder = trained_transformer
    exported = CTranslate2Model(export_ctranslate2(folder, tmp_path / "ct2"))
    sources, targets = reversal_pairs(200, seed=7, max_len=14)  # longer than any training string: some errors
    ours = decode(model, tokenizer, sources, num_beams=num_beams)
    theirs = decode(exported, tokenizer, sources, num_beams=num_beams)
    assert theirs == ours
    assert 0.5 < exact_match(ours, targets) < 1.0  # trained, and the comparison covers wrong outputs too


@pytest.mark.slow
def test_beam_hypotheses_agree_with_generate(trained_transformer, tmp_path):
    model, tokenizer, folder = trained_transformer
    exported = CTranslate2Model(export_ctranslate2(folder, tmp_path / "ct2"))
    sources, _ = reversal_pairs(20, seed=8, max_len=14)
    arguments = {"num_beams": 4, "num_return_sequences": 3}
    theirs = decode(exported, tokenizer, sources, **arguments)
    ours = decode(model, tokenizer, sources, **arguments)
    assert len(theirs) == len(ours) == 3 * len(sources)
    # The best hypothesis of every source is the same. Below it the searches stop differently: CTranslate2 ends a
    # batch row once its best beam has finished, transformers' beam search (early_stopping=False) goes on while an
    # unfinished beam could still beat a finished one, so it may return longer runners-up that score better. Where
    # the lists differ, ours must score at least as well under our model (per-token mean log-probability).
    assert theirs[::3] == ours[::3]
    differing = [i for i, (a, b) in enumerate(zip(theirs, ours)) if a != b]
    assert len(differing) <= len(ours) // 4, differing
    for i in differing:
        source = [sources[i // 3]] * 2
        scores = [sum(row) / len(row) for row in target_log_probs(model, tokenizer, source, [theirs[i], ours[i]])]
        assert scores[1] >= scores[0] - 1e-4, (i, theirs[i], ours[i], scores)


@pytest.mark.slow
@pytest.mark.parametrize("quantization", ["int8", "int8_float32"])
def test_int8_keeps_accuracy(trained_transformer, tmp_path, quantization):
    """Tolerance: int8 exact match at most 2 points below float32 on 400 strings (the float32 rate is ~90 %)."""
    model, tokenizer, folder = trained_transformer
    exported = CTranslate2Model(export_ctranslate2(folder, tmp_path / "ct2", quantization=quantization))
    assert exported.info["quantization"] == quantization
    sources, targets = reversal_pairs(400, seed=9, max_len=12)
    float32 = exact_match(decode(model, tokenizer, sources), targets)
    assert exact_match(decode(exported, tokenizer, sources), targets) >= float32 - 0.02


@pytest.mark.slow
def test_sampling_returns_the_requested_outputs(trained_transformer, tmp_path):
    _, tokenizer, folder = trained_transformer
    exported = CTranslate2Model(export_ctranslate2(folder, tmp_path / "ct2"))
    sources, targets = reversal_pairs(4, seed=10)
    outputs = decode(exported, tokenizer, sources, do_sample=True, top_k=1, num_return_sequences=2)
    greedy = decode(exported, tokenizer, sources)
    assert outputs == [text for text in greedy for _ in range(2)]  # top_k=1 sampling is greedy
    hot = decode(exported, tokenizer, sources * 8, do_sample=True, temperature=5.0)
    assert len(set(hot)) > len(sources)  # a high temperature really samples


def test_lstm_checkpoint_is_refused_with_the_alternative(tmp_path):
    tokenizer = letters_tokenizer()
    model = Seq2SeqLSTMForConditionalGeneration(Seq2SeqLSTMConfig(vocab_size=len(tokenizer), hidden_size=16))
    with pytest.raises(ValueError, match="seq2seq_lstm.*--quantize int8"):
        export_ctranslate2(save(model, tokenizer, tmp_path / "lstm"), tmp_path / "ct2")
    assert not (tmp_path / "ct2").exists()


def test_wrong_quantization_and_too_long_inputs_are_refused(tmp_path):
    tokenizer = letters_tokenizer()
    config = Seq2SeqTransformerConfig(
        vocab_size=len(tokenizer), d_model=16, encoder_layers=1, decoder_layers=1, encoder_ffn_dim=16,
        decoder_ffn_dim=16, position_embedding="learned", max_position_embeddings=12,
    )  # fmt: skip
    folder = save(Seq2SeqTransformerForConditionalGeneration(config), tokenizer, tmp_path / "ours")
    with pytest.raises(ValueError, match="quantization='int4'.*int8, int8_float32, float16"):
        export_ctranslate2(folder, tmp_path / "ct2", quantization="int4")
    exported = CTranslate2Model(export_ctranslate2(folder, tmp_path / "ct2"))
    assert exported.info["max_positions"] == 12
    with pytest.raises(ValueError, match="12 positions"):
        decode(exported, tokenizer, ["abcdefghijabcdefghij"])
    with pytest.raises(ValueError, match="does not take.*output_scores"):
        exported.generate(**tokenizer(["abc"], return_tensors="pt"), output_scores=True)


@pytest.mark.parametrize(("position", "expected"), [("sinusoidal", 127), ("learned", 11)])
def test_without_a_length_setting_it_decodes_as_far_as_our_generate(tmp_path, position, expected):
    """Where nothing sets a length, our `generate()` allows 128 tokens (the start token included) within the
    position limit; so must the export, or long outputs are cut where ours are not (20 of the first 200 Multi30k
    validation sentences were, with a 20-token default). At the limit of learned positions the export stops one
    token earlier than ours (it refuses max_decoding_length + 1 > max_positions)."""
    tokenizer = letters_tokenizer()
    config = Seq2SeqTransformerConfig(
        vocab_size=len(tokenizer), d_model=16, encoder_layers=1, decoder_layers=1, encoder_ffn_dim=16,
        decoder_ffn_dim=16, position_embedding=position, max_position_embeddings=12,
    )  # fmt: skip
    folder = save(Seq2SeqTransformerForConditionalGeneration(config), tokenizer, tmp_path / "ours")
    exported = CTranslate2Model(export_ctranslate2(folder, tmp_path / "ct2"))
    options, _ = exported.translate_options()
    assert options["max_decoding_length"] == expected
    assert exported.translate_options(max_new_tokens=5)[0]["max_decoding_length"] == 5


def test_missing_ctranslate2_names_the_extra(tmp_path, monkeypatch):
    tokenizer = letters_tokenizer()
    config = Seq2SeqTransformerConfig(vocab_size=len(tokenizer), d_model=16, encoder_layers=1, decoder_layers=1)
    folder = save(Seq2SeqTransformerForConditionalGeneration(config), tokenizer, tmp_path / "ours")
    monkeypatch.setitem(sys.modules, "ctranslate2", None)  # import ctranslate2 now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'attnseq\[serve\]'"):
        export_ctranslate2(folder, tmp_path / "ct2")


def separate_vocabularies_setup(tie: bool = False, **options):
    """A `SourceTargetTokenizer` for the reversal of lower-case letters into spaced upper-case ones (two alphabets,
    two vocabularies of different sizes) and a Transformer with `decoder_vocab_size` for it."""
    from attnseq.tokenization import SourceTargetTokenizer, train_seq2seq_tokenizer

    sources, targets = reversal_pairs(300, seed=3)
    tokenizer = train_seq2seq_tokenizer(sources, spaced_upper(targets), shared=False, vocab_size=40, model="bpe")
    assert isinstance(tokenizer, SourceTargetTokenizer) and len(tokenizer) != tokenizer.target_len()
    config = Seq2SeqTransformerConfig(
        vocab_size=len(tokenizer), decoder_vocab_size=tokenizer.target_len(), share_encoder_decoder_embeddings=False,
        tie_word_embeddings=tie, d_model=32, encoder_layers=2, decoder_layers=2, encoder_ffn_dim=64,
        decoder_ffn_dim=64, dropout=0.0, **options,
    )  # fmt: skip
    torch.manual_seed(0)
    return tokenizer, Seq2SeqTransformerForConditionalGeneration(config).eval()


def spaced_upper(texts):
    return [" ".join(text.upper()) for text in texts]


@pytest.mark.parametrize("tie", [False, True])
def test_separate_vocabularies_are_exported_apart_and_score_and_decode_as_ours(tmp_path, tie):
    tokenizer, model = separate_vocabularies_setup(tie, init_std=0.3)
    folder = export_ctranslate2(save(model, tokenizer, tmp_path / "ours"), tmp_path / "ct2")
    names = {path.name for path in folder.iterdir()}
    assert {
        "source_vocabulary.json",
        "target_vocabulary.json",
        "source_tokenizer.json",
        "target_tokenizer.json",
    } <= names
    assert "shared_vocabulary.json" not in names
    exported = CTranslate2Model(folder)
    assert len(exported.tokens) == len(tokenizer) and len(exported.target_tokens) == tokenizer.target_len()
    # the same log-probabilities of target-side labels
    sources, targets = reversal_pairs(40, seed=4)
    targets = spaced_upper(targets)
    ours = target_log_probs(model, tokenizer, sources[:8], targets[:8])
    theirs = exported.score(tokenizer(sources[:8])["input_ids"], tokenizer(text_target=targets[:8])["input_ids"])
    assert torch.tensor(sum(theirs, [])) == pytest.approx(torch.tensor(sum(ours, [])), abs=1e-4)
    # greedy float32 outputs equal generate() token for token (beam search: the trained model's test below)
    inputs = tokenizer(sources, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = model.generate(**inputs, max_new_tokens=14)
    got = exported.generate(**inputs, max_new_tokens=14)
    assert got.tolist() == expected.tolist() and expected.max().item() < tokenizer.target_len()
    texts = tokenizer.batch_decode(got, skip_special_tokens=True)
    assert any(text.strip() for text in texts) and all(text == text.upper() for text in texts)


@pytest.mark.slow
def test_separate_vocabularies_trained_float32_outputs_equal_generate(tmp_path):
    tokenizer, model = separate_vocabularies_setup()
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for step in range(300):
        sources, targets = reversal_pairs(64, seed=50_000 + step)
        batch = tokenizer(sources, text_target=spaced_upper(targets), padding=True, return_tensors="pt")
        batch["labels"] = batch["labels"].masked_fill(batch["labels"] == tokenizer.pad_token_id, -100)
        optimizer.zero_grad(set_to_none=True)
        model(**batch).loss.backward()
        optimizer.step()
    model.eval()
    exported = CTranslate2Model(export_ctranslate2(save(model, tokenizer, tmp_path / "ours"), tmp_path / "ct2"))
    sources, targets = reversal_pairs(200, seed=7, max_len=12)
    for num_beams in (1, 4):
        ours = decode(model, tokenizer, sources, num_beams=num_beams)
        assert decode(exported, tokenizer, sources, num_beams=num_beams) == ours
    assert 0.3 < exact_match(ours, spaced_upper(targets))  # trained: the comparison covers real outputs


def test_the_family_row_decides_what_ctranslate2_exports(tmp_path, monkeypatch):
    import dataclasses

    from attnseq.families import FAMILIES

    tokenizer = letters_tokenizer()
    config = Seq2SeqTransformerConfig(
        vocab_size=len(tokenizer), d_model=8, encoder_layers=1, decoder_layers=1, encoder_ffn_dim=16, decoder_ffn_dim=16
    )
    folder = save(Seq2SeqTransformerForConditionalGeneration(config), tokenizer, tmp_path / "transformer")
    monkeypatch.setitem(FAMILIES, "transformer", dataclasses.replace(FAMILIES["transformer"], ctranslate2=False))
    with pytest.raises(ValueError, match="covers the model types ;.*'seq2seq_transformer'"):
        export_ctranslate2(folder, tmp_path / "ct2")
    assert not (tmp_path / "ct2").exists()
