"""The model families and tokenizers that model cards and the remote-code export know about.

One row per family: where its configuration and model classes live in the package, and the flat
file names they get in an export for users without attnseq (transformers' own naming:
`configuration_<model_type>.py`, `modeling_<model_type>.py`). A new family is one more row.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    """A model family: its `model_type`, modules, classes and a one-line description for model cards."""

    model_type: str
    config_module: str
    modeling_module: str
    config_class: str
    base_model_class: str
    generation_class: str
    description: str

    @property
    def config_file(self) -> str:
        return f"configuration_{self.model_type}.py"

    @property
    def modeling_file(self) -> str:
        return f"modeling_{self.model_type}.py"


@dataclass(frozen=True)
class TokenizerEntry:
    """A tokenizer class, its module and its flat file name in an export."""

    class_name: str
    module: str
    file: str


FAMILIES: dict[str, Family] = {
    family.model_type: family
    for family in (
        Family(
            model_type="seq2seq_lstm",
            config_module="attnseq.configuration.lstm",
            modeling_module="attnseq.modeling.lstm",
            config_class="Seq2SeqLSTMConfig",
            base_model_class="Seq2SeqLSTMModel",
            generation_class="Seq2SeqLSTMForConditionalGeneration",
            description="attention LSTM/GRU encoder-decoder (Deep Learning from Scratch 2, chapters 7-8; "
            "Bahdanau et al. 2015; Luong et al. 2015)",
        ),
        Family(
            model_type="seq2seq_transformer",
            config_module="attnseq.configuration.transformer",
            modeling_module="attnseq.modeling.transformer",
            config_class="Seq2SeqTransformerConfig",
            base_model_class="Seq2SeqTransformerModel",
            generation_class="Seq2SeqTransformerForConditionalGeneration",
            description="Transformer encoder-decoder (Vaswani et al. 2017) at small sizes",
        ),
    )
}

TOKENIZERS: dict[str, TokenizerEntry] = {
    entry.class_name: entry
    for entry in (TokenizerEntry("CharTokenizer", "attnseq.tokenization.char", "tokenization_char.py"),)
}


def family_of(model_type: str) -> Family:
    """The family of `model_type`; `ValueError` naming the known ones otherwise."""
    if model_type not in FAMILIES:
        raise ValueError(
            f"model_type {model_type!r} is not an attnseq family; known: {', '.join(map(repr, FAMILIES))}."
        )
    return FAMILIES[model_type]
