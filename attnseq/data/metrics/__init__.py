"""Evaluation metrics shipped as `evaluate` modules inside the package, and a `compute_metrics` for
`Seq2SeqTrainer`.

Each metric lives in its own folder (`exact_match/exact_match.py`, ...) and is loaded by path with
`evaluate.load`, so nothing is downloaded; the results are kept in memory. BLEU tokenizes the way the
task's tokenizer does (`bleu_tokenization`): character n-grams for a character-level tokenizer, whose short
targets (numbers, dates) have no word 4-grams, sacrebleu's standard "13a" word tokenization otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import evaluate
import numpy as np
from transformers import EvalPrediction

METRICS_DIR = os.path.dirname(os.path.abspath(__file__))
METRICS = ("exact_match", "token_accuracy", "bleu", "chrf")
TEXT_METRICS = ("exact_match", "bleu", "chrf")
IGNORE_INDEX = -100
# The metrics scored when none are named: built-in tasks have one right answer (exact match, and token accuracy
# while training), data from files (translation) is scored by BLEU and chrF.
DEFAULT_METRICS = {"task": ("exact_match", "token_accuracy"), "files": ("bleu", "chrf")}
# Checkpoints are ranked by the first chosen metric of these (the loss where none is chosen).
RANKED_METRICS = ("bleu", "exact_match", "chrf", "token_accuracy")


def metric_names(chosen: str | None, from_files: bool, decoded: bool = False) -> list[str]:
    """The metrics of a comma-separated `--metrics` value, or the defaults where it is None: `DEFAULT_METRICS` of
    the data's kind, or with `decoded=True` (scoring decoded texts, as `attnseq evaluate` does) every text metric
    of a task or a pairs file and the file default of parallel files."""
    if chosen is None:
        if decoded and not from_files:
            return list(TEXT_METRICS)
        return list(DEFAULT_METRICS["files" if from_files else "task"])
    return [name.strip() for name in chosen.split(",") if name.strip()]


def ranking_metric(names: Sequence[str]) -> str | None:
    """The metric checkpoints are ranked by among `names` (the first of `RANKED_METRICS`), or None (the loss)."""
    return next((name for name in RANKED_METRICS if name in names), None)


def bleu_tokenization(tokenizer) -> str:
    """sacrebleu's `tokenize` setting for BLEU on a task encoded by `tokenizer`: "char" for the character
    tokenizer (its outputs are strings of characters, not words), "13a" (sacrebleu's default) otherwise."""
    from ...tokenization.char import CharTokenizer

    return "char" if isinstance(tokenizer, CharTokenizer) else "13a"


def default_metric_kwargs(tokenizer, names: Sequence[str], lowercase: bool = False) -> dict[str, dict]:
    """The arguments each chosen metric gets for this tokenizer: BLEU's tokenization, token accuracy's pad id, and
    with `lowercase=True` case-insensitive BLEU and chrF (their signatures then say `case:lc`)."""
    kwargs: dict[str, dict] = {}
    if "bleu" in names:
        kwargs["bleu"] = {"tokenize": bleu_tokenization(tokenizer), **({"lowercase": True} if lowercase else {})}
    if "chrf" in names and lowercase:
        kwargs["chrf"] = {"lowercase": True}
    if "token_accuracy" in names and tokenizer.pad_token_id is not None:
        kwargs["token_accuracy"] = {"pad_token_id": tokenizer.pad_token_id}
    return kwargs


def metric_path(name: str) -> str:
    """The folder of the packaged metric `name` (one of `METRICS`), for `evaluate.load`."""
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; allowed: {', '.join(map(repr, METRICS))}.")
    return os.path.join(METRICS_DIR, name)


def load_metric(name: str, **kwargs) -> evaluate.EvaluationModule:
    """Load the packaged metric `name` (one of `METRICS`) with `evaluate.load`, offline and in memory."""
    kwargs.setdefault("keep_in_memory", True)
    return evaluate.load(metric_path(name), **kwargs)


def build_compute_metrics(
    tokenizer,
    metrics: Sequence[str] = ("exact_match", "token_accuracy"),
    decoder_start_token_id: int | None = None,
    metric_kwargs: dict[str, dict] | None = None,
    lowercase: bool = False,
) -> Callable[[EvalPrediction], dict[str, float]]:
    """Build the `compute_metrics` of a `Seq2SeqTrainer` that evaluates with `predict_with_generate=True`.

    The returned function receives generated ids (each row starting with the decoder start token, padded
    with the pad id or -100) or logits, and labels padded with -100. It decodes both with
    `skip_special_tokens=True` for the text metrics (`exact_match`, `bleu`, `chrf`) and aligns the ids with
    the labels for `token_accuracy`.

    Args:
        tokenizer: the tokenizer of the targets (its pad id replaces -100 before decoding).
        metrics: names from `METRICS`.
        decoder_start_token_id: the id that starts every generated row and is dropped before comparing ids
            with the labels; defaults to the tokenizer's bos id (the models' default decoder start).
        metric_kwargs: extra arguments per metric name, e.g. `{"bleu": {"tokenize": "intl"}}`; they override
            `default_metric_kwargs` (BLEU's tokenization from the tokenizer, the pad id for token accuracy).
        lowercase: BLEU and chrF compare lower-cased texts.
    Returns:
        A function from `EvalPrediction` to `{metric name: value}`; BLEU and chrF are on a 0-100 scale,
        exact match and token accuracy are fractions. Its `signatures` dict holds sacrebleu's signature of
        the last BLEU and chrF computation (`{"bleu": "nrefs:1|case:mixed|eff:no|tok:char|..."}`).
    """
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    if not names:
        raise ValueError(f"choose at least one metric of {', '.join(map(repr, METRICS))}.")
    modules = {name: load_metric(name) for name in names}
    metric_kwargs = dict(metric_kwargs or {})
    unknown = sorted(set(metric_kwargs) - set(names))
    if unknown:
        raise ValueError(f"metric_kwargs names metric(s) {unknown} that are not among the chosen metrics {names}.")
    defaults = default_metric_kwargs(tokenizer, names, lowercase=lowercase)
    metric_kwargs = {name: {**defaults.get(name, {}), **metric_kwargs.get(name, {})} for name in names}
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    start_id = tokenizer.bos_token_id if decoder_start_token_id is None else decoder_start_token_id

    def compute_metrics(evaluation: EvalPrediction) -> dict[str, float]:
        predictions = evaluation.predictions[0] if isinstance(evaluation.predictions, tuple) else evaluation.predictions
        predictions = aligned_prediction_ids(np.asarray(predictions), start_id)
        labels = np.asarray(evaluation.label_ids)
        results: dict[str, float] = {}
        if any(name in TEXT_METRICS for name in names):
            texts = tokenizer.batch_decode(
                np.where(predictions == IGNORE_INDEX, pad_id, predictions), skip_special_tokens=True
            )
            references = tokenizer.batch_decode(
                np.where(labels == IGNORE_INDEX, pad_id, labels), skip_special_tokens=True
            )
        for name, module in modules.items():
            if name in TEXT_METRICS:
                output = module.compute(predictions=texts, references=references, **metric_kwargs.get(name, {}))
            else:
                output = module.compute(
                    predictions=predictions.tolist(), references=labels.tolist(), **metric_kwargs.get(name, {})
                )
            results[name] = float(output[name])
            if "signature" in output:
                compute_metrics.signatures[name] = output["signature"]
        return results

    compute_metrics.signatures = {}
    return compute_metrics


def score_texts(
    predictions: Sequence[str], references: Sequence[str], metrics: Sequence[str], tokenizer, lowercase: bool = False
) -> dict[str, float | str]:
    """Score decoded texts against reference texts: `{metric: value}`, plus `{metric}_signature` (sacrebleu's
    signature) for BLEU and chrF, which tokenize as `default_metric_kwargs` chooses for `tokenizer`."""
    names = [name for name in metrics if name != "token_accuracy"]
    text_kwargs = default_metric_kwargs(tokenizer, names, lowercase=lowercase)
    results: dict[str, float | str] = {}
    for name in names:
        output = load_metric(name).compute(
            predictions=list(predictions), references=list(references), **text_kwargs.get(name, {})
        )
        results[name] = float(output[name])
        if "signature" in output:
            results[f"{name}_signature"] = output["signature"]
        if name == "bleu":
            results["bleu_length_ratio"] = output["sys_len"] / max(output["ref_len"], 1)
    return results


def aligned_prediction_ids(predictions: np.ndarray, decoder_start_token_id: int | None) -> np.ndarray:
    """Turn a model's predictions into ids aligned with its labels: logits `(batch, length, vocab)` become
    their argmax; generated ids `(batch, length)` lose the first column when every row starts with the
    decoder start token (as `generate` output of an encoder-decoder does)."""
    if predictions.ndim == 3:
        return predictions.argmax(-1)
    if predictions.ndim != 2:
        raise ValueError(
            f"predictions must be ids (batch, length) or logits (batch, length, vocab), got shape {predictions.shape}."
        )
    if (
        decoder_start_token_id is not None
        and predictions.shape[1]
        and (predictions[:, 0] == decoder_start_token_id).all()
    ):
        return predictions[:, 1:]
    return predictions
