"""Batched decoding of texts and scoring against references, for `attnseq generate` and `evaluate`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from .metrics import default_metric_kwargs, load_metric


def generate_texts(
    model, tokenizer, texts: Sequence[str], batch_size: int = 64, seed: int | None = None, **generation_kwargs
) -> Iterator[list[str]]:
    """Decode `texts` in batches; yields, per text, its `num_return_sequences` output texts."""
    if seed is not None:
        torch.manual_seed(seed)
    per_text = generation_kwargs.get("num_return_sequences", 1)
    model.eval()
    for start in range(0, len(texts), batch_size):
        batch = list(texts[start : start + batch_size])
        inputs = tokenizer(batch, return_tensors="pt", padding=True).to(model.device)
        with torch.no_grad():
            generated = model.generate(**inputs, **generation_kwargs)
        decoded = tokenizer.batch_decode(generated, skip_special_tokens=True)
        for index in range(len(batch)):
            yield decoded[index * per_text : (index + 1) * per_text]


def evaluate_pairs(
    model, tokenizer, pairs, metrics: Sequence[str] = ("exact_match",), batch_size: int = 256, **generation_kwargs
) -> dict[str, float]:
    """Decode the `source` column of `pairs` and score the outputs against its `target` column.

    Returns `{metric: value}`, plus `{metric}_signature` (sacrebleu's signature) for BLEU and chrF. BLEU
    tokenizes as `metrics.bleu_tokenization` chooses for `tokenizer`.
    """
    generation_kwargs["num_return_sequences"] = 1
    predictions = [
        outputs[0] for outputs in generate_texts(model, tokenizer, pairs["source"], batch_size, **generation_kwargs)
    ]
    references = list(pairs["target"])
    text_kwargs = default_metric_kwargs(tokenizer, [name for name in metrics if name != "token_accuracy"])
    results: dict[str, float | str] = {}
    for name in metrics:
        output = load_metric(name).compute(predictions=predictions, references=references, **text_kwargs.get(name, {}))
        results[name] = float(output[name])
        if "signature" in output:
            results[f"{name}_signature"] = output["signature"]
    return results
