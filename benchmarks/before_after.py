"""Speed of the LSTM family before and after a change: the same workloads, run by two checkouts in turn.

    git worktree add --detach ../lstm-base <commit before the change>
    .venv/bin/python benchmarks/before_after.py --before ../lstm-base --after . --rounds 7

The driver starts one worker process per checkout, each with that checkout first on `PYTHONPATH` (so it imports
that checkout's `attnseq`) and the workload code of this folder. Both workers build the same models from the
same seeds. Round after round, the driver asks the workers in turn (before then after, then after then before,
...) to time one run of each workload, so that both see the same load of a shared machine; the table gives the
medians and the ratio after / before of the medians (< 1: the change is faster).

Workloads (one torch thread):

- from `lstm_speed.py`: a training step (forward, loss, backward, AdamW step) of its model with the fused path
  (`input_feeding=False`) and with the step loop (`input_feeding=True`); `generate` of 64 new tokens with the
  recurrent cache at batch 1 (input feeding off and on) and at batch 32;
- from `decoding_speed.py`: its `generate()` calls (`decoder`) for an LSTM-family model with the sizes of the
  Multi30k recipe (`multi30k/lstm.yaml`: GRU, bidirectional encoder, additive attention, hidden size 512,
  embeddings 256) on a character vocabulary, random weights, exactly `--new_tokens` new tokens per sentence:
  greedy and beam 5 at batch 1 (`--sentences` sentences) and batch 32 (`--batch_sentences`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def sentences(count: int, seed: int = 0) -> list[str]:
    """`count` made-up sentences of 20 to 60 characters (the same in every process)."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz     "
    return ["".join(rng.choice(letters) for _ in range(rng.randint(20, 60))).strip() or "a" for _ in range(count)]


def decoding_workloads(args) -> dict:
    """`decoding_speed.py`'s `generate()` calls for a Multi30k-sized GRU model with random weights."""
    import torch
    from decoding_speed import BEAMS, decoder

    from attnseq import CharTokenizer, Seq2SeqLSTMConfig, Seq2SeqLSTMForConditionalGeneration

    texts = sentences(max(args.sentences, args.batch_sentences))
    tokenizer = CharTokenizer.from_texts(texts)
    config = Seq2SeqLSTMConfig(
        vocab_size=len(tokenizer),
        cell="gru",
        attention="additive",
        bidirectional_encoder=True,
        hidden_size=512,
        embedding_size=256,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    model = Seq2SeqLSTMForConditionalGeneration(config).eval()
    model.generation_config.min_new_tokens = args.new_tokens  # the same work whatever random weights emit
    workloads = {}
    for batch_size, count in ((1, args.sentences), (32, args.batch_sentences)):
        for beams in (1, BEAMS):
            name = f"decoding_speed: {'greedy' if beams == 1 else f'beam {beams}'}, batch {batch_size}"
            workloads[name] = decoder(model, tokenizer, texts[:count], batch_size, beams, args.new_tokens)
    return workloads


def workloads(args) -> dict:
    """Every workload by name (those whose name contains `--only`): a callable that runs it once."""
    from lstm_speed import ours_generation, ours_training_step

    builders = {
        "lstm_speed: train step, fused": lambda: ours_training_step(False),
        "lstm_speed: train step, input feeding": lambda: ours_training_step(True),
        "lstm_speed: generate 64, batch 1": lambda: ours_generation(1, True),
        "lstm_speed: generate 64, batch 1, input feeding": lambda: ours_generation(1, True, input_feeding=True),
        "lstm_speed: generate 64, batch 32": lambda: ours_generation(32, True),
    }
    runs = {name: build() for name, build in builders.items() if args.only in name}
    return {**runs, **{name: run for name, run in decoding_workloads(args).items() if args.only in name}}


def worker(args) -> None:
    """Build every workload, warm each up, then time one run per name read from stdin (one JSON line out)."""
    import torch

    torch.set_num_threads(1)
    runs = workloads(args)
    for run in runs.values():
        run()
    print(json.dumps({"ready": list(runs)}), flush=True)
    for line in sys.stdin:
        run = runs[line.strip()]
        start = time.perf_counter()
        run()
        print(json.dumps({"seconds": time.perf_counter() - start}), flush=True)


def start_worker(checkout: str, args) -> subprocess.Popen:
    environment = {**os.environ, "PYTHONPATH": os.path.abspath(checkout), "OMP_NUM_THREADS": "1"}
    options = ["--sentences", str(args.sentences), "--batch_sentences", str(args.batch_sentences)]
    options += ["--new_tokens", str(args.new_tokens), "--only", args.only]
    command = [sys.executable, os.path.abspath(__file__), "--worker", *options]
    return subprocess.Popen(command, env=environment, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def ask(process: subprocess.Popen, name: str | None = None) -> dict:
    if name is not None:
        process.stdin.write(name + "\n")
        process.stdin.flush()
    line = process.stdout.readline()
    if not line:
        raise RuntimeError(f"a worker exited (status {process.wait()}); its error is above")
    return json.loads(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", help="checkout of the code before the change")
    parser.add_argument("--after", default=os.path.dirname(HERE), help="checkout of the code after it (default: this)")
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds per workload and side (after a warm-up)")
    parser.add_argument("--sentences", type=int, default=8, help="sentences decoded one at a time")
    parser.add_argument("--batch_sentences", type=int, default=64, help="sentences decoded in batches of 32")
    parser.add_argument("--new_tokens", type=int, default=40, help="new tokens per sentence (decoding_speed)")
    parser.add_argument("--only", default="", help="run only the workloads whose name contains this text")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if args.before is None:
        parser.error("--before is required: a checkout of the code before the change")
    from common import machine_summary, markdown_table, median

    sides = {"before": start_worker(args.before, args), "after": start_worker(args.after, args)}
    names = [ask(process)["ready"] for process in sides.values()][0]
    times: dict[str, dict[str, list[float]]] = {name: {side: [] for side in sides} for name in names}
    try:
        for round_number in range(args.rounds):
            order = list(sides) if round_number % 2 == 0 else list(reversed(sides))
            for name in names:
                for side in order:
                    times[name][side].append(ask(sides[side], name)["seconds"])
    finally:
        for process in sides.values():
            process.stdin.close()
            process.wait()
    rows = []
    for name, by_side in times.items():
        before, after = median(by_side["before"]), median(by_side["after"])
        rows.append([name, before * 1000, after * 1000, after / before])
    print(f"Machine: {machine_summary()}\n")
    print(f"before: {os.path.abspath(args.before)}\nafter: {os.path.abspath(args.after)}\n")
    print(markdown_table(["workload", "before (ms)", "after (ms)", "after / before"], rows))
    print(f"\nMedians of {args.rounds} interleaved rounds, 1 torch thread; < 1: after is faster.")


if __name__ == "__main__":
    main()
