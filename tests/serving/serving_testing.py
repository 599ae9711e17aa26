"""Small models trained in the test run, for the serving tests: the reversal of strings of ten letters."""

import random

import torch

from attnseq import CharTokenizer

LETTERS = "abcdefghij"


def letters_tokenizer() -> CharTokenizer:
    return CharTokenizer.from_texts([LETTERS])


def reversal_pairs(count: int, seed: int, min_len: int = 3, max_len: int = 10) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    sources = ["".join(rng.choices(LETTERS, k=rng.randint(min_len, max_len))) for _ in range(count)]
    return sources, [source[::-1] for source in sources]


def train_reverser(model, tokenizer, steps: int, learning_rate: float, seed: int = 0):
    """Teach `model` to reverse strings (AdamW, batches of 64), and return it in eval mode."""
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    model.train()
    for step in range(steps):
        sources, targets = reversal_pairs(64, seed=seed * 100_000 + step)
        batch = tokenizer(sources, text_target=targets, padding=True, return_tensors="pt")
        batch["labels"] = batch["labels"].masked_fill(batch["labels"] == tokenizer.pad_token_id, -100)
        optimizer.zero_grad(set_to_none=True)
        model(**batch).loss.backward()
        optimizer.step()
    return model.eval()


def decode(model, tokenizer, sources: list[str], **generation_kwargs) -> list[str]:
    inputs = tokenizer(sources, padding=True, return_tensors="pt")
    with torch.no_grad():
        generated = model.generate(**inputs, max_new_tokens=14, **generation_kwargs)
    return tokenizer.batch_decode(generated, skip_special_tokens=True)


def exact_match(predictions: list[str], targets: list[str]) -> float:
    return sum(p == t for p, t in zip(predictions, targets, strict=True)) / len(targets)
