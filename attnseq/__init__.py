"""attnseq: attention LSTM and small Transformer sequence-to-sequence models for Hugging Face transformers.

Importing the package registers both model families with `AutoConfig`, `AutoModel`,
`AutoModelForSeq2SeqLM` and `AutoTokenizer`.
"""

__version__ = "0.1.0"

from transformers import AutoConfig, AutoModel, AutoModelForSeq2SeqLM, AutoTokenizer

from .configuration.lstm import Seq2SeqLSTMConfig
from .configuration.transformer import Seq2SeqTransformerConfig
from .modeling.lstm import Seq2SeqLSTMCache, Seq2SeqLSTMForConditionalGeneration, Seq2SeqLSTMModel
from .modeling.transformer import Seq2SeqTransformerForConditionalGeneration, Seq2SeqTransformerModel
from .tokenization import CharTokenizer, train_seq2seq_tokenizers, train_subword_tokenizer
from .training.tasks import load_task

AutoTokenizer.register(Seq2SeqLSTMConfig, tokenizer_class=CharTokenizer, exist_ok=True)
AutoConfig.register("seq2seq_lstm", Seq2SeqLSTMConfig, exist_ok=True)
AutoModel.register(Seq2SeqLSTMConfig, Seq2SeqLSTMModel, exist_ok=True)
AutoModelForSeq2SeqLM.register(Seq2SeqLSTMConfig, Seq2SeqLSTMForConditionalGeneration, exist_ok=True)

AutoTokenizer.register(Seq2SeqTransformerConfig, tokenizer_class=CharTokenizer, exist_ok=True)
AutoConfig.register("seq2seq_transformer", Seq2SeqTransformerConfig, exist_ok=True)
AutoModel.register(Seq2SeqTransformerConfig, Seq2SeqTransformerModel, exist_ok=True)
AutoModelForSeq2SeqLM.register(Seq2SeqTransformerConfig, Seq2SeqTransformerForConditionalGeneration, exist_ok=True)

__all__ = [
    "CharTokenizer",
    "Seq2SeqLSTMCache",
    "Seq2SeqLSTMConfig",
    "Seq2SeqLSTMForConditionalGeneration",
    "Seq2SeqLSTMModel",
    "Seq2SeqTransformerConfig",
    "Seq2SeqTransformerForConditionalGeneration",
    "Seq2SeqTransformerModel",
    "load_task",
    "train_seq2seq_tokenizers",
    "train_subword_tokenizer",
]
