"""Batched decoding of texts and scoring against references, for `attnseq generate` and `evaluate`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from ..data.metrics import score_texts

OVERLONG_CHOICES = ("error", "skip", "truncate")


def fit_sources(
    texts: Sequence[str], origins: Sequence[str], tokenizer, limit: int | None, overlong: str = "error"
) -> tuple[list[int], list[str]]:
    """Check, before anything is decoded, that every source fits the model's position limit.

    Args:
        texts: the sources.
        origins: where each comes from, for messages (`"dates.txt:2"`, `"argument 1"`, `"<stdin>:3"`).
        limit: the most source tokens the model takes (`config.position_limit`), or None for no limit.
        overlong: `"error"` (refuse), `"skip"` (leave the source out) or `"truncate"` (decode its first `limit`
            tokens; `generate_texts(max_source_length=limit)` truncates).
    Returns:
        `(kept, skipped)`: the indices of the texts to decode, and the origins of those left out.
    Raises:
        ValueError: `overlong="error"` and a source is longer than `limit` (its origin and length named).
    """
    if overlong not in OVERLONG_CHOICES:
        raise ValueError(f"--overlong {overlong!r} is not supported; allowed: {', '.join(OVERLONG_CHOICES)}.")
    if limit is None or overlong == "truncate" or not texts:
        return list(range(len(texts))), []
    lengths = [len(ids) for ids in tokenizer(list(texts))["input_ids"]]
    too_long = [index for index, length in enumerate(lengths) if length > limit]
    if too_long and overlong == "error":
        first = too_long[0]
        more = f" (and {len(too_long) - 1} more)" if len(too_long) > 1 else ""
        raise ValueError(
            f"{origins[first]}: the source is {lengths[first]} tokens long, more than the model's {limit} source "
            f"positions (max_position_embeddings){more}; nothing was decoded. Pass --overlong skip or --overlong "
            "truncate, or shorten it."
        )
    return [index for index in range(len(texts)) if index not in set(too_long)], [origins[i] for i in too_long]


def generate_texts(
    model,
    tokenizer,
    texts: Sequence[str],
    batch_size: int = 64,
    seed: int | None = None,
    sort_by_length: bool = True,
    max_source_length: int | None = None,
    **generation_kwargs,
) -> Iterator[list[str]]:
    """Decode `texts` in batches; yields, per text and in the order given, its `num_return_sequences` outputs.

    With `sort_by_length` (the default) the texts are decoded in order of their token count, so that a batch holds
    sources of similar length (little padding, and no batch waits for one long source); the outputs still come
    back in the given order, after the last batch. Padding never changes a result, so the order changes nothing
    but the time (except under sampling, whose random draws then fall to other texts). With `max_source_length`
    longer sources are truncated to that many tokens.
    """
    if seed is not None:
        torch.manual_seed(seed)
    per_text = generation_kwargs.get("num_return_sequences", 1)
    model.eval()
    order = list(range(len(texts)))
    if sort_by_length and len(texts) > batch_size:
        lengths = [len(ids) for ids in tokenizer(list(texts))["input_ids"]]
        order.sort(key=lambda index: lengths[index])
    outputs: dict[int, list[str]] = {}
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        truncation = {"truncation": True, "max_length": max_source_length} if max_source_length else {}
        inputs = tokenizer([texts[row] for row in rows], return_tensors="pt", padding=True, **truncation)
        inputs = inputs.to(model.device)
        with torch.no_grad():
            generated = model.generate(**inputs, **generation_kwargs)
        decoded = tokenizer.batch_decode(generated, skip_special_tokens=True)
        for position, row in enumerate(rows):
            outputs[row] = decoded[position * per_text : (position + 1) * per_text]
    for row in range(len(texts)):
        yield outputs.pop(row)


def evaluate_pairs(
    model,
    tokenizer,
    pairs,
    metrics: Sequence[str] = ("exact_match",),
    batch_size: int = 256,
    lowercase: bool = False,
    **generation_kwargs,
) -> dict[str, float]:
    """Decode the `source` column of `pairs` (sorted by length, in batches) and score the outputs against its
    `target` column with `score_texts`; `bleu_length_ratio` is the hypotheses' length over the references'."""
    generation_kwargs["num_return_sequences"] = 1
    predictions = [
        outputs[0] for outputs in generate_texts(model, tokenizer, pairs["source"], batch_size, **generation_kwargs)
    ]
    return score_texts(predictions, pairs["target"], metrics, tokenizer, lowercase=lowercase)
