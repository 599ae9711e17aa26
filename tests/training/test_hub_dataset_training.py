"""`attnseq train --dataset_name` on local data-set folders written here, cached and streamed (`--streaming`):
tiny models trained a few steps, saved and scored on the test split; and the streaming settings it refuses."""

import json
import os
import subprocess
import sys

import pytest
from cli_testing import run_attnseq
from datasets import Dataset

WORDS = ["abc", "hello", "world", "pairs", "budget", "files", "stream", "parquet"]
TINY = (
    "--hidden_size 8 --embedding_size 4 --per_device_train_batch_size 4 --per_device_eval_batch_size 8 "
    "--disable_tqdm true --show_examples 1"
).split()


def write_translation_folder(folder, rows_per_split=(24, 6, 5)):
    """A WMT-like data set: parquet files of `{"translation": {"xx": word, "yy": reversed word}}` rows by split."""
    folder.mkdir()
    for split, count in zip(("train", "validation", "test"), rows_per_split):
        rows = [{"translation": {"xx": w, "yy": w[::-1]}} for w in (WORDS * 10)[:count]]
        Dataset.from_list(rows).to_parquet(str(folder / f"{split}.parquet"))
    return str(folder)


@pytest.fixture(scope="module")
def data_set(tmp_path_factory):
    return write_translation_folder(tmp_path_factory.mktemp("hub") / "wmt_like")


@pytest.fixture(scope="module")
def cached_run(data_set, tmp_path_factory):
    out = tmp_path_factory.mktemp("cached") / "out"
    flags = ["--dataset_name", data_set, "--source_lang", "xx", "--target_lang", "yy", "--max_steps", "4"]
    result = run_attnseq("train", *flags, *TINY, "--output_dir", str(out))
    return out, result


def test_cached_run_trains_scores_and_names_the_data_set(cached_run):
    out, result = cached_run
    assert "24 training pairs" in result.stdout
    metrics = json.loads((out / "test_results.json").read_text())
    assert {"test_bleu", "test_chrf", "test_loss"} <= set(metrics)
    assert len((out / "test_predictions.txt").read_text().splitlines()) == 5
    info = json.loads((out / "attnseq_training.json").read_text())
    assert info["dataset"] == {"name": "local data set `wmt_like`", "hub_id": None}
    assert info["language"] == ["xx", "yy"]
    assert "local data set `wmt_like`" in (out / "README.md").read_text()


def test_evaluate_scores_a_split_of_the_data_set_as_train_did(cached_run, data_set, tmp_path):
    out, _ = cached_run
    flags = ["--dataset_name", data_set, "--source_lang", "xx", "--target_lang", "yy"]
    scores = json.loads(run_attnseq("evaluate", str(out), *flags).stdout.strip().splitlines()[-1])
    trained = json.loads((out / "test_results.json").read_text())
    assert scores["rows"] == 5 and {"bleu", "chrf"} <= set(scores) and "exact_match" not in scores
    assert scores["bleu"] == pytest.approx(trained["test_bleu"], abs=1e-3)
    assert scores["chrf"] == pytest.approx(trained["test_chrf"], abs=1e-3)
    validation = run_attnseq("evaluate", str(out), *flags, "--split", "dev").stdout  # an alias of validation
    assert json.loads(validation.strip().splitlines()[-1])["rows"] == 6
    swapped = ["--dataset_name", data_set, "--source_column", "translation.yy", "--target_column", "translation.xx"]
    assert json.loads(run_attnseq("evaluate", str(out), *swapped).stdout.strip().splitlines()[-1])["rows"] == 5


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--split", "holdout"], "has no 'holdout' split; its splits: train, validation, test"),
        (["--source_lang", "zz"], "--source_lang 'zz' is not a language of the `translation` column"),
    ],
)
def test_evaluate_refuses_a_split_or_language_the_data_set_lacks(cached_run, data_set, flags, message):
    out, _ = cached_run
    options = {"--source_lang": "xx", "--target_lang": "yy"}
    options.update(dict(zip(flags[::2], flags[1::2])))
    result = run_attnseq(
        "evaluate", str(out), "--dataset_name", data_set, *[x for kv in options.items() for x in kv], check=False
    )
    assert result.returncode == 1 and message in result.stderr


def test_evaluate_takes_one_source_of_pairs(cached_run, data_set):
    out, _ = cached_run
    both = run_attnseq("evaluate", str(out), "--dataset_name", data_set, "--task", "date", check=False)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    languages = run_attnseq("evaluate", str(out), "--task", "date", "--source_lang", "xx", check=False)
    assert languages.returncode == 1 and "--source_lang/--target_lang pick the sides" in languages.stderr


@pytest.mark.slow
def test_streaming_run_trains_saves_and_scores(data_set, tmp_path):
    out = tmp_path / "out"
    flags = ["--dataset_name", data_set, "--source_lang", "xx", "--target_lang", "yy", "--streaming"]
    options = ["--max_steps", "3", "--tokenizer_train_lines", "16", "--max_eval_samples", "4"]
    result = run_attnseq("train", *flags, *options, *TINY, "--output_dir", str(out))
    assert "streamed training pairs" in result.stdout
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 3 and state["max_steps"] == 3
    assert any("eval_bleu" in entry for entry in state["log_history"])
    evaluated = [entry for entry in state["log_history"] if "eval_bleu" in entry]
    assert evaluated  # on the bounded validation rows
    metrics = json.loads((out / "test_results.json").read_text())
    assert {"test_bleu", "test_chrf", "test_loss"} <= set(metrics)
    assert len((out / "test_predictions.txt").read_text().splitlines()) == 4  # --max_eval_samples test rows
    assert (out / "model.safetensors").is_file() and (out / "tokenizer_config.json").is_file()
    vocabulary = set("".join(WORDS[:16]))  # the tokenizer's sample: the first 16 training pairs' characters
    tokens = json.loads((out / "vocab.json").read_text())
    assert vocabulary <= set(tokens)


@pytest.mark.slow
def test_streaming_fine_tune_uses_the_checkpoints_tokenizer(cached_run, data_set, tmp_path):
    checkpoint, _ = cached_run
    out = tmp_path / "out"
    flags = ["--dataset_name", data_set, "--source_lang", "xx", "--target_lang", "yy", "--streaming"]
    run_attnseq(
        "train", *flags, "--model_name_or_path", str(checkpoint), "--max_steps", "2", *TINY, "--output_dir", str(out)
    )
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 2
    assert json.loads((out / "vocab.json").read_text()) == json.loads((checkpoint / "vocab.json").read_text())


def test_streaming_without_max_steps_is_refused_in_one_line(data_set, tmp_path):
    out = tmp_path / "out"
    streaming = ["--dataset_name", data_set, "--source_lang", "xx", "--target_lang", "yy", "--streaming"]
    result = run_attnseq("train", *streaming, "--tokenizer_train_lines", "8", "--output_dir", str(out), check=False)
    assert result.returncode == 1
    assert "--streaming needs --max_steps N" in result.stderr and result.stderr.count("\n") == 1
    assert not out.exists()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--tokenizer_train_lines", "8"], "--streaming needs --max_steps N"),
        (["--max_steps", "3"], "trains its tokenizer on the first --tokenizer_train_lines N pairs"),
        (["--max_steps", "3", "--tokenizer_train_lines", "8", "--task", "date"], "cannot be combined with --task"),
    ],
)
def test_streaming_settings_that_cannot_run_are_refused(data_set, tmp_path, flags, message):
    from attnseq.training.cli import parse_train_arguments
    from attnseq.training.pipeline import train

    out = tmp_path / "out"
    streaming = ["--dataset_name", data_set, "--source_lang", "xx", "--target_lang", "yy", "--streaming"]
    with pytest.raises(ValueError, match=message):
        train(*parse_train_arguments([*streaming, *flags, "--output_dir", str(out)]))
    assert not out.exists()


def test_card_names_a_hub_data_set_by_its_id_and_configuration(tmp_path):
    from attnseq.training.cli import parse_train_arguments
    from attnseq.training.record import dataset_description

    flags = ["--dataset_name", "wmt/wmt14", "--dataset_config_name", "de-en", "--output_dir", str(tmp_path / "o")]
    data_args = parse_train_arguments(flags)[1]
    assert dataset_description(data_args) == {"name": "`wmt/wmt14` (configuration `de-en`)", "hub_id": "wmt/wmt14"}
    url = "hf://datasets/owner/name/train.parquet"
    data_args = parse_train_arguments(["--dataset_name", url, "--output_dir", str(tmp_path / "o")])[1]
    assert dataset_description(data_args) == {"name": f"`{url}`", "hub_id": None}


@pytest.mark.slow
def test_streaming_run_under_two_processes_writes_one_checkpoint(data_set, tmp_path):
    """Two CPU processes (gloo) each read their part of the stream and train one model."""
    out = tmp_path / "out"
    flags = ["--dataset_name", data_set, "--source_lang", "xx", "--target_lang", "yy", "--streaming"]
    options = ["--max_steps", "2", "--tokenizer_train_lines", "16", "--max_eval_samples", "4", *TINY]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "attnseq"]
    result = subprocess.run(
        [*launcher, "train", *flags, *options, "--output_dir", str(out)], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.count("checkpoint saved to") == 1
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 2
    assert len((out / "test_predictions.txt").read_text().splitlines()) == 4


def test_streaming_run_preparation(data_set, tmp_path):
    """The tokenizer learns only the first --tokenizer_train_lines pairs; the training stream is every training
    pair, shuffled by --seed; the generation length comes from the held-out targets."""
    from attnseq.training.cli import parse_train_arguments
    from attnseq.training.streaming import prepare_streaming_run

    flags = ["--dataset_name", data_set, "--source_lang", "xx", "--target_lang", "yy", "--streaming"]
    options = ["--max_steps", "3", "--tokenizer_train_lines", "3", "--output_dir", str(tmp_path / "o")]
    model_args, data_args, _, training_args = parse_train_arguments([*flags, *options, "--model", "transformer"])
    pairs, tokenizer, model, tokenized = prepare_streaming_run(model_args, data_args, training_args)
    assert set(tokenizer.get_vocab()) >= set("abchelowrd") and "p" not in tokenizer.get_vocab()  # abc hello world
    sources = [tuple(row["input_ids"]) for row in tokenized["train"]]
    expected = [tuple(ids) for ids in tokenizer((WORDS * 10)[:24])["input_ids"]]
    assert sorted(sources) == sorted(expected) and sources != expected  # every training pair, shuffled
    assert len(tokenized["validation"]) == 6 and len(tokenized["test"]) == 5
    longest = max(len(ids) for split in ("validation", "test") for ids in tokenized[split]["labels"])
    assert training_args.generation_max_length == longest + 8
    assert model.config.vocab_size == len(tokenizer)
