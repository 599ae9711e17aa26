"""Timing, memory and table helpers shared by the benchmark scripts.

Every benchmark runs its contenders in one process and *interleaves* them (A B A B ...): on a shared
machine the load changes from second to second, and interleaving spreads that noise over all contenders
alike. Each contender is warmed up first; the tables report medians over the repeats and the ratios of
those medians.

Peak memory is measured in a fresh subprocess per contender (`peak_rss_delta`): the child builds the
model and its inputs, runs the workload once, resets the kernel's resident-set high-water mark
(`echo 5 > /proc/self/clear_refs`), runs the workload again and reports `VmHWM - VmRSS` before that run,
i.e. the extra resident memory the workload itself needed (activations, gradients, optimizer state
growth, caches), in MiB. This sees every allocation torch makes on the CPU, which `tracemalloc` cannot.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch


def machine_summary() -> str:
    """One line naming the CPU, its core count and the torch/transformers versions."""
    import transformers

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"transformers {transformers.__version__}"
    )


def interleaved(contenders: dict[str, Callable[[], object]], repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Seconds per call of every contender, measured A B A B ... `repeats` times after `warmup` rounds.

    The order of the contenders alternates from one round to the next (A B, then B A), so that neither is
    always the one that runs right after the other.
    """
    names = list(contenders)
    for _ in range(warmup):
        for name in names:
            contenders[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(repeats):
        for name in names if round_index % 2 == 0 else reversed(names):
            gc.collect()
            start = time.perf_counter()
            contenders[name]()
            times[name].append(time.perf_counter() - start)
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


def markdown_table(headers: list[str], rows: list[list[object]]) -> str:
    """A GitHub markdown table; floats are printed with a precision that suits their size."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            if value >= 100:
                return f"{value:,.0f}"
            if value >= 10:
                return f"{value:.1f}"
            return f"{value:.2f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not found in /proc/self/status")


def measure_own_peak(workload: Callable[[], object]) -> float:
    """Run `workload` twice in this process; MiB of resident memory the second run needed above its start.

    Meant for a child process started by `peak_rss_delta`, where nothing else runs.
    """
    workload()
    gc.collect()
    baseline = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # reset VmHWM (the peak resident set size) to the current VmRSS
    workload()
    return (_status_kib("VmHWM") - baseline) / 1024


def peak_rss_delta(script: str, spec: dict, python: str | None = None) -> float | None:
    """Run `script --memory-child JSON(spec)` in a fresh interpreter; the MiB it prints, or None on failure."""
    command = [python or sys.executable, script, "--memory-child", json.dumps(spec)]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if result.returncode != 0:
        print(f"memory child failed for {spec}: {result.stderr[-2000:]}", file=sys.stderr)
        return None
    return float(result.stdout.strip().splitlines()[-1])
