"""Tokenizers: `CharTokenizer` (one token per character), a subword trainer built on `tokenizers`, and
`SourceTargetTokenizer` (separate source and target subword vocabularies)."""

from .bpe import train_seq2seq_tokenizer, train_seq2seq_tokenizers, train_subword_tokenizer
from .char import CharTokenizer
from .pair import SourceTargetTokenizer

__all__ = [
    "CharTokenizer",
    "SourceTargetTokenizer",
    "train_seq2seq_tokenizer",
    "train_seq2seq_tokenizers",
    "train_subword_tokenizer",
]
