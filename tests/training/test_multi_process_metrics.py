"""Several processes score each row once: a frozen model trained with one and with two CPU processes (gloo) gives
the same validation and test figures and the same test predictions file."""

import json
import os
import subprocess
import sys

import pytest

# 23 test and 21 validation rows in batches of 4: the last batch of each process is short, so a gathering that keeps
# the rows repeated to even out the processes' shares scores some rows twice
FROZEN = [
    "--task", "reverse", "--num_train", "64", "--num_validation", "21", "--num_test", "23",
    "--hidden_size", "16", "--embedding_size", "8", "--max_steps", "2", "--learning_rate", "1e-12",
    "--per_device_train_batch_size", "16", "--per_device_eval_batch_size", "4",
    "--eval_strategy", "steps", "--eval_steps", "2", "--save_strategy", "no", "--load_best_model_at_end", "false",
    "--metrics", "exact_match,token_accuracy,bleu,chrf",
    "--disable_tqdm", "true", "--show_examples", "0", "--seed", "3",
]  # fmt: skip
TIMING = ("runtime", "per_second", "model_preparation_time", "minutes")


def _train(output_dir, processes: int) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    launcher = [sys.executable, "-m", "attnseq"]
    if processes > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes), "-m", "attnseq"]
    result = subprocess.run(
        [*launcher, "train", *FROZEN, "--output_dir", str(output_dir)], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def _figures(output_dir) -> dict:
    test = json.loads((output_dir / "test_results.json").read_text())
    state = json.loads((output_dir / "trainer_state.json").read_text())
    validation = [entry for entry in state["log_history"] if "eval_loss" in entry]
    figures = {key: value for key, value in test.items() if not any(word in key for word in TIMING)}
    for number, entry in enumerate(validation):
        figures.update(
            {f"{number}/{key}": value for key, value in entry.items() if key.startswith("eval_") and not any(
                word in key for word in TIMING)}
        )  # fmt: skip
    return figures


@pytest.mark.slow
def test_one_and_two_processes_score_every_row_once_in_order(tmp_path):
    _train(tmp_path / "one", 1)
    _train(tmp_path / "two", 2)
    one, two = _figures(tmp_path / "one"), _figures(tmp_path / "two")
    assert set(one) == set(two) and "0/eval_token_accuracy" in one and "test_bleu" in one
    for key, value in one.items():
        if isinstance(value, float):
            assert two[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
        else:
            assert two[key] == value, key
    predictions = (tmp_path / "one" / "test_predictions.txt").read_text().splitlines()
    assert len(predictions) == 23
    assert (tmp_path / "two" / "test_predictions.txt").read_text().splitlines() == predictions
