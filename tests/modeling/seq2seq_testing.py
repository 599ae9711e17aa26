"""Helpers both model families' tests share: variant ids, sequence scores by teacher forcing, learning data."""

import torch

PAD, EOS = 0, 2


def variant_id(options: dict) -> str:
    """A readable pytest id for a dict of config options (`default` for none)."""
    return "-".join(f"{k}={v}" for k, v in options.items()) or "default"


def strip_after_eos(tokens: torch.Tensor) -> list[int]:
    """`tokens` `(len,)` as a list, up to and including the first EOS."""
    tokens = tokens.tolist()
    return tokens[: tokens.index(EOS) + 1] if EOS in tokens else tokens


def sequence_log_prob(model, source: torch.Tensor, tokens: torch.Tensor) -> float:
    """Sum of log-probabilities the model gives `tokens` `(len,)` (start token first, cut after EOS) for the
    `(1, src_len)` `source`, by teacher forcing."""
    tokens = torch.tensor([strip_after_eos(tokens)])
    logits = model(input_ids=source, decoder_input_ids=tokens[:, :-1]).logits
    return torch.log_softmax(logits, -1).gather(-1, tokens[:, 1:, None]).sum().item()


def reversal_batch(generator, batch_size, min_len=3, max_len=8, letters=10):
    """Random strings of `letters` symbols (ids 3..) and their reversal + EOS, right-padded.

    Returns `(input_ids, attention_mask, labels)`; labels are padded with -100.
    """
    lengths = torch.randint(min_len, max_len + 1, (batch_size,), generator=generator)
    sources = torch.full((batch_size, max_len), PAD)
    labels = torch.full((batch_size, max_len + 1), -100)
    for row, length in enumerate(lengths.tolist()):
        tokens = torch.randint(3, 3 + letters, (length,), generator=generator)
        sources[row, :length] = tokens
        labels[row, :length] = tokens.flip(0)
        labels[row, length] = EOS
    return sources, (sources != PAD).long(), labels
