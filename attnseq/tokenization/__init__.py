"""Tokenizers: `CharTokenizer` (one token per character) and a subword trainer built on `tokenizers`."""

from .bpe import train_seq2seq_tokenizers, train_subword_tokenizer
from .char import CharTokenizer

__all__ = ["CharTokenizer", "train_seq2seq_tokenizers", "train_subword_tokenizer"]
