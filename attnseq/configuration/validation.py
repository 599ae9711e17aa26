"""Checks shared by the configuration classes: each failure is a `ValueError` naming the option,
the value and what is allowed."""

from __future__ import annotations

import difflib
import logging
import math
from collections.abc import Iterable
from dataclasses import fields

import torch
from transformers import GenerationConfig, PretrainedConfig

logger = logging.getLogger(__name__)

# Keys that transformers itself passes through a config's constructor (serialised state, loading
# options and generation defaults); anything else unknown is a misspelt option.
_TRANSFORMERS_KEYS = frozenset(
    {
        "model_type",
        "torch_dtype",
        "num_labels",
        "name_or_path",
        "_name_or_path",
        "_commit_hash",
        "output_attentions",
        "attn_implementation",
        "_attn_implementation_internal",
        "experts_implementation",
        "_experts_implementation_internal",
        "auto_map",
        "custom_pipelines",
        "base_model_prefix",
    }
)


# Attributes transformers' own common model tests set on a config and save (`set_config_for_less_flaky_test`).
_TRANSFORMERS_TEST_ATTRIBUTES = frozenset(
    {"rms_norm_eps", "post_norm_eps", "layer_norm_eps", "norm_eps", "norm_epsilon", "layer_norm_epsilon",
     "batch_norm_eps"}
)  # fmt: skip


def _saved_by_transformers() -> frozenset:
    """The keys transformers itself writes into a config.json (or its tests set), beyond a config's own fields."""
    return (
        frozenset(PretrainedConfig().to_dict())
        | {"transformers_version", "architectures"}
        | (_TRANSFORMERS_TEST_ATTRIBUTES)
    )


def warn_unknown_keys(config_name: str, keys: Iterable[str], known: Iterable[str]) -> None:
    """Warn, by name and with the closest option, about config.json keys that are neither options of the config
    nor written by transformers: most likely a misspelt option (`dmodel`), which would otherwise change nothing."""
    known = sorted(known)
    for key in sorted(keys):
        matches = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f"; did you mean {matches[0]!r}?" if matches else ""
        logger.warning(
            "config.json key %r is not an option of %s%s It is kept as an attribute of the config, which the "
            "model does not read.",
            key,
            config_name,
            hint or ".",
        )


def reject_unknown_kwargs(config_name: str, kwargs: dict, known: Iterable[str]) -> None:
    """Raise `ValueError` for keyword arguments that are neither options of the config nor keys
    transformers passes through itself; a misspelt option must never be accepted silently."""
    allowed = _TRANSFORMERS_KEYS | set(GenerationConfig._get_default_generation_params())
    unknown = sorted(key for key in kwargs if key not in allowed)
    if unknown:
        known = sorted(known)
        suggestions = {key: difflib.get_close_matches(key, known, n=1, cutoff=0.6) for key in unknown}
        hint = "".join(f" Did you mean {matches[0]!r} for {key!r}?" for key, matches in suggestions.items() if matches)
        if "model_type" in kwargs:
            hint += (
                f" (The options were read as model_type={kwargs['model_type']!r}; if they come from a config.json "
                "of another model family, its model_type is wrong.)"
            )
        raise ValueError(
            f"{config_name} got unknown option(s) {', '.join(map(repr, unknown))}; allowed options: "
            f"{', '.join(known)}.{hint}"
        )


def apply_aliases(config, kwargs: dict) -> None:
    """Set the options that `config.attribute_map` aliases (e.g. `num_hidden_layers`) from `kwargs`, in place."""
    for alias, name in config.attribute_map.items():
        if alias in kwargs:
            setattr(config, name, kwargs.pop(alias))


class SavedAttributesMixin:
    """`from_dict` (behind `from_pretrained`) that loads every attribute `save_pretrained` wrote.

    The constructor refuses unknown keyword arguments, so that a misspelt option fails where it is typed. A
    config object may still carry attributes set on it after construction (a user's note, a library's
    setting); `save_pretrained` writes them to config.json, and this loads them back as attributes instead of
    passing them to the constructor. Put it first among a config's bases.

    Options of another attnseq family are not such attributes: a config.json whose `model_type` names the wrong
    family is refused with the constructor's message, which says so. A key that is neither an option nor one
    transformers writes (`"dmodel": 128`) loads with a warning naming it and the closest option (`d_model`).
    """

    _families: list[type] = []

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        SavedAttributesMixin._families.append(cls)

    @classmethod
    def from_dict(cls, config_dict: dict, **kwargs):
        own_fields = {field.name for field in fields(cls)}
        known = (
            own_fields
            | _TRANSFORMERS_KEYS
            | set(GenerationConfig._get_default_generation_params())
            | set(cls.attribute_map)
        )
        extras = {key: value for key, value in config_dict.items() if key not in known}
        other_families = {field.name for other in cls._families if other is not cls for field in fields(other)}
        foreign = {key: extras[key] for key in extras if key in other_families - own_fields}
        if foreign:
            reject_unknown_kwargs(cls.__name__, {**foreign, "model_type": config_dict.get("model_type")}, own_fields)
        loaded = super().from_dict({key: v for key, v in config_dict.items() if key not in extras}, **kwargs)
        config = loaded[0] if isinstance(loaded, tuple) else loaded
        for key, value in extras.items():
            setattr(config, key, value)
        unknown = set(extras) - _saved_by_transformers()
        if unknown:
            warn_unknown_keys(cls.__name__, unknown, own_fields | set(cls.attribute_map))
        return loaded


def check_common_options(config, kwargs: dict) -> None:
    """Check what every attnseq config shares with transformers' `PretrainedConfig`.

    Call it from a config's `__post_init__` with the keyword arguments that were not fields, before
    `PretrainedConfig.__post_init__` consumes them. A `model_type` read from a config.json must be the
    config's own; the flags the models read must be booleans; `dtype` must name a floating torch dtype;
    the models are encoder-decoders.
    """
    model_type = kwargs.get("model_type")
    if model_type is not None and model_type != config.model_type:
        raise ValueError(
            f"{type(config).__name__} reads model_type {config.model_type!r}, but the config says "
            f"model_type={model_type!r}. Load the checkpoint with AutoModelForSeq2SeqLM (after `import attnseq`), "
            "or fix model_type in its config.json."
        )
    check_bool("use_cache", config.use_cache)
    check_bool("output_hidden_states", config.output_hidden_states)
    check_bool("return_dict", config.return_dict)
    if kwargs.get("output_attentions") is not None:
        check_bool("output_attentions", kwargs["output_attentions"])
    implementation = kwargs.get("attn_implementation")
    if implementation is not None and not isinstance(implementation, str):
        raise ValueError(
            f"attn_implementation must be None or a name such as 'eager' or 'sdpa', got {implementation!r}."
        )
    if config.is_encoder_decoder is not True:
        raise ValueError(
            f"is_encoder_decoder={config.is_encoder_decoder!r} is not supported: {type(config).__name__} describes an "
            "encoder-decoder; only is_encoder_decoder=True is allowed."
        )
    for name, value in (("dtype", config.dtype), ("torch_dtype", kwargs.get("torch_dtype"))):
        resolved = getattr(torch, value, None) if isinstance(value, str) else value
        if value is not None and not (isinstance(resolved, torch.dtype) and resolved.is_floating_point):
            raise ValueError(
                f"{name}={value!r} is not a floating-point torch dtype; allowed: None, a torch.dtype or its name, "
                "e.g. 'float32', 'bfloat16', 'float16'."
            )


def check_choice(name: str, value, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not supported; allowed: {', '.join(map(repr, allowed))}.")
    return value


def check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return value


def check_optional_positive_int(name: str, value) -> int | None:
    return None if value is None else check_positive_int(name, value)


def check_probability(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}.")
    return float(value)


def check_positive_number(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise ValueError(f"{name} must be a positive number (finite), got {value!r}.")
    return float(value)


def check_bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}.")
    return value


def check_token_id(name: str, value, vocab_size: int, vocab_name: str = "vocab_size") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < vocab_size:
        raise ValueError(f"{name} must be an integer in [0, {vocab_name}={vocab_size}), got {value!r}.")
    return value


def check_special_tokens(config) -> None:
    """Default `decoder_start_token_id` to `bos_token_id`, then check every special id against the vocabulary (and
    against the target vocabulary, `decoder_vocab_size`, where the target has its own)."""
    if config.decoder_start_token_id is None:
        config.decoder_start_token_id = config.bos_token_id
    for name in ("pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id"):
        check_token_id(name, getattr(config, name), config.vocab_size)
        if config.decoder_vocab_size is not None:
            check_token_id(name, getattr(config, name), config.decoder_vocab_size, "decoder_vocab_size")


class TargetVocabularyMixin:
    """`decoder_vocab_size` of a config: the size of the target vocabulary (decoder embedding and output layer), or
    None where the target uses the source vocabulary, `vocab_size`."""

    def to_dict(self) -> dict:
        """`PretrainedConfig.to_dict`, leaving out `decoder_vocab_size` when it is None: a config with one shared
        vocabulary is saved exactly as before the option existed."""
        output = super().to_dict()
        if output.get("decoder_vocab_size", 0) is None:
            del output["decoder_vocab_size"]
        return output

    @property
    def target_vocab_size(self) -> int:
        """The number of target tokens: the decoder's embedding rows and the logits' last dimension."""
        return self.vocab_size if self.decoder_vocab_size is None else self.decoder_vocab_size

    @property
    def separate_vocabularies(self) -> bool:
        """Whether the target has a vocabulary of its own (`decoder_vocab_size` is set), as with two tokenizers."""
        return self.decoder_vocab_size is not None
