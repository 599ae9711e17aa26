from .lstm import Seq2SeqLSTMConfig

__all__ = ["Seq2SeqLSTMConfig"]
