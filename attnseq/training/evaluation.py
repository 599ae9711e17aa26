"""The end of a run: the test split decoded as `attnseq generate` decodes and scored as `attnseq evaluate` scores,
and a few decoded examples printed."""

from __future__ import annotations

import logging
import os

from transformers import Seq2SeqTrainingArguments

from ..data.metrics import IGNORE_INDEX, TEXT_METRICS, aligned_prediction_ids, score_texts
from ..modeling.seq2seq import default_max_length

logger = logging.getLogger(__name__)

TEST_PREDICTIONS_NAME = "test_predictions.txt"


def sorted_by_source_length(dataset):
    """`(dataset sorted by source length, order)`: batches of similar lengths decode with little padding; corpus
    metrics do not depend on the order, and `order[i]` is the original row of sorted row i."""
    import numpy as np

    order = np.argsort([len(ids) for ids in dataset["input_ids"]], kind="stable")
    return dataset.select(order), order


def test_generation_kwargs(run_args, training_args: Seq2SeqTrainingArguments) -> dict:
    """The decoding of the final test evaluation: `--test_num_beams` (default: `--generation_num_beams`, else
    greedy) with `--test_length_penalty`."""
    beams = run_args.test_num_beams or training_args.generation_num_beams or 1
    return {"num_beams": beams, "length_penalty": run_args.test_length_penalty} if beams > 1 else {"num_beams": 1}


def evaluate_test_split(trainer, tokenizer, tokenized_test, raw_test, data_args, run_args, training_args) -> dict:
    """Decode the test split (sorted by source length, in batches) and score it.

    Generation stops where `generate()` stops by default (128 tokens within the model's position limit), so that the
    figures are those of `attnseq generate`; validation during training stops 8 tokens after the longest training
    target, which is faster but hides outputs that run on. The loss and the metrics come from the Trainer as for
    validation; BLEU, chrF and exact match are then computed
    again against the raw reference texts (as `attnseq evaluate` does, so both give the same figures: decoded label
    ids would carry the tokenizer's normalisation, lower-casing and unknown characters). The hypotheses are written
    to `test_predictions.txt` in the order of the test set, and the decoding settings are recorded in the metrics.
    """
    ordered, order = sorted_by_source_length(tokenized_test)
    generation = test_generation_kwargs(run_args, training_args)
    # the length limit of `generate()` (and so of `attnseq generate`/`evaluate`), not the validation's shorter one
    max_length = default_max_length(trainer.model.config.position_limit)
    output = trainer.predict(ordered, metric_key_prefix="test", max_length=max_length, **generation)
    metrics = dict(output.metrics)
    for name, signature in getattr(trainer.compute_metrics, "signatures", {}).items():
        metrics[f"test_{name}_signature"] = signature  # how the score was computed, next to it
    metrics.update({f"test_{key}": value for key, value in generation.items()})
    names = [name for name in data_args.metric_names if name in TEXT_METRICS]
    if not trainer.is_world_process_zero() or len(raw_test) != len(ordered) or output.predictions is None:
        return metrics
    ids = aligned_prediction_ids(output.predictions, trainer.model.config.decoder_start_token_id)
    if ids.shape[0] != len(ordered):  # gathered from several processes in another layout: keep the Trainer's scores
        logger.warning("test predictions of %d rows for %d test rows: scored on decoded labels", len(ids), len(ordered))
        return metrics
    texts = tokenizer.batch_decode(
        [[token for token in row if token not in (IGNORE_INDEX, tokenizer.pad_token_id)] for row in ids.tolist()],
        skip_special_tokens=True,
    )
    hypotheses = [""] * len(texts)
    for position, row in enumerate(order):
        hypotheses[row] = texts[position]
    if names:
        scores = score_texts(hypotheses, raw_test["target"], names, tokenizer, lowercase=data_args.lowercase_metrics)
        metrics.update({f"test_{key}": value for key, value in scores.items()})
    os.makedirs(training_args.output_dir, exist_ok=True)
    with open(os.path.join(training_args.output_dir, TEST_PREDICTIONS_NAME), "w", encoding="utf-8") as handle:
        handle.writelines(hypothesis.replace("\n", " ") + "\n" for hypothesis in hypotheses)
    return metrics


def decode_examples(model, tokenizer, pairs, count: int, max_length: int) -> list[tuple[str, str, str]]:
    """Greedy predictions for the first `count` rows of `pairs`: `(source, prediction, reference)`."""
    import torch

    rows = pairs.select(range(min(count, len(pairs))))
    if len(rows) == 0:
        return []
    inputs = tokenizer(list(rows["source"]), return_tensors="pt", padding=True).to(model.device)
    model.eval()
    with torch.no_grad():
        generated = model.generate(**inputs, max_length=max_length, num_beams=1, do_sample=False)
    predictions = tokenizer.batch_decode(generated, skip_special_tokens=True)
    return list(zip(rows["source"], predictions, rows["target"]))


def print_examples(examples: list[tuple[str, str, str]]) -> None:
    width = max((len(source) for source, _, _ in examples), default=0)
    for source, prediction, reference in examples:
        mark = "ok" if prediction == reference else "WRONG"
        print(f"  {source:<{width}} -> {prediction:<14} (reference {reference}) {mark}")
