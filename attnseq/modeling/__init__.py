from .lstm import (
    Seq2SeqLSTMCache,
    Seq2SeqLSTMEncoderOutput,
    Seq2SeqLSTMForConditionalGeneration,
    Seq2SeqLSTMModel,
    Seq2SeqLSTMPreTrainedModel,
)
from .transformer import (
    Seq2SeqTransformerForConditionalGeneration,
    Seq2SeqTransformerModel,
    Seq2SeqTransformerPreTrainedModel,
)

__all__ = [
    "Seq2SeqLSTMCache",
    "Seq2SeqLSTMEncoderOutput",
    "Seq2SeqLSTMForConditionalGeneration",
    "Seq2SeqLSTMModel",
    "Seq2SeqLSTMPreTrainedModel",
    "Seq2SeqTransformerForConditionalGeneration",
    "Seq2SeqTransformerModel",
    "Seq2SeqTransformerPreTrainedModel",
]
