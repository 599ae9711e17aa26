"""Faults at the file writes of a process: a SIGKILL at its N-th write, or a full disk from its N-th write on.

A *write event* is a file opened for writing (counted once it is open, so a kill leaves it empty), a safetensors
weights file (a kill leaves half of it), and a rename or hard link of a file or folder (counted before it happens).
`run_killed` runs a scenario below in a child process forked from a server that has imported torch, transformers
and attnseq once (fast, and safe to fork: the server never runs torch), which SIGKILLs itself at event N;
`full_disk_from` raises `OSError(ENOSPC)` at event N and after, in this process.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import io
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import torch
import transformers.modeling_utils
from transformers import Seq2SeqTrainer, Seq2SeqTrainingArguments

import attnseq
from attnseq import CharTokenizer

TOKENIZER_TEXTS = ["abcdef "]


class WriteEvents:
    """Counts write events and acts at event `at`: `"kill"` (SIGKILL this process) or `"full"` (ENOSPC from then on)."""

    def __init__(self, at: int | None = None, action: str = "kill"):
        self.at, self.action, self.count, self.log = at, action, 0, []

    def event(self, what: str, path) -> bool:
        """Count one event; kill here or raise ENOSPC where asked. Returns whether this event is the chosen one."""
        self.count += 1
        self.log.append((self.count, what, os.fspath(path)))
        hit = self.at is not None and (self.count == self.at or (self.action == "full" and self.count > self.at))
        if hit and self.action == "full":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(path))
        return hit

    def kill(self) -> None:
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    @contextlib.contextmanager
    def installed(self):
        real_open, real_replace, real_rename, real_link = builtins.open, os.replace, os.rename, os.link
        real_save = transformers.modeling_utils.safe_save_file

        def open_(file, mode="r", *args, **kwargs):
            writing = isinstance(file, (str, bytes, os.PathLike)) and any(flag in mode for flag in "wax+")
            if writing and self.action == "full" and self.at is not None and self.count + 1 >= self.at:
                self.event("open", file)  # raises ENOSPC
            handle = real_open(file, mode, *args, **kwargs)
            if writing and self.event("open", file):
                self.kill()
            return handle

        def moved(real, what):
            def move(source, destination, *args, **kwargs):
                if self.action == "kill" and self.event(what, destination):
                    self.kill()
                return real(source, destination, *args, **kwargs)

            return move

        def save_file(tensors, filename, *args, **kwargs):
            real_save(tensors, filename, *args, **kwargs)
            if self.action == "full":
                if self.at is not None and self.count + 1 >= self.at:
                    os.truncate(filename, os.path.getsize(filename) // 2)  # the disk filled half way
                self.event("safetensors", filename)
            elif self.event("safetensors", filename):
                os.truncate(filename, os.path.getsize(filename) // 2)  # killed half way through the weights
                self.kill()

        patches = {
            (builtins, "open"): open_,
            (io, "open"): open_,
            (os, "replace"): moved(real_replace, "replace"),
            (os, "rename"): moved(real_rename, "rename"),
            (os, "link"): moved(real_link, "link"),
            (transformers.modeling_utils, "safe_save_file"): save_file,
        }
        originals = {key: getattr(*key) for key in patches}
        for (owner, name), replacement in patches.items():
            setattr(owner, name, replacement)
        try:
            yield self
        finally:
            for (owner, name), original in originals.items():
                setattr(owner, name, original)


def full_disk_from(at: int) -> contextlib.AbstractContextManager[WriteEvents]:
    """Inside the block, write event `at` and every later one fail with `OSError(ENOSPC)`."""
    return WriteEvents(at, action="full").installed()


def _child(scenario: str, args: tuple, kill_at: int | None, log_path: str) -> None:
    events = WriteEvents(kill_at)
    with events.installed():
        globals()[scenario](*args)
    Path(log_path).write_text(json.dumps(events.log))


_CONTEXT = None


def run_killed(scenario: str, *args, kill_at: int | None = None, log_path: Path) -> list | None:
    """Run `scenario(*args)` in a child process killed at write event `kill_at` (`None`: never).

    Returns the event log of a run that finished (`kill_at=None`), `None` for a killed one.
    """
    global _CONTEXT
    if _CONTEXT is None:
        import multiprocessing.forkserver

        _CONTEXT = multiprocessing.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(["fault_injection"])
        # the server imports its preload modules from its own path (Python 3.11 ignores the parent's sys.path)
        saved = os.environ.get("PYTHONPATH")
        here = str(Path(__file__).resolve().parent)
        os.environ["PYTHONPATH"] = os.pathsep.join([here, *([saved] if saved else [])])
        try:
            multiprocessing.forkserver.ensure_running()
        finally:
            if saved is None:
                del os.environ["PYTHONPATH"]
            else:
                os.environ["PYTHONPATH"] = saved
    process = _CONTEXT.Process(target=_child, args=(scenario, args, kill_at, str(log_path)))
    process.start()
    process.join(300)
    if kill_at is None:
        assert process.exitcode == 0, f"{scenario} failed with exit code {process.exitcode}"
        return [tuple(entry) for entry in json.loads(Path(log_path).read_text())]
    assert process.exitcode == -signal.SIGKILL, f"{scenario} was not killed at write {kill_at}: {process.exitcode}"
    return None


# --- models and scenarios (run in the child) --------------------------------------------------------------------


def tokenizer() -> CharTokenizer:
    return CharTokenizer.from_texts(TOKENIZER_TEXTS)


def tiny_model(seed: int):
    torch.manual_seed(seed)
    config = attnseq.Seq2SeqLSTMConfig(vocab_size=len(tokenizer()), hidden_size=8, embedding_size=4, attention="dot")
    return attnseq.Seq2SeqLSTMForConditionalGeneration(config).eval()


def save_model(folder: str, seed: int) -> None:
    """`save_pretrained` of the model of `seed` into `folder`."""
    tiny_model(seed).save_pretrained(folder)


def export_command(checkpoint: str, out: str, cwd: str) -> None:
    """`attnseq export CHECKPOINT OUT --overwrite` run from `cwd`."""
    from attnseq.cli import main

    os.chdir(cwd)
    assert main(["export", checkpoint, out, "--overwrite"]) == 0


class _SilentHub:
    """`HfApi` for staging only: the upload sends nothing."""

    def __init__(self, token=None):
        pass

    def create_repo(self, repo_id, **kwargs):
        return type("Repo", (), {"repo_id": repo_id})()

    def upload_folder(self, **kwargs):
        return type("Commit", (), {"commit_url": "-"})()


def push_staging(checkpoint: str, temporary: str) -> None:
    """`push_folder(CHECKPOINT, remote_code=True)` staging its upload under `temporary`."""
    from attnseq.hub_cards import push as push_module

    tempfile.tempdir = temporary
    push_module.HfApi = _SilentHub
    push_module.push_folder(checkpoint, "user/model", remote_code=True, token="hf_test")


def train_rotating(output_dir: str, max_steps: int) -> None:
    """A stock `Seq2SeqTrainer` run saving a checkpoint every step and keeping one (`save_total_limit=1`)."""
    from attnseq.data.encoding import build_data_collator

    vocabulary = tokenizer()
    model = tiny_model(0).train()
    rows = [dict(vocabulary(text, text_target=text[::-1])) for text in ("abc", "fed", "cab", "dab")]
    arguments = Seq2SeqTrainingArguments(
        output_dir=output_dir,
        max_steps=max_steps,
        per_device_train_batch_size=2,
        save_strategy="steps",
        save_steps=1,
        save_total_limit=1,
        report_to=[],
        disable_tqdm=True,
        logging_strategy="no",
        use_cpu=True,
        dataloader_pin_memory=False,
        seed=0,
    )
    trainer = Seq2SeqTrainer(
        model=model, args=arguments, train_dataset=rows, data_collator=build_data_collator(vocabulary, model)
    )
    trainer.train()


def copy_tree(source: Path, destination: Path) -> Path:
    shutil.copytree(source, destination, symlinks=True)
    return destination
