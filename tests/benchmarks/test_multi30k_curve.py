"""benchmarks/multi30k/curve.py tabulates a run's validation BLEU against training minutes from the log `attnseq
train` writes: the evaluation nearest each mark, none where the run has no evaluation near it."""

import json

import pytest
from benchmark_scripts import load_benchmark

# (step, minutes, BLEU): an evaluation every 5 minutes, the last one at 31 minutes
EVALUATIONS = [(100, 5.0, 10.0), (200, 10.0, 20.0), (300, 15.0, 26.0), (400, 20.0, 31.0), (500, 25.0, 30.0)]
LAST = (540, 27.0, 29.5)


@pytest.fixture(scope="module")
def curve():
    return load_benchmark("multi30k/curve.py", "multi30k_curve")


def write_state(folder, evaluations):
    history = []
    for step, minutes, bleu in evaluations:
        history.append({"loss": 3.0, "step": step - 50, "minutes": minutes - 1})
        history.append({"eval_bleu": bleu, "eval_loss": 2.5, "step": step, "minutes": minutes})
    history.append({"train_runtime": 1700.0, "step": evaluations[-1][0]})  # the summary line: no BLEU
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "trainer_state.json").write_text(json.dumps({"log_history": history}))


def test_each_mark_gets_the_nearest_evaluation_and_none_past_the_run(curve, tmp_path, capsys):
    write_state(tmp_path / "run", [*EVALUATIONS, LAST])
    assert curve.main([str(tmp_path / "run"), "--labels", "seed 1", "--minutes", "1,9,13,27,40"]) == 0
    table = capsys.readouterr().out
    assert "| minutes | 1 | 9 | 13 | 27 | 40 |" in table
    assert "| seed 1 | 10.0 (5.0) | 20.0 (10.0) | 26.0 (15.0) | 29.5 (27.0) | — |" in table
    assert "seed 1: best 31.00 at step 400 (20.0 min); last evaluation step 540 (27.0 min), 29.50" in table


def test_a_running_run_is_read_from_its_newest_checkpoint(curve, tmp_path):
    run = tmp_path / "run"
    write_state(run / "checkpoint-200", EVALUATIONS[:2])
    write_state(run / "checkpoint-1000", EVALUATIONS)  # numerically newest, not alphabetically
    write_state(run / "checkpoint-300", EVALUATIONS[:3])
    assert [row["step"] for row in curve.evaluations(run)] == [100, 200, 300, 400, 500]


def test_a_resumed_run_counts_its_minutes_on_from_where_its_log_stopped(curve, tmp_path):
    write_state(tmp_path / "first", EVALUATIONS[:3])  # stopped after 15 minutes
    history = json.loads((tmp_path / "first" / "trainer_state.json").read_text())["log_history"]
    write_state(tmp_path / "second", [(400, 5.0, 31.0), (500, 10.0, 30.0)])  # its clock starts again
    history += json.loads((tmp_path / "second" / "trainer_state.json").read_text())["log_history"]
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "trainer_state.json").write_text(json.dumps({"log_history": history}))
    rows = curve.evaluations(tmp_path / "run")
    assert [(row["step"], row["minutes"]) for row in rows] == [(100, 5), (200, 10), (300, 15), (400, 20), (500, 25)]


def test_two_runs_are_two_rows(curve, tmp_path):
    write_state(tmp_path / "a", EVALUATIONS)
    write_state(tmp_path / "b", [(step, minutes * 2, bleu + 1) for step, minutes, bleu in EVALUATIONS])
    runs = [("a", curve.evaluations(tmp_path / "a")), ("b", curve.evaluations(tmp_path / "b"))]
    lines = curve.curve_table(runs, [10, 50]).splitlines()
    assert lines[2:4] == ["| a | 20.0 (10.0) | — |", "| b | 11.0 (10.0) | 31.0 (50.0) |"]


def test_a_single_evaluation_stands_for_the_marks_up_to_twice_its_minute(curve, tmp_path):
    write_state(tmp_path / "run", EVALUATIONS[1:2])
    lines = curve.curve_table([("a", curve.evaluations(tmp_path / "run"))], [1, 15, 21]).splitlines()
    assert lines[2] == "| a | 20.0 (10.0) | 20.0 (10.0) | — |"


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["{run}", "--labels", "x,y"], "2 label(s) for 1 run folder(s)"),
        (["{run}", "--minutes", "10,ten"], "--minutes takes comma-separated numbers"),
        (["{empty}"], "has no trainer_state.json"),
        (["{run}", "--metric", "eval_rouge"], "records no evaluation with 'eval_rouge'"),
    ],
)
def test_bad_arguments_are_refused_with_what_is_wrong(curve, tmp_path, capsys, arguments, message):
    write_state(tmp_path / "run", EVALUATIONS)
    (tmp_path / "empty").mkdir()
    folders = {"run": tmp_path / "run", "empty": tmp_path / "empty"}
    with pytest.raises(SystemExit) as exit_info:
        curve.main([argument.format(**folders) for argument in arguments])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
