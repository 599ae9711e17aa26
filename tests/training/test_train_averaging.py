"""`attnseq train --average_last N` / `--average_best N`: the saved and tested model is the mean of the weights of the
last (best) N checkpoints, which the run keeps whatever `--save_total_limit` says."""

import json

import pytest
import torch
from cli_testing import run_attnseq
from safetensors.torch import load_file

from attnseq.training.averaging import (
    CheckpointAveraging,
    check_averaging_arguments,
    checkpoint_folders,
    checkpoint_metrics,
    rotate_checkpoints,
)
from attnseq.training.cli import parse_train_arguments
from attnseq.training.pipeline import train

# 200 pairs in batches of 20: 10 steps, a checkpoint (and an evaluation) every 3 steps and at the end, of which the
# Trainer alone would keep one
TINY = [
    "--task", "reverse", "--num_train", "200", "--num_validation", "20", "--num_test", "20",
    "--hidden_size", "16", "--embedding_size", "8", "--num_train_epochs", "1", "--per_device_train_batch_size", "20",
    "--learning_rate", "0.01", "--eval_strategy", "steps", "--save_strategy", "steps", "--eval_steps", "3",
    "--save_steps", "3", "--save_total_limit", "1", "--disable_tqdm", "true", "--show_examples", "0",
]  # fmt: skip


def mean_of(folders) -> dict[str, torch.Tensor]:
    weights = [load_file(str(folder / "model.safetensors")) for folder in folders]
    return {name: sum(w[name].double() for w in weights) / len(weights) for name in weights[0]}


def assert_saved_model_is_the_mean(output_dir, folders) -> None:
    saved = load_file(str(output_dir / "model.safetensors"))
    expected = mean_of(folders)
    assert saved.keys() == expected.keys()
    for name, tensor in saved.items():
        torch.testing.assert_close(tensor, expected[name].float(), msg=name)
    last = load_file(str(folders[-1] / "model.safetensors"))
    assert any(not torch.equal(saved[name], last[name]) for name in saved)  # not simply the last checkpoint


@pytest.fixture(scope="module")
def last_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("average") / "last"
    result = run_attnseq("train", *TINY, "--average_last", "2", "--output_dir", str(folder))
    return folder, result.stdout


@pytest.fixture(scope="module")
def best_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("average") / "best"
    result = run_attnseq(
        "train", *TINY, "--average_best", "2", "--metric_for_best_model", "loss", "--output_dir", str(folder)
    )
    return folder, result.stdout


@pytest.mark.slow
def test_average_last_keeps_the_checkpoints_and_saves_and_tests_their_mean(last_run):
    folder, stdout = last_run
    checkpoints = [path.name for path in checkpoint_folders(folder)]
    # saved at steps 3, 6, 9 and the last, 10; kept despite --save_total_limit 1: the last two (and the best)
    assert checkpoints[-2:] == ["checkpoint-9", "checkpoint-10"] and len(checkpoints) <= 3
    kept = [folder / "checkpoint-9", folder / "checkpoint-10"]
    assert_saved_model_is_the_mean(folder, kept)
    assert "averaged the weights of checkpoint-9, checkpoint-10 (--average_last 2)" in stdout
    results = json.loads((folder / "test_results.json").read_text())
    assert {"test_loss", "test_exact_match", "test_token_accuracy"} <= set(results)
    assert len((folder / "test_predictions.txt").read_text().splitlines()) == 20
    record = json.loads((folder / "attnseq_training.json").read_text())
    assert record["averaged"]["checkpoints"] == ["checkpoint-9", "checkpoint-10"]
    card = (folder / "README.md").read_text()
    assert "## Checkpoint averaging" in card
    assert "2 checkpoints: `checkpoint-9`, `checkpoint-10` (the last 2 of the run; `--average_last 2`)" in card


@pytest.mark.slow
def test_average_best_averages_the_best_checkpoints_by_the_metric(best_run):
    folder, stdout = best_run
    state = json.loads((folder / "trainer_state.json").read_text())
    losses = checkpoint_metrics(state["log_history"], "eval_loss")
    assert sorted(losses) == [3, 6, 9, 10]
    best_two = sorted(sorted(losses, key=losses.get)[:2])  # lower loss is better
    chosen = [f"checkpoint-{step}" for step in best_two]
    assert json.loads((folder / "attnseq_training.json").read_text())["averaged"]["checkpoints"] == chosen
    assert all((folder / name).is_dir() for name in chosen)
    assert_saved_model_is_the_mean(folder, [folder / name for name in chosen])
    assert "the 2 best of the run by eval_loss" in (folder / "README.md").read_text()
    assert (folder / "test_results.json").is_file()


def test_checkpoints_are_ranked_by_the_metric_at_their_step(tmp_path):
    folders = [tmp_path / f"checkpoint-{step}" for step in (2, 4, 6, 8, 10)]
    log = [{"loss": 3.0, "step": 1}]
    log += [{"eval_bleu": bleu, "eval_loss": 5 - bleu, "step": step} for step, bleu in [(2, 10), (4, 30), (6, 20)]]
    log += [{"eval_bleu": 30, "eval_loss": -25, "step": 8}]  # ties with step 4 on bleu: the later one first
    state = type("State", (), {"log_history": log})()

    def args(metric, greater):
        return type("Args", (), {"metric_for_best_model": metric, "greater_is_better": greater})()

    best = CheckpointAveraging(2, best=True)
    names = [path.name for path in best.chosen(folders, args("bleu", True), state)]
    assert names == ["checkpoint-4", "checkpoint-8"]  # checkpoint-10 has no evaluation: not ranked
    names = [path.name for path in CheckpointAveraging(3, best=True).chosen(folders, args("loss", False), state)]
    assert names == ["checkpoint-4", "checkpoint-6", "checkpoint-8"]
    names = [path.name for path in CheckpointAveraging(2, best=True).chosen(folders, args("eval_loss", None), state)]
    assert names == ["checkpoint-4", "checkpoint-8"]  # a loss is better lower where nothing says otherwise
    assert [path.name for path in CheckpointAveraging(2).chosen(folders, args("bleu", True), state)] == [
        "checkpoint-8",
        "checkpoint-10",
    ]


def test_rotation_keeps_the_checkpoints_to_average_and_the_newest(tmp_path):
    for step in (1, 2, 3, 4, 5):
        (tmp_path / f"checkpoint-{step}").mkdir()
    (tmp_path / "other").mkdir()
    removed = rotate_checkpoints(tmp_path, 2, {tmp_path / "checkpoint-2", tmp_path / "checkpoint-3"})
    assert sorted(path.name for path in removed) == ["checkpoint-1", "checkpoint-4"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["checkpoint-2", "checkpoint-3", "checkpoint-5", "other"]
    assert rotate_checkpoints(tmp_path, None, set()) == []  # no limit: nothing removed


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--average_last", "2", "--average_best", "2"], "--average_last and --average_best exclude each other"),
        (["--average_last", "1"], "--average_last 1: the number of checkpoints to average must be 2 or more"),
        (["--average_best", "0"], "--average_best 0: the number of checkpoints to average must be 2 or more"),
        (["--average_last", "2", "--save_strategy", "no", "--load_best_model_at_end", "false"], "not no"),
        (
            ["--average_best", "2", "--eval_strategy", "no", "--load_best_model_at_end", "false"],
            "it needs --eval_strategy steps or epoch",
        ),
    ],
)
def test_bad_averaging_flags_are_refused_before_any_work(flags, message, tmp_path):
    arguments = parse_train_arguments(["--task", "reverse", "--output_dir", str(tmp_path / "run"), *flags])
    with pytest.raises(ValueError, match=message):
        train(*arguments)
    assert not (tmp_path / "run").exists()


def test_averaging_replaces_load_best_model_at_end_and_a_chosen_loss_ranks_lower_first(tmp_path):
    _, _, run_args, training_args = parse_train_arguments(
        ["--task", "reverse", "--output_dir", str(tmp_path), "--average_best", "3", "--metric_for_best_model", "loss"]
    )
    assert training_args.load_best_model_at_end and training_args.greater_is_better is False
    check_averaging_arguments(run_args, training_args)
    assert not training_args.load_best_model_at_end
    _, _, _, chosen = parse_train_arguments(
        ["--metric_for_best_model", "loss", "--greater_is_better", "true", "--output_dir", str(tmp_path)]
    )
    assert chosen.greater_is_better is True  # said by the user: kept


def test_a_bad_flag_is_one_line_from_the_command(tmp_path):
    result = run_attnseq("train", "--average_last", "1", "--output_dir", str(tmp_path / "run"), check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "attnseq train: error: --average_last 1: the number of checkpoints to average must be 2 or more."
    )
