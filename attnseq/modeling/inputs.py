"""Input checks and label shifting shared by both model families.

Bad input must fail here with a message naming the problem, not deep inside torch with an
index error.
"""

from __future__ import annotations

import torch


def check_token_ids(name: str, ids: torch.Tensor, vocab_size: int, ignore_index: int | None = None) -> None:
    """Raise `ValueError` unless `ids` is a `(batch, seq_len)` tensor of token ids in [0, vocab_size)
    (or equal to `ignore_index`).

    Token ids are `torch.long` or `torch.int` (what `nn.Embedding` reads); labels, checked with an
    `ignore_index`, must be `torch.long` (what cross entropy reads). A batch needs at least one row and
    one position: an empty text is never an empty row, the tokenizer encodes it as `[eos]`.
    """
    if not isinstance(ids, torch.Tensor):
        raise ValueError(f"{name} must be a tensor of token ids (batch, seq_len), got {type(ids).__name__}.")
    allowed_dtypes = (torch.long,) if ignore_index is not None else (torch.long, torch.int)
    if ids.dtype not in allowed_dtypes:
        allowed = " or ".join(str(dtype) for dtype in allowed_dtypes)
        raise ValueError(f"{name} must be an integer tensor of token ids ({allowed}), got {ids.dtype}.")
    if ids.dim() != 2:
        raise ValueError(f"{name} must have shape (batch, seq_len), got shape {tuple(ids.shape)}.")
    if 0 in ids.shape:
        raise ValueError(
            f"{name} has shape {tuple(ids.shape)}: it needs at least one row and one position (the tokenizer "
            "encodes an empty text as [eos])."
        )
    if torch.compiler.is_compiling():  # the value check needs the data, which torch.compile / torch.export do not see
        return
    valid = ids if ignore_index is None else ids[ids != ignore_index]
    if not valid.numel():
        return
    low, high = valid.aminmax()  # one pass: this runs at every decoding step
    if low.item() < 0 or high.item() >= vocab_size:
        bad = valid[(valid < 0) | (valid >= vocab_size)][0].item()
        allowed = f"[0, {vocab_size})" + ("" if ignore_index is None else f" or {ignore_index}")
        raise ValueError(f"{name} contains token id {bad}, outside the vocabulary; allowed ids: {allowed}.")


def check_batch_size(name: str, batch_size: int, source_batch_size: int) -> None:
    """Raise `ValueError` unless the target-side input `name` has as many rows as the source.

    Beam search and `num_return_sequences` expand the source rows themselves, so a caller never needs
    to repeat them by hand.
    """
    if batch_size != source_batch_size:
        raise ValueError(
            f"{name} has {batch_size} row(s) but the source (input_ids or encoder_outputs) has "
            f"{source_batch_size}; every source row needs exactly one target row."
        )


def normalize_attention_mask(
    attention_mask: torch.Tensor | None,
    input_ids: torch.Tensor,
    name: str = "attention_mask",
    shape: tuple[int, int] | None = None,
    what: str = "the shape of the input (batch, seq_len)",
) -> torch.Tensor:
    """A boolean `(batch, seq_len)` mask, True for real tokens.

    Accepts None (no padding) or an integer, boolean or float tensor of 0s and 1s of `shape` (by default that of
    `input_ids`, which `what` describes); anything else is a `ValueError` naming `name` and what is wrong.
    """
    shape = tuple(input_ids.shape[:2]) if shape is None else tuple(shape)
    if attention_mask is None:
        return torch.ones(shape, dtype=torch.bool, device=input_ids.device)
    if not isinstance(attention_mask, torch.Tensor):
        raise ValueError(f"{name} must be a tensor, got {type(attention_mask).__name__}.")
    if tuple(attention_mask.shape) != shape:
        raise ValueError(f"{name} has shape {tuple(attention_mask.shape)} but must be {shape}, {what}.")
    if attention_mask.dtype == torch.bool:
        return attention_mask
    if torch.compiler.is_compiling():  # the value check needs the data, which torch.compile / torch.export do not see
        return attention_mask != 0
    if attention_mask.is_floating_point():
        zeros_and_ones = bool(((attention_mask == 0) | (attention_mask == 1)).all())
    else:  # integers: one pass (the LSTM decoder checks the source mask at every step)
        low, high = attention_mask.aminmax()
        zeros_and_ones = low.item() >= 0 and high.item() <= 1
    if not zeros_and_ones:
        raise ValueError(f"{name} must hold only 0 and 1 (1 = real token, 0 = padding).")
    return attention_mask != 0


def check_contiguous(attention_mask: torch.Tensor) -> None:
    """Raise `ValueError` unless the real tokens of every row form one run (right or left padding); not checked
    while torch.compile or torch.export traces the model, which sees no values."""
    if torch.compiler.is_compiling():
        return
    lengths = attention_mask.sum(1, keepdim=True)
    starts = attention_mask.int().argmax(1, keepdim=True)
    positions = torch.arange(attention_mask.size(1), device=attention_mask.device)
    expected = (positions >= starts) & (positions < starts + lengths)
    if not bool((expected == attention_mask).all()):
        row = int((expected != attention_mask).any(1).nonzero()[0])
        raise ValueError(
            f"attention_mask row {row} has padding between real tokens; each row must be one run of 1s "
            "(right or left padding)."
        )


def shift_tokens_right(labels: torch.Tensor, pad_token_id: int, decoder_start_token_id: int) -> torch.Tensor:
    """Decoder inputs for teacher forcing: `decoder_start_token_id`, then `labels[:, :-1]`.

    Positions marked -100 (ignored by the loss) become `pad_token_id`.
    """
    shifted = labels.new_empty(labels.shape)
    shifted[:, 1:] = labels[:, :-1]
    shifted[:, 0] = decoder_start_token_id
    return shifted.masked_fill(shifted == -100, pad_token_id)
