"""Checks shared by the configuration classes: each failure is a `ValueError` naming the option,
the value and what is allowed."""

from __future__ import annotations

from collections.abc import Iterable

from transformers import GenerationConfig

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


def reject_unknown_kwargs(config_name: str, kwargs: dict, known: Iterable[str]) -> None:
    """Raise `ValueError` for keyword arguments that are neither options of the config nor keys
    transformers passes through itself; a misspelt option must never be accepted silently."""
    allowed = _TRANSFORMERS_KEYS | set(GenerationConfig._get_default_generation_params())
    unknown = sorted(key for key in kwargs if key not in allowed)
    if unknown:
        raise ValueError(
            f"{config_name} got unknown option(s) {', '.join(map(repr, unknown))}; allowed options: "
            f"{', '.join(sorted(known))}."
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
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}.")
    return float(value)


def check_bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}.")
    return value


def check_token_id(name: str, value, vocab_size: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < vocab_size:
        raise ValueError(f"{name} must be an integer in [0, vocab_size={vocab_size}), got {value!r}.")
    return value
