"""Configuration of the attention LSTM encoder-decoder (Deep Learning from Scratch 2, ch. 7-8)."""

from __future__ import annotations

from dataclasses import fields

from transformers import PretrainedConfig

from .dropout import DropoutOptionsMixin
from .validation import (
    SavedAttributesMixin,
    TargetVocabularyMixin,
    apply_aliases,
    check_bool,
    check_choice,
    check_common_options,
    check_optional_positive_int,
    check_positive_int,
    check_positive_number,
    check_special_tokens,
    reject_unknown_kwargs,
)

CELLS = ("lstm", "gru")
ATTENTIONS = ("none", "dot", "scaled_dot", "general", "additive")


class Seq2SeqLSTMConfig(SavedAttributesMixin, TargetVocabularyMixin, DropoutOptionsMixin, PretrainedConfig):
    r"""Configuration of [`Seq2SeqLSTMModel`] and [`Seq2SeqLSTMForConditionalGeneration`].

    Every variant the book and the attention literature name is an option here, not a subclass.
    The defaults are the book's attention model of chapter 8 (dot attention, reversed source) at a
    small size. Every option is validated here; a wrong value raises `ValueError` naming the option,
    the value and what is allowed, and an unknown keyword is refused.

    Args:
        vocab_size: size of the source vocabulary (the encoder's embedding), and of the target vocabulary too
            unless `decoder_vocab_size` is set.
        decoder_vocab_size: size of the target vocabulary (the decoder's embedding, the output layer and the
            logits' last dimension) when the target has a vocabulary of its own, as with separate source and
            target tokenizers; `None` (default): the target uses the source vocabulary, `vocab_size`.
        embedding_size: word vector size (the book uses 16).
        hidden_size: RNN state size. With `bidirectional_encoder` each direction gets half of it, so
            the concatenated encoder states have `hidden_size` features; it must then be even.
        cell: `"lstm"` or `"gru"`.
        attention: `"none"` (plain seq2seq: the decoder sees only the encoder's final state),
            `"dot"` (the book's hᵀhs), `"scaled_dot"` (hᵀhs/√H), `"general"` (hᵀW hs) or `"additive"`
            (vᵀ tanh(W₁h + W₂hs), Bahdanau).
        attention_window: `None` for global attention, or the half-width D of Luong's local-p
            attention: a predicted aligned position p_t and a Gaussian window of ±D source positions.
        input_feeding: feed the previous step's attentional vector into the next decoder input
            (Luong et al. 2015, §3.3). Needs attention; training then runs a step loop.
        attentional_size: `None` (the book: the output layer reads concat(context, h) directly) or
            the size of Luong's attentional vector h̃ = tanh(W_c[context; h]) read by the output layer.
        peeky: the encoder's summary vector joins every decoder input and the output layer (ch. 7).
        reverse_source: the encoder reads each source reversed; padding stays where it is (ch. 7).
        bidirectional_encoder: a bidirectional encoder (ch. 8.4).
        encoder_layers, decoder_layers: stacked RNN layers (the Transformer config's names; `num_encoder_layers` and
            `num_decoder_layers`, their names before, are still accepted and read from older config.json files).
            The decoder's layer i starts from the encoder's final state of layer i (of the top layer where the
            encoder has fewer).
        residual: skip connections around every stacked RNN layer but the first (ch. 8.4).
        dropout: dropout on the embeddings, between stacked layers and before the output layer, wherever the option
            of that place (below) is None.
        embedding_dropout: dropout on the source and target word vectors; `None` (default): `dropout`.
        hidden_dropout: dropout on the outputs of each stacked RNN layer read by the layer above it (encoder and
            decoder); `None` (default): `dropout`. With one encoder and one decoder layer there is no such place, and
            a rate above 0 is refused.
        output_dropout: dropout on the vector the output layer reads (`output_features` of it); `None` (default):
            `dropout`.
        source_word_dropout, target_word_dropout: in training, the probability that a source token, or a decoder
            input token (the previous target token under teacher forcing), is dropped whole: its word vector is
            zeroed (the kept ones scaled by 1 / (1 - p)) before `embedding_dropout`. Default 0 (off). Sennrich et al.
            (2016) and Sennrich & Zhang (2019) use it against overfitting on small data.
        tie_word_embeddings: share the decoder embedding with the output layer; needs the output
            layer's input to have `embedding_size` features (set `attentional_size` to it).
        init_std: standard deviation of a normal init of the RNN and linear weights; `None` uses the
            book's randn/√fan_in (biases are always zero).
        embedding_init_std: standard deviation of the normal init of the word vectors. The book uses
            0.01 (randn/100); 1.0 (PyTorch's) learns much faster: dot attention on the book's date data reaches
            100 % exact match after 2 epochs instead of 50 %. `None` (default): 1.0, or `embedding_size ** -0.5`
            with `tie_word_embeddings`, so that the tied output layer starts at the scale of an untied one
            (randn/√fan_in; N(0, 1) vectors of 256 features give first logits of standard deviation near 8). The
            config stores the number it resolves to.
        pad_token_id, bos_token_id, eos_token_id, decoder_start_token_id: special token ids; the
            decoder starts from `decoder_start_token_id` (defaults to `bos_token_id`).
    """

    model_type = "seq2seq_lstm"
    keys_to_ignore_at_inference = ["cache"]
    # options renamed when the two families took one set of names: the old names are still accepted, by the
    # constructor, in config.json and as `attnseq train` flags
    renamed_options = {"num_encoder_layers": "encoder_layers", "num_decoder_layers": "decoder_layers"}
    # the generation cache holds one recurrent state per decoder layer
    attribute_map = {"num_hidden_layers": "decoder_layers", **renamed_options}
    dropout_options = ("embedding_dropout", "hidden_dropout", "output_dropout")

    vocab_size: int = 64
    decoder_vocab_size: int | None = None
    embedding_size: int = 16
    hidden_size: int = 256
    cell: str = "lstm"
    attention: str = "dot"
    attention_window: int | None = None
    input_feeding: bool = False
    attentional_size: int | None = None
    peeky: bool = False
    reverse_source: bool = True
    bidirectional_encoder: bool = False
    encoder_layers: int = 1
    decoder_layers: int = 1
    residual: bool = False
    dropout: float = 0.0
    embedding_dropout: float | None = None
    hidden_dropout: float | None = None
    output_dropout: float | None = None
    source_word_dropout: float = 0.0
    target_word_dropout: float = 0.0
    tie_word_embeddings: bool = False
    init_std: float | None = None
    embedding_init_std: float | None = None
    use_cache: bool = True
    pad_token_id: int | None = 0
    bos_token_id: int | None = 1
    eos_token_id: int | None = 2
    decoder_start_token_id: int | None = None
    is_encoder_decoder: bool = True

    def __post_init__(self, **kwargs):
        apply_aliases(self, kwargs)
        reject_unknown_kwargs(type(self).__name__, kwargs, [f.name for f in fields(self)])
        check_common_options(self, kwargs)
        check_positive_int("vocab_size", self.vocab_size)
        check_optional_positive_int("decoder_vocab_size", self.decoder_vocab_size)
        check_positive_int("embedding_size", self.embedding_size)
        check_positive_int("hidden_size", self.hidden_size)
        check_choice("cell", self.cell, CELLS)
        check_choice("attention", self.attention, ATTENTIONS)
        check_optional_positive_int("attention_window", self.attention_window)
        check_optional_positive_int("attentional_size", self.attentional_size)
        check_positive_int("encoder_layers", self.encoder_layers)
        check_positive_int("decoder_layers", self.decoder_layers)
        flags = ("input_feeding", "peeky", "reverse_source", "bidirectional_encoder", "residual", "tie_word_embeddings")
        for name in flags:
            check_bool(name, getattr(self, name))
        self.check_dropout_options()
        if self.init_std is not None:
            self.init_std = check_positive_number("init_std", self.init_std)
        if self.embedding_init_std is None:
            self.embedding_init_std = self.embedding_size**-0.5 if self.tie_word_embeddings else 1.0
        self.embedding_init_std = check_positive_number("embedding_init_std", self.embedding_init_std)
        check_special_tokens(self)
        self._check_combinations()
        super().__post_init__(**kwargs)

    def _check_combinations(self) -> None:
        if self.attention == "none":
            for option in ("attention_window", "attentional_size"):
                if getattr(self, option) is not None:
                    raise ValueError(
                        f"{option}={getattr(self, option)!r} needs attention, but attention='none'; with "
                        f"attention='none' only {option}=None is allowed."
                    )
            if self.input_feeding:
                raise ValueError(
                    "input_feeding=True feeds the attentional vector back in and needs attention; with "
                    "attention='none' only input_feeding=False is allowed."
                )
        if self.hidden_dropout and self.encoder_layers == 1 and self.decoder_layers == 1:
            raise ValueError(
                f"hidden_dropout={self.hidden_dropout} acts between stacked RNN layers, but encoder_layers=1 and "
                "decoder_layers=1 have none; with one layer each only hidden_dropout=None or 0 is allowed (the "
                "word vectors have embedding_dropout, the output layer's input output_dropout)."
            )
        if self.bidirectional_encoder and self.hidden_size % 2:
            raise ValueError(
                f"hidden_size={self.hidden_size} must be even with bidirectional_encoder=True: each direction "
                "gets hidden_size // 2 features."
            )
        if self.tie_word_embeddings and self.output_features != self.embedding_size:
            raise ValueError(
                f"tie_word_embeddings=True needs the output layer's input ({self.output_features} features) to "
                f"equal embedding_size={self.embedding_size}; set attentional_size={self.embedding_size}."
            )

    @property
    def position_limit(self) -> int | None:
        """The most positions a source or decoder input may have: None, a recurrent model has no limit."""
        return None

    @property
    def output_features(self) -> int:
        """Size of the vector the output layer reads (and input feeding feeds back)."""
        if self.attentional_size is not None:
            return self.attentional_size
        size = self.hidden_size
        if self.attention != "none":
            size += self.hidden_size  # the context vector
        if self.peeky:
            size += self.hidden_size  # the encoder summary
        return size
