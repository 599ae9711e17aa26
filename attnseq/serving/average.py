"""`attnseq average CHECKPOINT... --output_dir OUT`: one checkpoint whose weights are the element-wise mean of the
weights of several checkpoints of one architecture (`attnseq.modeling.averaging`), with their tokenizer, the first
one's generation config and a card that names the checkpoints averaged.

The output folder follows the export's rules (`attnseq.folders`): a new or empty folder, or with `--overwrite` an
earlier output of this command; never a folder holding one of the checkpoints or the current directory. It is built
beside its destination and swapped into place whole.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from ..data.run_record import read_run_info, write_run_info
from ..flags import FlagParser
from ..folders import check_export_folder, export_folder
from ..modeling.averaging import TOKENIZER_FILES, average_checkpoints, check_checkpoint_folders

AVERAGE_FORMAT = "average"  # the `format` of the folder marker, which says what wrote the folder


def write_average(
    checkpoints: Sequence[str | os.PathLike],
    output_dir: str | os.PathLike,
    *,
    overwrite: bool = False,
    write_card: Callable[[Path], object] | None = None,
    selection: str | None = None,
) -> Path:
    """Average `checkpoints` into the folder `output_dir`; returns its absolute path.

    Args:
        checkpoints: two or more checkpoint folders of one architecture and tokenizer.
        output_dir: the folder to write (new or empty, or an earlier average with `overwrite`).
        write_card: writes the model card into a checkpoint folder (`attnseq.hub_cards.write_model_card`, which
            this app does not import); None: no card.
        selection: how the checkpoints were chosen, for the card.

    The run record (`attnseq_training.json`) is the first checkpoint's that has one (a Trainer's `checkpoint-N`
    folder has its run's, in the folder above), with the averaged checkpoints added, so the card names them (and any
    later card, `attnseq push`, does too). Test results and the training log of the inputs are left behind: they
    describe other weights.

    Raises:
        CheckpointsRefused: the checkpoints are missing, fewer than two, or not of one architecture and tokenizer.
        FolderRefused: `output_dir` may not be written. Nothing is written in either case.
    """
    paths = check_checkpoint_folders(checkpoints)
    out = check_export_folder(
        output_dir, inputs=paths, overwrite=overwrite, command="--overwrite", reading="being averaged"
    )
    model = average_checkpoints(paths)
    names = [os.path.normpath(path) for path in paths]
    run = next((info for info in map(_run_record, paths) if info), {})
    source = ", ".join(str(path.absolute()) for path in paths)
    with export_folder(out, export_format=AVERAGE_FORMAT, source=source) as build:
        model.save_pretrained(build)
        for name in TOKENIZER_FILES:
            if (paths[0] / name).is_file():
                shutil.copy2(paths[0] / name, build / name)
        write_run_info(
            build,
            dataset=run.get("dataset"),
            example=run.get("example"),
            hyperparameters=run.get("hyperparameters") or {},
            base_model=run.get("base_model"),
            language=run.get("language"),
            averaged={"checkpoints": names, "selection": selection},
        )
        if write_card is not None:
            write_card(build)
    return out


def _run_record(checkpoint: Path) -> dict:
    """The run record of `checkpoint`, or of the run folder above a Trainer's `checkpoint-N` folder."""
    found = read_run_info(checkpoint)
    if not found and re.fullmatch(r"checkpoint-\d+", checkpoint.absolute().name):
        found = read_run_info(checkpoint.absolute().parent)
    return found


def average_command(argv: Sequence[str], write_card: Callable[[Path], object] | None = None) -> int:
    """`attnseq average CHECKPOINT... --output_dir OUT` (`write_card` as in `write_average`)."""
    parser = FlagParser(
        prog="attnseq average",
        description="Write one checkpoint whose weights are the element-wise mean of the weights of CHECKPOINT... "
        "(two or more checkpoints of one architecture and tokenizer, e.g. the last checkpoint-N folders of a run), "
        "with their tokenizer, the first one's generation config and a card naming the checkpoints averaged.",
    )
    parser.add_argument("checkpoints", nargs="+", metavar="CHECKPOINT", help="checkpoint folders to average")
    parser.add_argument(
        "--output_dir", required=True,
        help="the folder to write: a new or empty one; never a folder it did not write, one that holds a "
        "checkpoint being averaged, or the current directory (refused with exit status 2, nothing touched)",
    )  # fmt: skip
    parser.add_argument(
        "--overwrite", action="store_true",
        help="replace an earlier output of attnseq average (one that holds only the files it wrote): the new folder "
        "is built beside it and swapped in whole",
    )  # fmt: skip
    args = parser.parse_args(argv)
    out = write_average(args.checkpoints, args.output_dir, overwrite=args.overwrite, write_card=write_card)
    print(f"wrote the average of {len(args.checkpoints)} checkpoints to {out}")
    return 0


__all__ = ["average_command", "write_average"]
