"""Fault injection at the writes users depend on.

A process killed (SIGKILL) at each of its file writes during `save_pretrained`, `attnseq export --overwrite`,
`attnseq push` staging and a Trainer run rotating its checkpoints (`save_total_limit`) leaves the previous complete
version loadable where it was, and no half-written folder that loads; a full disk (`OSError(ENOSPC)` from a chosen
write on) gives one clear error and leaves the previous files intact. Every kill point is a write event of
`fault_injection.WriteEvents`, counted in an uninterrupted run first, so the faults are the same on every run.

The totals (faults injected, states checked, versions lost) are printed at the end of the module (`pytest -s`).
"""

from __future__ import annotations

import errno
import json
from collections import Counter
from pathlib import Path

import fault_injection
import pytest
import torch
from fault_injection import copy_tree, full_disk_from, run_killed, tiny_model, tokenizer
from transformers import AutoModelForSeq2SeqLM, TrainerState

from attnseq.cli import main
from attnseq.folders import EXPORT_MARKER, file_digest
from attnseq.training.resume import resolve_resume_checkpoint

TALLY: Counter = Counter()
INPUTS = {"input_ids": torch.tensor([[4, 5, 6, 2]]), "decoder_input_ids": torch.tensor([[1, 7, 8]])}


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    print(
        f"\nfault injection: {TALLY['faults']} faults injected, {TALLY['states']} states checked, "
        f"{TALLY['lost']} versions lost"
    )
    assert TALLY["lost"] == 0


def snapshot(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def logits(folder: Path) -> torch.Tensor | None:
    """The logits of the model in `folder`, or `None` when it does not load."""
    try:
        model = AutoModelForSeq2SeqLM.from_pretrained(folder).eval()
    except Exception:  # noqa: BLE001 - any failure to load counts as "does not load"
        return None
    with torch.no_grad():
        return model(**INPUTS).logits


def is_version(found: torch.Tensor | None, versions: list[torch.Tensor]) -> bool:
    return found is not None and any(torch.equal(found, version) for version in versions)


def check_leftovers(root: Path, versions: list[torch.Tensor], skip: tuple[Path, ...] = ()) -> None:
    """Every folder under `root` that loads as a model (staging leftovers included) is a complete version."""
    for config in root.rglob("config.json"):
        folder = config.parent
        if folder in skip:
            continue
        found = logits(folder)
        TALLY["states"] += 1
        if found is not None and not is_version(found, versions):
            TALLY["lost"] += 1
            pytest.fail(f"{folder} is a half-written folder that loads")


def kill_points(count: int, most: int) -> list[int]:
    """`most` write events spread over `count` (all of them if there are few)."""
    if count <= most:
        return list(range(1, count + 1))
    return sorted({round(1 + i * (count - 1) / (most - 1)) for i in range(most)})


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    """Checkpoint folders of version 0 (model + tokenizer) and version 1 (another model), and their logits."""
    root = tmp_path_factory.mktemp("versions")
    folders = []
    for seed in (0, 1):
        folder = root / f"v{seed}"
        tiny_model(seed).save_pretrained(folder)
        tokenizer().save_pretrained(folder)
        folders.append(folder)
    return folders, [logits(folder) for folder in folders]


def test_kill_during_save_pretrained_keeps_the_previous_checkpoint(versions, tmp_path):
    (old, _), expected = versions
    events = run_killed("save_model", str(copy_tree(old, tmp_path / "count")), 1, log_path=tmp_path / "log")
    assert any(what == "safetensors" for _, what, _ in events)
    for kill_at in range(1, len(events) + 1):
        folder = copy_tree(old, tmp_path / f"kill-{kill_at}" / "checkpoint")
        tokenizer_files = {name: data for name, data in snapshot(folder).items() if "token" in name}
        run_killed("save_model", str(folder), 1, kill_at=kill_at, log_path=tmp_path / "log")
        TALLY["faults"] += 1
        TALLY["states"] += 1
        if not is_version(logits(folder), expected):
            TALLY["lost"] += 1
            pytest.fail(f"killed at write {kill_at} of {events}: the checkpoint no longer loads as a whole version")
        assert {name: data for name, data in snapshot(folder).items() if "token" in name} == tokenizer_files
        check_leftovers(folder.parent, expected, skip=(folder,))


def export_is_whole(out: Path, before: dict[str, bytes], new_logits: torch.Tensor) -> bool:
    """`out` is the earlier export byte for byte, or a complete new export (as its marker lists it) of version 1."""
    if snapshot(out) == before:
        return True
    marker = json.loads((out / EXPORT_MARKER).read_text())
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {EXPORT_MARKER}
    complete = files == set(marker["files"]) and all(
        file_digest(out / name) == digest for name, digest in marker["files"].items()
    )
    return complete and torch.equal(logits(out), new_logits)


@pytest.mark.slow
def test_kill_during_export_keeps_the_earlier_export(versions, tmp_path):
    (old, new), expected = versions
    template = tmp_path / "template"
    copy_tree(new, template / "checkpoint")
    assert main(["export", str(old), str(template / "export")]) == 0
    events = run_killed(
        "export_command",
        "checkpoint",
        "export",
        str(copy_tree(template, tmp_path / "count")),
        log_path=tmp_path / "log",
    )
    for kill_at in kill_points(len(events), 10):
        work = copy_tree(template, tmp_path / f"kill-{kill_at}")
        before = snapshot(work / "export")
        run_killed("export_command", "checkpoint", "export", str(work), kill_at=kill_at, log_path=tmp_path / "log")
        TALLY["faults"] += 1
        TALLY["states"] += 2
        assert snapshot(work / "checkpoint") == snapshot(template / "checkpoint")
        if not export_is_whole(work / "export", before, expected[1]):
            TALLY["lost"] += 1
            pytest.fail(f"killed at write {kill_at} ({events[kill_at - 1]}): the export folder is neither version")
        check_leftovers(work, expected, skip=(work / "checkpoint", work / "export"))


@pytest.mark.slow
def test_kill_during_push_staging_leaves_the_folder_and_no_half_checkpoint(versions, tmp_path):
    (_, new), expected = versions
    template = copy_tree(new, tmp_path / "checkpoint")
    before = snapshot(template)
    (tmp_path / "count-tmp").mkdir()
    events = run_killed("push_staging", str(template), str(tmp_path / "count-tmp"), log_path=tmp_path / "log")
    for kill_at in kill_points(len(events), 8):
        staging = tmp_path / f"kill-{kill_at}"
        staging.mkdir()
        run_killed("push_staging", str(template), str(staging), kill_at=kill_at, log_path=tmp_path / "log")
        TALLY["faults"] += 1
        TALLY["states"] += 1
        if snapshot(template) != before:
            TALLY["lost"] += 1
            pytest.fail(f"killed at write {kill_at}: push changed the folder it uploads")
        check_leftovers(staging, [expected[1]])


def resumable(folder: Path) -> bool:
    """Whether the Trainer can resume from `folder`: its state reads and its model loads."""
    try:
        TrainerState.load_from_json(str(folder / "trainer_state.json"))
    except ValueError:
        return False
    return logits(folder) is not None


@pytest.mark.slow
def test_kill_during_checkpoint_rotation_keeps_a_complete_checkpoint(tmp_path):
    steps = 3
    events = run_killed("train_rotating", str(tmp_path / "count"), steps, log_path=tmp_path / "log")
    # the write event of each checkpoint's trainer_state.json, which the Trainer writes last
    completed = {
        int(Path(path).parent.name.split("-")[1]): index
        for index, what, path in events
        if what == "open" and path.endswith("trainer_state.json") and "checkpoint-" in path
    }
    assert sorted(completed) == list(range(1, steps + 1))
    # spread kill points, and each trainer_state.json write (killed there, the file is empty)
    for kill_at in sorted(set(kill_points(len(events), 8)) | set(completed.values())):
        out = tmp_path / f"kill-{kill_at}"
        run_killed("train_rotating", str(out), steps, kill_at=kill_at, log_path=tmp_path / "log")
        TALLY["faults"] += 1
        TALLY["states"] += 1
        newest = max((step for step, index in completed.items() if index < kill_at), default=None)
        try:
            resumed = resolve_resume_checkpoint("last", str(out))
        except ValueError:
            resumed = None
        if newest is None:
            continue
        if resumed is None or int(Path(resumed).name.split("-")[1]) < newest or not resumable(Path(resumed)):
            TALLY["lost"] += 1
            pytest.fail(f"killed at write {kill_at} ({events[kill_at - 1]}): checkpoint-{newest} lost ({resumed})")


def test_full_disk_during_save_pretrained_keeps_the_previous_checkpoint(versions, tmp_path):
    (old, _), expected = versions
    counting = copy_tree(old, tmp_path / "count")
    with fault_injection.WriteEvents(action="full").installed() as counted:  # the events a full disk fails
        tiny_model(1).save_pretrained(counting)
    for at in range(1, counted.count + 1):
        folder = copy_tree(old, tmp_path / f"full-{at}" / "checkpoint")
        before = snapshot(folder)
        with pytest.raises(OSError) as raised, full_disk_from(at):
            tiny_model(1).save_pretrained(folder)
        TALLY["faults"] += 1
        TALLY["states"] += 1
        assert raised.value.errno == errno.ENOSPC
        if snapshot(folder) != before:
            TALLY["lost"] += 1
            pytest.fail(f"a full disk from write {at} changed the checkpoint")
        assert [p.name for p in folder.parent.iterdir()] == ["checkpoint"]  # no staging folder left
        assert is_version(logits(folder), expected)


@pytest.mark.parametrize("export_format", ["remote_code", "ctranslate2"])
def test_full_disk_during_export_is_one_error_and_keeps_the_earlier_export(versions, tmp_path, capsys, export_format):
    from attnseq import Seq2SeqTransformerConfig, Seq2SeqTransformerForConditionalGeneration

    torch.manual_seed(0)
    config = Seq2SeqTransformerConfig(
        vocab_size=len(tokenizer()), d_model=8, encoder_layers=1, decoder_layers=1, encoder_ffn_dim=8, decoder_ffn_dim=8
    )
    checkpoint = tmp_path / "checkpoint"
    Seq2SeqTransformerForConditionalGeneration(config).save_pretrained(checkpoint)
    tokenizer().save_pretrained(checkpoint)
    out = tmp_path / "export"
    argv = ["export", str(checkpoint), str(out), "--format", export_format, "--overwrite"]
    assert main(argv) == 0
    with fault_injection.WriteEvents(action="full").installed() as counted:  # the events a full disk fails
        assert main(argv) == 0
    before = snapshot(tmp_path)
    for at in kill_points(counted.count, 6):
        capsys.readouterr()
        with full_disk_from(at):
            status = main(argv)
        err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("attnseq")]
        TALLY["faults"] += 1
        TALLY["states"] += 1
        assert status == 1
        assert len(err) == 1 and err[0].startswith("attnseq export: error: [Errno 28] No space left on device")
        if snapshot(tmp_path) != before:
            TALLY["lost"] += 1
            pytest.fail(f"a full disk from write {at} changed the files")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint", "export"]  # no build folder left
