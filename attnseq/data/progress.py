"""One line per data-preparation phase of `attnseq train`, printed when the phase ends.

`data_phase("tokenization", "pairs")` times a block and, on the main process, prints to stdout

    attnseq data: tokenization: 1,000,000 pairs in 21.3 s (46,948 pairs/s)

whatever `--disable_tqdm` says (that flag only hides progress bars). Code inside the block that serves its result
from a cache calls `served_from_cache()`, code that computes it calls `computed()`; a phase that was served from
the cache only gets `(cached)` after its seconds. Outside a phase both calls do nothing, so the readers and
encoders that report to a phase work the same when no phase is being timed (`attnseq evaluate`, user scripts).
The format is parsed by benchmarks: keep it exactly.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

PHASES = ("reading", "tokenizer training", "tokenization")


@dataclass
class Phase:
    """A phase being timed: its name, the unit of `count`, and what its parts reported about the cache."""

    name: str
    unit: str
    count: int = 0
    hits: int = 0
    misses: int = 0

    @property
    def cached(self) -> bool:
        """Every part that reported was served from the cache (and at least one did)."""
        return self.hits > 0 and self.misses == 0


_active: list[Phase] = []


def phase_line(name: str, count: int, unit: str, seconds: float, cached: bool = False) -> str:
    """The one line that ends a phase: `attnseq data: {name}: {count:,} {unit} in {seconds:.1f} s[ (cached)]
    ({rate:,.0f} {unit}/s)`."""
    rate = count / seconds if seconds > 0 else 0.0
    marker = " (cached)" if cached else ""
    return f"attnseq data: {name}: {count:,} {unit} in {seconds:.1f} s{marker} ({rate:,.0f} {unit}/s)"


@contextlib.contextmanager
def data_phase(name: str, unit: str = "pairs") -> Iterator[Phase]:
    """Time the block as the phase `name` (one of `PHASES`); set `count` on the yielded `Phase`. The line is
    printed when the block ends without an error, on the main process (`RANK` 0 or unset) only."""
    if name not in PHASES:
        raise ValueError(f"unknown data phase {name!r}; the phases are {', '.join(map(repr, PHASES))}.")
    phase = Phase(name, unit)
    _active.append(phase)
    start = time.perf_counter()
    try:
        yield phase
    finally:
        _active.remove(phase)
    if is_main_process():
        print(phase_line(name, phase.count, unit, time.perf_counter() - start, phase.cached), flush=True)


def served_from_cache() -> None:
    """Report to the phases being timed that a part of their work was read back from a cache."""
    for phase in _active:
        phase.hits += 1


def computed() -> None:
    """Report to the phases being timed that a part of their work was computed (not served from a cache)."""
    for phase in _active:
        phase.misses += 1


def is_main_process() -> bool:
    """Whether this is the main process of a distributed launch (`RANK` 0), or the only process."""
    return int(os.environ.get("RANK", "0")) == 0
