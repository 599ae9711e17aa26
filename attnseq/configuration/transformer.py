"""Configuration of the small Transformer encoder-decoder (Vaswani et al. 2017, "Attention Is All You Need")."""

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
    check_probability,
    check_special_tokens,
    reject_unknown_kwargs,
)

ACTIVATIONS = ("relu", "gelu", "gelu_new", "silu", "tanh")
POSITION_EMBEDDINGS = ("sinusoidal", "learned")


class Seq2SeqTransformerConfig(SavedAttributesMixin, TargetVocabularyMixin, DropoutOptionsMixin, PretrainedConfig):
    r"""Configuration of [`Seq2SeqTransformerModel`] and [`Seq2SeqTransformerForConditionalGeneration`].

    The defaults are the base model of the paper (post-norm, sinusoidal positions, embeddings scaled by
    √d_model and shared between encoder, decoder and output layer, ReLU feed-forward, dropout 0.1) at a
    small size: d_model 256, 3 encoder and 3 decoder layers, 4 heads, feed-forward size 1024. Every option
    is validated here; a wrong value raises `ValueError` naming the option, the value and what is allowed,
    and an unknown keyword is refused.

    Args:
        vocab_size: size of the source vocabulary (the encoder's embedding), and of the target vocabulary too
            unless `decoder_vocab_size` is set.
        decoder_vocab_size: size of the target vocabulary (the decoder's embedding, the output layer and the
            logits' last dimension) when the target has a vocabulary of its own, as with separate source and
            target tokenizers; `None` (default): the target uses the source vocabulary, `vocab_size`. A separate
            target vocabulary needs `share_encoder_decoder_embeddings=False` unless both sizes are equal.
        d_model: width of every hidden state, embedding and attention output.
        encoder_layers, decoder_layers: number of stacked encoder and decoder layers (N in the paper).
        encoder_attention_heads, decoder_attention_heads: heads of the encoder self-attention and of the
            decoder self- and cross-attention (h); `d_model` must be divisible by each.
        encoder_ffn_dim, decoder_ffn_dim: inner size of the position-wise feed-forward network (d_ff).
        activation_function: non-linearity of the feed-forward network, one of `ACTIVATIONS`.
        dropout: dropout on every sub-layer output before the residual sum, and on the embeddings (with positions)
            while `embedding_dropout` is None.
        embedding_dropout: dropout on the sum of token and position embeddings of encoder and decoder; `None`
            (default): `dropout`.
        attention_dropout: dropout on the attention weights.
        activation_dropout: dropout after the feed-forward non-linearity.
        source_word_dropout, target_word_dropout: in training, the probability that a source token, or a decoder
            input token (the previous target token under teacher forcing), is dropped whole: its token vector is
            zeroed (the kept ones scaled by 1 / (1 - p)) before positions are added, so the position stays. Default 0
            (off). Sennrich et al. (2016) and Sennrich & Zhang (2019) use it against overfitting on small data.
        norm_first: `False` for the paper's post-norm, LayerNorm(x + Sublayer(x)); `True` for pre-norm,
            x + Sublayer(LayerNorm(x)), with a final LayerNorm after each stack (more stable when training
            deep or without learning-rate warmup).
        position_embedding: `"sinusoidal"` (fixed, works for any length) or `"learned"` (a table of
            `max_position_embeddings` rows; longer inputs are refused).
        max_position_embeddings: rows of the learned position table (ignored by sinusoidal positions).
        scale_embedding: multiply token embeddings by √d_model (paper §3.4).
        tie_word_embeddings: share the decoder input embedding with the output layer (paper §3.4).
        share_encoder_decoder_embeddings: one token embedding for encoder and decoder (a shared vocabulary).
        layer_norm_eps: epsilon of every LayerNorm.
        init_std: standard deviation of the normal init of all linear and embedding weights.
        use_cache: return the decoder's key/value cache from `forward` by default.
        pad_token_id, bos_token_id, eos_token_id, decoder_start_token_id: special token ids; the decoder
            starts from `decoder_start_token_id` (defaults to `bos_token_id`).
    """

    model_type = "seq2seq_transformer"
    keys_to_ignore_at_inference = ["cache"]
    attribute_map = {
        "hidden_size": "d_model",
        "num_attention_heads": "encoder_attention_heads",
        "num_hidden_layers": "encoder_layers",
    }
    dropout_options = ("embedding_dropout",)

    vocab_size: int = 64
    decoder_vocab_size: int | None = None
    d_model: int = 256
    encoder_layers: int = 3
    decoder_layers: int = 3
    encoder_attention_heads: int = 4
    decoder_attention_heads: int = 4
    encoder_ffn_dim: int = 1024
    decoder_ffn_dim: int = 1024
    activation_function: str = "relu"
    dropout: float = 0.1
    embedding_dropout: float | None = None
    attention_dropout: float = 0.0
    activation_dropout: float = 0.0
    source_word_dropout: float = 0.0
    target_word_dropout: float = 0.0
    norm_first: bool = False
    position_embedding: str = "sinusoidal"
    max_position_embeddings: int = 512
    scale_embedding: bool = True
    tie_word_embeddings: bool = True
    share_encoder_decoder_embeddings: bool = True
    layer_norm_eps: float = 1e-5
    init_std: float = 0.02
    use_cache: bool = True
    pad_token_id: int | None = 0
    bos_token_id: int | None = 1
    eos_token_id: int | None = 2
    decoder_start_token_id: int | None = None
    is_encoder_decoder: bool = True

    def __post_init__(self, **kwargs):
        apply_aliases(self, kwargs)  # e.g. hidden_size=... sets d_model
        reject_unknown_kwargs(type(self).__name__, kwargs, [f.name for f in fields(self)])
        check_common_options(self, kwargs)
        for name in (
            "vocab_size",
            "d_model",
            "encoder_layers",
            "decoder_layers",
            "encoder_attention_heads",
            "decoder_attention_heads",
            "encoder_ffn_dim",
            "decoder_ffn_dim",
            "max_position_embeddings",
        ):
            check_positive_int(name, getattr(self, name))
        check_optional_positive_int("decoder_vocab_size", self.decoder_vocab_size)
        check_choice("activation_function", self.activation_function, ACTIVATIONS)
        check_choice("position_embedding", self.position_embedding, POSITION_EMBEDDINGS)
        self.check_dropout_options()
        for name in ("attention_dropout", "activation_dropout"):
            setattr(self, name, check_probability(name, getattr(self, name)))
        for name in ("norm_first", "scale_embedding", "tie_word_embeddings", "share_encoder_decoder_embeddings"):
            check_bool(name, getattr(self, name))
        check_bool("use_cache", self.use_cache)
        self.layer_norm_eps = check_positive_number("layer_norm_eps", self.layer_norm_eps)
        self.init_std = check_positive_number("init_std", self.init_std)
        check_special_tokens(self)
        self._check_combinations()
        super().__post_init__(**kwargs)

    def _check_combinations(self) -> None:
        if self.share_encoder_decoder_embeddings and self.target_vocab_size != self.vocab_size:
            raise ValueError(
                f"share_encoder_decoder_embeddings=True needs one vocabulary, but decoder_vocab_size="
                f"{self.decoder_vocab_size} differs from vocab_size={self.vocab_size}. With a separate target "
                "vocabulary set share_encoder_decoder_embeddings=False; with one shared vocabulary leave "
                f"decoder_vocab_size=None (or set it to vocab_size={self.vocab_size})."
            )
        for heads in ("encoder_attention_heads", "decoder_attention_heads"):
            if self.d_model % getattr(self, heads):
                divisors = [h for h in range(1, self.d_model + 1) if self.d_model % h == 0]
                raise ValueError(
                    f"d_model={self.d_model} must be divisible by {heads}={getattr(self, heads)}: each head gets "
                    f"d_model // {heads} features; allowed {heads} for this d_model: {divisors}."
                )
        if self.position_embedding == "sinusoidal" and self.d_model % 2:
            raise ValueError(
                f"d_model={self.d_model} must be even with position_embedding='sinusoidal' (sine and cosine "
                "pairs); use an even d_model or position_embedding='learned'."
            )

    @property
    def position_limit(self) -> int | None:
        """The most positions a source or decoder input may have, or None for no limit.

        Only learned position embeddings have a limit, `max_position_embeddings`, on the source and on the decoder
        input alike; longer inputs are a `ValueError`. A generation may then be at most `limit + 1` tokens long, the
        decoder start included.
        """
        return self.max_position_embeddings if self.position_embedding == "learned" else None
