"""The attention LSTM encoder-decoder of Deep Learning from Scratch 2, chapters 7 and 8.

The encoder reads the source (optionally reversed, optionally in both directions) and keeps its
hidden state ``hs`` for every source position. The decoder starts from the encoder's final state;
at every target step it scores its state ``h`` against every row of ``hs``, turns the scores into
weights with a masked softmax, and reads the weighted sum of ``hs`` (the context). The output layer
sees ``[context; h]`` (plus the encoder summary with ``peeky``).

Teacher-forced training without input feeding runs the decoder RNN over the whole target in one
fused ``nn.LSTM``/``nn.GRU`` call per layer and the attention as batched matrix products. With input
feeding each step needs the previous step's attentional vector, so the decoder loops over steps.
Generation carries the recurrent state as the cache (`Seq2SeqLSTMCache`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import ModelOutput, Seq2SeqLMOutput, Seq2SeqModelOutput

from ..configuration.lstm import Seq2SeqLSTMConfig
from .attention import LocalPWindow, build_score, masked_softmax, weighted_sum
from .inputs import (
    check_batch_size,
    check_contiguous,
    check_token_ids,
    normalize_attention_mask,
)
from .loading import CheckpointLoadingMixin
from .rnn import Feedback, InputLayout, ReadingOrder, RecurrentStack, RNNState, apply_linear
from .seq2seq import (
    EncoderDecoderMixin,
    Seq2SeqLMMixin,
    drop_words,
    init_token_embedding,
    lm_output,
    renamed_cache_argument,
    seq2seq_loss,
)


@dataclass
class Seq2SeqLSTMEncoderOutput(ModelOutput):
    """Encoder output.

    Args:
        last_hidden_state: `(batch, src_len, hidden)` top-layer states ``hs`` in source order (also with
            `reverse_source`); zeros at padding positions.
        final_hidden: `(batch, encoder_layers, hidden)` each layer's output after its last real
            token (forward direction) and after the first (backward direction).
        hidden_states: with `output_hidden_states`, the embeddings and every layer's states.
    """

    last_hidden_state: torch.FloatTensor | None = None
    final_hidden: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


class Seq2SeqLSTMCache:
    """The decoder's recurrent state during generation: what a key/value cache is for a Transformer.

    Holds, for the `batch` rows being decoded (beams included), every decoder layer's `(h, c)`, the
    last attentional vector (for input feeding), and the per-source tensors computed once: the
    projected attention keys and the peeky summary. `reorder_cache` follows beam search.

    Like a Mamba state (transformers' "linear" cache layers) it has a fixed size and cannot be cropped
    back to an earlier step: `generate()` then feeds it only the newest token.
    """

    is_compileable = False
    is_croppable = False

    def __init__(
        self,
        states: list[RNNState],
        feed: torch.Tensor | None,
        keys: torch.Tensor | None,
        summary: torch.Tensor | None,
        seen_tokens: int = 0,
    ):
        self.states = states
        self.feed = feed
        self.keys = keys
        self.summary = summary
        self.seen_tokens = seen_tokens

    def get_seq_length(self, layer_idx: int = 0) -> int:
        """Number of target tokens the state has consumed."""
        return self.seen_tokens

    def _map(self, fn) -> None:
        self.states = [(fn(h), None if c is None else fn(c)) for h, c in self.states]
        self.feed, self.keys, self.summary = (
            None if t is None else fn(t) for t in (self.feed, self.keys, self.summary)
        )

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        """Keep, for every row, the decoder state of the row `beam_idx` names (beam search).

        The per-source tensors (keys, summary) stay as they are: they are functions of the encoder outputs,
        which `generate()` does not reorder either (beam search moves rows only among the beams of one source,
        whose encoder outputs are the same), so they keep matching the `encoder_hidden_states` of later calls.
        """
        beam_idx = beam_idx.to(self.states[0][0].device)
        self.states = [
            (h.index_select(0, beam_idx), None if c is None else c.index_select(0, beam_idx)) for h, c in self.states
        ]
        if self.feed is not None:
            self.feed = self.feed.index_select(0, beam_idx)

    def batch_repeat_interleave(self, repeats: int) -> None:
        self._map(lambda t: t.repeat_interleave(repeats, dim=0))

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self._map(lambda t: t[indices])

    def __len__(self) -> int:
        return len(self.states)

    # transformers' rollback protocol (assisted generation, deferred stop checks): this state keeps no past states.
    def is_recording_past(self, layer_idx: int = 0) -> bool:
        return False

    def get_recurrent_states_to_keep(self, layer_idx: int | None = None) -> int:
        """Number of earlier states kept for `crop` to go back to: none."""
        return 0

    def activate_past_recording(self, recurrent_states_to_keep: int | None = None) -> None:
        """Refused: the recurrent state is overwritten at every step, so it cannot keep earlier ones to go back to."""
        raise RuntimeError(
            "Seq2SeqLSTMCache cannot record past states: the recurrent state of the LSTM/GRU decoder is overwritten at "
            "every step, so generation that rolls the cache back (assisted generation) is not supported."
        )

    def crop(self, tokens_to_remove: int) -> None:
        """`crop(0)` keeps the state as it is; removing tokens (a negative count, transformers' convention) is refused:
        the state before them is gone."""
        if tokens_to_remove > 0:
            raise ValueError(
                f"crop({tokens_to_remove}): pass a negative number of tokens to remove (transformers' convention)."
            )
        if tokens_to_remove < 0:
            raise RuntimeError(
                f"Seq2SeqLSTMCache cannot remove its last {-tokens_to_remove} token(s): the recurrent state before "
                "them was overwritten; generation that rolls the cache back (assisted generation) is not supported."
            )

    @property
    def is_linear(self) -> list[bool]:
        """Per decoder layer: a recurrent state of fixed size, not a key/value cache that grows."""
        return [True] * len(self.states)


class Seq2SeqLSTMEncoder(RecurrentStack):
    """Embeds the source and runs the (bidirectional, stacked) recurrent stack over it (the book's `Encoder`).

    Padding never changes a result and costs no packing: each row's real tokens are first moved to
    the front (reversed with `reverse_source`), so that one fused RNN call per layer and direction
    reads them before any padding; the backward direction reads each row's real tokens reversed the
    same way. Outputs go back to source order with zeros at padding positions.
    """

    def __init__(self, config: Seq2SeqLSTMConfig):
        super().__init__(
            config.cell,
            InputLayout(embedding=config.embedding_size),
            config.hidden_size,
            config.encoder_layers,
            config.dropout_of("hidden_dropout"),
            config.residual,
            bidirectional=config.bidirectional_encoder,
        )
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=config.pad_token_id)
        # the embedding first, as it always was: initialisation draws the weights in this order, so a seed
        # gives the same model as before
        for name in [name for name in self._modules if name != "embed_tokens"]:
            self._modules[name] = self._modules.pop(name)
        self.embedding_dropout = nn.Dropout(config.dropout_of("embedding_dropout"))

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool = True,
    ) -> Seq2SeqLSTMEncoderOutput:
        """Encode a batch.

        Args:
            input_ids: `(batch, src_len)` token ids.
            attention_mask: `(batch, src_len)` 1 for real tokens, 0 for padding; the real tokens of a
                row must be contiguous (right or left padding). None means no padding.
            output_attentions: part of the encoder interface `generate()` calls; a recurrent encoder has no
                attention, so `attentions` is always None.
            output_hidden_states: also return the embeddings and every layer's states, in source order. Each
                is the tensor the next layer reads, so gradients reach it (`retain_grad()` works). The first, the
                embeddings, is `(batch, src_len, embedding_size)`, the layers' `(batch, src_len, hidden_size)`:
                unlike a Transformer, the first recurrent layer maps the word vectors to the hidden size, so the
                shapes agree only with `embedding_size == hidden_size` (transformers' common hidden-states test
                assumes every entry is `hidden_size` wide).

        Returns:
            `Seq2SeqLSTMEncoderOutput` with `last_hidden_state` `(batch, src_len, hidden)` in source order.
        """
        check_token_ids("input_ids", input_ids, self.config.vocab_size)
        attention_mask = normalize_attention_mask(attention_mask, input_ids)
        check_contiguous(attention_mask)
        order = ReadingOrder(attention_mask, self.config.reverse_source)
        x = drop_words(self.embed_tokens(input_ids), self.config.source_word_dropout, self.training)
        x = self.embedding_dropout(x)  # (batch, src, emb) in source order
        layer_outputs, finals = self.read(x, order)
        return Seq2SeqLSTMEncoderOutput(
            last_hidden_state=layer_outputs[-1],
            final_hidden=torch.stack(finals, dim=1),
            hidden_states=(x, *layer_outputs) if output_hidden_states else None,
        )


class Seq2SeqLSTMDecoder(nn.Module):
    """The book's `AttentionDecoder`/`PeekyDecoder`: an RNN over the target plus attention over ``hs``.

    `forward_step` is the whole decoder in the book's order: input → RNN → attention → output features. Each
    step's input is the target token's embedding, plus Luong's previous attentional vector (`input_feeding`) and
    the encoder summary (`peeky`); the output layer reads ``[context; h]`` (+ the summary with peeky), or the
    attentional vector tanh(W_c [context; h]) with `attentional_size`. The recurrent stack (`rnn.RecurrentStack`)
    runs the RNN over the whole target in one fused call per layer without input feeding, and step by step with
    it, calling the same attention after every step.
    """

    def __init__(self, config: Seq2SeqLSTMConfig):
        super().__init__()
        self.config = config
        hidden = config.hidden_size
        self.embed_tokens = nn.Embedding(
            config.target_vocab_size, config.embedding_size, padding_idx=config.pad_token_id
        )
        # each step reads its token's vector, Luong's previous attentional vector and the encoder summary
        layout = InputLayout(
            embedding=config.embedding_size,
            feed=config.output_features if config.input_feeding else 0,
            summary=hidden if config.peeky else 0,
        )
        self.rnn = RecurrentStack(
            config.cell, layout, hidden, config.decoder_layers, config.dropout_of("hidden_dropout"), config.residual
        )
        self.embedding_dropout = nn.Dropout(config.dropout_of("embedding_dropout"))
        self.score = build_score(config.attention, hidden) if config.attention != "none" else None
        self.local_window = (
            LocalPWindow(hidden, config.attention_window) if config.attention_window is not None else None
        )
        concat_size = hidden * (1 + (config.attention != "none") + config.peeky)
        self.attentional_proj = (
            nn.Linear(concat_size, config.attentional_size, bias=False) if config.attentional_size else None
        )

    def start_cache(self, encoder_outputs: Seq2SeqLSTMEncoderOutput) -> Seq2SeqLSTMCache:
        """The state before the first target token: per-source tensors are computed here, once.

        Decoder layer i starts from encoder layer i's final h (the top one if the encoder has fewer) and, as in
        the book, a zero LSTM cell state; the first attentional vector fed back is zero.
        """
        hs, final = encoder_outputs.last_hidden_state, encoder_outputs.final_hidden
        states = []
        for i in range(self.config.decoder_layers):
            h = final[:, min(i, final.size(1) - 1)]
            states.append((h, torch.zeros_like(h) if self.config.cell == "lstm" else None))
        feed = hs.new_zeros(hs.size(0), self.config.output_features) if self.config.input_feeding else None
        keys = self.score.prepare_keys(hs) if self.score is not None else None
        summary = final[:, -1] if self.config.peeky else None  # the top layer's final state
        return Seq2SeqLSTMCache(states, feed, keys, summary)

    def forward(
        self,
        input_ids: torch.LongTensor,
        encoder_hidden_states: torch.Tensor,
        encoder_attention_mask: torch.Tensor,
        cache: Seq2SeqLSTMCache,
        output_hidden_states: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None, tuple[torch.Tensor, ...] | None]:
        """Decode `tgt_len` steps from the state in `cache`, which is advanced in place.

        Args:
            input_ids: `(batch, tgt_len)` decoder input ids.
            encoder_hidden_states: `(batch, src_len, hidden)` ``hs``.
            encoder_attention_mask: `(batch, src_len)` boolean.
            cache: state before these steps (`start_cache` for the first call).

        Returns:
            `(features, attention_weights, hidden_states)`: `(batch, tgt_len, output_features)`,
            `(batch, tgt_len, src_len)` (None without attention) and, on request, the embeddings and
            every decoder layer's outputs.
        """
        embeddings = drop_words(self.embed_tokens(input_ids), self.config.target_word_dropout, self.training)
        embeddings = self.embedding_dropout(embeddings)  # (batch, tgt, emb)
        features, weights, layer_outputs = self.forward_step(
            embeddings, encoder_hidden_states, encoder_attention_mask, cache
        )
        hidden_states = (embeddings, *layer_outputs) if output_hidden_states else None
        return features, weights, hidden_states

    def forward_step(
        self, embeddings: torch.Tensor, hs: torch.Tensor, mask: torch.Tensor, cache: Seq2SeqLSTMCache
    ) -> tuple[torch.Tensor, torch.Tensor | None, list[torch.Tensor]]:
        """The decoder over `steps` target tokens (one at a time in generation), advancing `cache` in place.

        Without input feeding every step's input is known: the stack runs one fused call per layer and the
        attention reads all steps at once. With it, each step's attentional vector is fed into the next step's
        input: the stack runs step by step and calls the same attention after each step.

        Args:
            embeddings: `(batch, steps, embedding_size)` the target tokens' vectors.
            hs: `(batch, src_len, hidden)` encoder states; mask: `(batch, src_len)` boolean, True for real tokens.
            cache: the recurrent state, the last attentional vector and the per-source tensors.

        Returns:
            `(features, weights, layer_outputs)`: the output layer's input `(batch, steps, output_features)`, the
            attention weights `(batch, steps, src_len)` (None without attention) and every layer's outputs
            `(batch, steps, hidden)`.
        """
        steps = embeddings.size(1)
        summary = self._peeky_summary(cache, steps)
        inputs = {"embedding": embeddings, "summary": summary}

        def attend(outputs: torch.Tensor, linear=apply_linear) -> tuple[torch.Tensor, torch.Tensor | None]:
            """Attention and output features for the top layer's outputs of all steps, or of one (input feeding)."""
            step_summary = summary if summary is None or outputs.size(1) == steps else summary[:, :1]
            return self._attend(outputs, step_summary, hs, mask, cache.keys, linear)

        if self.config.input_feeding:
            feedback = Feedback("feed", cache.feed, attend)
            _, cache.states, layer_outputs, (features, weights) = self.rnn.unrolled(inputs, cache.states, feedback)
            cache.feed = features[:, -1]
        else:
            outputs, cache.states, layer_outputs, _ = self.rnn.unrolled(inputs, cache.states)
            features, weights = attend(outputs)
        cache.seen_tokens += steps
        return features, weights, layer_outputs

    def _peeky_summary(self, cache: Seq2SeqLSTMCache, steps: int) -> torch.Tensor | None:
        """Peeky: the encoder summary `(batch, steps, hidden)` every step reads (None without peeky)."""
        return None if cache.summary is None else cache.summary.unsqueeze(1).expand(-1, steps, -1)

    def _attend(self, outputs, summary, hs, mask, keys, linear=apply_linear):
        """Attention over ``hs`` and the output-layer input, for decoder outputs `(batch, steps, hidden)`.

        Args:
            outputs: `(batch, steps, hidden)` the top decoder layer's states h.
            summary: `(batch, steps, hidden)` the peeky summary, or None.
            hs: `(batch, src_len, hidden)`; mask: `(batch, src_len)` boolean; keys: `hs` as the score prepared it.
            linear: `linear(module, x)` applies `attentional_proj` (the stack's input-feeding loop passes its own).

        Returns:
            `(features, weights)`: `[context; h (; summary)]` or tanh(W_c [...]) `(batch, steps, output_features)`,
            and the weights `(batch, steps, src_len)` or None.
        """
        parts, weights = [outputs], None
        if self.score is not None:
            scores = self.score(outputs, keys)  # (batch, steps, src)
            attend, gaussian = mask.unsqueeze(1), None
            if self.local_window is not None:
                window, gaussian = self.local_window(outputs, mask)
                attend = attend & window
            weights = masked_softmax(scores, attend)
            if gaussian is not None:
                weights = weights * gaussian  # Luong et al. 2015, eq. 10
            parts.insert(0, weighted_sum(weights, hs))  # the context, (batch, steps, hidden)
        if summary is not None:
            parts.append(summary)
        features = torch.cat(parts, dim=-1)
        if self.attentional_proj is not None:
            features = torch.tanh(linear(self.attentional_proj, features))
        return features, weights


class Seq2SeqLSTMPreTrainedModel(CheckpointLoadingMixin, EncoderDecoderMixin, PreTrainedModel):
    config_class = Seq2SeqLSTMConfig
    config: Seq2SeqLSTMConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = False
    _is_stateful = True
    _skip_keys_device_placement = ["cache"]

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        # The recurrent state is the cache: generate() must not create a key/value cache for us.
        return False

    def _init_weights(self, module: nn.Module) -> None:
        """Word vectors N(0, `embedding_init_std`²); weights randn/√fan_in as in the book (or N(0, `init_std`²)
        when set); biases zero."""
        std = self.config.init_std
        if isinstance(module, nn.Embedding):
            init_token_embedding(module, self.config.embedding_init_std)
        elif isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=module.in_features**-0.5 if std is None else std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.RNNBase):
            for name, param in module.named_parameters():
                if name.startswith("weight"):
                    init.normal_(param, mean=0.0, std=param.size(1) ** -0.5 if std is None else std)
                else:
                    init.zeros_(param)


class Seq2SeqLSTMModel(Seq2SeqLSTMPreTrainedModel):
    """The bare encoder-decoder: returns the output-layer input for every target position."""

    def __init__(self, config: Seq2SeqLSTMConfig):
        super().__init__(config)
        self.encoder = Seq2SeqLSTMEncoder(config)
        self.decoder = Seq2SeqLSTMDecoder(config)
        self.post_init()

    @renamed_cache_argument
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: Seq2SeqLSTMEncoderOutput | tuple | None = None,
        cache: Seq2SeqLSTMCache | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> Seq2SeqModelOutput | tuple:
        r"""Encode the source (unless `encoder_outputs` are given) and decode `decoder_input_ids`.

        Args:
            input_ids: `(batch, src_len)` source ids, `torch.long` or `torch.int`, in [0, vocab_size). There is
                no length limit.
            attention_mask: `(batch, src_len)` 1 for real tokens, 0 for padding (right or left padding), as an
                integer, boolean or float tensor of 0s and 1s. A row of only padding (an empty source) is
                allowed: its attention weights are all zero and the decoder starts from the encoder state after
                one padding step.
            decoder_input_ids: `(batch, tgt_len)` target ids starting with `decoder_start_token_id`, one row
                per source row, in [0, config.target_vocab_size).
            decoder_attention_mask: accepted for API compatibility; a recurrent decoder reads left to
                right, so right padding of the target cannot change earlier positions.
            encoder_outputs: precomputed `Seq2SeqLSTMEncoderOutput` (generation passes it back in).
            cache: a `Seq2SeqLSTMCache` holding the decoder state after earlier tokens; then
                `decoder_input_ids` holds only the new tokens. (`past_key_values` is its deprecated name.)
            use_cache: return the advanced state as `cache`; without it a given `cache` is left as it was.
            output_attentions: return the attention weights as `cross_attentions`, one tensor
                `(batch, 1, tgt_len, src_len)`.
            output_hidden_states: return the encoder's and the decoder's embeddings (`embedding_size` features)
                and layer outputs (`hidden_size` features).

        Returns:
            `Seq2SeqModelOutput` whose `last_hidden_state` is `(batch, tgt_len, output_features)`.

        Raises:
            ValueError: an input is not a 2-D integer tensor, has no rows or positions, holds an id outside the
                vocabulary, or its shape does not match the source's; a mask holds values other than 0 and 1
                or padding between real tokens.
        """
        output_attentions = output_attentions if output_attentions is not None else self.config.output_attentions
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        use_cache = use_cache if use_cache is not None else self.config.use_cache
        return_dict = return_dict if return_dict is not None else self.config.return_dict

        if encoder_outputs is None:
            if input_ids is None:
                raise ValueError("Pass input_ids (the source) or encoder_outputs.")
            encoder_outputs = self.encoder(input_ids, attention_mask, output_hidden_states=output_hidden_states)
        elif not isinstance(encoder_outputs, Seq2SeqLSTMEncoderOutput):
            encoder_outputs = Seq2SeqLSTMEncoderOutput(*encoder_outputs)
        if cache is not None and not isinstance(cache, Seq2SeqLSTMCache):
            raise ValueError(
                f"cache must be a Seq2SeqLSTMCache (the decoder's recurrent state), got {type(cache).__name__}."
            )
        hs = encoder_outputs.last_hidden_state
        attention_mask = normalize_attention_mask(attention_mask, hs[..., 0])
        if decoder_input_ids is None:
            raise ValueError("Pass decoder_input_ids, or labels to the ForConditionalGeneration model.")
        check_token_ids("decoder_input_ids", decoder_input_ids, self.config.target_vocab_size)
        check_batch_size("decoder_input_ids", decoder_input_ids.size(0), hs.size(0))

        state = cache if cache is not None else self.decoder.start_cache(encoder_outputs)
        if not use_cache and cache is not None:
            state = _copy_cache(state)  # without use_cache the caller's state must not advance
        features, weights, decoder_hidden_states = self.decoder(
            decoder_input_ids,
            hs,
            attention_mask,
            state,
            output_hidden_states=output_hidden_states,
        )
        cross_attentions = (weights.unsqueeze(1),) if output_attentions and weights is not None else None
        output = Seq2SeqModelOutput(
            last_hidden_state=features,
            cache=state if use_cache else None,
            decoder_hidden_states=decoder_hidden_states,
            cross_attentions=cross_attentions,
            encoder_last_hidden_state=encoder_outputs.last_hidden_state,
            encoder_hidden_states=encoder_outputs.hidden_states,
        )
        return output if return_dict else output.to_tuple()


def _copy_cache(cache: Seq2SeqLSTMCache) -> Seq2SeqLSTMCache:
    return Seq2SeqLSTMCache(list(cache.states), cache.feed, cache.keys, cache.summary, cache.seen_tokens)


class Seq2SeqLSTMForConditionalGeneration(Seq2SeqLMMixin, Seq2SeqLSTMPreTrainedModel, GenerationMixin):
    """The encoder-decoder with the output layer (the book's `Affine` + softmax) and `generate()`."""

    _tied_weights_keys = {"lm_head.weight": "model.decoder.embed_tokens.weight"}

    def __init__(self, config: Seq2SeqLSTMConfig):
        super().__init__(config)
        self.model = Seq2SeqLSTMModel(config)
        self.output_dropout = nn.Dropout(config.dropout_of("output_dropout"))
        self.lm_head = nn.Linear(config.output_features, config.target_vocab_size, bias=True)
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, new_embeddings: nn.Linear) -> None:
        self.lm_head = new_embeddings

    @renamed_cache_argument
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: Seq2SeqLSTMEncoderOutput | tuple | None = None,
        cache: Seq2SeqLSTMCache | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        num_items_in_batch: int | torch.Tensor | None = None,
    ) -> Seq2SeqLMOutput | tuple:
        r"""Logits for every target position, and the loss when `labels` are given.

        Args:
            labels: `(batch, tgt_len)` target ids; -100 marks positions the loss ignores. When
                `decoder_input_ids` are not given they are `labels` shifted right behind
                `decoder_start_token_id`.
            num_items_in_batch: number of counted label positions of the whole (accumulated) batch; the loss is
                then their sum divided by it instead of this call's mean (`Trainer` passes it).
            Other arguments: see [`Seq2SeqLSTMModel.forward`].

        Returns:
            `Seq2SeqLMOutput` with `logits` `(batch, tgt_len, target_vocab_size)`, `loss` (mean cross entropy
            over the non-ignored label positions) and `cross_attentions` `(batch, 1, tgt_len, src_len)`
            on request.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if labels is not None:
            source = input_ids if input_ids is not None else encoder_outputs[0] if encoder_outputs is not None else None
            self.check_labels(labels, None if source is None else source.size(0))
            if decoder_input_ids is None:
                decoder_input_ids = self.prepare_decoder_input_ids_from_labels(labels)
            use_cache = False if use_cache is None else use_cache
        outputs = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            decoder_input_ids=decoder_input_ids,
            encoder_outputs=encoder_outputs,
            cache=cache,
            use_cache=use_cache,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        logits = self.lm_head(self.output_dropout(outputs.last_hidden_state))
        loss = None if labels is None else seq2seq_loss(logits, labels, num_items_in_batch)
        output = lm_output(loss, logits, outputs)
        return output if return_dict else output.to_tuple()

    def _reorder_cache(self, cache: Seq2SeqLSTMCache, beam_idx: torch.LongTensor) -> Seq2SeqLSTMCache:
        cache.reorder_cache(beam_idx)
        return cache
