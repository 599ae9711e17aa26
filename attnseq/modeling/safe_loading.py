"""Checkpoint loading that never unpickles: weights come from safetensors files only.

transformers still falls back to `pytorch_model.bin` (a pickle, read with `torch.load`) when a
checkpoint has no safetensors file. Unpickling a file from the internet can run arbitrary code, so
the attnseq models refuse such checkpoints up front with a message that says what to do instead,
before transformers resolves, downloads or opens any pickle.

Put `SafetensorsOnlyMixin` first among the bases of a model's `PreTrainedModel` subclass::

    class Seq2SeqLSTMPreTrainedModel(SafetensorsOnlyMixin, PreTrainedModel): ...
"""

from __future__ import annotations

import os

from transformers.utils import SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME, WEIGHTS_INDEX_NAME, WEIGHTS_NAME
from transformers.utils.hub import cached_file, has_file

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


class PickleCheckpointError(OSError):
    """A checkpoint holds its weights only as a pickle file, which attnseq refuses to load."""


def _with_variant(name: str, variant: str | None) -> str:
    """`model.safetensors` -> `model.<variant>.safetensors`, as transformers names variant weights."""
    if not variant:
        return name
    stem, _, suffix = name.partition(".")
    return f"{stem}.{variant}.{suffix}"


def _refusal(source: str, pickle_name: str) -> PickleCheckpointError:
    return PickleCheckpointError(
        f"{source} holds its weights only as the pickle file {pickle_name!r}; attnseq loads weights from "
        f"safetensors only ({SAFE_WEIGHTS_NAME}), because unpickling a file can run arbitrary code. If you trust "
        "the file, convert it once: `model.load_state_dict(torch.load(path, weights_only=True))` followed by "
        "`model.save_pretrained(folder)` writes model.safetensors."
    )


def check_safetensors_checkpoint(pretrained_model_name_or_path, **kwargs) -> None:
    """Raise unless the checkpoint at `pretrained_model_name_or_path` has safetensors weights.

    Works for a local folder, a single weights file and a Hub repo id (honouring `revision`, `subfolder`,
    `variant`, `token`, `cache_dir`, `local_files_only`). A checkpoint with only a pickle file raises
    `PickleCheckpointError`; one with no weights at all raises `OSError`. Nothing is unpickled.
    """
    path = os.fspath(pretrained_model_name_or_path)
    subfolder = kwargs.get("subfolder") or ""
    variant = kwargs.get("variant")
    safe_names = [_with_variant(SAFE_WEIGHTS_NAME, variant), _with_variant(SAFE_WEIGHTS_INDEX_NAME, variant)]
    pickle_names = [_with_variant(WEIGHTS_NAME, variant), _with_variant(WEIGHTS_INDEX_NAME, variant)]

    if os.path.isfile(path):
        if not path.endswith((".safetensors", ".safetensors.index.json")):
            raise (
                _refusal(path, os.path.basename(path))
                if path.endswith(PICKLE_SUFFIXES)
                else OSError(f"{path} is not a safetensors weights file; attnseq loads weights from safetensors only.")
            )
        return
    if os.path.isdir(path):
        folder = os.path.join(path, subfolder) if subfolder else path
        if any(os.path.isfile(os.path.join(folder, name)) for name in safe_names):
            return
        found = (
            [name for name in sorted(os.listdir(folder)) if name.endswith(PICKLE_SUFFIXES)]
            if os.path.isdir(folder)
            else []
        )
        if found:
            raise _refusal(f"The folder {folder}", found[0])
        raise OSError(
            f"The folder {folder} has no {safe_names[0]} (nor {safe_names[1]}); nothing to load weights from."
        )

    download = {
        key: kwargs[key]
        for key in ("revision", "token", "cache_dir", "local_files_only", "proxies", "force_download")
        if kwargs.get(key) is not None
    }
    for name in safe_names:
        resolved = cached_file(
            path,
            name,
            subfolder=subfolder,
            _raise_exceptions_for_missing_entries=False,
            _raise_exceptions_for_gated_repo=False,
            **download,
        )
        if resolved is not None:
            return
    has_file_kwargs = {
        key: download[key]
        for key in ("revision", "token", "cache_dir", "local_files_only", "proxies")
        if key in download
    }
    revision = f" at revision {download['revision']!r}" if "revision" in download else ""
    for name in pickle_names:
        if has_file(path, f"{subfolder}/{name}" if subfolder else name, **has_file_kwargs):
            raise _refusal(f"The repo {path}{revision}", name)
    raise OSError(
        f"The repo {path}{revision} has no {safe_names[0]} (nor {safe_names[1]}); nothing to load weights from."
    )


class SafetensorsOnlyMixin:
    """`from_pretrained` that checks for safetensors weights first and never falls back to a pickle."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """Load like `PreTrainedModel.from_pretrained`, refusing checkpoints without safetensors weights.

        Raises:
            ValueError: `use_safetensors=False` was passed.
            PickleCheckpointError: the checkpoint holds only a pickle file (e.g. `pytorch_model.bin`).
        """
        if kwargs.get("use_safetensors") is False:
            raise ValueError(
                f"{cls.__name__}.from_pretrained(use_safetensors=False) is not supported: attnseq loads weights from "
                "safetensors only, because unpickling a file can run arbitrary code."
            )
        if pretrained_model_name_or_path is not None and kwargs.get("state_dict") is None:
            check_safetensors_checkpoint(pretrained_model_name_or_path, **kwargs)
            kwargs["use_safetensors"] = True
        return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)
