"""Validation BLEU against training minutes of finished (or running) `attnseq train` runs, as a Markdown table.

Reads each run's validation log, `trainer_state.json` (the run folder's, else its newest `checkpoint-*` folder's),
where every evaluation records its step, `eval_bleu` and the training minutes it was made at. A run resumed from a
checkpoint by an attnseq before the resumed clock counted on logs its minutes from 0 again; they are counted on from
the last minute its log held before (the time between the two processes is left out). For each mark of
`--minutes`, a row cell is the evaluation nearest that mark (its minute in brackets; — where none is within the run's
usual time between evaluations); a last line per run gives its best and its last evaluation. Nothing is written.

Command that made the curves of benchmarks/README.md's Transformer-tiny runs:

    .venv/bin/python benchmarks/multi30k/curve.py RUN_DIR [RUN_DIR ...] \\
        --labels "German → English seed 1,German → English seed 2,English → German seed 1"
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

CHECKPOINT = re.compile(r"checkpoint-(\d+)$")
DEFAULT_MINUTES = "10,15,20,30,40,50,60,75,90,105,115"


def evaluations(run_dir: Path, metric: str = "eval_bleu") -> list[dict]:
    """The run's evaluations that carry `metric` and `minutes`, in step order: dicts with step, minutes, value."""
    state = run_dir / "trainer_state.json"
    if not state.is_file():
        checkpoints = sorted(
            (int(match.group(1)), path)
            for path in run_dir.glob("checkpoint-*")
            if (match := CHECKPOINT.search(path.name)) and (path / "trainer_state.json").is_file()
        )
        if not checkpoints:
            raise FileNotFoundError(f"{run_dir} has no trainer_state.json, in itself or in a checkpoint-* folder")
        state = checkpoints[-1][1] / "trainer_state.json"
    history = json.loads(state.read_text(encoding="utf-8"))["log_history"]
    rows, offset, last_logged = [], 0.0, 0.0
    for entry in history:
        if "minutes" not in entry:
            continue
        minutes = float(entry["minutes"])
        if minutes < last_logged:  # a resumed run's clock starts again at 0: count on from where the log stopped
            offset += last_logged
        last_logged = minutes
        if metric in entry:
            rows.append({"step": entry["step"], "minutes": offset + minutes, "value": float(entry[metric])})
    if not rows:
        raise ValueError(f"{state} records no evaluation with {metric!r} and 'minutes'")
    return sorted(rows, key=lambda row: row["step"])


def nearest(rows: list[dict], minute: float) -> dict | None:
    """The evaluation made nearest `minute` (the earlier one on a tie), or None where even that one is further from
    it than the run's usual time between evaluations (before the first or after the last)."""
    row = min(rows, key=lambda row: (abs(row["minutes"] - minute), row["minutes"]))
    gaps = sorted(later["minutes"] - earlier["minutes"] for earlier, later in zip(rows, rows[1:]))
    usual_gap = gaps[len(gaps) // 2] if gaps else rows[0]["minutes"]  # one evaluation: the time it took to reach
    return row if abs(row["minutes"] - minute) <= usual_gap else None


def cell(row: dict | None) -> str:
    return "—" if row is None else f"{row['value']:.1f} ({row['minutes']:.1f})"


def curve_table(runs: list[tuple[str, list[dict]]], marks: list[float]) -> str:
    """Markdown: one row per run, one column per mark, each cell `value (minute)` (— where the run has no evaluation
    near the mark); then each run's best and last evaluation."""
    header = "| minutes | " + " | ".join(f"{mark:g}" for mark in marks) + " |"
    lines = [header, "| --- |" + " --- |" * len(marks)]
    for label, rows in runs:
        lines.append(f"| {label} | " + " | ".join(cell(nearest(rows, mark)) for mark in marks) + " |")
    lines.append("")
    for label, rows in runs:
        best = max(rows, key=lambda row: row["value"])
        last = rows[-1]
        lines.append(
            f"{label}: best {best['value']:.2f} at step {best['step']} ({best['minutes']:.1f} min); "
            f"last evaluation step {last['step']} ({last['minutes']:.1f} min), {last['value']:.2f}"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dirs", type=Path, nargs="+", help="output folders of `attnseq train` runs")
    parser.add_argument("--labels", default=None, help="comma-separated row labels (default: the folder names)")
    parser.add_argument("--minutes", default=DEFAULT_MINUTES, help="comma-separated marks, in training minutes")
    parser.add_argument("--metric", default="eval_bleu", help="the logged validation metric")
    args = parser.parse_args(argv)
    labels = args.labels.split(",") if args.labels else [path.name for path in args.run_dirs]
    if len(labels) != len(args.run_dirs):
        parser.error(f"{len(labels)} label(s) for {len(args.run_dirs)} run folder(s)")
    try:
        marks = [float(mark) for mark in args.minutes.split(",")]
    except ValueError:
        parser.error(f"--minutes takes comma-separated numbers, not {args.minutes!r}")
    try:
        runs = [(label, evaluations(path, args.metric)) for label, path in zip(labels, args.run_dirs)]
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    print(curve_table(runs, marks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
