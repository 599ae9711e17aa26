"""Which folders a command may write, and how a written folder replaces an earlier one.

Every command that writes a folder follows one policy, so that nothing a user made is lost:

- An export (`attnseq export`, both formats) writes a folder of its own. It refuses, touching nothing, an output
  folder that is not empty and holds no export marker (`attnseq_export.json`, written last by every export), one
  that holds the checkpoint being exported or equals it, and one that holds the current directory. An earlier
  export is replaced only with `overwrite=True` (`--overwrite`), and only when the folder holds nothing but the
  files that export wrote, unchanged (the marker lists them with their SHA-256). The new folder is built in a
  hidden temporary sibling and swapped into place in one rename, so a killed export leaves the old one whole.
- `attnseq train --output_dir` writes into a folder that is missing, empty, or the output of an earlier run
  (`is_run_folder`); anything else is refused before training starts, and the run marks its folder first thing
  (`claim_run_folder`).
- `attnseq average` writes its averaged checkpoint by the export's rules (its inputs are the checkpoints averaged).
- `attnseq card` replaces only a card attnseq wrote (`check_card_folder`).

A refusal is a `FolderRefused` (a `ValueError`): the command line prints its one line and exits with status 2.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from .atomic import flush, flush_folder

EXPORT_MARKER = "attnseq_export.json"
# What an earlier `attnseq train` leaves in its --output_dir (any one of them makes it a run folder).
RUN_FILES = ("attnseq_training.json", "trainer_state.json", "training_args.bin")
RUN_MARKER = "attnseq_training.json"
EXIT_REFUSED = 2
_SHOWN = 4  # entries named in a refusal


class FolderRefused(ValueError):
    """A command refuses to write into a folder; nothing was touched. The command line exits with status 2."""

    exit_status = EXIT_REFUSED


def _resolved(path: str | os.PathLike) -> Path:
    return Path(os.path.realpath(os.path.abspath(path)))


def _is_within(inner: Path, outer: Path) -> bool:
    """Whether the resolved path `inner` is `outer` or lies below it."""
    return inner == outer or outer in inner.parents


def _listing(folder: Path) -> str:
    names = sorted(entry.name + ("/" if entry.is_dir() else "") for entry in folder.iterdir())
    more = f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
    return ", ".join(names[:_SHOWN]) + more


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _written_files(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under `folder` but the marker."""
    return {
        path.relative_to(folder).as_posix(): file_digest(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != EXPORT_MARKER
    }


def read_export_marker(folder: str | os.PathLike) -> dict | None:
    """The marker of an earlier export in `folder`, or `None` when it has none (or an unreadable one)."""
    path = Path(folder) / EXPORT_MARKER
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) and isinstance(marker.get("files"), dict) else None


def check_export_folder(
    out: str | os.PathLike,
    *,
    inputs: Iterable[str | os.PathLike] = (),
    overwrite: bool = False,
    command: str,
    reading: str = "being exported",
) -> Path:
    """Check that an export may write the folder `out`; returns its absolute path.

    Args:
        out: the folder to write.
        inputs: local folders the export reads (the checkpoint); `out` may neither be one of them nor hold one.
        reading: how the refusal says what the command does with an input (`"being averaged"`).
        overwrite: replace an earlier export (a folder with the marker holding only the files that export wrote).
        command: how the refusal names the command's overwrite option (`"--overwrite"` or `"overwrite=True"`).

    Raises:
        FolderRefused: `out` is a file, holds the current directory or an input, is not empty and no export wrote
            it, holds an earlier export without `overwrite`, or holds files that export did not write.
    """
    absolute = Path(os.path.abspath(out))
    resolved = _resolved(out)
    where = f"refusing to write {out}"
    if resolved.exists() and not resolved.is_dir():
        raise FolderRefused(f"{where}: it is a file, not a folder.")
    if _is_within(_resolved(os.getcwd()), resolved):
        raise FolderRefused(f"{where}: it holds the current directory; choose a new or empty folder.")
    for source in inputs:
        if os.path.isdir(source) and _is_within(_resolved(source), resolved):
            raise FolderRefused(f"{where}: it holds the checkpoint {source} {reading}; choose another folder.")
    if not resolved.is_dir() or not any(resolved.iterdir()):
        return absolute
    marker = read_export_marker(resolved)
    if marker is None:
        raise FolderRefused(
            f"{where}: it is not empty ({_listing(resolved)}) and no export wrote it; choose a new or empty folder."
        )
    if not overwrite:
        raise FolderRefused(f"{where}: it holds an earlier export; pass {command} to replace it.")
    written = marker["files"]
    found = _written_files(resolved)
    foreign = sorted(name for name, digest in found.items() if written.get(name) != digest)
    foreign += sorted(
        entry.name + "/"
        for entry in resolved.rglob("*")
        if entry.is_dir() and not any(name.startswith(entry.relative_to(resolved).as_posix() + "/") for name in written)
    )
    if foreign:
        shown = ", ".join(foreign[:_SHOWN]) + (f" and {len(foreign) - _SHOWN} more" if len(foreign) > _SHOWN else "")
        raise FolderRefused(
            f"{where}: it holds files the earlier export did not write or that changed since ({shown}); "
            "move them out or choose another folder."
        )
    return absolute


@contextlib.contextmanager
def export_folder(out: Path, *, export_format: str, source: str | None = None) -> Iterator[Path]:
    """Yield an empty hidden sibling of `out` to build an export in; on success write the marker and swap the folder
    into place, then remove the earlier export (checked by `check_export_folder`). On failure the build folder is
    removed and `out` is left as it was.

    The swap is one `renameat2(RENAME_EXCHANGE)` where the system has it (Linux), so `out` is at every moment the
    old export or the new one; elsewhere the old folder is renamed aside first.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{out.name}.export-", dir=out.parent))
    build.chmod(0o755)
    try:
        yield build
        marker = {"format": export_format, "source": source, "files": _written_files(build)}
        (build / EXPORT_MARKER).write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        flush(build)
        if out.exists():
            if not _exchange(build, out):
                aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
                os.replace(out, aside / out.name)
                os.replace(build, out)
                build = aside
        else:
            os.replace(build, out)
        flush_folder(out.parent)
    finally:
        shutil.rmtree(build, ignore_errors=True)


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths atomically (Linux `renameat2` with `RENAME_EXCHANGE`); `False` where that is not available."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        renameat2 = ctypes.CDLL(name, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange)
    return result == 0


def is_complete_checkpoint(folder: str | os.PathLike) -> bool:
    """Whether a Trainer `checkpoint-N` folder was written to the end: its `trainer_state.json` (which the Trainer
    writes last, in place) exists and parses. A run killed while writing that file leaves it empty or cut short."""
    try:
        state = json.loads((Path(folder) / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(state, dict)


def is_run_folder(folder: str | os.PathLike) -> bool:
    """Whether `folder` is the output of an earlier training run: it holds `attnseq_training.json` (which `attnseq
    train` writes before training), a Trainer's `trainer_state.json` or `training_args.bin`, or a complete
    `checkpoint-N` folder."""
    folder = Path(folder)
    if any((folder / name).is_file() for name in RUN_FILES):
        return True
    return any(
        entry.is_dir() and entry.name.startswith("checkpoint-") and is_complete_checkpoint(entry)
        for entry in folder.iterdir()
    )


def claim_run_folder(output_dir: str | os.PathLike, *, main_process: bool = True) -> None:
    """Check `--output_dir` (`check_run_folder`) and, in the main process, mark it as a run's folder before training
    starts: an empty `attnseq_training.json` (the run fills it in at the end), so that running the same command
    again after a kill, or resuming, finds it a run folder."""
    check_run_folder(output_dir)
    if main_process:
        os.makedirs(output_dir, exist_ok=True)
        marker = Path(output_dir) / RUN_MARKER
        if not marker.exists():
            marker.write_text("{}\n", encoding="utf-8")


def check_run_folder(output_dir: str | os.PathLike) -> None:
    """Refuse an `--output_dir` that a training run must not write into.

    Accepted: a missing or empty folder, or the output of an earlier run (`is_run_folder`: resuming, or running the
    same command again). Refused: a file, a folder that holds the current directory, any other non-empty folder.

    Raises:
        FolderRefused: with the reason, in one line.
    """
    resolved = _resolved(output_dir)
    where = f"refusing to train into --output_dir {output_dir}"
    if resolved.exists() and not resolved.is_dir():
        raise FolderRefused(f"{where}: it is a file, not a folder.")
    if not resolved.is_dir():
        return
    if _is_within(_resolved(os.getcwd()), resolved):
        raise FolderRefused(f"{where}: it holds the current directory; choose a new or empty folder.")
    if any(resolved.iterdir()) and not is_run_folder(resolved):
        raise FolderRefused(
            f"{where}: it is not empty ({_listing(resolved)}) and holds no earlier training run "
            f"({' or '.join(RUN_FILES)}); choose a new or empty folder."
        )


__all__ = [
    "EXPORT_MARKER",
    "FolderRefused",
    "check_export_folder",
    "check_run_folder",
    "claim_run_folder",
    "export_folder",
    "is_complete_checkpoint",
    "is_run_folder",
    "read_export_marker",
]
