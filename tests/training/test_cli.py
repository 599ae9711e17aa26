"""The `attnseq` command end to end, in subprocesses, on tiny configurations."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from cli_testing import run_attnseq
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

import attnseq  # noqa: F401

TINY = [
    "--task",
    "reverse",
    "--num_train",
    "300",
    "--num_validation",
    "20",
    "--num_test",
    "20",
    "--hidden_size",
    "16",
    "--embedding_size",
    "8",
    "--num_train_epochs",
    "1",
    "--per_device_train_batch_size",
    "32",
    "--logging_steps",
    "5",
    "--disable_tqdm",
    "true",
    "--show_examples",
    "3",
]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli") / "reverse-lstm"
    result = run_attnseq("train", *TINY, "--output_dir", str(folder), "--attention", "additive", "--peeky")
    assert "test metrics:" in result.stdout and "(reference " in result.stdout
    return folder


def test_disable_tqdm_silences_every_progress_bar_and_warning(tmp_path):
    rows = "\n".join(f"{word}\t{word[::-1]}" for word in ["abc", "hello", "world", "tsv", "pairs"] * 20)
    (tmp_path / "pairs.tsv").write_text(rows + "\n")
    result = run_attnseq(
        "train",
        "--train_file",
        str(tmp_path / "pairs.tsv"),
        "--hidden_size",
        "8",
        "--embedding_size",
        "4",
        "--num_train_epochs",
        "1",
        "--disable_tqdm",
        "true",
        "--show_examples",
        "0",
        "--output_dir",
        str(tmp_path / "out"),
    )
    # datasets' bars (reading the file, tokenizing), transformers' (writing the weights), torch's pin_memory warning
    for noise in ("%|", "examples/s", "Generating train split", "pin_memory"):
        assert noise not in result.stderr, result.stderr


def test_bad_rows_error_names_the_command_line_flag(tmp_path):
    (tmp_path / "pairs.tsv").write_text("abc\tcba\n\tempty\nxy\tyx\n")
    result = run_attnseq(
        "train", "--train_file", str(tmp_path / "pairs.tsv"), "--output_dir", str(tmp_path / "o"), check=False
    )
    assert result.returncode == 1
    assert "1 of 3 rows" in result.stderr and "pass --bad_rows drop to drop them" in result.stderr
    assert "bad_rows='drop'" not in result.stderr


def test_train_writes_a_checkpoint_that_loads(checkpoint):
    names = set(os.listdir(checkpoint))
    assert {"config.json", "model.safetensors", "generation_config.json", "README.md", "vocab.json"} <= names
    assert "test_results.json" in names
    model = AutoModelForSeq2SeqLM.from_pretrained(checkpoint)
    assert model.config.attention == "additive" and model.config.hidden_size == 16 and model.config.peeky
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    assert type(tokenizer).__name__ == "CharTokenizer"
    card = (checkpoint / "README.md").read_text()
    assert "attnseq" in card and "exact_match" in card


def test_generate_reads_arguments_and_stdin(checkpoint):
    out = run_attnseq("generate", str(checkpoint), "abc", "hello").stdout.splitlines()
    assert len(out) == 2
    piped = run_attnseq("generate", str(checkpoint), "--num_beams", "2", stdin="abc\nxyz\nq\n").stdout.splitlines()
    assert len(piped) == 3
    sampled = run_attnseq(
        "generate", str(checkpoint), "abc", "--do_sample", "--seed", "3", "--num_return_sequences", "2"
    ).stdout.splitlines()
    assert len(sampled) == 1 and len(sampled[0].split("\t")) == 2


def test_evaluate_prints_scores(checkpoint):
    out = run_attnseq("evaluate", str(checkpoint), "--task", "reverse", "--max_samples", "30").stdout
    scores = json.loads(out.strip().splitlines()[-1])
    assert scores["rows"] == 30 and {"exact_match", "bleu", "chrf"} <= set(scores)


def test_plot_attention_writes_a_png(checkpoint, tmp_path):
    pytest.importorskip("matplotlib")
    target = tmp_path / "attention.png"
    run_attnseq("plot-attention", str(checkpoint), "abcdef", "--output", str(target))
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fine_tune_from_a_checkpoint_on_a_user_tsv(checkpoint, tmp_path):
    rows = "\n".join(f"{word}\t{word[::-1]}" for word in ["abc", "hello", "world", "tsv", "pairs", "fine", "tune"] * 6)
    (tmp_path / "pairs.tsv").write_text(rows + "\n")
    out_dir = tmp_path / "tuned"
    run_attnseq(
        "train",
        "--model_name_or_path",
        str(checkpoint),
        "--train_file",
        str(tmp_path / "pairs.tsv"),
        "--num_train_epochs",
        "2",
        "--warmup_steps",
        "0",
        "--output_dir",
        str(out_dir),
        "--disable_tqdm",
        "true",
        "--show_examples",
        "0",
    )
    tuned = AutoModelForSeq2SeqLM.from_pretrained(out_dir)
    original = AutoModelForSeq2SeqLM.from_pretrained(checkpoint)
    assert tuned.config.to_dict()["attention"] == "additive"
    assert not torch.equal(tuned.lm_head.bias, original.lm_head.bias)


def test_train_from_a_yaml_file(tmp_path):
    options = dict(zip(TINY[::2], TINY[1::2]))
    yaml_text = "\n".join(f"{key.lstrip('-')}: {value}" for key, value in options.items())
    yaml_text += (
        f"\nmodel: transformer\nd_model: 16\nencoder_layers: 1\ndecoder_layers: 1\nencoder_ffn_dim: 32\n"
        f"decoder_ffn_dim: 32\noutput_dir: {tmp_path / 'out'}\n"
    )
    yaml_text = yaml_text.replace("hidden_size: 16\n", "").replace("embedding_size: 8\n", "")
    (tmp_path / "args.yaml").write_text(yaml_text)
    run_attnseq("train", str(tmp_path / "args.yaml"))
    model = AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "out")
    assert type(model).__name__ == "Seq2SeqTransformerForConditionalGeneration" and model.config.d_model == 16


def test_an_option_of_the_other_family_is_a_clear_error(tmp_path):
    result = run_attnseq("train", *TINY, "--d_model", "32", "--output_dir", str(tmp_path), check=False)
    assert result.returncode == 1
    assert "--d_model" in result.stderr and "not options of the 'lstm' family" in result.stderr


@pytest.mark.slow
def test_two_process_accelerate_training_writes_one_checkpoint(tmp_path):
    accelerate = shutil.which("accelerate", path=os.path.dirname(sys.executable))
    if accelerate is None:
        pytest.skip("accelerate's launcher is not installed")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [
            accelerate,
            "launch",
            "--multi_gpu",
            "--num_processes",
            "2",
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            "-m",
            "attnseq",
            "train",
            *TINY,
            "--output_dir",
            str(tmp_path / "ddp"),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    state = json.loads((tmp_path / "ddp" / "trainer_state.json").read_text())
    # 300 rows, batch 32 per process, two processes: 5 optimizer steps (not 10) in the one epoch
    assert state["global_step"] == 5
    model = AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "ddp")
    assert model.config.hidden_size == 16


def test_early_stopping_and_tensorboard_logs(tmp_path):
    pytest.importorskip("tensorboard")
    out_dir = tmp_path / "stopped"
    # a learning rate of 0 never improves exact match: patience 1 stops after the second evaluation
    run_attnseq(
        "train",
        *TINY,
        "--num_train_epochs",
        "6",
        "--learning_rate",
        "0",
        "--early_stopping_patience",
        "1",
        "--report_to",
        "tensorboard",
        "--output_dir",
        str(out_dir),
    )
    state = json.loads((out_dir / "trainer_state.json").read_text())
    assert state["epoch"] == 2.0
    events = [name for _, _, files in os.walk(out_dir / "runs") for name in files if name.startswith("events.out")]
    assert events


def test_export_runs_from_the_console_script(checkpoint, tmp_path):
    out = tmp_path / "export"
    run_attnseq("export", str(checkpoint), str(out), "--format", "remote_code")
    assert (out / "modeling_seq2seq_lstm.py").is_file() and (out / "config.json").is_file()


def test_plot_attention_chooses_the_layer_and_head_of_a_transformer(tmp_path):
    pytest.importorskip("matplotlib")
    folder = tmp_path / "transformer"
    tiny = [arg for arg in TINY if arg not in ("--hidden_size", "16", "--embedding_size", "8")]
    run_attnseq("train", *tiny, "--model", "transformer", "--d_model", "16", "--encoder_layers", "1",
                "--decoder_layers", "2", "--encoder_attention_heads", "2", "--decoder_attention_heads", "2",
                "--encoder_ffn_dim", "32", "--decoder_ffn_dim", "32", "--output_dir", str(folder))  # fmt: skip
    target = tmp_path / "attention.png"
    shown = run_attnseq("plot-attention", str(folder), "abc", "--output", str(target)).stdout
    assert "decoder layer 2 of 2, mean of 2 heads" in shown
    shown = run_attnseq("plot-attention", str(folder), "abc", "--output", str(target), "--layer", "0", "--head", "1")
    assert "decoder layer 1 of 2, head 1 of 2" in shown.stdout and target.read_bytes()[:4] == b"\x89PNG"
    refused = run_attnseq("plot-attention", str(folder), "abc", "--head", "2", check=False)
    assert refused.returncode == 1 and "allowed: 0 to 1" in refused.stderr
