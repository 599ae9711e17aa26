"""Choose a finished Multi30k run's model and decoding on the validation set, then score the test set once.

The candidates are the run's saved model (with `--average_best N` the mean of its N best checkpoints) and, from the
`checkpoint-*` folders the run kept, its best checkpoint alone and the mean of its k best for each k of
`--average_counts` that the kept folders allow (ranked by the run's own validation metric, `eval_bleu` in
`trainer_state.json`; `attnseq average` writes each mean under `--work_dir`). Every candidate is decoded on the
validation files with every pair of `--num_beams` and `--length_penalties` (`attnseq evaluate`, one torch thread);
the highest validation BLEU picks the candidate and the decoding, and only that one is decoded on the test files.
The test set is never used to choose. A table goes to stdout and the whole record to `--work_dir/choice.json`.

Command run on the four Transformer-tiny runs of benchmarks/README.md (two seeds each direction; for English ->
German `--source_lang en --target_lang de`), whose figures are in that section:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/multi30k/choose_decoding.py RUN_DIR --source_lang de \\
        --target_lang en --average_counts 3 --num_beams 5 --length_penalties 0.8,1.0,1.2

(On the two regularised d256 runs, with `--length_penalties 1.0,1.3`, it was stopped after three of its twelve
decodes.) On the runs of the recipe files `transformer-tiny.yaml` and `transformer-tiny-en-de.yaml`, the grid
reaches past the penalty the earlier runs picked at its edge (1.2): `--length_penalties 0.8,1.0,1.2,1.4` German ->
English, `--length_penalties 1.0,1.2,1.4,1.6` English -> German; on the runs of `gru-attentional.yaml` the German ->
English grid.

Files: the means and the record go under `--work_dir` (default `RUN_DIR/decoding-choice`, a new folder or one this
script wrote before); nothing else is written or removed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
MULTI30K = REPO.parent / "shared" / "data" / "multi30k"
CHECKPOINT = re.compile(r"checkpoint-(\d+)$")
MARKER = "choice.json"


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="the output folder of a finished `attnseq train` run")
    parser.add_argument("--source_lang", default="de")
    parser.add_argument("--target_lang", default="en")
    parser.add_argument("--data_dir", type=Path, default=MULTI30K, help="folder of val.*.gz and test_2016_flickr.*.gz")
    parser.add_argument("--test_name", default="test_2016_flickr", help="test files: DATA_DIR/TEST_NAME.LANG.gz")
    parser.add_argument("--average_counts", default="3", help="comma-separated k: means of the k best checkpoints")
    parser.add_argument("--num_beams", default="5", help="comma-separated beam sizes")
    parser.add_argument("--length_penalties", default="0.8,1.0,1.2", help="comma-separated beam length penalties")
    parser.add_argument("--work_dir", type=Path, default=None, help="default: RUN_DIR/decoding-choice")
    args = parser.parse_args(argv)
    if not (args.run_dir / "trainer_state.json").is_file():
        parser.error(f"{args.run_dir} has no trainer_state.json: not the folder of a finished `attnseq train` run")
    args.work_dir = args.work_dir or args.run_dir / "decoding-choice"
    if args.work_dir.exists() and any(args.work_dir.iterdir()) and not (args.work_dir / MARKER).is_file():
        parser.error(f"--work_dir {args.work_dir} holds files this script did not write; name a new folder")
    return args


def ranked_checkpoints(run_dir: Path) -> list[tuple[float, Path]]:
    """The run's kept `checkpoint-N` folders with the validation BLEU of step N, best first."""
    history = json.loads((run_dir / "trainer_state.json").read_text())["log_history"]
    bleu_at = {entry["step"]: entry["eval_bleu"] for entry in history if "eval_bleu" in entry}
    kept = []
    for folder in run_dir.iterdir():
        match = CHECKPOINT.match(folder.name)
        if match and int(match.group(1)) in bleu_at and (folder / "config.json").is_file():
            kept.append((bleu_at[int(match.group(1))], folder))
    return sorted(kept, key=lambda item: (-item[0], item[1].name))


def attnseq(*argv: str) -> str:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "attnseq", *argv], capture_output=True, text=True, env=environment, cwd=REPO
    )
    if result.returncode != 0:
        raise SystemExit(f"attnseq {' '.join(argv)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def candidates(args, ranked) -> dict[str, Path]:
    chosen = {"saved model": args.run_dir}
    if ranked:
        chosen[f"best checkpoint ({ranked[0][1].name})"] = ranked[0][1]
    for count in (int(value) for value in args.average_counts.split(",") if value.strip()):
        if 2 <= count <= len(ranked):
            folder = args.work_dir / f"average-best-{count}"
            if not (folder / "config.json").is_file():
                attnseq("average", *(str(path) for _, path in ranked[:count]), "--output_dir", str(folder))
            chosen[f"mean of the {count} best"] = folder
    return chosen


def score(model: Path, split: str, args, beams: int, penalty: float) -> dict:
    files = {"validation": "val", "test": args.test_name}[split]
    sides = [f"{args.data_dir}/{files}.{language}.gz" for language in (args.source_lang, args.target_lang)]
    started = time.perf_counter()
    output = attnseq(
        "evaluate", str(model), "--source_file", sides[0], "--target_file", sides[1], "--lowercase_metrics",
        "--num_beams", str(beams), "--length_penalty", str(penalty),
    )  # fmt: skip
    scores = json.loads(output.strip().splitlines()[-1])
    scores["seconds"] = round(time.perf_counter() - started, 1)
    return scores


def main(argv=None) -> int:
    args = parse_arguments(argv)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    (args.work_dir / MARKER).write_text("{}")  # marks the folder as this script's before anything else goes in
    ranked = ranked_checkpoints(args.run_dir)
    models = candidates(args, ranked)
    beams = [int(value) for value in args.num_beams.split(",")]
    penalties = [float(value) for value in args.length_penalties.split(",")]
    print("| candidate | beams | length penalty | validation BLEU | chrF | length ratio | seconds |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    rows = []
    for name, model in models.items():
        for beam in beams:
            for penalty in penalties if beam > 1 else [1.0]:
                scores = score(model, "validation", args, beam, penalty)
                rows.append(
                    {"candidate": name, "model": str(model), "beams": beam, "length_penalty": penalty, **scores}
                )
                print(
                    f"| {name} | {beam} | {penalty} | {scores['bleu']:.2f} | {scores['chrf']:.2f} | "
                    f"{scores['bleu_length_ratio']:.3f} | {scores['seconds']} |",
                    flush=True,
                )
    best = max(rows, key=lambda row: row["bleu"])
    test = score(Path(best["model"]), "test", args, best["beams"], best["length_penalty"])
    print(
        f"\nchosen on validation: {best['candidate']}, beams {best['beams']}, length penalty {best['length_penalty']} "
        f"(validation BLEU {best['bleu']:.2f})\ntest ({args.test_name}): BLEU {test['bleu']:.2f}, chrF "
        f"{test['chrf']:.2f}, length ratio {test['bleu_length_ratio']:.3f}; {test['bleu_signature']}"
    )
    record = {"run_dir": str(args.run_dir), "validation": rows, "chosen": best, "test": test}
    (args.work_dir / MARKER).write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
