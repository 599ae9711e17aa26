"""What every attnseq encoder-decoder shares around its architecture.

Both families take labels the same way (checked, shifted right behind `decoder_start_token_id`), compute
the same token-level loss (honouring `num_items_in_batch` for gradient accumulation), resize their
vocabulary on every side (encoder and decoder embeddings, output layer) and have the same generation
default; only the architecture between the embeddings and the output layer differs.

The generation cache is the `cache` argument and output field of transformers >= 5.24; the old name
`past_key_values` is still accepted with a deprecation warning, as in transformers' own models.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn
from transformers import GenerationMixin
from transformers import initialization as init
from transformers.modeling_outputs import Seq2SeqLMOutput, Seq2SeqModelOutput
from transformers.utils.deprecation import deprecate_kwarg

from ..configuration.generation import ModelGenerationConfig, as_model_generation_config
from .inputs import check_batch_size, check_token_ids, shift_tokens_right

IGNORE_INDEX = -100
# generate() without any length setting: transformers stops after 20 new tokens, too few for character-level targets
DEFAULT_MAX_LENGTH = 128


def default_max_length(position_limit: int | None) -> int:
    """`max_length` of a generation nothing else bounds: `DEFAULT_MAX_LENGTH`, or `position_limit + 1` (the start
    token and `position_limit` more) where learned positions allow fewer."""
    return DEFAULT_MAX_LENGTH if position_limit is None else min(DEFAULT_MAX_LENGTH, position_limit + 1)


# The decorator transformers' own models put on every `forward` that takes the generation cache.
renamed_cache_argument = deprecate_kwarg("past_key_values", "5.40.0", new_name="cache")

# `generate()` options that transformers sizes by `config.vocab_size` (the source vocabulary): watermarking draws its
# green lists from it, prompt lookup builds candidate logits of that width.
SOURCE_SIZED_OPTIONS = ("watermarking_config", "prompt_lookup_num_tokens")
# `generate()` arguments that turn greedy search or sampling into assisted generation (a draft, then a check).
ASSISTED_GENERATION_OPTIONS = ("assistant_model", "prompt_lookup_num_tokens", "assistant_early_exit", "use_mtp")


def seq2seq_loss(
    logits: torch.Tensor, labels: torch.Tensor, num_items_in_batch: int | torch.Tensor | None = None
) -> torch.Tensor:
    """Token-level cross entropy of `(batch, tgt_len, vocab)` logits against `(batch, tgt_len)` labels.

    Positions labelled `IGNORE_INDEX` (-100) count for nothing. Without `num_items_in_batch` the loss is the
    mean over this call's counted positions; with it (the `Trainer` passes the number of counted positions of
    the whole accumulated batch) it is their sum divided by that number, so that accumulating gradients over
    several calls gives the gradient of one large batch.
    """
    reduction = "mean" if num_items_in_batch is None else "sum"
    loss = nn.functional.cross_entropy(
        logits.float().flatten(0, 1), labels.to(logits.device).flatten(), ignore_index=IGNORE_INDEX, reduction=reduction
    )
    if num_items_in_batch is not None:
        loss = loss / torch.as_tensor(num_items_in_batch, device=loss.device)
    return loss


def drop_words(vectors: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Word dropout: in training, each position's whole vector is zeroed with probability `p` and the kept ones are
    scaled by 1 / (1 - p); outside training, or with `p` 0, `vectors` come back as they are and nothing is drawn from
    the random generator.

    Args:
        vectors: `(batch, seq_len, size)` token vectors.

    Returns:
        `(batch, seq_len, size)`.
    """
    if not training or p == 0.0:
        return vectors
    keep = nn.functional.dropout(vectors.new_ones(vectors.shape[:-1] + (1,)), p=p, training=True)
    return vectors * keep


def init_token_embedding(module: nn.Embedding, std: float) -> None:
    """Word vectors N(0, std²) with the padding row at zero (it never receives a gradient)."""
    init.normal_(module.weight, mean=0.0, std=std)
    if module.padding_idx is not None and not getattr(module.weight, "_is_hf_initialized", False):
        init.zeros_(module.weight[module.padding_idx])


def lm_output(loss: torch.Tensor | None, logits: torch.Tensor, outputs: Seq2SeqModelOutput) -> Seq2SeqLMOutput:
    """The `Seq2SeqLMOutput` of a model with an output layer, from its bare model's `Seq2SeqModelOutput`."""
    return Seq2SeqLMOutput(
        loss=loss,
        logits=logits,
        cache=outputs.cache,
        decoder_hidden_states=outputs.decoder_hidden_states,
        decoder_attentions=outputs.decoder_attentions,
        cross_attentions=outputs.cross_attentions,
        encoder_last_hidden_state=outputs.encoder_last_hidden_state,
        encoder_hidden_states=outputs.encoder_hidden_states,
        encoder_attentions=outputs.encoder_attentions,
    )


class EncoderDecoderMixin:
    """The encoder, the decoder and the token tables of a model whose base model (itself, or `self.model` for a
    model with an output layer) has an `encoder` and a `decoder`, each with an `embed_tokens`.

    With one vocabulary (`config.decoder_vocab_size` None, or one table shared by encoder and decoder),
    `resize_token_embeddings` resizes every table: `PreTrainedModel.resize_token_embeddings` resizes the input
    (encoder) embedding and an untied output layer only; here the decoder's embedding and the output layer (bias
    included) follow, then the ties are restored. With a separate target vocabulary `resize_token_embeddings`
    resizes the source side (the encoder's embedding, `vocab_size`) and `resize_decoder_token_embeddings` the
    target side (the decoder's embedding and the output layer, `decoder_vocab_size`), as Marian does. Put it
    before `PreTrainedModel` among the bases.
    """

    def post_init(self) -> None:
        """`PreTrainedModel.post_init`, with this model's tied copies (a decoder embedding shared with the encoder's,
        an output layer tied to an embedding) as `_keys_to_ignore_on_save`: a checkpoint holds each table once, and
        `Trainer(load_best_model_at_end=True)` ties exactly those keys again instead of warning that they are missing.
        """
        self._keys_to_ignore_on_save = set(self.get_expanded_tied_weights_keys(all_submodels=False))
        super().post_init()

    def get_encoder(self, modality: str | None = None) -> nn.Module:
        """The text encoder; for another `modality` ("image", "video", "audio") what `PreTrainedModel.get_encoder`
        gives a model without an encoder of it: the model itself, which transformers' exporters read as "not
        multimodal"."""
        if modality is not None:
            return super().get_encoder(modality=modality)
        return self.base_model.encoder

    def get_decoder(self) -> nn.Module:
        return self.base_model.decoder

    def get_input_embeddings(self) -> nn.Embedding:
        return self.base_model.encoder.embed_tokens

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        if self.base_model is not self:  # the bare model knows which embeddings share the table
            self.base_model.set_input_embeddings(value)
        else:
            self.encoder.embed_tokens = value

    def _one_vocabulary(self) -> bool:
        """Whether source and target share one vocabulary (and so one size)."""
        return not self.config.separate_vocabularies or getattr(self.config, "share_encoder_decoder_embeddings", False)

    def resize_token_embeddings(
        self, new_num_tokens: int | None = None, pad_to_multiple_of: int | None = None, mean_resizing: bool = True
    ) -> nn.Embedding:
        """Resize the vocabulary to `new_num_tokens` (rounded up to `pad_to_multiple_of`); returns the encoder's new
        embedding. New rows are initialised as transformers does (mean and covariance of the old rows).

        With one vocabulary every token table is resized. With a separate target vocabulary
        (`config.decoder_vocab_size` set) only the source side is: the encoder's embedding and `config.vocab_size`;
        resize the target side with `resize_decoder_token_embeddings`.
        """
        if not self._one_vocabulary():
            old = self.get_input_embeddings()
            embeddings = self._get_resized_embeddings(old, new_num_tokens, pad_to_multiple_of, mean_resizing)
            embeddings.requires_grad_(old.weight.requires_grad)
            self.set_input_embeddings(embeddings)
            self.config.vocab_size = embeddings.num_embeddings
            self.tie_weights()
            return embeddings
        embeddings = super().resize_token_embeddings(new_num_tokens, pad_to_multiple_of, mean_resizing)
        size = embeddings.num_embeddings
        self._resize_target_tables(size, mean_resizing)
        if self.config.decoder_vocab_size is not None:  # one table of an explicitly given (equal) target size
            self.config.decoder_vocab_size = size
        return embeddings

    def resize_decoder_token_embeddings(
        self, new_num_tokens: int | None = None, pad_to_multiple_of: int | None = None, mean_resizing: bool = True
    ) -> nn.Embedding:
        """Resize the target vocabulary of a model with a separate one: the decoder's embedding and the output layer
        (bias included) to `new_num_tokens` (rounded up to `pad_to_multiple_of`), and `config.decoder_vocab_size`;
        returns the decoder's new embedding.

        Raises:
            ValueError: the model has one vocabulary (`decoder_vocab_size=None`, or the Transformer's
                `share_encoder_decoder_embeddings=True`); `resize_token_embeddings` resizes it on every side.
        """
        if self._one_vocabulary():
            raise ValueError(
                "resize_decoder_token_embeddings resizes a separate target vocabulary, but this model has one "
                f"vocabulary for source and target (decoder_vocab_size={self.config.decoder_vocab_size!r}"
                + (", share_encoder_decoder_embeddings=True" if self.config.separate_vocabularies else "")
                + "); use resize_token_embeddings, which resizes the encoder, the decoder and the output layer."
            )
        decoder = self.get_decoder()
        old = decoder.embed_tokens
        embeddings = self._get_resized_embeddings(old, new_num_tokens, pad_to_multiple_of, mean_resizing)
        embeddings.requires_grad_(old.weight.requires_grad)
        decoder.embed_tokens = embeddings
        self._resize_target_tables(embeddings.num_embeddings, mean_resizing)
        self.config.decoder_vocab_size = embeddings.num_embeddings
        return embeddings

    def _resize_target_tables(self, size: int, mean_resizing: bool) -> None:
        """Bring the decoder's embedding and the output layer to `size` rows, then restore the ties."""
        decoder = self.get_decoder()
        if decoder.embed_tokens.num_embeddings != size:
            decoder.embed_tokens = self._get_resized_embeddings(decoder.embed_tokens, size, mean_resizing=mean_resizing)
        head = self.get_output_embeddings()
        if head is not None and head.out_features != size:
            self.set_output_embeddings(self._get_resized_lm_head(head, size, mean_resizing=mean_resizing))
        self.tie_weights()


class Seq2SeqLMMixin:
    """Labels, loss and generation defaults of a `...ForConditionalGeneration` class (with `GenerationMixin`)."""

    # Trainer then passes `num_items_in_batch`, which `seq2seq_loss` uses: accumulated batches get exact gradients.
    accepts_loss_kwargs = True

    @property
    def generation_config(self):
        """The model's `GenerationConfig`, as a `ModelGenerationConfig`: the defaults `Seq2SeqTrainer` fills into it
        are neither saved nor used by the next `generate()`, so the model keeps its own (`DEFAULT_MAX_LENGTH`)."""
        return self.__dict__.get("_generation_config")

    @generation_config.setter
    def generation_config(self, value) -> None:
        self.__dict__["_generation_config"] = as_model_generation_config(value)

    def prepare_decoder_input_ids_from_labels(self, labels: torch.LongTensor) -> torch.LongTensor:
        """`(batch, tgt_len)` labels -> decoder inputs `[decoder_start, y_1, ..., y_{T-1}]` (-100 becomes pad)."""
        return shift_tokens_right(labels, self.config.pad_token_id, self.config.decoder_start_token_id)

    def check_labels(self, labels: torch.LongTensor, source_rows: int | None) -> None:
        """Raise `ValueError` unless `labels` is a `(batch, tgt_len)` `torch.long` tensor of ids in the target
        vocabulary or -100, with one row per source row (`source_rows`, when known)."""
        check_token_ids("labels", labels, self.config.target_vocab_size, ignore_index=IGNORE_INDEX)
        if source_rows is not None:
            check_batch_size("labels", labels.size(0), source_rows)

    def compute_transition_scores(self, sequences, scores, beam_indices=None, normalize_logits: bool = False):
        """`GenerationMixin.compute_transition_scores`, over the target vocabulary.

        transformers reads the width of each step's scores from `config.vocab_size`, the source vocabulary; with a
        separate target vocabulary its own code runs with the target size in its place.
        """
        if not self.config.separate_vocabularies:
            return super().compute_transition_scores(sequences, scores, beam_indices, normalize_logits)
        target = SimpleNamespace(vocab_size=self.config.target_vocab_size)
        model = SimpleNamespace(config=SimpleNamespace(get_text_config=lambda *args, **kwargs: target))
        return GenerationMixin.compute_transition_scores(model, sequences, scores, beam_indices, normalize_logits)

    # `generate(cache_implementation=...)` values the family supports (None: its own default cache).
    supported_cache_implementations: tuple[str | None, ...] = (None,)

    @property
    def supports_assisted_generation(self) -> bool:
        """Assisted generation rolls the cache back to the last accepted draft token, which a stateful model's cache
        (the LSTM's recurrent state, `_is_stateful` on the family's class) cannot do."""
        return not getattr(self, "_is_stateful", False)

    def prepare_inputs_for_generation(
        self, input_ids: torch.LongTensor, next_sequence_length=None, cache=None, **kwargs
    ):
        """`GenerationMixin.prepare_inputs_for_generation`, feeding a cache passed in only the tokens it has not read.

        `generate(decoder_input_ids=sequences, cache=cache)` continues a generation from the cache and sequences an
        earlier call returned. transformers decides which of the `(batch, length)` decoder tokens are new by the
        length of `attention_mask`, which for an encoder-decoder is the source's; so on that first call the decoder
        would re-read the tokens the cache already holds. A prefix no longer than the cache is taken to be only the
        new tokens, as transformers takes it.
        """
        seen = cache.get_seq_length() if cache is not None else 0
        if next_sequence_length is None and 0 < seen < input_ids.size(1):
            next_sequence_length = input_ids.size(1) - seen
        return super().prepare_inputs_for_generation(
            input_ids, next_sequence_length=next_sequence_length, cache=cache, **kwargs
        )

    def generate(self, inputs: torch.Tensor | None = None, generation_config=None, **kwargs):
        """`GenerationMixin.generate`, with `max_length` `DEFAULT_MAX_LENGTH` (within the position limit) where
        neither the call, its `generation_config` nor the model's generation config sets a length.

        Raises:
            ValueError: `cache_implementation` names a cache the family does not support; assisted generation
                (`ASSISTED_GENERATION_OPTIONS`) is asked of a recurrent model, whose state cannot be rolled back, or
                a recurrent model is the `assistant_model` (of this model, or of any model that calls this one's
                `generate` as its assistant); `assistant_model` is given with beam search (transformers would pass
                it on to `forward`); or an option transformers sizes by the source vocabulary
                (`SOURCE_SIZED_OPTIONS`) is set while the target one differs in size.
        """
        if isinstance(self.generation_config, ModelGenerationConfig):
            self.generation_config.clear_filled_defaults()  # e.g. what Seq2SeqTrainer filled in after the last call
        configs = [config for config in (self.generation_config, generation_config, kwargs) if config is not None]

        def setting(name: str):
            values = [
                config.get(name) if isinstance(config, dict) else getattr(config, name, None) for config in configs
            ]
            return next((value for value in reversed(values) if value is not None), None)

        implementation = setting("cache_implementation")
        if implementation not in self.supported_cache_implementations:
            allowed = ", ".join(repr(name) for name in self.supported_cache_implementations)
            raise ValueError(
                f"cache_implementation={implementation!r} is not supported by {type(self).__name__}; allowed: "
                f"{allowed} (None is the family's own cache)."
            )
        drafting = (setting("num_beams") or 1) == 1  # transformers drafts only for greedy search and sampling
        assisted = [option for option in ASSISTED_GENERATION_OPTIONS if setting(option)]
        if not self.supports_assisted_generation and assisted and drafting:
            raise ValueError(
                f"{', '.join(assisted)} asks for assisted generation, which {type(self).__name__} does not support: "
                "checking a draft's tokens needs a cache that can go back to an earlier token, and a recurrent "
                "state cannot. Generate without it."
            )
        assistant = setting("assistant_model")
        if assistant is not None and not drafting:
            raise ValueError(
                f"assistant_model works with greedy search and sampling only, not with num_beams={setting('num_beams')}"
                ": transformers drafts with an assistant only there. Generate without it, or with num_beams=1."
            )
        if assistant is not None and not getattr(assistant, "supports_assisted_generation", True):
            raise ValueError(
                f"assistant_model is a {type(assistant).__name__}, which cannot draft for assisted generation: the "
                "drafts it does not keep must be taken back from its cache, and a recurrent state cannot go back to "
                "an earlier token. Use an assistant with a key/value cache (a Transformer), or generate without one."
            )
        if setting("is_assistant") and not self.supports_assisted_generation:
            raise ValueError(
                f"{type(self).__name__} cannot be the assistant_model of assisted generation: the drafts the main "
                "model does not keep must be taken back from its cache, and a recurrent state cannot go back to an "
                "earlier token. Use an assistant with a key/value cache (a Transformer), or generate without one."
            )
        if self.config.target_vocab_size != self.config.vocab_size:
            for option in SOURCE_SIZED_OPTIONS:
                if setting(option) is not None:
                    raise ValueError(
                        f"{option} is not supported when the target vocabulary ({self.config.target_vocab_size} "
                        f"tokens) differs in size from the source one ({self.config.vocab_size}): transformers sizes "
                        "it by config.vocab_size, the source side. Generate without it, or with one vocabulary."
                    )
        if setting("max_length") is None and setting("max_new_tokens") is None:
            kwargs["max_length"] = default_max_length(self.config.position_limit)
        self._check_generation_length(setting("max_length"), setting("max_new_tokens"), kwargs.get("decoder_input_ids"))
        return super().generate(inputs, generation_config, **kwargs)

    def _check_generation_length(self, max_length, max_new_tokens, decoder_input_ids) -> None:
        """Refuse, before anything is decoded, a length limit that would feed the decoder more positions than learned
        position embeddings have (`config.position_limit`): a generation of `max_length` tokens (the decoder start
        included) feeds the decoder `max_length - 1` of them."""
        limit = self.config.position_limit
        if limit is None:
            return
        prefix = 1 if decoder_input_ids is None else decoder_input_ids.shape[-1]
        length = prefix + max_new_tokens if max_new_tokens is not None else max_length
        if length is not None and length - 1 > limit:
            asked = f"max_new_tokens={max_new_tokens}" if max_new_tokens is not None else f"max_length={max_length}"
            raise ValueError(
                f"{asked} could feed the decoder {length - 1} positions, but position_embedding='learned' has only "
                f"max_position_embeddings={limit}: ask for at most max_new_tokens={limit + 1 - prefix} (max_length="
                f"{limit + 1}), train with a larger max_position_embeddings, or use position_embedding='sinusoidal'."
            )
