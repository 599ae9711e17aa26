"""Resuming a finished run says so and changes nothing; raising the step budget trains on."""

import hashlib
import json

import pytest
from cli_testing import run_attnseq

RUN = [
    "--task", "reverse", "--num_train", "64", "--num_validation", "8", "--num_test", "8", "--hidden_size", "16",
    "--embedding_size", "8", "--per_device_train_batch_size", "16", "--save_strategy", "steps", "--save_steps", "3",
    "--eval_strategy", "no", "--load_best_model_at_end", "false", "--disable_tqdm", "true", "--show_examples", "0",
]  # fmt: skip


def _files(folder) -> dict:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.mark.slow
def test_resuming_a_finished_run_changes_nothing_until_the_budget_is_raised(tmp_path):
    out = tmp_path / "run"
    run_attnseq("train", *RUN, "--max_steps", "6", "--output_dir", str(out))
    before = _files(out)
    again = run_attnseq("train", *RUN, "--max_steps", "6", "--output_dir", str(out), "--resume_from_checkpoint", "last")
    assert "the run is complete" in again.stdout and "checkpoint-6" in again.stdout
    assert _files(out) == before  # weights, checkpoints and metrics byte-identical
    more = run_attnseq("train", *RUN, "--max_steps", "9", "--output_dir", str(out), "--resume_from_checkpoint", "last")
    assert "resuming from" in more.stdout
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 9
