"""The dropout options both families share: each place a model drops units may have its own rate, and a rate left at
None is the config's `dropout`, so that a config without the separate options (every checkpoint saved before they
existed) trains exactly as it did.

Word dropout (Gal & Ghahramani 2016; Sennrich et al. 2016, "Edinburgh Neural Machine Translation Systems for WMT 16";
Sennrich & Zhang 2019, "Revisiting Low-Resource Neural Machine Translation") drops whole tokens: in training, each
source token (`source_word_dropout`) or decoder input token (`target_word_dropout`) has its embedding vector zeroed
with that probability, the kept ones scaled by 1 / (1 - p). It defaults to 0 (off), as before.
"""

from __future__ import annotations

from .validation import check_probability

WORD_DROPOUTS = ("source_word_dropout", "target_word_dropout")


def check_optional_probability(name: str, value) -> float | None:
    """None (the config's `dropout`) or a probability in [0, 1)."""
    if value is None:
        return None
    try:
        return check_probability(name, value)
    except ValueError:
        raise ValueError(f"{name} must be None (the same as dropout) or a number in [0, 1), got {value!r}.") from None


class DropoutOptionsMixin:
    """`dropout_of(name)`: the rate a model uses at the place `name` names, a separate option or `dropout`."""

    # the options that default to `dropout` (None); set by each family's config
    dropout_options: tuple[str, ...] = ()

    def check_dropout_options(self) -> None:
        """Check `dropout`, the options that default to it, and the word dropouts; each a probability in [0, 1)."""
        self.dropout = check_probability("dropout", self.dropout)
        for name in self.dropout_options:
            setattr(self, name, check_optional_probability(name, getattr(self, name)))
        for name in WORD_DROPOUTS:
            setattr(self, name, check_probability(name, getattr(self, name)))

    def dropout_of(self, name: str) -> float:
        """The dropout rate of option `name`: its own value, or `dropout` where it is None."""
        if name not in self.dropout_options:
            allowed = ", ".join(map(repr, self.dropout_options))
            raise ValueError(f"{name!r} is not a dropout option of {type(self).__name__}; allowed: {allowed}.")
        value = getattr(self, name)
        return self.dropout if value is None else value
