"""Checkpoint averaging: the element-wise mean of the weights of several checkpoints of one architecture.

Used by `attnseq average` (serving) and by `attnseq train --average_last/--average_best` (training); it lives here,
below both apps. The checkpoints must describe the same model: equal configs (apart from transformers' bookkeeping,
`BOOKKEEPING_CONFIG_KEYS`), the same tensors (names, shapes, dtypes) and, where they carry one, the same tokenizer
(equal tokenizer files). The mean is accumulated in float64 and stored in each tensor's own dtype; integer tensors
(buffers such as counters) must be equal in every checkpoint and are kept as they are.

Tied and shared weights stay tied: a checkpoint stores one tensor of each tied group, the mean is loaded into one
model built from the first checkpoint (`from_pretrained`, which ties them) with `load_state_dict`, so the tied
parameters of that model keep sharing their storage, and `save_pretrained` writes it as any checkpoint.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from safetensors import safe_open
from transformers.utils import SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME

from .loading import check_safetensors_checkpoint

# config.json keys that say how a checkpoint was written or is run, not what the model is
BOOKKEEPING_CONFIG_KEYS = frozenset(
    {
        "transformers_version",
        "_name_or_path",
        "_commit_hash",
        "_attn_implementation_autoset",
        "auto_map",  # the remote-code export's loader table
        "use_cache",
        "output_attentions",
        "output_hidden_states",
        "return_dict",
    }
)
# Files of a tokenizer as `save_pretrained` writes them (one kind or another); two checkpoints have the same
# tokenizer when they hold the same of these files with the same content.
TOKENIZER_FILES = (
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "tokenizer.json",
    "source_tokenizer.json",
    "target_tokenizer.json",
    "chat_template.jinja",
)
_SHOWN = 4  # differing keys or tensors named in a refusal


class CheckpointsRefused(ValueError):
    """The checkpoints cannot be averaged (missing, too few, or not of one architecture or tokenizer); nothing was
    written. The command line prints its one line and exits with status 2."""

    exit_status = 2


def _shown(names: Sequence[str]) -> str:
    more = f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
    return ", ".join(names[:_SHOWN]) + more


def check_checkpoint_folders(folders: Sequence[str | os.PathLike]) -> list[Path]:
    """The folders as paths, once each checked to be a saved checkpoint (config.json, safetensors weights).

    Raises:
        CheckpointsRefused: fewer than two folders, one named twice, one missing or without config.json.
        PickleCheckpointError, OSError: a folder without safetensors weights (`check_safetensors_checkpoint`).
    """
    paths = [Path(folder) for folder in folders]
    if len(paths) < 2:
        raise CheckpointsRefused(f"averaging needs at least 2 checkpoints, got {len(paths)}.")
    seen: dict[str, Path] = {}
    for path in paths:
        if not path.is_dir():
            raise CheckpointsRefused(f"{path} is not a checkpoint folder (no such folder).")
        if not (path / "config.json").is_file():
            raise CheckpointsRefused(f"{path} is not a checkpoint folder: it has no config.json.")
        resolved = os.path.realpath(path)
        if resolved in seen:
            raise CheckpointsRefused(f"{seen[resolved]} and {path} are the same checkpoint; name each one once.")
        seen[resolved] = path
        check_safetensors_checkpoint(path)
    return paths


def architecture_config(folder: str | os.PathLike) -> dict:
    """The config.json of `folder` without its bookkeeping keys: what decides the architecture."""
    config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    return {key: value for key, value in config.items() if key not in BOOKKEEPING_CONFIG_KEYS}


def check_same_architecture(folders: Sequence[str | os.PathLike]) -> None:
    """Raise `CheckpointsRefused` naming the config keys in which a checkpoint differs from the first one."""
    first = architecture_config(folders[0])
    for folder in folders[1:]:
        other = architecture_config(folder)
        differing = sorted(
            (key for key in first.keys() | other.keys() if first.get(key) != other.get(key)),
            key=lambda key: (key != "model_type", key),  # another family is said first
        )
        if differing:
            detail = _shown([f"{key} ({first.get(key)!r} vs {other.get(key)!r})" for key in differing])
            raise CheckpointsRefused(
                f"{folders[0]} and {folder} are not of one architecture: their configs differ in {detail}."
            )


def _tokenizer_content(folder: Path) -> dict[str, object]:
    """Tokenizer file name -> its content (parsed JSON, so that formatting does not count; bytes otherwise)."""
    found = {}
    for name in TOKENIZER_FILES:
        path = folder / name
        if path.is_file():
            data = path.read_bytes()
            if name.endswith(".json"):
                try:
                    data = json.loads(data)
                except ValueError:
                    pass
            found[name] = data
    return found


def check_same_tokenizer(folders: Sequence[str | os.PathLike]) -> None:
    """Raise `CheckpointsRefused` naming the tokenizer files that differ between the first checkpoint and another
    (a file one has and the other lacks counts as differing). Checkpoints without tokenizer files all pass."""
    first = _tokenizer_content(Path(folders[0]))
    for folder in folders[1:]:
        other = _tokenizer_content(Path(folder))
        differing = sorted(name for name in first.keys() | other.keys() if first.get(name) != other.get(name))
        if differing:
            raise CheckpointsRefused(
                f"{folders[0]} and {folder} do not have the same tokenizer: {_shown(differing)} differ; average "
                "checkpoints of one run (or of runs that share one tokenizer)."
            )


def weight_files(folder: str | os.PathLike) -> list[Path]:
    """The safetensors weight files of a checkpoint folder: `model.safetensors`, or the shards its index names."""
    folder = Path(folder)
    if (folder / SAFE_WEIGHTS_NAME).is_file():
        return [folder / SAFE_WEIGHTS_NAME]
    index = json.loads((folder / SAFE_WEIGHTS_INDEX_NAME).read_text(encoding="utf-8"))
    return [folder / name for name in sorted(set(index["weight_map"].values()))]


def _tensors(folder: Path) -> Iterable[tuple[str, torch.Tensor]]:
    for path in weight_files(folder):
        with safe_open(path, framework="pt") as handle:
            for name in handle.keys():  # noqa: SIM118 - safe_open has no __iter__
                yield name, handle.get_tensor(name)


def average_weights(folders: Sequence[str | os.PathLike]) -> dict[str, torch.Tensor]:
    """The element-wise mean of the stored tensors of `folders`, tensor by tensor.

    Floating tensors are summed in float64 (one checkpoint in memory at a time besides the sums) and the mean is
    cast back to the tensor's dtype; other tensors must be equal in every checkpoint and are kept.

    Returns:
        name -> mean tensor, for the names the checkpoints store (one per tied group).

    Raises:
        CheckpointsRefused: a checkpoint stores other tensor names, shapes or dtypes than the first.
    """
    sums: dict[str, torch.Tensor] = {}
    kinds: dict[str, tuple[torch.Size, torch.dtype]] = {}
    for number, folder in enumerate(folders):
        seen = set()
        for name, tensor in _tensors(Path(folder)):
            seen.add(name)
            if number == 0:
                kinds[name] = (tensor.shape, tensor.dtype)
                sums[name] = tensor.to(torch.float64) if tensor.is_floating_point() else tensor.clone()
                continue
            if name not in kinds:
                raise CheckpointsRefused(f"{folder} stores a tensor {name} that {folders[0]} does not.")
            if (tensor.shape, tensor.dtype) != kinds[name]:
                shape, dtype = kinds[name]
                raise CheckpointsRefused(
                    f"{folders[0]} and {folder} differ in the tensor {name}: {list(shape)} {dtype} vs "
                    f"{list(tensor.shape)} {tensor.dtype}."
                )
            if tensor.is_floating_point():
                sums[name] += tensor.to(torch.float64)
            elif not torch.equal(tensor, sums[name]):
                raise CheckpointsRefused(f"{folders[0]} and {folder} differ in the integer tensor {name}.")
        missing = sorted(set(kinds) - seen)
        if missing:
            raise CheckpointsRefused(f"{folder} lacks the tensor(s) {_shown(missing)} that {folders[0]} stores.")
    count = len(folders)
    return {
        name: (total / count).to(kinds[name][1]) if kinds[name][1].is_floating_point else total
        for name, total in sums.items()
    }


def load_weights(model: torch.nn.Module, weights: dict[str, torch.Tensor]) -> None:
    """Copy `weights` (name -> tensor, as a checkpoint stores them) into `model`'s parameters and buffers.

    A name a checkpoint leaves out must be tied to one it stores (share its storage in `model`), so that every
    tensor of the model is set; the tied ones keep sharing it.

    Raises:
        CheckpointsRefused: a stored name the model does not have, or a tensor of the model that is neither
            stored nor tied to a stored one.
    """
    state = model.state_dict(keep_vars=True)
    unknown = sorted(set(weights) - set(state))
    if unknown:
        raise CheckpointsRefused(f"the checkpoints store tensor(s) {_shown(unknown)} that the model does not have.")
    stored = {state[name].data_ptr() for name in weights}
    unset = sorted(name for name in set(state) - set(weights) if state[name].data_ptr() not in stored)
    if unset:
        raise CheckpointsRefused(f"the checkpoints do not store the model's tensor(s) {_shown(unset)}.")
    model.load_state_dict(weights, strict=False)


def average_checkpoints(folders: Sequence[str | os.PathLike]):
    """The averaged model of the checkpoint `folders` (all checked first).

    Returns:
        A model loaded from the first checkpoint with `AutoModelForSeq2SeqLM.from_pretrained` (its config and
        generation config), holding the mean of the weights of all of them, in eval mode.

    Raises:
        CheckpointsRefused: the folders are missing, fewer than two, or not of one architecture and tokenizer.
    """
    from transformers import AutoModelForSeq2SeqLM

    paths = check_checkpoint_folders(folders)
    check_same_architecture(paths)
    check_same_tokenizer(paths)
    weights = average_weights(paths)
    model = AutoModelForSeq2SeqLM.from_pretrained(paths[0])
    load_weights(model, weights)
    return model.eval()


__all__ = [
    "BOOKKEEPING_CONFIG_KEYS",
    "TOKENIZER_FILES",
    "CheckpointsRefused",
    "average_checkpoints",
    "average_weights",
    "check_checkpoint_folders",
    "check_same_architecture",
    "check_same_tokenizer",
    "load_weights",
]
