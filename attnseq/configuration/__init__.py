from .lstm import Seq2SeqLSTMConfig
from .transformer import Seq2SeqTransformerConfig

__all__ = ["Seq2SeqLSTMConfig", "Seq2SeqTransformerConfig"]
