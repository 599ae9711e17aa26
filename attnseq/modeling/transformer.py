"""The small Transformer encoder-decoder of Vaswani et al. 2017, "Attention Is All You Need".

An encoder of `encoder_layers` layers (self-attention, feed-forward) reads the source; a decoder of
`decoder_layers` layers (masked self-attention, attention over the encoder states, feed-forward) predicts
the target one token after the other. Every sub-layer is wrapped in a residual connection and a
LayerNorm, after the sum (`norm_first=False`, the paper) or before the sub-layer (`norm_first=True`).

It is built on transformers' machinery the way BART is:

- attention modules own their projections (`q_proj`, `k_proj`, `v_proj`, `out_proj`) and the cache; the math is
  the function `config._attn_implementation` picks from transformers' attention interface: `"eager"` is
  `eager_attention_forward` below (the readable reference), `"sdpa"`, `"flex_attention"` and (where installed)
  `"flash_attention_2"` are transformers' own. Attention weights exist only in the eager function: a call with
  `output_attentions=True` runs it whatever `attn_implementation` says.
- masks come from transformers' masking utilities (`create_causal_mask`, `create_bidirectional_mask`), in the form
  the chosen attention function reads; the 2-D padding masks they start from are checked by
  `inputs.normalize_attention_mask`.
- the encoder and the decoder are sub-models whose hidden states and attention weights are recorded by hooks
  (`_can_record_outputs` and `capture_outputs`), not gathered by hand.

Generation keeps keys and values in transformers' `EncoderDecoderCache`: the decoder self-attention cache
grows by one position per step; the cross-attention keys and values are projected once per source and
read back at every later step.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.attention.flex_attention import BlockMask, create_mask
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.cache_utils import DynamicCache, EncoderDecoderCache
from transformers.masking_utils import create_bidirectional_mask, create_causal_mask
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import (
    BaseModelOutput,
    BaseModelOutputWithPastAndCrossAttentions,
    Seq2SeqLMOutput,
    Seq2SeqModelOutput,
)
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.utils import can_return_tuple
from transformers.utils.output_capturing import OutputRecorder, capture_outputs

from ..configuration.transformer import Seq2SeqTransformerConfig
from .attention import dot_product_attention
from .inputs import check_batch_size, check_token_ids, normalize_attention_mask
from .loading import CheckpointLoadingMixin
from .seq2seq import (
    EncoderDecoderMixin,
    Seq2SeqLMMixin,
    drop_words,
    init_token_embedding,
    lm_output,
    renamed_cache_argument,
    seq2seq_loss,
)

# ----------------------------------------------------------------------------------------------------------------------
# Pure functions: attention, positions
# ----------------------------------------------------------------------------------------------------------------------


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | BlockMask | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention(Q, K, V) = softmax(Q Kᵀ / √d_k) V (paper eq. 1), with the signature of transformers' interface.

    Args:
        query: `(batch, heads, tgt_len, head_dim)`.
        key, value: `(batch, heads, src_len, head_dim)`.
        attention_mask: broadcastable to `(batch, heads, tgt_len, src_len)`, in any form transformers' masking
            utilities build: additive floats (0 = may attend, the dtype's minimum = masked; the eager form), booleans
            (`True` = may attend; the sdpa form) or a flex `BlockMask`; or `None`: every key, or causal attention for a
            causal module (`module.is_causal`, sdpa's convention). The last three reach this function when attention
            weights are asked for under another implementation.

    Returns:
        `(output, weights)`: `(batch, tgt_len, heads, head_dim)` (the layout every attention function of the
        interface returns) and `(batch, heads, tgt_len, src_len)`; a query that may attend to no key gets zero weights.
    """
    tgt_len, key_len = query.size(2), key.size(2)
    if isinstance(attention_mask, BlockMask):
        attention_mask = create_mask(attention_mask.mask_mod, query.size(0), 1, tgt_len, key_len, query.device)
    elif attention_mask is None and module.is_causal and tgt_len > 1:
        # query t sees keys up to key_len - tgt_len + t, like sdpa's `is_causal` (which needs no past)
        attention_mask = torch.ones(tgt_len, key_len, dtype=torch.bool, device=query.device).tril(key_len - tgt_len)
    elif attention_mask is not None and attention_mask.dtype != torch.bool:
        attention_mask = attention_mask == 0
    output, weights = dot_product_attention(
        query, key, value, attention_mask, scale=scaling, dropout=dropout, training=module.training
    )
    return output.transpose(1, 2).contiguous(), weights


def sinusoidal_positions(position_ids: torch.Tensor, dim: int, dtype: torch.dtype) -> torch.Tensor:
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d)) (paper §3.5).

    Computed on the fly, so any position works, including those longer than anything seen in training.

    Args:
        position_ids: `(batch, seq_len)` integer positions.
        dim: the (even) model width d.

    Returns:
        `(batch, seq_len, dim)` position encodings in `dtype`.
    """
    exponents = torch.arange(0, dim, 2, device=position_ids.device, dtype=torch.float32) / dim
    inverse_frequencies = torch.pow(10000.0, -exponents)  # (dim / 2,)
    angles = position_ids.to(torch.float32).unsqueeze(-1) * inverse_frequencies  # (batch, seq, dim / 2)
    encodings = torch.stack((angles.sin(), angles.cos()), dim=-1).flatten(-2)  # sin at 2i, cos at 2i + 1
    return encodings.to(dtype)


def positions_from_mask(attention_mask: torch.Tensor | None, seq_len: int, past_length: int, device) -> torch.Tensor:
    """Position of every token among the real (unpadded) tokens before it, so padding never shifts positions.

    Args:
        attention_mask: `(batch, past_length + seq_len)` with 1 for tokens and 0 for padding, or `None`.

    Returns:
        `(batch, seq_len)` positions of the last `seq_len` tokens (`(1, seq_len)` without a mask).
    """
    if attention_mask is None:
        return torch.arange(past_length, past_length + seq_len, device=device).unsqueeze(0)
    positions = attention_mask.long().cumsum(-1) - 1
    return positions[:, -seq_len:].clamp(min=0)


# ----------------------------------------------------------------------------------------------------------------------
# Modules
# ----------------------------------------------------------------------------------------------------------------------


class Seq2SeqTransformerAttention(nn.Module):
    """Multi-head attention (paper §3.2.2).

    MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O with head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V);
    the h heads' projections are stored side by side in `q_proj`, `k_proj`, `v_proj` (d_model -> d_model)
    and W^O is `out_proj`. Used as encoder self-attention, masked decoder self-attention and
    decoder-to-encoder (cross) attention.
    """

    def __init__(
        self,
        config: Seq2SeqTransformerConfig,
        num_heads: int,
        layer_idx: int | None = None,
        is_causal: bool = False,
        is_cross_attention: bool = False,
    ):
        super().__init__()
        self.config = config  # the attention function is looked up at call time from config._attn_implementation
        self.num_heads = num_heads
        self.head_dim = config.d_model // num_heads
        self.scaling = self.head_dim**-0.5
        self.dropout = config.attention_dropout
        self.layer_idx = layer_idx
        self.is_causal = is_causal
        self.is_cross_attention = is_cross_attention
        self.q_proj = nn.Linear(config.d_model, config.d_model)
        self.k_proj = nn.Linear(config.d_model, config.d_model)
        self.v_proj = nn.Linear(config.d_model, config.d_model)
        self.out_proj = nn.Linear(config.d_model, config.d_model)

    def forward(
        self,
        hidden_states: torch.Tensor,
        key_value_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | BlockMask | None = None,
        cache: EncoderDecoderCache | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attend from `hidden_states` to itself (self-attention) or to `key_value_states` (cross-attention).

        Args:
            hidden_states: `(batch, tgt_len, d_model)` queries.
            key_value_states: `(batch, src_len, d_model)` encoder states for cross-attention, else `None`.
            attention_mask: the mask transformers' masking utilities built for `config._attn_implementation`,
                broadcastable to `(batch, 1, tgt_len, src_len)`, or `None` (see `eager_attention_forward`).
            cache: the decoder's cache; self-attention appends this step's keys and values to it,
                cross-attention fills it on the first step and reads it back afterwards.
            output_attentions: return the attention weights (computed by the eager function).

        Returns:
            `(output, weights)`: `(batch, tgt_len, d_model)` and `(batch, heads, tgt_len, src_len)` or `None`.
        """
        batch_size, tgt_len, _ = hidden_states.shape
        query = self._split_heads(self.q_proj(hidden_states))
        key, value = self._keys_and_values(hidden_states if key_value_states is None else key_value_states, cache)
        attention = (
            eager_attention_forward
            if output_attentions
            else ALL_ATTENTION_FUNCTIONS.get_interface(self.config._attn_implementation, eager_attention_forward)
        )
        output, weights = attention(
            self,
            query,
            key,
            value,
            attention_mask,
            dropout=self.dropout if self.training else 0.0,
            scaling=self.scaling,
        )
        output = output.reshape(batch_size, tgt_len, -1)  # (batch, tgt, heads * head_dim): Concat(head_1..head_h)
        return self.out_proj(output), weights if output_attentions else None

    def _split_heads(self, states: torch.Tensor) -> torch.Tensor:
        """`(batch, seq, d_model)` -> `(batch, heads, seq, head_dim)`."""
        batch_size, seq_len, _ = states.shape
        return states.view(batch_size, seq_len, self.num_heads, self.head_dim).transpose(1, 2)

    def _keys_and_values(
        self, states: torch.Tensor, cache: EncoderDecoderCache | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Projected keys and values `(batch, heads, key_len, head_dim)`, through the cache when there is one."""
        if self.is_cross_attention and cache is not None and cache.is_updated.get(self.layer_idx, False):
            layer = cache.cross_attention_cache.layers[self.layer_idx]
            return layer.keys, layer.values  # projected once per source, on the first decoding step
        key = self._split_heads(self.k_proj(states))
        value = self._split_heads(self.v_proj(states))
        if cache is None:
            return key, value
        if self.is_cross_attention:
            key, value = cache.cross_attention_cache.update(key, value, self.layer_idx)
            cache.is_updated[self.layer_idx] = True
            return key, value
        return cache.self_attention_cache.update(key, value, self.layer_idx)  # grows by tgt_len positions


class Seq2SeqTransformerFeedForward(nn.Module):
    """Position-wise feed-forward network FFN(x) = act(x W_1 + b_1) W_2 + b_2 (paper eq. 2)."""

    def __init__(self, config: Seq2SeqTransformerConfig, ffn_dim: int):
        super().__init__()
        self.fc1 = nn.Linear(config.d_model, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, config.d_model)
        self.activation_fn = ACT2FN[config.activation_function]
        self.activation_dropout = config.activation_dropout

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """`(batch, seq, d_model)` -> `(batch, seq, d_model)`."""
        hidden_states = self.activation_fn(self.fc1(hidden_states))
        hidden_states = nn.functional.dropout(hidden_states, p=self.activation_dropout, training=self.training)
        return self.fc2(hidden_states)


class Seq2SeqTransformerResidualLayer(GradientCheckpointingLayer):
    """Residual connection and LayerNorm around each sub-layer (paper §3.1, §5.4).

    Post-norm (the paper): x = LayerNorm(x + Dropout(Sublayer(x))).
    Pre-norm (`norm_first`): x = x + Dropout(Sublayer(LayerNorm(x))).
    """

    def __init__(self, config: Seq2SeqTransformerConfig):
        super().__init__()
        self.norm_first = config.norm_first
        self.dropout = config.dropout

    def sublayer_input(self, norm: nn.LayerNorm, hidden_states: torch.Tensor) -> torch.Tensor:
        return norm(hidden_states) if self.norm_first else hidden_states

    def add_residual(self, norm: nn.LayerNorm, residual: torch.Tensor, sublayer_output: torch.Tensor) -> torch.Tensor:
        hidden_states = residual + nn.functional.dropout(sublayer_output, p=self.dropout, training=self.training)
        return hidden_states if self.norm_first else norm(hidden_states)


class Seq2SeqTransformerEncoderLayer(Seq2SeqTransformerResidualLayer):
    """Encoder layer: self-attention over the source, then the feed-forward network."""

    def __init__(self, config: Seq2SeqTransformerConfig, layer_idx: int):
        super().__init__(config)
        self.self_attn = Seq2SeqTransformerAttention(config, config.encoder_attention_heads, layer_idx)
        self.self_attn_layer_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.feed_forward = Seq2SeqTransformerFeedForward(config, config.encoder_ffn_dim)
        self.final_layer_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)

    def forward(
        self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | BlockMask | None, output_attentions=False
    ) -> torch.Tensor:
        """`(batch, src_len, d_model)` -> the same shape; `attention_mask` as `create_bidirectional_mask` builds it."""
        attended, _ = self.self_attn(
            self.sublayer_input(self.self_attn_layer_norm, hidden_states),
            attention_mask=attention_mask,
            output_attentions=output_attentions,
        )
        hidden_states = self.add_residual(self.self_attn_layer_norm, hidden_states, attended)
        transformed = self.feed_forward(self.sublayer_input(self.final_layer_norm, hidden_states))
        return self.add_residual(self.final_layer_norm, hidden_states, transformed)


class Seq2SeqTransformerDecoderLayer(Seq2SeqTransformerResidualLayer):
    """Decoder layer: masked self-attention, attention over the encoder states, then the feed-forward network."""

    def __init__(self, config: Seq2SeqTransformerConfig, layer_idx: int):
        super().__init__(config)
        heads = config.decoder_attention_heads
        self.self_attn = Seq2SeqTransformerAttention(config, heads, layer_idx, is_causal=True)
        self.self_attn_layer_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.encoder_attn = Seq2SeqTransformerAttention(config, heads, layer_idx, is_cross_attention=True)
        self.encoder_attn_layer_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.feed_forward = Seq2SeqTransformerFeedForward(config, config.decoder_ffn_dim)
        self.final_layer_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)

    def forward(
        self,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        self_attention_mask: torch.Tensor | BlockMask | None,
        encoder_attention_mask: torch.Tensor | BlockMask | None,
        cache: EncoderDecoderCache | None = None,
        output_attentions: bool = False,
    ) -> torch.Tensor:
        """One decoder layer, `(batch, tgt_len, d_model)` -> the same shape.

        Args:
            encoder_hidden_states: `(batch, src_len, d_model)`; passed positionally so that gradient
                checkpointing carries its gradient back to the encoder.
            self_attention_mask, encoder_attention_mask: as `create_causal_mask` and `create_bidirectional_mask`
                build them.
        """
        attended, _ = self.self_attn(
            self.sublayer_input(self.self_attn_layer_norm, hidden_states),
            attention_mask=self_attention_mask,
            cache=cache,
            output_attentions=output_attentions,
        )
        hidden_states = self.add_residual(self.self_attn_layer_norm, hidden_states, attended)
        attended, _ = self.encoder_attn(
            self.sublayer_input(self.encoder_attn_layer_norm, hidden_states),
            key_value_states=encoder_hidden_states,
            attention_mask=encoder_attention_mask,
            cache=cache,
            output_attentions=output_attentions,
        )
        hidden_states = self.add_residual(self.encoder_attn_layer_norm, hidden_states, attended)
        transformed = self.feed_forward(self.sublayer_input(self.final_layer_norm, hidden_states))
        return self.add_residual(self.final_layer_norm, hidden_states, transformed)


class Seq2SeqTransformerPositionEmbedding(nn.Module):
    """Sinusoidal (paper §3.5) or learned position embeddings, `(batch, seq_len)` ids -> `(batch, seq_len, d_model)`.

    Learned positions own a `(max_position_embeddings, d_model)` table and refuse longer sequences; sinusoidal
    positions have no parameters and no length limit.
    """

    def __init__(self, config: Seq2SeqTransformerConfig):
        super().__init__()
        self.kind = config.position_embedding
        self.dim = config.d_model
        self.max_positions = config.max_position_embeddings
        if self.kind == "learned":
            self.weight = nn.Parameter(torch.empty(self.max_positions, self.dim))

    def forward(self, position_ids: torch.Tensor, length: int, dtype: torch.dtype) -> torch.Tensor:
        """`length` is the number of positions the sequence spans (cached plus current tokens)."""
        if self.kind == "sinusoidal":
            return sinusoidal_positions(position_ids, self.dim, dtype)
        if length > self.max_positions:
            raise ValueError(
                f"A sequence of {length} tokens needs {length} positions, but position_embedding='learned' has only "
                f"max_position_embeddings={self.max_positions}. Shorten the input, train with a larger "
                "max_position_embeddings, or use position_embedding='sinusoidal'."
            )
        return nn.functional.embedding(position_ids, self.weight).to(dtype)


# ----------------------------------------------------------------------------------------------------------------------
# Pretrained models
# ----------------------------------------------------------------------------------------------------------------------


class Seq2SeqTransformerPreTrainedModel(PreTrainedModel):
    """Weight init, attention back-ends and gradient checkpointing shared by the model classes and by the encoder and
    decoder, which are sub-models as in BART (each records its own hidden states and attention weights)."""

    config_class = Seq2SeqTransformerConfig
    config: Seq2SeqTransformerConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True
    _no_split_modules = ["Seq2SeqTransformerEncoderLayer", "Seq2SeqTransformerDecoderLayer"]
    _skip_keys_device_placement = ["cache"]

    def _init_weights(self, module: nn.Module) -> None:
        """Normal(0, init_std) for linear, embedding and learned position weights; zero biases and padding row;
        LayerNorm to the identity."""
        std = self.config.init_std
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init_token_embedding(module, std)
        elif isinstance(module, Seq2SeqTransformerPositionEmbedding) and module.kind == "learned":
            init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)

    def get_expanded_tied_weights_keys(self, all_submodels: bool = False) -> dict:
        """The `{target: source}` parameter ties of this model.

        Two options decide them (`tie_word_embeddings` for the output layer, `share_encoder_decoder_embeddings`
        for the decoder input embedding), so the mapping that `__init__` builds from the config in
        `_tied_weights_keys` is returned as is rather than switched by `tie_word_embeddings` alone.
        """
        if all_submodels:
            return super().get_expanded_tied_weights_keys(all_submodels=True)
        return dict(self._tied_weights_keys or {})

    def _new_token_embedding(self, size: int) -> nn.Embedding:
        return nn.Embedding(size, self.config.d_model, padding_idx=self.config.pad_token_id)


class Seq2SeqTransformerStack(Seq2SeqTransformerPreTrainedModel):
    """What the encoder and the decoder share: token and position embeddings, dropout, the final pre-norm LayerNorm.

    Embedding: x = Dropout(WordDropout(E[token]) · s + PE[position]) with s = √d_model when `scale_embedding` (paper
    §3.4); the dropout is `embedding_dropout` (by default `dropout`), the word dropout `word_dropout` (0: none).
    """

    def __init__(
        self,
        config: Seq2SeqTransformerConfig,
        embed_tokens: nn.Embedding,
        layer: type,
        num_layers: int,
        word_dropout: float = 0.0,
    ):
        super().__init__(config)
        self.embed_tokens = embed_tokens
        self.embed_positions = Seq2SeqTransformerPositionEmbedding(config)
        self.embed_scale = math.sqrt(config.d_model) if config.scale_embedding else 1.0
        self.embedding_dropout = config.dropout_of("embedding_dropout")
        self.word_dropout = word_dropout
        self.layer_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps) if config.norm_first else None
        self.layers = nn.ModuleList(layer(config, layer_idx) for layer_idx in range(num_layers))
        # no post_init(): the model holding the stack initialises it, so a seed gives the weights it always gave

    def one_input(self, names: tuple[str, str], input_ids, inputs_embeds) -> torch.Tensor:
        """The one input given, checked: ids `(batch, seq_len)` or vectors `(batch, seq_len, d_model)`."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError(f"Pass exactly one of {names[0]} and {names[1]}.")
        name, given = (names[0], input_ids) if input_ids is not None else (names[1], inputs_embeds)
        if not isinstance(given, torch.Tensor):
            raise ValueError(f"{name} must be a tensor, got {type(given).__name__}.")
        if input_ids is not None:
            check_token_ids(name, input_ids, self.embed_tokens.num_embeddings)
        return given

    def embed(
        self,
        input_ids: torch.Tensor | None,
        inputs_embeds: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        past_length: int = 0,
    ) -> torch.Tensor:
        """Token plus position embeddings `(batch, seq_len, d_model)` of `input_ids` `(batch, seq_len)`, or of
        `inputs_embeds` `(batch, seq_len, d_model)` (token vectors as `embed_tokens` returns them, unscaled).

        `attention_mask` is boolean `(batch, past_length + seq_len)` or `None`; positions count real tokens only.
        """
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        inputs_embeds = drop_words(inputs_embeds, self.word_dropout, self.training)
        seq_len = inputs_embeds.size(1)
        positions = positions_from_mask(attention_mask, seq_len, past_length, inputs_embeds.device)
        position_embeds = self.embed_positions(positions, past_length + seq_len, inputs_embeds.dtype)
        hidden_states = inputs_embeds * self.embed_scale + position_embeds
        return nn.functional.dropout(hidden_states, p=self.embedding_dropout, training=self.training)

    def final_norm(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """Pre-norm stacks end with a LayerNorm; post-norm stacks already end normalised."""
        return hidden_states if self.layer_norm is None else self.layer_norm(hidden_states)

    def resolve(self, value: bool | None, name: str) -> bool:
        """A per-call flag, defaulting to the config's value."""
        return bool(getattr(self.config, name)) if value is None else value


class Seq2SeqTransformerEncoder(Seq2SeqTransformerStack):
    """`encoder_layers` encoder layers over the embedded source."""

    _can_record_outputs = {"hidden_states": Seq2SeqTransformerEncoderLayer, "attentions": Seq2SeqTransformerAttention}

    def __init__(self, config: Seq2SeqTransformerConfig, embed_tokens: nn.Embedding):
        super().__init__(
            config, embed_tokens, Seq2SeqTransformerEncoderLayer, config.encoder_layers, config.source_word_dropout
        )

    @capture_outputs
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> BaseModelOutput | tuple:
        """Encode the source.

        Args:
            input_ids: `(batch, src_len)` source ids.
            attention_mask: `(batch, src_len)`, 1 for tokens and 0 for padding.
            inputs_embeds: `(batch, src_len, d_model)` token vectors instead of `input_ids`.
            output_attentions, output_hidden_states, return_dict: read by `capture_outputs`, which records the
                outputs asked for (defaults: the config's).

        Returns:
            `BaseModelOutput` with `last_hidden_state` `(batch, src_len, d_model)`; on request `hidden_states`
            (the embeddings and every layer's output, `encoder_layers + 1` tensors) and `attentions`
            (`(batch, heads, src_len, src_len)` per layer).
        """
        source = self.one_input(("input_ids", "inputs_embeds"), input_ids, inputs_embeds)
        if attention_mask is not None:  # None (nothing padded) stays None: sdpa then needs no mask
            attention_mask = normalize_attention_mask(attention_mask, source)
        hidden_states = self.embed(input_ids, inputs_embeds, attention_mask)
        mask = create_bidirectional_mask(config=self.config, inputs_embeds=hidden_states, attention_mask=attention_mask)
        output_attentions = self.resolve(output_attentions, "output_attentions")
        for layer in self.layers:
            hidden_states = layer(hidden_states, mask, output_attentions=output_attentions)
        return BaseModelOutput(last_hidden_state=self.final_norm(hidden_states))


class Seq2SeqTransformerDecoder(Seq2SeqTransformerStack):
    """`decoder_layers` decoder layers over the embedded target prefix, attending to the encoder states."""

    _can_record_outputs = {
        "hidden_states": OutputRecorder(Seq2SeqTransformerDecoderLayer, num_hidden_layers_key="decoder_layers"),
        "attentions": OutputRecorder(Seq2SeqTransformerAttention, index=1, layer_name="self_attn"),
        "cross_attentions": OutputRecorder(Seq2SeqTransformerAttention, index=1, layer_name="encoder_attn"),
    }

    def __init__(self, config: Seq2SeqTransformerConfig, embed_tokens: nn.Embedding):
        super().__init__(
            config, embed_tokens, Seq2SeqTransformerDecoderLayer, config.decoder_layers, config.target_word_dropout
        )

    @capture_outputs
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        encoder_attention_mask: torch.Tensor | None = None,
        cache: EncoderDecoderCache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> BaseModelOutputWithPastAndCrossAttentions | tuple:
        """Decode the target prefix (all of it in training, the new tokens only with a cache).

        Args:
            input_ids: `(batch, tgt_len)` decoder input ids (`decoder_start_token_id` first).
            attention_mask: `(batch, past_len + tgt_len)`, 1 for tokens and 0 for padding, covering the cached
                tokens too.
            encoder_hidden_states: `(batch, src_len, d_model)`.
            encoder_attention_mask: `(batch, src_len)` source padding mask.
            cache: an `EncoderDecoderCache` from an earlier call (extended in place), or `None`.
            inputs_embeds: `(batch, tgt_len, d_model)` token vectors instead of `input_ids`.
            use_cache: create (when `cache` is `None`) and return a cache.
            output_attentions, output_hidden_states, return_dict: read by `capture_outputs` (defaults: the config's).

        Returns:
            `BaseModelOutputWithPastAndCrossAttentions` with `last_hidden_state` `(batch, tgt_len, d_model)`,
            `cache`, and on request `hidden_states` (`decoder_layers + 1` tensors), `attentions`
            (`(batch, heads, tgt_len, past_len + tgt_len)` per layer) and `cross_attentions`
            (`(batch, heads, tgt_len, src_len)` per layer).
        """
        if encoder_hidden_states is None:
            raise ValueError("The decoder needs encoder_hidden_states (the encoder's last_hidden_state).")
        cache = self._cache(cache, self.resolve(use_cache, "use_cache"))
        past_length = cache.get_seq_length() if cache is not None else 0
        names = ("decoder_input_ids", "decoder_inputs_embeds")
        target = self.one_input(names, input_ids, inputs_embeds)
        batch_size, tgt_len = target.shape[:2]
        check_batch_size(names[0] if input_ids is not None else names[1], batch_size, encoder_hidden_states.size(0))
        if attention_mask is not None:
            shape, covering = (batch_size, past_length + tgt_len), f"covering the {past_length} cached and {tgt_len}"
            attention_mask = normalize_attention_mask(
                attention_mask, target, "decoder_attention_mask", shape, f"{covering} new decoder tokens"
            )
        hidden_states = self.embed(input_ids, inputs_embeds, attention_mask, past_length)
        implementation = self.config._attn_implementation  # read once: config attributes are slow to read
        if attention_mask is None and tgt_len == 1 and implementation in ("eager", "sdpa"):
            # one new token without padding sees every key: no mask to build at a decoding step (sdpa's masking
            # utility returns None here too; eager_attention_forward reads None as "every key")
            self_mask = None
        else:
            self_mask = create_causal_mask(
                config=self.config,
                inputs_embeds=hidden_states,
                attention_mask=attention_mask,
                cache=None if cache is None else cache.self_attention_cache,
            )
        cross_mask = self._cross_attention_mask(
            encoder_attention_mask, hidden_states, encoder_hidden_states, cache, implementation
        )
        output_attentions = self.resolve(output_attentions, "output_attentions")
        for layer in self.layers:
            hidden_states = layer(
                hidden_states,
                encoder_hidden_states,
                self_mask,
                cross_mask,
                cache=cache,
                output_attentions=output_attentions,
            )
        return BaseModelOutputWithPastAndCrossAttentions(last_hidden_state=self.final_norm(hidden_states), cache=cache)

    def _cross_attention_mask(
        self,
        encoder_attention_mask: torch.Tensor | None,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        cache: EncoderDecoderCache | None,
        implementation: str,
    ) -> torch.Tensor | BlockMask | None:
        """The cross-attention mask, built by `create_bidirectional_mask` once per source when decoding with a cache.

        The mask depends only on the source padding and the query length, so it is kept on the cache beside the
        cross-attention keys and values, which are also projected once per source: later steps reuse it instead of
        checking the `(batch, src_len)` source mask and building a `(batch, 1, tgt_len, src_len)` mask again.
        A cache whose cross-attention keys and values are already filled was filled from this source, so a kept mask
        of the same shape belongs to it too.

        Args:
            encoder_attention_mask: `(batch, src_len)` source padding mask, or `None` (nothing padded).
            hidden_states: `(batch, tgt_len, d_model)` embedded decoder inputs.
            encoder_hidden_states: `(batch, src_len, d_model)`.
            implementation: `config._attn_implementation`, the form the mask is built in.
        """
        batch_size, tgt_len = hidden_states.shape[:2]
        shape = (implementation, batch_size, tgt_len, encoder_hidden_states.size(1))
        kept = getattr(cache, "_attnseq_cross_attention_mask", None)
        if kept is not None and kept[0] == shape and cache.is_updated.get(0, False):
            return kept[1]
        if encoder_attention_mask is not None:
            encoder_attention_mask = normalize_attention_mask(encoder_attention_mask, encoder_hidden_states)
        mask = create_bidirectional_mask(
            config=self.config,
            inputs_embeds=hidden_states,
            attention_mask=encoder_attention_mask,
            encoder_hidden_states=encoder_hidden_states,
        )
        if cache is not None:
            cache._attnseq_cross_attention_mask = (shape, mask)
        return mask

    @staticmethod
    def _cache(cache, use_cache: bool) -> EncoderDecoderCache | None:
        if cache is None:
            return EncoderDecoderCache(DynamicCache(), DynamicCache()) if use_cache else None
        if not isinstance(cache, EncoderDecoderCache):
            raise ValueError(
                f"cache must be an EncoderDecoderCache (self-attention and cross-attention caches), got "
                f"{type(cache).__name__}."
            )
        if cache.is_compileable:
            raise ValueError(
                "cache holds a static (pre-allocated) cache, which the Transformer does not support; pass an "
                "EncoderDecoderCache of two DynamicCache objects, or let generate() create one."
            )
        return cache


class Seq2SeqTransformerModel(CheckpointLoadingMixin, EncoderDecoderMixin, Seq2SeqTransformerPreTrainedModel):
    """The bare encoder-decoder: returns the decoder's last hidden states, no output layer."""

    def __init__(self, config: Seq2SeqTransformerConfig):
        super().__init__(config)
        self.encoder = Seq2SeqTransformerEncoder(config, self._new_token_embedding(config.vocab_size))
        self.decoder = Seq2SeqTransformerDecoder(config, self._new_token_embedding(config.target_vocab_size))
        self._tied_weights_keys = (
            {"decoder.embed_tokens.weight": "encoder.embed_tokens.weight"}
            if config.share_encoder_decoder_embeddings
            else {}
        )
        self.post_init()

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.encoder.embed_tokens = value
        if self.config.share_encoder_decoder_embeddings:
            self.decoder.embed_tokens = value

    @can_return_tuple
    @renamed_cache_argument
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | None = None,
        cache: EncoderDecoderCache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        decoder_inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> Seq2SeqModelOutput | tuple:
        """Encode the source (unless `encoder_outputs` is given) and decode the target prefix.

        Args:
            input_ids: `(batch, src_len)` source ids.
            attention_mask: `(batch, src_len)` source padding mask, 1 for tokens and 0 for padding.
            decoder_input_ids: `(batch, tgt_len)` decoder inputs (the labels shifted right).
            decoder_attention_mask: `(batch, past_len + tgt_len)` target padding mask; causality is always applied.
            encoder_outputs: a `BaseModelOutput` (or tuple) from `get_encoder()`, to skip encoding.
            cache: `EncoderDecoderCache` from an earlier step of incremental decoding.
            inputs_embeds, decoder_inputs_embeds: `(batch, len, d_model)` token vectors instead of ids.

        Returns:
            `Seq2SeqModelOutput`: `last_hidden_state` `(batch, tgt_len, d_model)`, `cache`,
            `encoder_last_hidden_state` `(batch, src_len, d_model)`, and on request the encoder and decoder
            hidden states, `encoder_attentions`, `decoder_attentions` and `cross_attentions`.
        """
        if decoder_input_ids is None and decoder_inputs_embeds is None:
            raise ValueError(
                "Pass decoder_input_ids (the target shifted right, see prepare_decoder_input_ids_from_labels) or "
                "decoder_inputs_embeds; Seq2SeqTransformerForConditionalGeneration builds them from labels."
            )
        # unset flags are left out: the sub-models' `capture_outputs` reads them from the config then, an explicit
        # None as "record nothing"
        flags = {"output_attentions": output_attentions, "output_hidden_states": output_hidden_states}
        flags = {name: value for name, value in flags.items() if value is not None}
        if encoder_outputs is None:
            encoder_outputs = self.encoder(
                input_ids=input_ids,
                attention_mask=attention_mask,
                inputs_embeds=inputs_embeds,
                return_dict=True,
                **flags,
            )
        elif not isinstance(encoder_outputs, BaseModelOutput):
            encoder_outputs = BaseModelOutput(*encoder_outputs)

        decoder_outputs = self.decoder(
            input_ids=decoder_input_ids,
            attention_mask=decoder_attention_mask,
            encoder_hidden_states=encoder_outputs.last_hidden_state,
            encoder_attention_mask=attention_mask,
            cache=cache,
            inputs_embeds=decoder_inputs_embeds,
            use_cache=use_cache,
            return_dict=True,
            **flags,
        )
        return Seq2SeqModelOutput(
            last_hidden_state=decoder_outputs.last_hidden_state,
            cache=decoder_outputs.cache,
            decoder_hidden_states=decoder_outputs.hidden_states,
            decoder_attentions=decoder_outputs.attentions,
            cross_attentions=decoder_outputs.cross_attentions,
            encoder_last_hidden_state=encoder_outputs.last_hidden_state,
            encoder_hidden_states=encoder_outputs.hidden_states,
            encoder_attentions=encoder_outputs.attentions,
        )


class Seq2SeqTransformerForConditionalGeneration(
    Seq2SeqLMMixin, CheckpointLoadingMixin, EncoderDecoderMixin, Seq2SeqTransformerPreTrainedModel, GenerationMixin
):
    """The encoder-decoder with an output layer over the vocabulary: training with `labels`, decoding with
    `generate()` (greedy, beam search, sampling)."""

    # The key/value cache grows with every step (DynamicCache); static caches need 4-D masks the model does not take.
    supported_cache_implementations = (None, "dynamic")

    def __init__(self, config: Seq2SeqTransformerConfig):
        super().__init__(config)
        self.model = Seq2SeqTransformerModel(config)
        self.lm_head = nn.Linear(config.d_model, config.target_vocab_size, bias=False)
        embedding = "encoder" if config.share_encoder_decoder_embeddings else "decoder"
        self._tied_weights_keys = (
            {"lm_head.weight": f"model.{embedding}.embed_tokens.weight"} if config.tie_word_embeddings else {}
        )
        self.post_init()

    @can_return_tuple
    @renamed_cache_argument
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | None = None,
        cache: EncoderDecoderCache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        decoder_inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        num_items_in_batch: int | torch.Tensor | None = None,
    ) -> Seq2SeqLMOutput | tuple:
        """Next-token logits for every decoder position, and the loss when `labels` are given.

        Args:
            labels: `(batch, tgt_len)` target ids, `-100` where the loss should ignore a position. Without
                `decoder_input_ids` they are shifted right into the decoder inputs.
            num_items_in_batch: number of target tokens of the whole (accumulated) batch; the loss is then their
                sum divided by it instead of this call's mean.
            Other arguments: as [`Seq2SeqTransformerModel.forward`].

        Returns:
            `Seq2SeqLMOutput` with `logits` `(batch, tgt_len, target_vocab_size)`, `loss` (cross entropy ignoring -100)
            when `labels` are given, and the outputs of [`Seq2SeqTransformerModel.forward`].
        """
        if labels is not None:
            source = input_ids if input_ids is not None else inputs_embeds
            self.check_labels(labels, None if source is None else source.size(0))
            if use_cache is None:
                use_cache = False
            if decoder_input_ids is None and decoder_inputs_embeds is None:
                decoder_input_ids = self.prepare_decoder_input_ids_from_labels(labels)
        outputs = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            decoder_input_ids=decoder_input_ids,
            decoder_attention_mask=decoder_attention_mask,
            encoder_outputs=encoder_outputs,
            cache=cache,
            inputs_embeds=inputs_embeds,
            decoder_inputs_embeds=decoder_inputs_embeds,
            use_cache=use_cache,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        logits = self.lm_head(outputs.last_hidden_state)
        loss = None if labels is None else seq2seq_loss(logits, labels, num_items_in_batch)
        return lm_output(loss, logits, outputs)
