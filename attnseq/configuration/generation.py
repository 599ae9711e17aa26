"""The generation config the models carry: one that keeps what was chosen apart from defaults filled in later.

`Seq2SeqTrainer.prediction_step` fills transformers' global generation defaults into `model.generation_config`
(`update(**defaults, defaults_only=True)`, `max_length=20` among them) so that it can pad its predictions to
`max_length`. Saved, those values would bind every later use of the checkpoint: `generate()` with no length would
stop after 20 tokens instead of the model's own default, and every `generate(max_new_tokens=...)` would warn that
both lengths are set. `ModelGenerationConfig` notes the values such a call fills in; `generate()` clears them
before it runs and they are never saved, while every value set on purpose (an attribute, `update()`, a loaded
file) stays.
"""

from __future__ import annotations

from transformers import GenerationConfig

_FILLED = "_filled_defaults"


class ModelGenerationConfig(GenerationConfig):
    """`GenerationConfig` that remembers which attributes `update(..., defaults_only=True)` filled in."""

    def __setattr__(self, name: str, value) -> None:
        filled = self.__dict__.get(_FILLED)
        if filled and name in filled:  # set on purpose now
            filled.discard(name)
        super().__setattr__(name, value)

    def update(self, defaults_only: bool = False, allow_custom_entries: bool = False, **kwargs):
        """`GenerationConfig.update`; with `defaults_only=True` the attributes it fills are noted as defaults."""
        empty = {name for name in kwargs if defaults_only and getattr(self, name, None) is None}
        unused = super().update(defaults_only=defaults_only, allow_custom_entries=allow_custom_entries, **kwargs)
        filled = {name for name in empty if getattr(self, name, None) is not None}
        if filled:
            self.__dict__.setdefault(_FILLED, set()).update(filled)
        return unused

    def clear_filled_defaults(self) -> None:
        """Set every attribute that only a defaults fill gave a value back to None (unset)."""
        for name in self.__dict__.pop(_FILLED, set()):
            self.__dict__[name] = None

    def to_dict(self) -> dict:
        """`GenerationConfig.to_dict` with the filled-in defaults unset (so neither saved nor copied as chosen)."""
        output = super().to_dict()
        output.pop(_FILLED, None)
        for name in self.__dict__.get(_FILLED, ()):
            output[name] = None
        return output


def as_model_generation_config(config: GenerationConfig | None) -> GenerationConfig | None:
    """`config` itself (the same object, so that a caller's later changes still count) as a `ModelGenerationConfig`.

    A subclass of `GenerationConfig` other than this one is left as it is.
    """
    if config is not None and type(config) is GenerationConfig:
        config.__class__ = ModelGenerationConfig
    return config
