"""`attnseq train --shared_vocabulary false`: two subword vocabularies end to end (train, reload, continue, evaluate,
generate on both engines)."""

import json
import os
import random
import re

import pytest
from cli_testing import run_attnseq
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

import attnseq  # noqa: F401
from attnseq.hub_cards.attention_map import attention_matrix
from attnseq.tokenization import SourceTargetTokenizer

GERMAN = "die eine katze hund saß auf matte klotz und sah lief groß klein rot blau grün haus baum".split()
ENGLISH = "the a cat dog sat on mat log and saw ran big small red blue green house tree".split()


def write_pairs(folder, count=300, seed=0):
    """Word-for-word "translations" between two alphabets of words: two vocabularies of different sizes."""
    rng = random.Random(seed)
    words = dict(zip(GERMAN, ENGLISH, strict=True))
    sources = [" ".join(rng.choices(GERMAN, k=rng.randint(2, 6))) for _ in range(count)]
    targets = [" ".join(words[word] for word in source.split()) for source in sources]
    (folder / "train.de").write_text("\n".join(sources) + "\n", encoding="utf-8")
    (folder / "train.en").write_text("\n".join(targets) + "\n", encoding="utf-8")
    return str(folder / "train.de"), str(folder / "train.en")


def inputs_of(tokenizer, text):
    return tokenizer([text], return_tensors="pt")


TINY_TRANSFORMER = (
    "--model transformer --d_model 32 --encoder_layers 1 --decoder_layers 1 --encoder_attention_heads 2 "
    "--decoder_attention_heads 2 --encoder_ffn_dim 64 --decoder_ffn_dim 64 --dropout 0.0 --learning_rate 5e-3 "
    "--per_device_train_batch_size 16 --disable_tqdm true --show_examples 2 --validation_size 10 --test_size 20 "
    "--tokenizer bpe --subword_vocab_size 200 --shared_vocabulary false"
).split()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("separate")
    source, target = write_pairs(folder)
    out = folder / "model"
    files = ["--source_file", source, "--target_file", target]
    result = run_attnseq("train", *files, *TINY_TRANSFORMER, "--num_train_epochs", "3", "--output_dir", str(out))
    return files, out, result


def test_train_saves_a_model_with_two_vocabularies_that_reloads(trained):
    _, out, result = trained
    assert "test metrics:" in result.stdout
    names = set(os.listdir(out))
    assert {"config.json", "model.safetensors", "source_tokenizer.json", "target_tokenizer.json"} <= names
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert isinstance(tokenizer, SourceTargetTokenizer)
    assert tokenizer.init_kwargs["attnseq_subword_training"]["shared_vocabulary"] is False
    model = AutoModelForSeq2SeqLM.from_pretrained(out)
    config = model.config
    assert (config.vocab_size, config.decoder_vocab_size) == (len(tokenizer), tokenizer.target_len())
    assert config.vocab_size != config.decoder_vocab_size and not config.share_encoder_decoder_embeddings
    assert model.lm_head.out_features == tokenizer.target_len()
    inputs = tokenizer(["die katze sah den hund"], return_tensors="pt")
    ids = model.generate(**inputs, max_new_tokens=8, num_beams=3)
    assert ids.max().item() < tokenizer.target_len()
    assert all(word in ENGLISH for word in tokenizer.decode(ids[0], skip_special_tokens=True).split())
    card = (out / "README.md").read_text()
    assert f"source {config.vocab_size:,} tokens" in card and f"target {config.decoder_vocab_size:,} tokens" in card
    assert "shared_vocabulary False" in card
    # the card's attention example and picture: source tokens from the source side, outputs from the target side
    source, output = re.search(r"while the model turns `(.*?)` into `(.*?)`", card).groups()
    assert all(word in GERMAN for word in source.split()) and all(word in ENGLISH for word in output.split())
    source_tokens, output_tokens, _ = attention_matrix(model, tokenizer, "die katze sah", 8)
    assert source_tokens[-1] == "</s>"
    assert "".join(source_tokens[:-1]).replace("▁", " ").split() == ["die", "katze", "sah"]
    assert output_tokens == tokenizer.convert_ids_to_tokens(
        model.generate(**inputs_of(tokenizer, "die katze sah"), max_new_tokens=8)[0, 1:].tolist()
    )


def test_evaluate_and_generate_on_both_engines_agree_with_train(trained):
    files, out, _ = trained
    trained_metrics = json.loads((out / "test_results.json").read_text())
    assert trained_metrics["test_bleu"] > 0 and "tok:13a" in trained_metrics["test_bleu_signature"]
    evaluated = json.loads(run_attnseq("evaluate", str(out), *files, "--max_samples", "30").stdout)
    assert evaluated["rows"] == 30 and {"bleu", "chrf"} <= set(evaluated)
    predictions = (out / "test_predictions.txt").read_text().splitlines()
    assert predictions and all(word in ENGLISH for line in predictions for word in line.split())
    sources = ["die katze sah den hund", "ein rot haus", "baum"]
    torch_lines = run_attnseq("generate", str(out), *sources, "--num_beams", "3").stdout.splitlines()
    assert len(torch_lines) == 3 and all(word in ENGLISH for line in torch_lines for word in line.split())
    pytest.importorskip("ctranslate2")
    ct2_lines = run_attnseq("generate", str(out), *sources, "--num_beams", "3", "--engine", "ctranslate2")
    assert ct2_lines.stdout.splitlines() == torch_lines


def test_training_continues_from_the_checkpoint(trained, tmp_path):
    files, out, _ = trained
    tuned = tmp_path / "tuned"
    run_attnseq(
        "train", "--model_name_or_path", str(out), *files, "--num_train_epochs", "1", "--validation_size", "10",
        "--test_size", "10", "--disable_tqdm", "true", "--show_examples", "0", "--output_dir", str(tuned),
    )  # fmt: skip
    before, after = AutoModelForSeq2SeqLM.from_pretrained(out), AutoModelForSeq2SeqLM.from_pretrained(tuned)
    assert after.config.decoder_vocab_size == before.config.decoder_vocab_size
    assert isinstance(AutoTokenizer.from_pretrained(tuned), SourceTargetTokenizer)
    assert (tuned / "target_tokenizer.json").read_bytes() == (out / "target_tokenizer.json").read_bytes()
    assert not after.lm_head.weight.equal(before.lm_head.weight)


def test_lstm_trains_with_two_vocabularies(tmp_path):
    source, target = write_pairs(tmp_path, count=120)
    out = tmp_path / "lstm"
    options = (
        "--model lstm --hidden_size 16 --embedding_size 8 --num_train_epochs 1 --disable_tqdm true --show_examples 0 "
        "--validation_size 10 --test_size 10 --tokenizer unigram --subword_vocab_size 60 --shared_vocabulary false"
    ).split()
    run_attnseq("train", "--source_file", source, "--target_file", target, *options, "--output_dir", str(out))
    tokenizer, model = AutoTokenizer.from_pretrained(out), AutoModelForSeq2SeqLM.from_pretrained(out)
    assert isinstance(tokenizer, SourceTargetTokenizer)
    assert model.model.decoder.embed_tokens.num_embeddings == model.config.decoder_vocab_size == tokenizer.target_len()
    assert model.model.encoder.embed_tokens.num_embeddings == model.config.vocab_size == len(tokenizer)


@pytest.mark.parametrize(
    "options, message",
    [
        (["--tokenizer", "char"], "--shared_vocabulary false .* needs --tokenizer bpe or --tokenizer unigram"),
        (
            ["--tokenizer", "bpe", "--model", "transformer", "--share_encoder_decoder_embeddings", "true"],
            "share_encoder_decoder_embeddings=True needs one vocabulary",
        ),
    ],
)
def test_settings_that_need_one_vocabulary_are_refused(tmp_path, options, message):
    from attnseq.data.loading import load_pairs
    from attnseq.training.build import build_tokenizer_and_model
    from attnseq.training.cli import parse_train_arguments

    source, target = write_pairs(tmp_path, count=40)
    argv = ["--source_file", source, "--target_file", target, "--shared_vocabulary", "false", *options]
    model_args, data_args, _, _ = parse_train_arguments([*argv, "--output_dir", str(tmp_path / "out")])
    with pytest.raises(ValueError, match=message):
        build_tokenizer_and_model(model_args, data_args, load_pairs(data_args))


def test_metrics_decode_predictions_and_labels_with_the_target_vocabulary():
    import numpy as np
    from transformers import EvalPrediction

    from attnseq.data.metrics import build_compute_metrics
    from attnseq.tokenization import train_seq2seq_tokenizer

    rng = random.Random(1)
    sources = [" ".join(rng.choices(GERMAN, k=4)) for _ in range(200)]
    targets = [" ".join(rng.choices(ENGLISH, k=4)) for _ in range(200)]
    tokenizer = train_seq2seq_tokenizer(sources, targets, shared=False, vocab_size=80)
    references = ["the cat sat on the mat", "a big red dog"]
    labels = tokenizer(text_target=references, padding=True, return_tensors="np")["input_ids"]
    assert tokenizer.batch_decode(labels, skip_special_tokens=True, use_source_tokenizer=True) != references
    labels = np.where(labels == tokenizer.pad_token_id, -100, labels)
    generated = np.concatenate([np.full((2, 1), tokenizer.bos_token_id), np.where(labels < 0, 0, labels)], axis=1)
    compute = build_compute_metrics(tokenizer, metrics=("exact_match", "bleu"))
    scores = compute(EvalPrediction(predictions=generated, label_ids=labels))
    assert scores["exact_match"] == 1.0 and scores["bleu"] == pytest.approx(100.0)
    assert "tok:13a" in compute.signatures["bleu"]
