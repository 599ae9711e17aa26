"""The one registry of attnseq's model families: everything else (the Auto* registration, the `--model` choices
of `attnseq train`, model cards, the remote-code export) reads it. A new family is one more row.

Each row names the family as the command line does (`--model lstm`), its `model_type`, its configuration and
model classes, and a one-line description for model cards. The export for users without attnseq flattens a
family into transformers' file names, `configuration_<model_type>.py` and `modeling_<model_type>.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

from transformers import PreTrainedConfig, PreTrainedModel, PreTrainedTokenizer, PreTrainedTokenizerBase

from .configuration.lstm import Seq2SeqLSTMConfig
from .configuration.transformer import Seq2SeqTransformerConfig
from .modeling.lstm import Seq2SeqLSTMForConditionalGeneration, Seq2SeqLSTMModel
from .modeling.transformer import Seq2SeqTransformerForConditionalGeneration, Seq2SeqTransformerModel
from .tokenization.char import CharTokenizer
from .tokenization.pair import SourceTargetTokenizer


@dataclass(frozen=True)
class Family:
    """A model family: its command-line name, `model_type`, classes and a description for model cards."""

    name: str
    config_class: type[PreTrainedConfig]
    base_model_class: type[PreTrainedModel]
    generation_class: type[PreTrainedModel]
    description: str

    @property
    def model_type(self) -> str:
        return self.config_class.model_type

    @property
    def config_module(self) -> str:
        return self.config_class.__module__

    @property
    def modeling_module(self) -> str:
        return self.generation_class.__module__

    @property
    def config_file(self) -> str:
        return f"configuration_{self.model_type}.py"

    @property
    def modeling_file(self) -> str:
        return f"modeling_{self.model_type}.py"


FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family(
            name="lstm",
            config_class=Seq2SeqLSTMConfig,
            base_model_class=Seq2SeqLSTMModel,
            generation_class=Seq2SeqLSTMForConditionalGeneration,
            description="attention LSTM/GRU encoder-decoder (Deep Learning from Scratch 2, chapters 7-8; "
            "Bahdanau et al. 2015; Luong et al. 2015)",
        ),
        Family(
            name="transformer",
            config_class=Seq2SeqTransformerConfig,
            base_model_class=Seq2SeqTransformerModel,
            generation_class=Seq2SeqTransformerForConditionalGeneration,
            description="Transformer encoder-decoder (Vaswani et al. 2017) at small sizes",
        ),
    )
}

# The tokenizer every family's checkpoints use by default (AutoTokenizer-registered), and the flat file name the
# remote-code export gives each tokenizer class it can copy.
DEFAULT_TOKENIZER: type[PreTrainedTokenizer] = CharTokenizer
EXPORTED_TOKENIZERS: dict[str, tuple[type[PreTrainedTokenizerBase], str]] = {
    "CharTokenizer": (CharTokenizer, "tokenization_char.py"),
    "SourceTargetTokenizer": (SourceTargetTokenizer, "tokenization_source_target.py"),
}


def family_of(model_type: str) -> Family:
    """The family whose `model_type` is `model_type`; `ValueError` naming the known ones otherwise."""
    for family in FAMILIES.values():
        if family.model_type == model_type:
            return family
    known = ", ".join(repr(family.model_type) for family in FAMILIES.values())
    raise ValueError(f"model_type {model_type!r} is not an attnseq family; known: {known}.")
