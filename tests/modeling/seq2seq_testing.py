"""Data for the learning tests that both model families share."""

import torch

PAD, EOS = 0, 2


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
