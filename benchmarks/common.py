"""Timing, memory and table helpers shared by the benchmark scripts.

Every benchmark runs its contenders in one process and *interleaves* them (A B A B ...): on a shared
machine the load changes from second to second, and interleaving spreads that noise over all contenders
alike. Each contender is warmed up first; the tables report medians over the repeats and the ratios of
those medians.

Joey NMT 2.3 (`joeynmt` on PyPI), a contender of `lstm_speed.py` and `decoding_speed.py`, pins `protobuf<3.21`
and pulls a full torch build, which clash with our environment. `joey_python` therefore makes its own virtual
environment `benchmarks/.venv-joeynmt` (git-ignored) with `pip install --no-deps joeynmt==2.3.0` and the few
packages its model code imports (for its training, `joey_python(training=True)`, also TensorBoard where this
interpreter lacks it), and lets it import torch, transformers, attnseq and everything else from the
interpreter that made it (a `.pth` line); a script re-runs itself in that interpreter, so that Joey NMT and
our models run in one process on the same torch, interleaved.

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
import site
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from types import SimpleNamespace

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
JOEY_VENV = os.path.join(HERE, ".venv-joeynmt")
JOEY_PACKAGES = ["joeynmt==2.3.0"]
JOEY_IMPORTS = ["importlib_metadata", "subword-nmt", "sentencepiece", "sacremoses", "pyyaml"]
# What Joey NMT's training (`joeynmt.training`, used by `multi30k/joeynmt.py`) imports beyond its model code:
# module -> package, installed into the environment only where the interpreter that made it lacks the module
# (TensorBoard comes with attnseq's `dev` extra).
JOEY_TRAINING_IMPORTS = {"tensorboard": "tensorboard"}


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


def read_column(path: str, limit: int | None = None, column: int = 0) -> list[str]:
    """Column `column` (0: the sources) of a TSV file, its first `limit` rows if given."""
    with open(path, encoding="utf-8") as handle:
        rows = [line.rstrip("\n").split("\t")[column] for line in handle]
    return rows[:limit] if limit else rows


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


def joey_python(training: bool = False) -> tuple[str | None, str]:
    """The Joey NMT environment's interpreter, made on first use; `(None, reason)` if it cannot be made.

    With `training=True` the environment can also run Joey NMT's training (`JOEY_TRAINING_IMPORTS`).
    """
    python = os.path.join(JOEY_VENV, "bin", "python")
    if not os.path.exists(python):
        try:
            subprocess.run([sys.executable, "-m", "venv", JOEY_VENV], check=True, capture_output=True, text=True)
            pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
            subprocess.run(pip + ["--no-deps", *JOEY_PACKAGES], check=True, capture_output=True, text=True)
            subprocess.run(pip + JOEY_IMPORTS, check=True, capture_output=True, text=True)
            joey_site = subprocess.run(
                [python, "-c", "import site; print(site.getsitepackages()[0])"],
                check=True, capture_output=True, text=True,
            ).stdout.strip()  # fmt: skip
            # torch, transformers and attnseq come from the interpreter running this script
            with open(os.path.join(joey_site, "zz_attnseq_environment.pth"), "w") as pth:
                pth.write("\n".join([REPO, *site.getsitepackages()]) + "\n")
        except subprocess.CalledProcessError as error:
            return None, f"could not be installed ({_last_line(error.stderr) or error})"
    if training:
        for module, package in JOEY_TRAINING_IMPORTS.items():
            if subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode != 0:
                pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", package]
                try:
                    subprocess.run(pip, check=True, capture_output=True, text=True)
                except subprocess.CalledProcessError as error:
                    return None, f"could not install {package} ({_last_line(error.stderr) or error})"
    modules = "joeynmt.training, attnseq" if training else "joeynmt.model, attnseq"
    check = subprocess.run([python, "-c", f"import {modules}"], capture_output=True, text=True)
    if check.returncode != 0:
        return None, f"could not be installed (import failed: {_last_line(check.stderr)})"
    return python, "joeynmt 2.3.0"


def _last_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[-1] if lines else ""


def joey_vocabulary(size: int):
    """A Joey NMT `Vocabulary` of `size` entries: its four specials first (unk 0, pad 1, bos 2, eos 3), then dummies."""
    from joeynmt.vocabulary import Vocabulary

    specials = SimpleNamespace(
        unk_token="<unk>", pad_token="<pad>", bos_token="<s>", eos_token="</s>", sep_token=None, lang_tags=[],
        unk_id=0, pad_id=1, bos_id=2, eos_id=3,
    )  # fmt: skip
    return Vocabulary([f"w{i}" for i in range(size - 4)], specials)
