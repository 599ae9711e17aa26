"""Data preparation of `attnseq train` on corpora of 100 k, 1 M and 10 M parallel lines, next to the floor.

Command that produced the table in benchmarks/README.md ("Data preparation at scale"):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/data_scaling.py --sizes 1000000,10000000

(the default `--sizes` adds 100 k lines; 1 M and 10 M take about 40 minutes of both cores, most of it the
floor's 10 M tokenization).

* Corpora: line i of the source (German) and target (English) file is two Multi30k training pairs
  (`/work/shared/data/multi30k/train.{de,en}.gz`, or `--multi30k`) drawn at random with a fixed seed and
  joined by a space, so the vocabulary and the sentence lengths are Multi30k's (about 135 bytes a line, 1 M
  lines are 134 MB a side). They are written in chunks (never the whole corpus in memory) into
  `--work_dir/corpora/` and reused by later runs with the same `--seed`.
* attnseq: for every size, `python -m attnseq train` (the command is printed) runs twice, each in a fresh
  subprocess: the first with a new, empty `HF_DATASETS_CACHE` for the size, the second reusing it (and a new
  output folder). It trains one step of the Transformer on 8 pairs, evaluates nothing during training, and
  decodes the 100 test pairs with at most 16 new tokens, so that the run is its data preparation. The phase
  times come from the lines the command prints when a phase ends (`attnseq data: {phase}: {count} {unit} in
  {seconds} s ...`); "preprocessing" is the time from the start of the process to the line
  `...: N parameters; M training pairs` printed just before training (interpreter start, imports, reading,
  tokenizer training, tokenization, splits and the model); "whole run" is to its exit.
* Floor: the same two files through `datasets.load_dataset("text")` and a batched `map` (1,000 lines a
  batch) calling `encode_batch` of the tokenizer the first attnseq run trained (its `tokenizer.json`, loaded
  with `tokenizers.Tokenizer.from_file`), with the same number of processes (`num_proc`) and a new, empty
  cache; timed from the start of its process to its exit. The floor trains no tokenizer, so its ratio is taken
  against attnseq's first-run preprocessing minus its tokenizer training.
* Memory: the process tree of a run (its process and all its descendants, the `--preprocessing_num_workers` /
  `num_proc` workers included) is polled every 0.25 s (/proc/PID/smaps_rollup; psutil for the tree and CPU times).
  Peak RSS is the largest sum of their resident set sizes: pages a worker shares with its parent (copy-on-write after
  the fork, memory-mapped Arrow files) count once per process, so it overstates what the tree holds; peak PSS is the
  largest sum of their proportional set sizes (a page shared by k processes counts 1/k in each), what the tree holds.
  Both count the pages of the memory-mapped Arrow files a run reads, which grow with the corpus but are the kernel's
  page cache (dropped under memory pressure, re-read from disk); peak anon is the largest sum of the tree's anonymous
  proportional set sizes (`Pss_Anon` of /proc/PID/smaps_rollup: heaps, Python objects, tensors), the memory a run
  holds beyond the memory-mapped files. The memory targets are checked against peak anon, as the issue states them
  ("does not grow with the corpus beyond the memory-mapped files").
* CPU: user + system seconds of the tree, from the same polling up to the start of training ("its CPU")
  and from `wait4` for the whole run. On a shared machine the wall times grow with the other jobs' load
  (printed at the start and end), the CPU seconds much less.
* Targets (from the issue on corpora of real size, for this 2-core machine), checked and printed PASS/FAIL:
  1 M lines: first-run preprocessing <= 60 s, second run <= 10 s, peak anon <= 1 GB; 10 M lines: peak anon
  <= 2 GB, first-run preprocessing <= 10.5 x the 1 M one (run in the same invocation), and <= 1.3 x the floor.
  GB is 10^9 bytes.

Files: everything goes under `--work_dir` (default `/tmp/attnseq-data-scaling`, never inside the
repository). The corpora are kept for later runs; each size's caches and output folders go into a new folder
`--work_dir/run-<size>-XXXX` made by this run, removed once the size is measured unless `--keep all` is given.
`--keep none` also removes the corpora this run wrote (never
ones it found there). Nothing else is ever removed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MULTI30K = "/work/shared/data/multi30k"
SIZES = (100_000, 1_000_000, 10_000_000)
PHASES = ("reading", "tokenizer training", "tokenization")
CHUNK = 100_000  # corpus lines generated and written at a time
POLL_SECONDS = 0.25
GB = 1e9
PHASE_LINE = re.compile(
    r"^attnseq data: (?P<phase>[^:]+): (?P<count>[\d,]+) (?P<unit>\S+) in (?P<seconds>[\d.]+) s(?P<rest>.*)$"
)
TRAINING_START = re.compile(r": [\d,]+ parameters; [\d,]+ training pairs$")


def read_multi30k(folder: str) -> tuple[list[str], list[str]]:
    """The 29,000 German and English training sentences of Multi30k, line i of one translating line i of the
    other."""
    sides = []
    for language in ("de", "en"):
        with gzip.open(os.path.join(folder, f"train.{language}.gz"), "rt", encoding="utf-8") as handle:
            sides.append([line.strip() for line in handle])
    german, english = sides
    if len(german) != len(english) or not german:
        raise SystemExit(f"{folder}: train.de.gz and train.en.gz must have the same, non-zero number of lines")
    return german, english


def write_corpus(size: int, folder: str, multi30k: str, seed: int) -> tuple[str, str, bool]:
    """Source and target files of `size` lines under `folder`; `(source, target, written)`, where `written` says
    whether this call wrote them (False: they were already there, from an earlier run with the same seed).

    Each line is two Multi30k pairs drawn at random (numpy, `seed`) and joined by a space. The files are written
    `CHUNK` lines at a time under a temporary name and renamed when complete, so an interrupted run leaves no
    truncated corpus behind under the final name.
    """
    import numpy as np

    os.makedirs(folder, exist_ok=True)
    source, target = (os.path.join(folder, f"multi30k-mix-{size}-seed{seed}.{language}") for language in ("de", "en"))
    if os.path.exists(source) and os.path.exists(target):
        return source, target, False
    german, english = read_multi30k(multi30k)
    rng = np.random.default_rng(seed)
    partial_source, partial_target = source + ".partial", target + ".partial"
    with (
        open(partial_source, "w", encoding="utf-8") as source_handle,
        open(partial_target, "w", encoding="utf-8") as target_handle,
    ):
        for start in range(0, size, CHUNK):
            rows = rng.integers(0, len(german), size=(min(CHUNK, size - start), 2)).tolist()
            source_handle.write("".join(f"{german[i]} {german[j]}\n" for i, j in rows))
            target_handle.write("".join(f"{english[i]} {english[j]}\n" for i, j in rows))
    os.replace(partial_source, source)
    os.replace(partial_target, target)
    return source, target, True


def memory_rollup(pid: int) -> tuple[int, int, int]:
    """`(rss, pss, anon)` bytes of a process from /proc/PID/smaps_rollup: resident, proportional-set (shared pages
    divided among the processes sharing them) and anonymous proportional-set (heap, not pages of mapped files);
    zeros when the kernel does not say or the process ended. One read of the rollup costs the kernel one walk of
    the process's page tables: cheaper than psutil's `memory_full_info`, which parses every mapping of
    /proc/PID/smaps and, polled every 0.1 s, took 40 % of a core from the 2 being measured."""
    fields = {"Rss:": 0, "Pss:": 0, "Pss_Anon:": 0}
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
            for line in rollup:
                name, _, rest = line.partition(" ")
                if name in fields:
                    fields[name] = int(rest.split()[0]) * 1024
    except OSError:
        pass
    return fields["Rss:"], fields["Pss:"], fields["Pss_Anon:"]


def tree_sample(process) -> tuple[int, int, int, float]:
    """`(rss, pss, anon, cpu)` of `process` and all its descendants: resident, proportional-set and anonymous
    proportional-set bytes (what the tree holds beyond the pages of memory-mapped files, which the kernel can drop)
    summed over the live processes, and CPU seconds (user + system) of the tree so far, the ended descendants
    included."""
    import psutil

    rss = pss = anon = 0
    cpu = 0.0
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0, 0, 0, 0.0
    for member in members:
        try:
            times = member.cpu_times()
        except psutil.Error:  # a worker that just ended
            continue
        member_rss, member_pss, member_anon = memory_rollup(member.pid)
        rss, pss, anon = rss + member_rss, pss + member_pss, anon + member_anon
        # a descendant that ended is counted in the `children_*` times of the process that waited for it
        cpu += times.user + times.system + times.children_user + times.children_system
    return rss, pss, anon, cpu


def measured_run(command: list[str], env: dict, log_path: str, mark: re.Pattern | None = None) -> dict:
    """Run `command` in a subprocess, polling its process tree every `POLL_SECONDS`.

    Returns its wall time, CPU seconds (user + system, its descendants' included), the peak tree RSS and PSS,
    every stdout line with the seconds from the start at which it arrived, and `mark_cpu`: the tree's CPU
    seconds when the first stdout line matching `mark` arrived (None without one). stderr goes to `log_path`;
    stdout is copied there too.
    """
    import psutil

    lines: list[tuple[float, str]] = []
    marked = threading.Event()
    with open(log_path, "w", encoding="utf-8") as log:
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True, env=env, cwd=REPO)

        def read_stdout():
            for line in child.stdout:
                lines.append((time.perf_counter() - start, line.rstrip("\n")))
                if mark is not None and mark.search(line.strip()):
                    marked.set()

        reader = threading.Thread(target=read_stdout, daemon=True)
        reader.start()
        process = psutil.Process(child.pid)
        peak_rss = peak_pss = peak_anon = 0
        mark_cpu = None
        while True:
            # wait4 (not Popen.poll) for the CPU seconds of the child and of all the descendants it reaped
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            rss, pss, anon, cpu = tree_sample(process)
            peak_rss, peak_pss, peak_anon = max(peak_rss, rss), max(peak_pss, pss), max(peak_anon, anon)
            if mark_cpu is None and marked.is_set():
                mark_cpu = cpu
            time.sleep(POLL_SECONDS)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        reader.join()
        log.write("\n--- stdout ---\n" + "\n".join(f"[{at:8.1f} s] {line}" for at, line in lines) + "\n")
    return {
        "returncode": child.returncode,
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "mark_cpu": mark_cpu,
        "peak_rss": peak_rss,
        "peak_pss": peak_pss,
        "peak_anon": peak_anon,
        "lines": lines,
    }


def parse_attnseq(run: dict) -> dict:
    """Phase seconds (and whether each came from the cache) and the preprocessing time of an attnseq run."""
    phases, cached = {}, {}
    preprocessing = None
    for at, line in run["lines"]:
        match = PHASE_LINE.match(line.strip())
        if match:
            phases[match["phase"]] = float(match["seconds"])
            cached[match["phase"]] = "(cached)" in match["rest"]
        elif preprocessing is None and TRAINING_START.search(line.strip()):
            preprocessing = at
    return {"phases": phases, "cached": cached, "preprocessing": preprocessing}


def attnseq_command(
    source: str, target: str, output_dir: str, workers: int, tokenizer_train_lines: int | None = None
) -> list[str]:
    """The `attnseq train` command: one training step, no evaluation during training, a short test decoding."""
    sample = [] if tokenizer_train_lines is None else ["--tokenizer_train_lines", str(tokenizer_train_lines)]
    return [
        sys.executable, "-m", "attnseq", "train", "--model", "transformer",
        "--source_file", source, "--target_file", target,
        "--tokenizer", "bpe", "--subword_vocab_size", "2000",
        "--preprocessing_num_workers", str(workers),
        "--max_steps", "1", "--per_device_train_batch_size", "8", "--warmup_steps", "0",
        "--validation_size", "100", "--test_size", "100",
        "--eval_strategy", "no", "--load_best_model_at_end", "false", "--save_strategy", "no",
        "--generation_max_length", "16", "--show_examples", "0",
        "--disable_tqdm", "true", "--output_dir", output_dir, *sample,
    ]  # fmt: skip


def child_env(cache: str) -> dict:
    """This environment with the repository first on the path, offline, unbuffered, and `cache` as the datasets
    cache."""
    path = os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")]))
    return {
        **os.environ,
        "PYTHONPATH": path,
        "HF_DATASETS_CACHE": cache,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
        "PYTHONWARNINGS": "ignore",
    }


def floor_child(spec: dict) -> None:
    """The floor, run in its own process: both files through `load_dataset("text")` and a batched `map` with
    `encode_batch` of the given tokenizer on `num_proc` processes; prints the seconds of each part as JSON."""
    start = time.perf_counter()
    import datasets
    from tokenizers import Tokenizer

    datasets.disable_progress_bars()
    tokenizer = Tokenizer.from_file(spec["tokenizer"])
    imported = time.perf_counter()

    def encode(batch):
        return {"input_ids": [encoding.ids for encoding in tokenizer.encode_batch(batch["text"])]}

    sides = {}
    for side in ("source", "target"):
        sides[side] = datasets.load_dataset("text", data_files={"train": spec[side]}, split="train")
    loaded = time.perf_counter()
    for side, dataset in sides.items():
        sides[side] = dataset.map(
            encode, batched=True, batch_size=1000, num_proc=spec["workers"], remove_columns=["text"]
        )
    mapped = time.perf_counter()
    rows = len(sides["source"])
    print(json.dumps({"import": imported - start, "load": loaded - imported, "map": mapped - loaded, "rows": rows}))


def run_floor(source: str, target: str, tokenizer: str, workers: int, cache: str, log_path: str) -> dict:
    spec = {"source": source, "target": target, "tokenizer": tokenizer, "workers": workers}
    command = [sys.executable, os.path.abspath(__file__), "--floor-child", json.dumps(spec)]
    run = measured_run(command, child_env(cache), log_path)
    if run["returncode"] != 0:
        raise SystemExit(f"the floor failed (exit {run['returncode']}); see {log_path}")
    run["parts"] = json.loads(run["lines"][-1][1])
    return run


def measure_size(size: int, args, corpora: str) -> dict:
    """Both attnseq runs and the floor on the corpus of `size` lines, in a new folder under the work folder."""
    print(f"\n== {size:,} lines ==", flush=True)
    started = time.perf_counter()
    source, target, written = write_corpus(size, corpora, args.multi30k, args.seed)
    how = "written" if written else "reused"
    print(f"corpus {how} in {time.perf_counter() - started:.1f} s: {source} ({os.path.getsize(source) / 1e6:,.0f} MB)")
    folder = tempfile.mkdtemp(prefix=f"run-{size}-", dir=args.work_dir)
    result = {"size": size, "folder": folder, "corpus": [source, target], "corpus_written": written, "runs": []}
    cache = os.path.join(folder, "hf-cache-attnseq")
    for attempt in (1, 2):
        output_dir = os.path.join(folder, f"attnseq-run-{attempt}")
        command = attnseq_command(source, target, output_dir, args.workers, args.tokenizer_train_lines)
        if attempt == 1:
            print("$ HF_DATASETS_CACHE=" + cache + " " + " ".join(command[1:]), flush=True)
        log_path = os.path.join(folder, f"attnseq-run-{attempt}.log")
        run = measured_run(command, child_env(cache), log_path, mark=TRAINING_START)
        if run["returncode"] != 0:
            raise SystemExit(f"attnseq train failed (exit {run['returncode']}); see {folder}/attnseq-run-{attempt}.log")
        run.update(parse_attnseq(run))
        if run["preprocessing"] is None or run["mark_cpu"] is None:
            raise SystemExit(f"attnseq train printed no '... training pairs' line; see {log_path}")
        result["runs"].append(run)
        phases = ", ".join(
            f"{name} {seconds:.1f} s" + (" (cached)" if run["cached"][name] else "")
            for name, seconds in run["phases"].items()
        )
        prep = run["preprocessing"]
        print(
            f"attnseq run {attempt}: preprocessing {prep:.1f} s ({run['mark_cpu']:.1f} s CPU), whole run "
            f"{run['wall']:.1f} s ({run['cpu']:.1f} s CPU), peak RSS {run['peak_rss'] / GB:.2f} GB "
            f"(PSS {run['peak_pss'] / GB:.2f}); {phases or 'no phase lines printed'}",
            flush=True,
        )
    tokenizer = os.path.join(folder, "attnseq-run-1", "tokenizer.json")
    floor = run_floor(
        source,
        target,
        tokenizer,
        args.workers,
        os.path.join(folder, "hf-cache-floor"),
        os.path.join(folder, "floor.log"),
    )
    parts = floor["parts"]
    print(
        f"floor: {floor['wall']:.1f} s ({floor['cpu']:.1f} s CPU; imports {parts['import']:.1f}, load_dataset "
        f"{parts['load']:.1f}, map {parts['map']:.1f}), peak RSS {floor['peak_rss'] / GB:.2f} GB "
        f"(PSS {floor['peak_pss'] / GB:.2f})",
        flush=True,
    )
    result["floor"] = floor
    if args.keep != "all":
        shutil.rmtree(folder)
        if args.keep == "none" and written:
            os.remove(source)
            os.remove(target)
    return result


def table(results: list[dict]) -> str:
    """The markdown table of all sizes: the two attnseq runs and the floor, one row each."""
    from common import markdown_table

    headers = [
        "lines", "run", *(f"{phase} (s)" for phase in PHASES), "preprocessing (s)", "its CPU (s)", "whole run (s)",
        "peak RSS (GB)", "peak PSS (GB)", "peak anon (GB)", "lines/s", "× floor",
    ]  # fmt: skip
    rows = []
    for result in results:
        size, floor = result["size"], result["floor"]
        for attempt, run in enumerate(result["runs"], start=1):
            phases = [
                "—"
                if phase not in run["phases"]
                else f"{run['phases'][phase]:.1f}" + (" c" if run["cached"][phase] else "")
                for phase in PHASES
            ]
            prep = run["preprocessing"]
            ratio = f"{comparable(result) / floor['wall']:.2f}" if attempt == 1 else ""
            rows.append([
                f"{size:,}", f"attnseq {'1st' if attempt == 1 else '2nd'}", *phases, prep, run["mark_cpu"], run["wall"],
                run["peak_rss"] / GB, run["peak_pss"] / GB, run["peak_anon"] / GB, f"{size / prep:,.0f}", ratio,
            ])  # fmt: skip
        parts = floor["parts"]
        rows.append([
            f"{size:,}", "floor", f"{parts['load']:.1f}", "", f"{parts['map']:.1f}", floor["wall"], floor["cpu"],
            floor["wall"], floor["peak_rss"] / GB, floor["peak_pss"] / GB, floor["peak_anon"] / GB,
            f"{size / floor['wall']:,.0f}", "1.00",
        ])  # fmt: skip
    return markdown_table(headers, rows)


def comparable(result: dict) -> float:
    """attnseq's first-run preprocessing without its tokenizer training, the work the floor also does."""
    run = result["runs"][0]
    return run["preprocessing"] - run["phases"].get("tokenizer training", 0.0)


def targets(results: list[dict]) -> list[tuple[str, bool | None, str]]:
    """`(target, passed, measured)` for every target whose size was run; `passed` None: not measurable here."""
    by_size = {result["size"]: result for result in results}
    checks = []
    if 1_000_000 in by_size:
        first, second = by_size[1_000_000]["runs"]
        peak = max(first["peak_anon"], second["peak_anon"])
        checks += [
            ("1 M: first-run preprocessing <= 60 s", first["preprocessing"] <= 60, f"{first['preprocessing']:.1f} s"),
            (
                "1 M: second-run preprocessing <= 10 s",
                second["preprocessing"] <= 10,
                f"{second['preprocessing']:.1f} s",
            ),
            ("1 M: peak memory beyond the mapped files (anon PSS) <= 1 GB", peak <= 1 * GB, f"{peak / GB:.2f} GB"),
        ]
    if 10_000_000 in by_size:
        result = by_size[10_000_000]
        first, second = result["runs"]
        peak = max(first["peak_anon"], second["peak_anon"])
        checks.append(
            ("10 M: peak memory beyond the mapped files (anon PSS) <= 2 GB", peak <= 2 * GB, f"{peak / GB:.2f} GB")
        )
        if 1_000_000 in by_size:
            ratio = first["preprocessing"] / by_size[1_000_000]["runs"][0]["preprocessing"]
            checks.append(("10 M: first-run preprocessing <= 10.5 x 1 M", ratio <= 10.5, f"{ratio:.2f} x"))
        else:
            checks.append(("10 M: first-run preprocessing <= 10.5 x 1 M", None, "1 M not run"))
        ratio = comparable(result) / result["floor"]["wall"]
        checks.append(("10 M: preprocessing (less tokenizer training) <= 1.3 x floor", ratio <= 1.3, f"{ratio:.2f} x"))
    return checks


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"--sizes takes comma-separated line counts, e.g. 100000,1000000; not {text!r}"
        ) from error
    if not sizes or min(sizes) < 1000:
        raise argparse.ArgumentTypeError(
            f"--sizes takes line counts of at least 1000 (test and validation take 200); not {text!r}"
        )
    return sizes


def main() -> None:
    # `common` imports torch: only the parent needs it, the floor's process must not pay for it
    sys.path.insert(0, HERE)
    from common import machine_summary

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=parse_sizes, default=list(SIZES), help="comma-separated line counts")
    parser.add_argument("--work_dir", default=os.path.join(tempfile.gettempdir(), "attnseq-data-scaling"))
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="--preprocessing_num_workers and num_proc")
    parser.add_argument("--multi30k", default=MULTI30K, help="folder with Multi30k's train.de.gz and train.en.gz")
    parser.add_argument("--seed", type=int, default=0, help="seed of the corpus generation")
    parser.add_argument(
        "--keep", choices=["all", "corpora", "none"], default="corpora",
        help="what stays after a size is measured: everything, the corpora only (default), or nothing this run wrote",
    )  # fmt: skip
    parser.add_argument(
        "--tokenizer_train_lines", type=int, help="passed to attnseq train (default: the tokenizer trains on all pairs)"
    )
    parser.add_argument("--results", help="also write the measurements as JSON to this file")
    parser.add_argument("--floor-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_child:
        floor_child(json.loads(args.floor_child))
        return
    work_dir = os.path.abspath(args.work_dir)
    if work_dir == REPO or work_dir.startswith(REPO + os.sep):
        raise SystemExit(f"--work_dir {args.work_dir} is inside the repository; give a folder outside it")
    if args.workers < 1:
        raise SystemExit(f"--workers must be 1 or more, not {args.workers}")
    os.makedirs(work_dir, exist_ok=True)
    args.work_dir = work_dir
    print(machine_summary())
    print(f"load average at start: {' '.join(f'{load:.2f}' for load in os.getloadavg())}; {args.workers} workers")
    started = time.perf_counter()
    results = [measure_size(size, args, os.path.join(work_dir, "corpora")) for size in args.sizes]
    print(f"\nload average at end: {' '.join(f'{load:.2f}' for load in os.getloadavg())}; "
          f"{time.perf_counter() - started:.0f} s in all\n")  # fmt: skip
    print(table(results))
    print(
        "\nPhase times from the lines attnseq prints (c: from the cache); preprocessing: process start to the "
        "start of training; its CPU: user + system seconds of the process tree until then (the floor: to its end);"
        " × floor: first-run preprocessing less tokenizer training, over the floor's time."
    )
    for name, passed, measured in targets(results):
        verdict = "n/a" if passed is None else ("PASS" if passed else "FAIL")
        print(f"{verdict:4}  {name}: {measured}")
    if args.results:
        for result in results:
            for run in [*result["runs"], result["floor"]]:
                run.pop("lines", None)
        with open(args.results, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
