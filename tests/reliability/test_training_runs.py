"""`attnseq train` under faults: bad data rows, a run killed with SIGKILL and resumed, the same seed twice,
bfloat16 on the CPU."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from attnseq.cli import main
from attnseq.training.resume import resolve_resume_checkpoint

LSTM = ["--hidden_size", "16", "--embedding_size", "8", "--dropout", "0.1"]
TRANSFORMER = [
    "--model",
    "transformer",
    "--d_model",
    "16",
    "--encoder_layers",
    "1",
    "--decoder_layers",
    "1",
    "--encoder_ffn_dim",
    "16",
    "--decoder_ffn_dim",
    "16",
]
QUIET = ["--disable_tqdm", "true", "--show_examples", "0", "--eval_strategy", "no", "--load_best_model_at_end", "false"]
TINY_TASK = [
    "--task",
    "reverse",
    "--num_train",
    "64",
    "--num_validation",
    "8",
    "--num_test",
    "8",
    "--per_device_train_batch_size",
    "16",
    "--logging_steps",
    "1",
]


pytestmark = pytest.mark.usefixtures("one_thread")


def weights(folder) -> dict[str, torch.Tensor]:
    return load_file(Path(folder) / "model.safetensors")


def same_weights(first, second) -> bool:
    a, b = weights(first), weights(second)
    return a.keys() == b.keys() and all(torch.equal(a[name], b[name]) for name in a)


def train_in_process(*args) -> int:
    return main(["train", *TINY_TASK, *QUIET, "--save_strategy", "no", *args])


# --- bad data through `attnseq train` ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, content, message",
    [
        (
            "pairs.tsv",
            "abc\tcba\nde\n\tx\nfg\tgf\n",
            r"2 of 4 rows of .*pairs.tsv are bad: line 2: 1 tab-separated field\(s\), needs at least 2; line 3: source is empty",
        ),
        ("pairs.tsv", "abc\tcba\n\n  \nde\n", r"1 of 2 rows .* line 4: 1 tab-separated field"),
        (
            "pairs.jsonl",
            '{"source": "abc", "target": "cba"}\n{"source": 12, "target": "21"}\n',
            r"line 2: source \('source'\) is of type int, not a string: 12",
        ),
        (
            "pairs.jsonl",
            '{"source": "abc", "target": "cba"}\n{"source": "ab"}\n',
            r"line 2: no key 'target' \(target\)",
        ),
        (
            "pairs.csv",
            "question,answer\nabc,cba\n",
            r"column 'source' is not in the header of .*pairs.csv.*\['question', 'answer'\]",
        ),
        ("pairs.csv", "source,target\nabc,cba\nab,\n", r"line 3: target is empty"),
    ],
    ids=[
        "tsv-short-and-empty",
        "tsv-bad-line-after-blank-lines",
        "jsonl-number",
        "jsonl-missing-key",
        "csv-missing-column",
        "csv-empty-value",
    ],
)
def test_a_bad_row_stops_the_run_with_its_line_and_exit_code_1(tmp_path, capsys, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    assert main(["train", "--train_file", str(path), "--output_dir", str(tmp_path / "out"), *QUIET]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last_line = err.strip().splitlines()[-1]
    assert last_line.startswith("attnseq train: error: ")
    assert re.search(message, last_line), last_line
    assert not (tmp_path / "out").exists()


def test_dropped_and_truncated_rows_are_always_counted(tmp_path, caplog):
    rows = [f"{'abcdefgh'[: 2 + i % 5]}\t{'abcdefgh'[: 2 + i % 5][::-1]}" for i in range(40)]
    rows[3] = "only-a-source"
    rows[7] = "abcdefghabcdefgh\thgfedcbahgfedcba"
    path = tmp_path / "pairs.tsv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    args = [
        "--train_file",
        str(path),
        "--test_size",
        "4",
        "--validation_size",
        "4",
        "--max_steps",
        "1",
        *LSTM,
        *QUIET,
        "--save_strategy",
        "no",
        "--output_dir",
        str(tmp_path / "out"),
    ]
    with caplog.at_level(logging.WARNING, logger="attnseq"):
        assert main(["train", *args, "--bad_rows", "drop", "--max_source_length", "8", "--overlong", "drop"]) == 0
    assert "dropped 1 bad rows of 40 from" in caplog.text and "line 4: 1 tab-separated field(s)" in caplog.text
    assert "source(s) longer than max_source_length=8" in caplog.text and "dropped 1 of" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="attnseq"):
        assert main(["train", *args, "--bad_rows", "drop", "--max_source_length", "8"]) == 0
    assert "truncated 1 of" in caplog.text


# --- resumption ---------------------------------------------------------------------------------------------------

RESUME_RUN = [
    "train",
    "--task",
    "reverse",
    "--num_train",
    "300",
    "--num_validation",
    "20",
    "--num_test",
    "20",
    *LSTM,
    "--per_device_train_batch_size",
    "32",
    "--max_steps",
    "30",
    "--save_strategy",
    "steps",
    "--save_steps",
    "7",
    "--logging_steps",
    "1",
    *QUIET,
]
KILL_AT_STEP = 17  # between checkpoint-14 and checkpoint-21, in the middle of the second epoch

# `attnseq train` with a callback that, at step KILL_AT_STEP, writes a marker file and waits to be killed.
PAUSED_TRAIN = """
import sys, time
from pathlib import Path
from transformers import TrainerCallback
from attnseq import cli
from attnseq.training import pipeline

step, marker = int(sys.argv[1]), Path(sys.argv[2])

class WaitForKill(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == step:
            marker.write_text(str(step))
            time.sleep(600)

build_trainer = pipeline.build_trainer
def build_trainer_waiting(*args, **kwargs):
    trainer = build_trainer(*args, **kwargs)
    trainer.add_callback(WaitForKill())
    return trainer
pipeline.build_trainer = build_trainer_waiting
sys.exit(cli.main(sys.argv[3:]))
"""


def run_attnseq(*args, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "attnseq", *args], capture_output=True, text=True, env=env, cwd=cwd)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result


def kill_mid_run(tmp_path, output_dir) -> None:
    """Start `attnseq train`, SIGKILL it once it has passed checkpoint-14 and is at step KILL_AT_STEP."""
    marker = tmp_path / "at-step"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-c",
        PAUSED_TRAIN,
        str(KILL_AT_STEP),
        str(marker),
        *RESUME_RUN,
        "--output_dir",
        output_dir,
    ]
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while not marker.exists():
            if process.poll() is not None:
                raise AssertionError(f"the run ended before step {KILL_AT_STEP}: {process.stderr.read()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the run did not reach step {KILL_AT_STEP} in 300 s")
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_a_killed_run_resumed_from_its_last_checkpoint_ends_like_an_uninterrupted_run(tmp_path):
    run_attnseq(*RESUME_RUN, "--output_dir", "uninterrupted", cwd=tmp_path)

    kill_mid_run(tmp_path, "resumed")
    resumed = tmp_path / "resumed"
    assert sorted(path.name for path in resumed.glob("checkpoint-*")) == ["checkpoint-14", "checkpoint-7"]
    assert not (resumed / "model.safetensors").exists()
    # a checkpoint the killed run had begun to write: model files, but no trainer_state.json (written last)
    partial = resumed / "checkpoint-21"
    shutil.copytree(
        resumed / "checkpoint-14", partial, ignore=shutil.ignore_patterns("trainer_state.json", "optimizer.pt")
    )

    result = run_attnseq(*RESUME_RUN, "--output_dir", "resumed", "--resume_from_checkpoint", "last", cwd=tmp_path)
    assert "resuming from resumed/checkpoint-14" in result.stdout
    assert "skipping resumed/checkpoint-21" in result.stderr

    assert same_weights(tmp_path / "uninterrupted", resumed)
    expected = json.loads((tmp_path / "uninterrupted" / "test_results.json").read_text())
    found = json.loads((resumed / "test_results.json").read_text())
    for name in ("test_loss", "test_exact_match", "test_token_accuracy"):
        assert found[name] == pytest.approx(expected[name], abs=1e-6)
    losses = [
        [
            entry["loss"]
            for entry in json.loads((tmp_path / run / "trainer_state.json").read_text())["log_history"]
            if "loss" in entry
        ]
        for run in ("uninterrupted", "resumed")
    ]
    assert losses[0] == losses[1] and len(losses[0]) == 30


def checkpoint(folder: Path, step: int, complete: bool = True) -> Path:
    path = folder / f"checkpoint-{step}"
    path.mkdir(parents=True)
    (path / "model.safetensors").write_bytes(b"")
    if complete:
        (path / "trainer_state.json").write_text("{}")
    return path


def test_resume_from_checkpoint_true_or_last_means_the_newest_complete_checkpoint(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="attnseq")
    for step in (5, 20, 100):
        checkpoint(tmp_path, step)
    checkpoint(tmp_path, 105, complete=False)
    (tmp_path / "checkpoint-200").write_text("a file, not a checkpoint")
    (tmp_path / "checkpoint-final").mkdir()
    for value in ("true", "True", "last", "LAST", "yes", True):
        assert resolve_resume_checkpoint(value, str(tmp_path)) == str(tmp_path / "checkpoint-100")
    assert "skipping" in caplog.text and "checkpoint-105" in caplog.text and "trainer_state.json" in caplog.text
    for value in (None, False, "", "false", "none", "No"):
        assert resolve_resume_checkpoint(value, str(tmp_path)) is None
    assert resolve_resume_checkpoint(str(tmp_path / "checkpoint-20"), str(tmp_path)) == str(tmp_path / "checkpoint-20")


@pytest.mark.parametrize(
    "value, message",
    [
        ("last", r"holds no complete checkpoint-N folder to resume from"),
        ("missing-folder", r"'missing-folder' is not a folder; pass a checkpoint-N folder, or 'last'"),
        ("checkpoint-7", r"is not a complete Trainer checkpoint: its trainer_state.json is missing"),
    ],
)
def test_resume_from_checkpoint_that_cannot_resume_is_a_clear_error(tmp_path, monkeypatch, value, message):
    monkeypatch.chdir(tmp_path)
    checkpoint(tmp_path / "out", 7, complete=False)
    if value == "checkpoint-7":
        value = str(tmp_path / "out" / value)
    with pytest.raises(ValueError, match=message):
        resolve_resume_checkpoint(value, str(tmp_path / "out"))


# --- determinism and bfloat16 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", [LSTM, TRANSFORMER], ids=["lstm", "transformer"])
def test_two_runs_with_the_same_seed_end_with_identical_weights(tmp_path, family):
    for run, seed in (("first", "7"), ("second", "7"), ("other-seed", "8")):
        assert train_in_process(*family, "--max_steps", "3", "--seed", seed, "--output_dir", str(tmp_path / run)) == 0
    assert same_weights(tmp_path / "first", tmp_path / "second")
    assert not same_weights(tmp_path / "first", tmp_path / "other-seed")


@pytest.mark.parametrize("family", [LSTM, TRANSFORMER], ids=["lstm", "transformer"])
def test_bf16_training_through_the_trainer_on_the_cpu(tmp_path, family):
    """`--bf16` trains under bfloat16 autocast; on a machine without an accelerator transformers needs
    `--use_cpu true` with it (and says so)."""
    output_dir = tmp_path / "bf16"
    assert (
        train_in_process(
            *family, "--bf16", "true", "--use_cpu", "true", "--max_steps", "4", "--output_dir", str(output_dir)
        )
        == 0
    )
    history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    losses = [entry["loss"] for entry in history if "loss" in entry]
    assert len(losses) == 4 and all(torch.isfinite(torch.tensor(losses)))
    assert all(
        torch.isfinite(tensor).all() and tensor.dtype == torch.float32 for tensor in weights(output_dir).values()
    )
