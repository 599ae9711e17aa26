"""Checkpoint folders that are written whole or not at all.

`save_pretrained` writes several files into a folder. Written in place, a failure half way (a full disk,
an interrupted process, a value that cannot be serialised) leaves the folder with a truncated weights
file or a mix of old and new files. `staged_folder` has the files written into a fresh temporary folder
next to the destination instead, flushes them to disk and only then renames each one into place with
`os.replace`, which is atomic: a failure before the renames leaves the previous checkpoint untouched and
removes the temporary folder. Other files in the destination (tokenizer files next to the model, the
Trainer's `checkpoint-*` folders) are kept. `replaced_file` does the same for one file (a model card, a
heatmap).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

STAGING_INFIX = ".saving-"
# Keyword arguments of `save_pretrained(..., push_to_hub=True)` that belong to the upload, not to the save.
UPLOAD_ARGUMENTS = ("repo_id", "commit_message", "commit_description", "private", "create_pr", "revision", "token")


@contextlib.contextmanager
def staged_folder(destination: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder to write into; on success move its entries into `destination`.

    The temporary folder is a hidden sibling of `destination` (so the renames stay on one file system) and
    is removed in every case. `destination` is created if missing.

    Raises:
        NotADirectoryError: `destination` exists and is a file.
    """
    destination = Path(destination)
    if destination.exists() and not destination.is_dir():
        raise NotADirectoryError(f"{destination} is a file; a checkpoint is saved into a folder.")
    destination.mkdir(parents=True, exist_ok=True)
    parent = destination.absolute().parent
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.absolute().name}{STAGING_INFIX}", dir=parent))
    try:
        yield staging
        entries = sorted(staging.iterdir())
        for entry in entries:
            flush(entry)
        for entry in entries:
            target = destination / entry.name
            if entry.is_dir() and target.is_dir():
                shutil.rmtree(target)
            os.replace(entry, target)
        flush_folder(destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def replaced_file(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path next to `path` to write into; on success rename it over `path` (readable by all,
    like a file written in place), on failure remove it and leave `path` as it was."""
    path = Path(path)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(handle)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def flush(path: Path) -> None:
    """Make the content of a file (or of every file under a folder) durable before it is renamed."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    for file in files:
        with open(file, "rb") as handle:
            os.fsync(handle.fileno())


def flush_folder(folder: Path) -> None:
    """Make the renames into `folder` durable (a no-op where folders cannot be opened, as on Windows)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)
