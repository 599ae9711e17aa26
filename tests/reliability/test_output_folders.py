"""No command removes what it did not write: `attnseq export` (both formats), `attnseq train --output_dir`,
`attnseq card` and `attnseq push` refuse a folder they may not write with one line and exit status 2, touching
nothing, and `export --overwrite` replaces only an earlier export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import attnseq  # noqa: F401  (registers the model types)
from attnseq import CharTokenizer, Seq2SeqTransformerConfig, Seq2SeqTransformerForConditionalGeneration
from attnseq.cli import main
from attnseq.folders import EXPORT_MARKER, check_run_folder, claim_run_folder, is_run_folder

FORMATS = ("remote_code", "ctranslate2")


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root` (relative path -> bytes), and every folder (relative path/ -> b"")."""
    return {
        path.relative_to(root).as_posix() + ("/" if path.is_dir() else ""): b"" if path.is_dir() else path.read_bytes()
        for path in sorted(root.rglob("*"))
    }


def save_training_folder(folder: Path, seed: int = 0) -> Path:
    """A tiny Transformer checkpoint with its tokenizer, laid out as `attnseq train` leaves it (results, predictions,
    pickled arguments, a `checkpoint-*` folder)."""
    tokenizer = CharTokenizer.from_texts(["abcdef "])
    torch.manual_seed(seed)
    config = Seq2SeqTransformerConfig(
        vocab_size=len(tokenizer),
        d_model=8,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=8,
        decoder_ffn_dim=8,
    )
    Seq2SeqTransformerForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "all_results.json").write_text('{"test_exact_match": 0.5}\n')
    (folder / "test_predictions.txt").write_text("abc\n")
    (folder / "training_args.bin").write_bytes(b"pickled arguments")
    (folder / "checkpoint-2").mkdir()
    (folder / "checkpoint-2" / "trainer_state.json").write_text('{"global_step": 2}\n')
    return folder


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return save_training_folder(tmp_path_factory.mktemp("template") / "ck")


@pytest.fixture
def work(tmp_path, template, monkeypatch) -> Path:
    """A folder holding `ck/` (a training output) and `notes.txt`, made the current directory."""
    import shutil

    shutil.copytree(template, tmp_path / "ck")
    (tmp_path / "notes.txt").write_text("my notes\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def refused(capsys, *argv: str) -> str:
    """Run `attnseq ARGV`, check it exits with status 2 and one line on stderr; return that line."""
    capsys.readouterr()  # what earlier commands printed
    status = main(list(argv))
    err = capsys.readouterr().err
    assert status == 2, err
    assert len(err.strip().splitlines()) == 1, err
    return err.strip()


@pytest.mark.parametrize("export_format", FORMATS)
def test_export_into_the_current_directory_is_refused(work, capsys, export_format):
    before = snapshot(work)
    line = refused(capsys, "export", "ck", ".", "--format", export_format)
    assert line.startswith("attnseq export: error: refusing to write .: it holds the current directory")
    assert snapshot(work) == before


@pytest.mark.parametrize("export_format", FORMATS)
def test_export_into_the_folder_holding_the_checkpoint_is_refused(work, capsys, monkeypatch, export_format):
    (work / "parent").mkdir()
    (work / "ck").rename(work / "parent" / "ck")
    (work / "elsewhere").mkdir()
    monkeypatch.chdir(work / "elsewhere")
    before = snapshot(work)
    for out in ("../parent", "../parent/ck"):  # the folder holding the checkpoint, and the checkpoint itself
        line = refused(capsys, "export", "../parent/ck", out, "--format", export_format, "--overwrite")
        assert f"refusing to write {out}: it holds the checkpoint ../parent/ck being exported" in line
    assert snapshot(work) == before


@pytest.mark.parametrize("export_format", FORMATS)
def test_export_of_a_checkpoint_into_itself_is_refused(work, capsys, export_format):
    before = snapshot(work)
    line = refused(capsys, "export", "ck", "ck", "--format", export_format)
    assert "refusing to write ck: it holds the checkpoint ck being exported" in line
    assert snapshot(work) == before


@pytest.mark.parametrize("export_format", FORMATS)
def test_export_into_a_foreign_folder_is_refused_even_with_overwrite(work, capsys, export_format):
    (work / "out").mkdir()
    (work / "out" / "mine.txt").write_text("not an export\n")
    before = snapshot(work)
    for extra in ((), ("--overwrite",)):
        line = refused(capsys, "export", "ck", "out", "--format", export_format, *extra)
        assert "refusing to write out: it is not empty (mine.txt) and no export wrote it" in line
    assert snapshot(work) == before


@pytest.mark.parametrize("export_format", FORMATS)
def test_overwrite_replaces_only_an_earlier_export(work, capsys, export_format):
    assert main(["export", "ck", "out", "--format", export_format]) == 0
    marker = json.loads((work / "out" / EXPORT_MARKER).read_text())
    assert marker["format"] == export_format
    assert sorted(marker["files"]) == sorted(p.name for p in (work / "out").iterdir() if p.name != EXPORT_MARKER)

    before = snapshot(work)
    line = refused(capsys, "export", "ck", "out", "--format", export_format)  # without --overwrite
    assert "it holds an earlier export; pass --overwrite to replace it" in line
    assert snapshot(work) == before

    assert main(["export", "ck", "out", "--format", export_format, "--overwrite"]) == 0
    assert sorted(p.name for p in work.iterdir()) == ["ck", "notes.txt", "out"]  # no temporary folder left

    (work / "out" / "added.txt").write_text("mine\n")  # a file the export did not write
    first = work / "out" / "config.json"
    first.write_text(first.read_text() + " ")  # and one it wrote, changed since
    before = snapshot(work)
    line = refused(capsys, "export", "ck", "out", "--format", export_format, "--overwrite")
    assert "it holds files the earlier export did not write or that changed since" in line
    assert "added.txt" in line and first.name in line
    assert snapshot(work) == before


def test_export_replaces_a_folder_with_a_new_checkpoints_export(work):
    """The Python functions take `overwrite` too, and the replaced export is the new checkpoint's."""
    from attnseq.hub_cards import export_for_remote_code

    save_training_folder(work / "other", seed=1)
    export_for_remote_code(work / "ck", work / "out")
    export_for_remote_code(work / "other", work / "out", overwrite=True)
    assert (work / "out" / "model.safetensors").read_bytes() == (work / "other" / "model.safetensors").read_bytes()


def test_train_into_a_foreign_folder_is_refused(work, capsys):
    (work / "data").mkdir()
    (work / "data" / "thesis.tex").write_text("years of work\n")
    before = snapshot(work)
    for folder in ("data", "."):
        line = refused(capsys, "train", "--output_dir", folder, "--max_steps", "1", "--num_train", "8")
        assert line.startswith(f"attnseq train: error: refusing to train into --output_dir {folder}: ")
    assert snapshot(work) == before


def test_train_accepts_new_empty_and_earlier_run_folders(tmp_path):
    check_run_folder(tmp_path / "new")
    (tmp_path / "empty").mkdir()
    check_run_folder(tmp_path / "empty")
    claim_run_folder(tmp_path / "run")  # what a run writes first thing: running it again (or resuming) is accepted
    assert is_run_folder(tmp_path / "run")
    (tmp_path / "run" / "runs").mkdir()  # the logs of the killed first attempt
    check_run_folder(tmp_path / "run")
    trainer_output = tmp_path / "trainer"
    (trainer_output / "checkpoint-5").mkdir(parents=True)
    (trainer_output / "checkpoint-5" / "trainer_state.json").write_text('{"global_step": 5}')
    check_run_folder(trainer_output)  # a run killed after its first checkpoint


def test_card_refuses_a_card_attnseq_did_not_write(work, capsys):
    (work / "ck" / "README.md").write_text("# My own notes on this model\n")
    before = snapshot(work)
    line = refused(capsys, "card", "ck")
    assert "refusing to write ck/README.md: attnseq did not write that card" in line
    assert snapshot(work) == before


class RecordingHub:
    """Stands in for `huggingface_hub.HfApi` in `push_folder`: records what the upload would send."""

    uploads: list[dict[str, bytes]] = []

    def __init__(self, token=None):
        pass

    def create_repo(self, repo_id, **kwargs):
        return type("Repo", (), {"repo_id": repo_id})()

    def create_branch(self, *args, **kwargs):
        pass

    def upload_folder(self, folder_path, ignore_patterns=(), **kwargs):
        sent = {name: data for name, data in snapshot(Path(folder_path)).items() if name not in ignore_patterns}
        RecordingHub.uploads.append(sent)
        return type("Commit", (), {"commit_url": "http://hub/commit/1"})()


@pytest.mark.parametrize("remote_code", [False, True])
def test_push_staging_leaves_the_folder_as_it_was(work, capsys, monkeypatch, remote_code):
    from attnseq.hub_cards import push as push_module

    monkeypatch.setattr(push_module, "HfApi", RecordingHub)
    RecordingHub.uploads = []
    before = snapshot(work)
    status = main(["push", "ck", "user/model", "--token", "hf_x", *(["--remote_code"] if remote_code else [])])
    assert status == 0, capsys.readouterr().err
    assert snapshot(work) == before  # the staged card, code and config were written into copies only
    sent = RecordingHub.uploads[-1]
    assert b"<!-- written by attnseq -->" in sent["README.md"] and EXPORT_MARKER not in sent
    assert ("modeling_seq2seq_transformer.py" in sent) == remote_code
    assert "training_args.bin" not in sent and "checkpoint-2/" not in sent
