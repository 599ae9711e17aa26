"""The packaged evaluate modules on hand-checked cases, and compute_metrics with -100 padding."""

import numpy as np
import pytest
from transformers import EvalPrediction

from attnseq.data.metrics import METRICS, aligned_prediction_ids, build_compute_metrics, load_metric
from attnseq.tokenization import CharTokenizer


@pytest.fixture(scope="module")
def metrics():
    return {name: load_metric(name) for name in METRICS}


def test_exact_match_is_the_fraction_of_identical_strings(metrics):
    exact_match = metrics["exact_match"]
    result = exact_match.compute(predictions=["62", "1994-09-27", "8"], references=["62", "1994-09-28", "8"])
    assert result == {"exact_match": pytest.approx(2 / 3)}
    assert exact_match.compute(predictions=["Ab "], references=["ab"])["exact_match"] == 0.0
    assert (
        exact_match.compute(predictions=["Ab "], references=["ab"], ignore_case=True, strip=True)["exact_match"] == 1.0
    )


def test_token_accuracy_skips_minus_100_and_counts_missing_positions_wrong(metrics):
    token_accuracy = metrics["token_accuracy"]
    # 5 counted positions (the -100 is skipped), 4 right: 5, 2 and 7, 2.
    result = token_accuracy.compute(predictions=[[5, 6, 2], [7, 2]], references=[[5, 7, 2], [7, 2, -100]])
    assert result == {"token_accuracy": pytest.approx(0.8)}
    # A prediction one token short, and a -100 in a prediction, are wrong at those positions.
    result = token_accuracy.compute(predictions=[[5], [7, -100]], references=[[5, 7], [7, 2]])
    assert result["token_accuracy"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="no reference position"):
        token_accuracy.compute(predictions=[[1]], references=[[-100]])


def test_bleu_by_sacrebleu(metrics):
    bleu = metrics["bleu"]
    text = "the cat sat on the mat"
    assert bleu.compute(predictions=[text], references=[text])["bleu"] == pytest.approx(100)
    assert bleu.compute(predictions=["a b c d"], references=["e f g h"])["bleu"] == 0.0
    # Several references: matching any one of them is enough.
    result = bleu.compute(predictions=[text], references=[["a dog ran off", text]])
    assert result["bleu"] == pytest.approx(100) and result["signature"].startswith("nrefs:2|")
    # Hand-checked: 5 of 5 unigrams, 3 of 4 bigrams, 2 of 3 trigrams, 1 of 2 4-grams; brevity penalty e^(1-6/5).
    partial = bleu.compute(predictions=["the cat sat on mat"], references=["the cat sat on a mat"])
    assert partial["precisions"] == pytest.approx([100.0, 75.0, 2 / 3 * 100, 50.0])
    assert partial["brevity_penalty"] == pytest.approx(np.exp(1 - 6 / 5))


def test_chrf_by_sacrebleu(metrics):
    chrf = metrics["chrf"]
    assert chrf.compute(predictions=["1994-09-27"], references=["1994-09-27"])["chrf"] == pytest.approx(100)
    assert chrf.compute(predictions=["abc"], references=["xyz"])["chrf"] == 0.0
    # Hand-checked with character unigrams only: precision 1/2, recall 1/2, so F = 0.5 for any beta.
    assert chrf.compute(predictions=["ab"], references=["ac"], char_order=1)["chrf"] == pytest.approx(50)


def test_unknown_metric_names_the_allowed_ones():
    with pytest.raises(
        ValueError, match="unknown metric 'rouge'; allowed: 'exact_match', 'token_accuracy', 'bleu', 'chrf'"
    ):
        load_metric("rouge")


@pytest.fixture(scope="module")
def tokenizer():
    return CharTokenizer.from_texts(["0123456789-"])


def padded(rows, width, value):
    return np.array([row + [value] * (width - len(row)) for row in rows])


def test_compute_metrics_on_generated_ids_and_minus_100_labels(tokenizer):
    references = ["62", "1994", "7"]
    predicted = ["62", "1995", "7"]
    labels = padded([tokenizer(text_target=text)["input_ids"] for text in references], 5, -100)
    # Generated rows: decoder start (bos), the text, eos, pad ids after eos, then -100 from gathering batches.
    generated = [[tokenizer.bos_token_id, *tokenizer(text)["input_ids"]] for text in predicted]
    predictions = padded([row + [tokenizer.pad_token_id] * (6 - len(row)) for row in generated], 8, -100)
    compute_metrics = build_compute_metrics(tokenizer, metrics=("exact_match", "token_accuracy", "chrf", "bleu"))
    results = compute_metrics(EvalPrediction(predictions=predictions, label_ids=labels))
    assert set(results) == {"exact_match", "token_accuracy", "chrf", "bleu"}
    assert results["exact_match"] == pytest.approx(2 / 3)
    assert results["token_accuracy"] == pytest.approx(9 / 10)  # 10 label positions, one wrong digit
    assert 0 < results["chrf"] < 100
    perfect = compute_metrics(EvalPrediction(predictions=padded(generated[:1], 8, -100), label_ids=labels[:1]))
    assert perfect["exact_match"] == 1.0 and perfect["token_accuracy"] == 1.0


def test_compute_metrics_on_logits(tokenizer):
    labels = padded([tokenizer(text_target=text)["input_ids"] for text in ["12", "3"]], 3, -100)
    logits = np.full((2, 3, len(tokenizer)), -5.0)
    for row, ids in enumerate([tokenizer("12")["input_ids"], tokenizer("4")["input_ids"] + [0]]):
        for position, token in enumerate(ids):
            logits[row, position, token] = 5.0
    results = build_compute_metrics(tokenizer)(EvalPrediction(predictions=logits, label_ids=labels))
    assert results == {"exact_match": 0.5, "token_accuracy": pytest.approx(4 / 5)}


def test_alignment_and_argument_errors(tokenizer):
    generated = np.array([[1, 5, 2], [1, 6, 2]])
    assert aligned_prediction_ids(generated, 1).tolist() == [[5, 2], [6, 2]]
    assert aligned_prediction_ids(generated, 9).tolist() == generated.tolist()
    with pytest.raises(ValueError, match="got shape"):
        aligned_prediction_ids(np.zeros(3), 1)
    with pytest.raises(ValueError, match="unknown metric 'accuracy'"):
        build_compute_metrics(tokenizer, metrics=("accuracy",))
    with pytest.raises(ValueError, match=r"metric_kwargs names metric\(s\) \['bleu'\]"):
        build_compute_metrics(tokenizer, metrics=("exact_match",), metric_kwargs={"bleu": {"tokenize": "char"}})


def test_token_accuracy_of_seq2seq_trainer_counts_only_real_label_positions(tokenizer, tmp_path):
    """Seq2SeqTrainer pads labels to the generation length with the pad id; those positions are not scored."""
    import torch
    from datasets import Dataset
    from transformers import DataCollatorForSeq2Seq, Seq2SeqTrainer, Seq2SeqTrainingArguments

    from attnseq import Seq2SeqLSTMConfig, Seq2SeqLSTMForConditionalGeneration

    torch.manual_seed(0)
    model = Seq2SeqLSTMForConditionalGeneration(
        Seq2SeqLSTMConfig(vocab_size=len(tokenizer), hidden_size=8, embedding_size=4)
    ).eval()
    sources, targets = ["12-3", "4-56", "789", "0-1"], ["9", "52", "987", "1"]
    data = Dataset.from_dict(
        {
            "input_ids": [tokenizer(t)["input_ids"] for t in sources],
            "labels": [tokenizer(text_target=t)["input_ids"] for t in targets],
        }
    )
    seen = {}
    compute = build_compute_metrics(tokenizer)

    def recording(evaluation):
        seen["predictions"] = aligned_prediction_ids(np.asarray(evaluation.predictions), tokenizer.bos_token_id)
        return compute(evaluation)

    args = Seq2SeqTrainingArguments(
        output_dir=str(tmp_path),
        per_device_eval_batch_size=4,
        predict_with_generate=True,
        generation_max_length=40,
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = Seq2SeqTrainer(
        model=model,
        args=args,
        eval_dataset=data,
        processing_class=tokenizer,
        data_collator=DataCollatorForSeq2Seq(tokenizer, model=model),
        compute_metrics=recording,
    )
    results = trainer.evaluate()
    predictions = seen["predictions"]
    right = total = 0
    for row, labels in enumerate(data["labels"]):  # the labels as tokenized: real positions only
        total += len(labels)
        right += sum(
            position < predictions.shape[1] and predictions[row, position] == label
            for position, label in enumerate(labels)
        )
    assert results["eval_token_accuracy"] == pytest.approx(right / total)
    assert results["eval_token_accuracy"] < 0.5  # an untrained model; counting padding gave over 0.9


def test_token_accuracy_skips_the_pad_id_when_given(metrics):
    token_accuracy = metrics["token_accuracy"]
    references, predictions = [[6, 2, 0, 0, 0, 0]], [[5, 2, 0, 0, 0, 0]]
    assert token_accuracy.compute(predictions=predictions, references=references, pad_token_id=0)[
        "token_accuracy"
    ] == pytest.approx(0.5)


def test_bleu_on_a_character_tokenizer_uses_character_ngrams_and_reports_its_signature(tokenizer):
    targets = ["62", "1994-09-27", "7"]
    labels = padded([tokenizer(text_target=text)["input_ids"] for text in targets], 12, -100)
    generated = padded([[tokenizer.bos_token_id, *tokenizer(text)["input_ids"]] for text in targets], 13, 0)
    compute_metrics = build_compute_metrics(tokenizer, metrics=("exact_match", "bleu", "chrf"))
    results = compute_metrics(EvalPrediction(predictions=generated, label_ids=labels))
    assert results["exact_match"] == 1.0 and results["chrf"] == pytest.approx(100)
    assert results["bleu"] == pytest.approx(100)  # word tokenization gave 0.0: no word 4-grams
    assert "|tok:char|" in compute_metrics.signatures["bleu"]
    assert compute_metrics.signatures["bleu"].startswith("nrefs:1|")


def test_bleu_on_a_subword_tokenizer_keeps_word_tokenization():
    from attnseq.data.metrics import bleu_tokenization
    from attnseq.tokenization import train_subword_tokenizer

    subword = train_subword_tokenizer(["the cat sat on the mat"] * 4, vocab_size=30)
    assert bleu_tokenization(subword) == "13a"
    assert bleu_tokenization(CharTokenizer.from_texts(["ab"])) == "char"


def test_evaluate_pairs_reports_character_bleu_with_its_signature(tokenizer, monkeypatch):
    from datasets import Dataset

    from attnseq.serving import inference

    class Echo:
        """Stands in for a model whose outputs are exactly the references."""

    pairs = Dataset.from_dict({"source": ["a", "b"], "target": ["1994-09-27", "62"]})
    monkeypatch.setattr(
        inference,
        "generate_texts",
        lambda model, tok, texts, batch_size, **kwargs: iter([[t] for t in pairs["target"]]),
    )
    results = inference.evaluate_pairs(Echo(), tokenizer, pairs, metrics=("exact_match", "bleu"))
    assert results["exact_match"] == 1.0 and results["bleu"] == pytest.approx(100)
    assert "|tok:char|" in results["bleu_signature"]


def test_metric_defaults_come_from_one_table():
    from attnseq.data.metrics import DEFAULT_METRICS, metric_names, ranking_metric

    assert metric_names(None, from_files=False) == list(DEFAULT_METRICS["task"]) == ["exact_match", "token_accuracy"]
    assert metric_names(None, from_files=True) == list(DEFAULT_METRICS["files"]) == ["bleu", "chrf"]
    assert metric_names(None, from_files=False, decoded=True) == ["exact_match", "bleu", "chrf"]
    assert metric_names(None, from_files=True, decoded=True) == ["bleu", "chrf"]
    assert metric_names(" chrf, bleu ,", from_files=False) == ["chrf", "bleu"]
    assert ranking_metric(["chrf", "exact_match"]) == "exact_match" and ranking_metric([]) is None
