"""More than one process trains one model: two CPU processes (gloo) with batch 8 each take the same optimizer step as
one process with batch 16 (same training loss, same weights), for both families, through `attnseq train` and through
a user's own `Seq2SeqTrainer` script; only rank 0 writes the checkpoint. Launches that would train one model per
process are refused with what to run instead."""

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from attnseq.training.processes import check_launch, check_one_model, launched_processes

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER_VARIABLES = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE", "RANK", "LOCAL_RANK")

# One SGD step (its update is the gradient itself, so a wrongly averaged loss shows in the weights) on the reverse
# task, whose rows have different lengths: the two processes' halves of the batch hold different numbers of target
# tokens, and the mean of the two halves' token means is not the batch's token mean.
ONE_STEP = [
    "--task", "reverse", "--num_train", "32", "--num_validation", "4", "--num_test", "4",
    "--dropout", "0", "--max_steps", "1", "--learning_rate", "0.5", "--optim", "sgd", "--warmup_steps", "0",
    "--logging_steps", "1", "--eval_strategy", "no", "--save_strategy", "steps", "--save_steps", "1",
    "--load_best_model_at_end", "false", "--disable_tqdm", "true", "--show_examples", "0", "--seed", "3",
]  # fmt: skip
FAMILY_OPTIONS = {
    "lstm": ["--model", "lstm", "--hidden_size", "16", "--embedding_size", "8"],
    "transformer": [
        "--model", "transformer", "--d_model", "16", "--encoder_layers", "1", "--decoder_layers", "1",
        "--encoder_ffn_dim", "32", "--decoder_ffn_dim", "32", "--encoder_attention_heads", "2",
        "--decoder_attention_heads", "2", "--attention_dropout", "0", "--activation_dropout", "0",
    ],
}  # fmt: skip

# Records, for every process started with it on PYTHONPATH, each file it opens for writing, renames into place or
# removes under $WRITES_UNDER, as "rank<TAB>event<TAB>path" lines in $WRITES_LOG/<pid>.txt (Python's audit hooks; a
# file written outside Python, as safetensors does, shows through the checkpoint's other files).
WRITE_RECORDER = """
import os
import sys

_UNDER = os.environ.get("WRITES_UNDER")
if _UNDER:
    _RANK = os.environ.get("RANK", "-")
    _LOG = os.open(os.path.join(os.environ["WRITES_LOG"], f"{os.getpid()}.txt"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    _WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

    def _record(event, path):
        if isinstance(path, (str, bytes, os.PathLike)):
            path = os.path.abspath(os.fsdecode(path))
            if path.startswith(_UNDER):
                os.write(_LOG, f"{_RANK}\\t{event}\\t{path}\\n".encode())

    def _hook(event, args):
        if event == "open":
            path, mode, flags = args
            writing = any(c in mode for c in "wax+") if isinstance(mode, str) else bool((flags or 0) & _WRITING)
            if writing:
                _record(event, path)
        elif event in ("os.rename", "os.replace", "shutil.copyfile", "shutil.move"):
            _record(event, args[1])
        elif event in ("os.remove", "os.rmdir", "shutil.rmtree"):
            _record(event, args[0])

    sys.addaudithook(_hook)
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _launch(command: list[str], processes: int, run_dir: Path, module: bool = True) -> subprocess.CompletedProcess:
    """Run `command` (a module and its arguments, or a script) with one process, or under torchrun with `processes`
    on the loopback address, recording the writes under `run_dir`."""
    hook_dir, log_dir = run_dir / "hook", run_dir / "writes"
    hook_dir.mkdir(parents=True)
    log_dir.mkdir()
    (hook_dir / "sitecustomize.py").write_text(WRITE_RECORDER)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    for name in LAUNCHER_VARIABLES:
        env.pop(name, None)
    env.update(
        PYTHONPATH=os.pathsep.join([str(hook_dir), str(ROOT), env.get("PYTHONPATH", "")]),
        WRITES_UNDER=str(run_dir / "out"),
        WRITES_LOG=str(log_dir),
    )
    launcher = [sys.executable]
    if processes > 1:
        launcher += ["-m", "torch.distributed.run", "--nproc_per_node", str(processes)]
        launcher += ["--master_addr", "127.0.0.1", "--master_port", str(_free_port())]
    launcher += ["-m"] if module else []
    result = subprocess.run([*launcher, *command], capture_output=True, text=True, env=env, cwd=run_dir, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def _writers(run_dir: Path) -> dict[str, set[str]]:
    """Each path under the run's output folder (relative to it) -> the ranks that wrote, renamed or removed it."""
    writers: dict[str, set[str]] = {}
    for log in (run_dir / "writes").iterdir():
        for line in log.read_text().splitlines():
            rank, _, path = line.split("\t")
            writers.setdefault(os.path.relpath(path, run_dir / "out"), set()).add(rank)
    return writers


def _files(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()}


def _assert_written_once(one: Path, two: Path) -> None:
    """The two-process run wrote the one-process run's set of files (each process its own random state), and every
    file was written by rank 0 alone."""
    expected = _files(one / "out")
    for folder in {os.path.dirname(name) for name in expected if name.endswith("rng_state.pth")}:
        expected.remove(os.path.join(folder, "rng_state.pth"))
        expected |= {os.path.join(folder, f"rng_state_{rank}.pth") for rank in (0, 1)}
    assert _files(two / "out") == expected
    writers = _writers(two)
    assert "config.json" in writers and "model.safetensors" in writers
    for path, ranks in writers.items():
        owner = {"1"} if path.endswith("rng_state_1.pth") else {"0"}
        assert ranks == owner, f"{path} written by ranks {sorted(ranks)}"


def _assert_same_weights(one: Path, two: Path) -> None:
    weights_one, weights_two = load_file(one), load_file(two)
    assert weights_one.keys() == weights_two.keys()
    for name, value in weights_one.items():
        torch.testing.assert_close(weights_two[name], value, rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["lstm", "transformer"])
def test_two_processes_take_the_step_of_one_process_with_their_joint_batch(tmp_path, family):
    runs = {}
    for processes, batch in ((1, 16), (2, 8)):
        run_dir = runs[processes] = tmp_path / f"{processes}-processes"
        options = [*ONE_STEP, *FAMILY_OPTIONS[family], "--per_device_train_batch_size", str(batch)]
        result = _launch(["attnseq", "train", *options, "--output_dir", "out"], processes, run_dir)
        assert result.stdout.count("checkpoint saved to") == 1
    one, two = runs[1], runs[2]
    for checkpoint in ("model.safetensors", "checkpoint-1/model.safetensors"):
        _assert_same_weights(one / "out" / checkpoint, two / "out" / checkpoint)
    # the logged loss of the step is the mean over every target token of the 16 rows, with one process or two
    logs = [json.loads((run / "out" / "trainer_state.json").read_text())["log_history"][0] for run in (one, two)]
    assert logs[1]["loss"] == pytest.approx(logs[0]["loss"], rel=1e-6)
    assert logs[1]["grad_norm"] == pytest.approx(logs[0]["grad_norm"], rel=1e-5) and logs[0]["grad_norm"] > 0
    _assert_written_once(one, two)


# The script form the README shows: a user's own Seq2SeqTrainer script, which on the CPU must say use_cpu=True.
USER_SCRIPT = """
import sys

import torch
from datasets import Dataset
from transformers import DataCollatorForSeq2Seq, Seq2SeqTrainer, Seq2SeqTrainingArguments

from attnseq import CharTokenizer, Seq2SeqTransformerConfig, Seq2SeqTransformerForConditionalGeneration

batch_size = int(sys.argv[1])
sources = ["abc", "hello", "de", "seq2seq", "xyzzy", "attention", "q", "lstm"] * 4
pairs = Dataset.from_dict({"source": sources, "target": [text[::-1] for text in sources]})
tokenizer = CharTokenizer.from_texts(sources)
torch.manual_seed(0)
config = Seq2SeqTransformerConfig(
    vocab_size=len(tokenizer), d_model=16, encoder_layers=1, decoder_layers=1, encoder_ffn_dim=32,
    decoder_ffn_dim=32, encoder_attention_heads=2, decoder_attention_heads=2, dropout=0.0,
)
model = Seq2SeqTransformerForConditionalGeneration(config)
train = pairs.map(lambda rows: tokenizer(rows["source"], text_target=rows["target"]), batched=True,
                  remove_columns=["source", "target"])
args = Seq2SeqTrainingArguments(
    output_dir="out", use_cpu=True, per_device_train_batch_size=batch_size, max_steps=1,
    learning_rate=0.5, optim="sgd", lr_scheduler_type="constant", logging_steps=1, save_strategy="no",
    report_to="none", disable_tqdm=True, seed=0,
)
trainer = Seq2SeqTrainer(model=model, args=args, train_dataset=train, processing_class=tokenizer,
                         data_collator=DataCollatorForSeq2Seq(tokenizer, model=model))
trainer.train()
trainer.save_model()
print(f"world_size={trainer.args.world_size}")
"""


@pytest.mark.slow
def test_a_user_script_under_torchrun_trains_one_model(tmp_path):
    runs = {}
    for processes, batch in ((1, 16), (2, 8)):
        run_dir = runs[processes] = tmp_path / f"{processes}-processes"
        run_dir.mkdir()
        (run_dir / "train.py").write_text(textwrap.dedent(USER_SCRIPT))
        result = _launch(["train.py", str(batch)], processes, run_dir, module=False)
        assert result.stdout.count(f"world_size={processes}") == processes
    _assert_same_weights(runs[1] / "out" / "model.safetensors", runs[2] / "out" / "model.safetensors")
    _assert_written_once(runs[1], runs[2])


@pytest.fixture
def no_launcher(monkeypatch):
    for name in (*LAUNCHER_VARIABLES, "MASTER_ADDR", "ACCELERATE_USE_CPU", "ACCELERATE_DYNAMO_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_launched_processes_reads_torchrun_and_mpi(no_launcher):
    assert launched_processes() == 1
    no_launcher.setenv("OMPI_COMM_WORLD_SIZE", "4")
    assert launched_processes() == 4
    no_launcher.setenv("WORLD_SIZE", "2")
    assert launched_processes() == 2


def test_an_accelerate_cpu_launch_that_started_one_of_several_processes_is_refused(no_launcher):
    check_launch()  # no launcher
    # what `accelerate launch --cpu --num_processes 2` gives its one process
    no_launcher.setenv("ACCELERATE_DYNAMO_BACKEND", "NO")
    no_launcher.setenv("ACCELERATE_USE_CPU", "True")
    check_launch()  # `accelerate launch --cpu` of one process: no MASTER_ADDR
    no_launcher.setenv("MASTER_ADDR", "127.0.0.1")
    with pytest.raises(ValueError, match="started this one process only.*torchrun --nproc_per_node N"):
        check_launch()
    no_launcher.setenv("PMI_SIZE", "2")  # --mpirun_hostfile: MPI started the processes
    check_launch()


def test_processes_that_would_each_train_their_own_model_are_refused(no_launcher):
    check_one_model(world_size=1)
    no_launcher.setenv("WORLD_SIZE", "2")
    check_one_model(world_size=2)
    with pytest.raises(ValueError, match="started 2 processes but the training arguments see 1.*use_cpu=True"):
        check_one_model(world_size=1)


def test_the_attnseq_trainer_refuses_arguments_without_the_launched_processes(no_launcher, tmp_path):
    from transformers import Seq2SeqTrainingArguments

    from attnseq import Seq2SeqLSTMConfig, Seq2SeqLSTMForConditionalGeneration
    from attnseq.training.trainer import AttnseqTrainer

    model = Seq2SeqLSTMForConditionalGeneration(Seq2SeqLSTMConfig(vocab_size=8, hidden_size=8, embedding_size=4))
    args = Seq2SeqTrainingArguments(output_dir=str(tmp_path), report_to="none")
    assert args.world_size == 1
    AttnseqTrainer(model=model, args=args)
    no_launcher.setenv("WORLD_SIZE", "2")  # torchrun's variable, without use_cpu on a machine without GPUs
    with pytest.raises(ValueError, match="use_cpu=True"):
        AttnseqTrainer(model=model, args=args)


@pytest.mark.slow
def test_accelerate_launch_cpu_with_two_processes_says_what_to_run(tmp_path):
    accelerate = shutil.which("accelerate", path=os.path.dirname(sys.executable))
    if accelerate is None:
        pytest.skip("accelerate's launcher is not installed")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    for name in LAUNCHER_VARIABLES:
        env.pop(name, None)
    launch = [accelerate, "launch", "--cpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no"]
    launch += ["--dynamo_backend", "no", "--main_process_ip", "127.0.0.1", "--main_process_port", str(_free_port())]
    result = subprocess.run(
        [*launch, "-m", "attnseq", "train", "--task", "reverse", "--output_dir", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode != 0
    assert "attnseq train: error: `accelerate launch --cpu` with --num_processes N > 1" in result.stderr
    assert "accelerate launch --multi_gpu --num_processes N -m attnseq train" in result.stderr
    assert not (tmp_path / "out").exists()
