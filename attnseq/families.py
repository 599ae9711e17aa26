"""The one registry of attnseq's model families: everything else (the Auto* registration, `attnseq train`, the
serving exports, model cards, the remote-code export) reads it, and nothing else names a model type or asks a
config which options it has. A new family is one more row.

Each row carries what the rest of the package needs to know of a family:

- who it is: its command-line name (`--model lstm`), `model_type`, configuration and model classes, and a
  one-line description for model cards (the remote-code export flattens the family into transformers' file
  names, `configuration_<model_type>.py` and `modeling_<model_type>.py`);
- `attnseq train`: the config options and training arguments a new model gets unless given, the options a new
  model with a separate target vocabulary needs, and a hook that settles the options of a new model (and says
  why), for choices that one option makes for another;
- serving: whether CTranslate2 can run the family, and whether its layers quantize to int8 in PyTorch;
- cards, attention pictures and the demo page: whether a config has attention at all (and, if not, which option
  says so), how its decoder-to-encoder attention is laid out (layers x heads), whether a local-p window places it
  (and how wide), and what a model was built with, in words.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from transformers import PreTrainedConfig, PreTrainedModel, PreTrainedTokenizer, PreTrainedTokenizerBase

from .configuration.lstm import Seq2SeqLSTMConfig
from .configuration.transformer import Seq2SeqTransformerConfig
from .modeling.attention import LocalPWindow
from .modeling.lstm import Seq2SeqLSTMForConditionalGeneration, Seq2SeqLSTMModel
from .modeling.transformer import Seq2SeqTransformerForConditionalGeneration, Seq2SeqTransformerModel
from .tokenization.char import CharTokenizer
from .tokenization.pair import SourceTargetTokenizer

# `settle_options(options, chosen)`: given the config options of a new model (the family's `train_defaults` under
# what the user set) and the names the user set, the options to change and a note that says why (or None).
SettleOptions = Callable[[Mapping[str, object], Collection[str]], tuple[dict[str, object], str | None]]


def _frozen(mapping: Mapping[str, object] | None = None) -> Mapping[str, object]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Family:
    """A model family: its names and classes, and what `attnseq train`, serving and the cards need to know of it.

    Attributes:
        name: the command-line name (`attnseq train --model NAME`).
        config_class, base_model_class, generation_class: the family's classes (`model_type` is the config's).
        description: one line for model cards.
        train_defaults: config options a new model of `attnseq train` gets unless the user sets them.
        training_defaults: `Seq2SeqTrainingArguments` values of `attnseq train` for this family unless set.
        separate_vocabulary_options: config options of a new model with a separate target vocabulary.
        settle_options: for a new model of `attnseq train`, the options one choice implies for another
            (`SettleOptions`), or None.
        ctranslate2: CTranslate2 can run the family (`attnseq export --format ctranslate2`, `--engine ctranslate2`).
        int8: the family's layers quantize to int8 in PyTorch (`attnseq.serving.quantize`, `--quantize int8`).
        no_attention: `config -> None` when the model has decoder-to-encoder attention, else the option that turns
            it off as a card shows it (`` `attention='none'` ``).
        attention_layout: `config -> (decoder layers, heads per layer)` of a multi-head attention, or None for
            the one attention of a model without layers of heads.
        local_window: `config -> (class name of the module that places the window, its half-width D)` for a
            local-p attention (the module's forward returns the Gaussian factor it applied second), or None.
        describe: `config -> Markdown` saying in words what the model was built with (the demo page shows it).
    """

    name: str
    config_class: type[PreTrainedConfig]
    base_model_class: type[PreTrainedModel]
    generation_class: type[PreTrainedModel]
    description: str
    train_defaults: Mapping[str, object] = field(default_factory=_frozen)
    training_defaults: Mapping[str, object] = field(default_factory=_frozen)
    separate_vocabulary_options: Mapping[str, object] = field(default_factory=_frozen)
    settle_options: SettleOptions | None = None
    ctranslate2: bool = False
    int8: bool = True
    no_attention: Callable[[PreTrainedConfig], str | None] = lambda config: None
    attention_layout: Callable[[PreTrainedConfig], tuple[int, int] | None] = lambda config: None
    local_window: Callable[[PreTrainedConfig], tuple[str, int] | None] = lambda config: None
    describe: Callable[[PreTrainedConfig], str] = lambda config: ""

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


def _lstm_settle_options(options: Mapping[str, object], chosen: Collection[str]) -> tuple[dict, str | None]:
    """With a bidirectional encoder, turn source reversal off unless asked for, and say what `hidden_size` means.

    A bidirectional encoder already reads every source from both ends, so reversing it (the book's trick to
    bring the first source words near the first target words) buys nothing and only changes which direction
    sees what. `hidden_size` stays the size of the concatenated encoder states and of the decoder state, each
    direction getting half (the config's meaning, so saved checkpoints keep theirs); Joey NMT and PyTorch's
    `nn.GRU(bidirectional=True)` count per direction, so their "hidden 256" is `--hidden_size 512` here.
    """
    if not options.get("bidirectional_encoder"):
        return {}, None
    reverse_chosen = "reverse_source" in chosen
    changes = {} if reverse_chosen else {"reverse_source": False}
    reverse_source = changes.get("reverse_source", options.get("reverse_source"))
    hidden = options.get("hidden_size") or Seq2SeqLSTMConfig().hidden_size
    note = (
        f"bidirectional encoder: hidden_size {hidden} is the decoder state and the two directions together "
        f"({hidden // 2} each; Joey NMT/PyTorch would call this hidden size {hidden // 2}); "
        f"reverse_source={reverse_source}"
        + ("" if reverse_chosen else " (off by default with a bidirectional encoder)")
    )
    return changes, note


LSTM_SCORES = {
    "dot": "dot product hᵀhs",
    "scaled_dot": "scaled dot product hᵀhs/√H",
    "general": "bilinear (general) hᵀW·hs",
    "additive": "additive (Bahdanau) vᵀtanh(W₁h + W₂hs)",
    "none": "none: the decoder sees only the encoder's final state",
}


def _describe_lstm(config: Seq2SeqLSTMConfig) -> str:
    """The LSTM's cell, layers, attention score, window, source order, peeky and input feeding, in words."""
    window = config.attention_window
    lines = [
        f"- **cell**: {config.cell.upper()}, {config.num_encoder_layers} encoder / {config.num_decoder_layers} "
        f"decoder layers, hidden size {config.hidden_size}"
        + (", bidirectional encoder" if config.bidirectional_encoder else ""),
        f"- **attention score**: {LSTM_SCORES.get(config.attention, config.attention)}",
        "- **window**: "
        + (
            "global: every source position can be attended"
            if window is None
            else f"local-p: the decoder predicts an aligned source position p_t and attends within ±{window} "
            "positions of it, weighted by a Gaussian; ◆ marks p_t on the heatmap"
        ),
        "- **reversed source**: "
        + ("yes, the encoder reads the source backwards" if config.reverse_source else "no, read in order"),
        "- **peeky**: "
        + ("yes, the encoder summary joins every decoder step" if config.peeky else "no")
        + "; **input feeding**: "
        + ("yes, the previous attentional vector feeds the next step" if config.input_feeding else "no"),
    ]
    return "Attention LSTM encoder-decoder:\n\n" + "\n".join(lines)


def _describe_transformer(config: Seq2SeqTransformerConfig) -> str:
    """The Transformer's layers, heads and width, in words."""
    return (
        f"Transformer: {config.encoder_layers} encoder and {config.decoder_layers} decoder layers, "
        f"{config.decoder_attention_heads} attention heads of d_model {config.d_model}. The heatmap shows the "
        "decoder-to-encoder attention of the layer and head chosen below (or the mean of the heads)."
    )


def _lstm_local_window(config: Seq2SeqLSTMConfig) -> tuple[str, int] | None:
    if config.attention == "none" or config.attention_window is None:
        return None
    return LocalPWindow.__name__, config.attention_window


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
            # smaller and faster than the config's defaults (the book's); they learn the built-in tasks in fewer steps
            train_defaults=_frozen({"hidden_size": 128, "embedding_size": 64}),
            settle_options=_lstm_settle_options,
            ctranslate2=False,  # CTranslate2 has no recurrent models
            no_attention=lambda config: "`attention='none'`" if config.attention == "none" else None,
            local_window=_lstm_local_window,
            describe=_describe_lstm,
        ),
        Family(
            name="transformer",
            config_class=Seq2SeqTransformerConfig,
            base_model_class=Seq2SeqTransformerModel,
            generation_class=Seq2SeqTransformerForConditionalGeneration,
            description="Transformer encoder-decoder (Vaswani et al. 2017) at small sizes",
            train_defaults=_frozen(
                {
                    "d_model": 128,
                    "encoder_layers": 2,
                    "decoder_layers": 2,
                    "encoder_ffn_dim": 512,
                    "decoder_ffn_dim": 512,
                    "norm_first": True,
                    "dropout": 0.0,
                }
            ),
            training_defaults=_frozen({"learning_rate": 1e-3}),  # a smaller peak learning rate than the LSTM's
            # two vocabularies, two tables (unless asked otherwise, which the config then refuses with both options)
            separate_vocabulary_options=_frozen({"share_encoder_decoder_embeddings": False}),
            ctranslate2=True,
            attention_layout=lambda config: (config.decoder_layers, config.decoder_attention_heads),
            describe=_describe_transformer,
        ),
    )
}

# The family `attnseq train` builds when no `--model` is given.
DEFAULT_FAMILY = "lstm"

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
