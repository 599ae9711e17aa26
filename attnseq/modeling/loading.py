"""Checkpoints of both model families: what attnseq adds to `save_pretrained`, `from_pretrained` and
`push_to_hub`.

- A checkpoint is written whole or not at all (a temporary folder renamed into place).
- Weights load from safetensors only. transformers still falls back to `pytorch_model.bin` (a pickle, read with
  `torch.load`) when a checkpoint has no safetensors file; unpickling a file from the internet can run arbitrary
  code, so such checkpoints are refused up front with a message that says what to do instead, before
  transformers resolves, downloads or opens any pickle.
- Loaded parameters own their memory, so save -> load is bit-exact.
- `push_to_hub` uploads attnseq's model card, not transformers' placeholder.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile

import torch
from safetensors import SafetensorError
from torch import nn
from transformers.utils import SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME, WEIGHTS_INDEX_NAME, WEIGHTS_NAME
from transformers.utils.hub import cached_file, has_file

from ..atomic import UPLOAD_ARGUMENTS, staged_folder
from .hooks import installed_push_folder

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


# pickle files the Trainer writes beside (or instead of) the weights: arguments, optimizer and scheduler state
_TRAINER_STATE_FILES = ("training_args.bin", "optimizer.pt", "scheduler.pt", "scaler.pt")


def _is_trainer_state_file(name: str) -> bool:
    return name in _TRAINER_STATE_FILES or (name.startswith("rng_state") and name.endswith(".pth"))


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
        names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
        found = [name for name in names if name.endswith(PICKLE_SUFFIXES) and not _is_trainer_state_file(name)]
        if found:
            raise _refusal(f"The folder {folder}", found[0])
        checkpoints = [name for name in names if name.startswith("checkpoint-")]
        raise OSError(
            f"The folder {folder} has no {safe_names[0]} (nor {safe_names[1]}); nothing to load weights from"
            + (
                f" (the Trainer's {', '.join(name for name in names if _is_trainer_state_file(name))} hold(s) its "
                "arguments and state, not weights)"
                if any(_is_trainer_state_file(name) for name in names)
                else ""
            )
            + (f"; its {', '.join(checkpoints[:3])} folder(s) may hold weights." if checkpoints else ".")
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


class _HeldLoadReport(logging.Filter):
    """Holds back transformers' loading report (a many-line table logged before it raises on tensors of the wrong
    shape) while `from_pretrained` runs: `release()` logs it after a load that succeeded; after a failed one the
    caller's one-line error replaces it."""

    LOGGER = "transformers.modeling_utils"  # the logger `PreTrainedModel.from_pretrained` hands the report to

    def __init__(self):
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if "LOAD REPORT" not in str(record.msg):
            return True
        self.records.append(record)
        return False

    def __enter__(self):
        logging.getLogger(self.LOGGER).addFilter(self)
        return self

    def __exit__(self, *exc_info):
        logging.getLogger(self.LOGGER).removeFilter(self)

    def mismatched(self) -> int:
        """How many tensors the held report lists as of another shape."""
        return sum(line.count("MISMATCH") for record in self.records for line in record.getMessage().splitlines()
                   if "|" in line)  # fmt: skip

    def release(self) -> None:
        logger = logging.getLogger(self.LOGGER)
        for record in self.records:
            logger.handle(record)
        self.records = []


def own_parameter_memory(model: nn.Module) -> None:
    """Give every parameter and buffer its own freshly allocated storage.

    safetensors weights are memory-mapped at arbitrary byte offsets; BLAS kernels pick different
    code paths for unaligned data, so a loaded model's logits could differ from the saved model's in
    the last bit. Copying once at load time makes save -> load bit-exact (and releases the mapping).
    """
    with torch.no_grad():
        seen: set[int] = set()
        for module in model.modules():
            for tensor in list(module._parameters.values()) + list(module._buffers.values()):
                if tensor is None or id(tensor) in seen:
                    continue  # tied weights keep sharing one (already copied) tensor
                seen.add(id(tensor))
                tensor.data = tensor.data.clone()
        for module in model.modules():
            if isinstance(module, nn.RNNBase):
                module.flatten_parameters()


def stale_weight_files(folder: str | os.PathLike, written: set[str], variant: str | None = None) -> list[str]:
    """Safetensors weight files (single, shards, index) in `folder` that a save writing `written` replaced.

    A sharded checkpoint saved over a single-file one (or the reverse, or with fewer shards) would
    otherwise leave old weights next to the new ones, and a loader might read the old ones.
    """
    stem = re.escape("model" + (f".{variant}" if variant else ""))
    pattern = re.compile(rf"{stem}(-\d{{5}}-of-\d{{5}})?\.safetensors(\.index\.json)?")
    return sorted(
        name
        for name in os.listdir(folder)
        if pattern.fullmatch(name) and name not in written and os.path.isfile(os.path.join(folder, name))
    )


class CheckpointLoadingMixin:
    """`save_pretrained`, `from_pretrained` and `push_to_hub` for both families: checkpoints written whole or not
    at all, weights from safetensors only, bit-exact parameters, attnseq's model card, clear errors.

    Put it first among the bases of a family's `PreTrainedModel` subclass.
    """

    def save_pretrained(self, save_directory, *args, is_main_process: bool = True, push_to_hub: bool = False, **kwargs):
        """Save like `PreTrainedModel.save_pretrained`, but never leave a half-written checkpoint.

        config.json, generation_config.json and the safetensors weights are written into a temporary
        folder next to `save_directory` and renamed into it only once all are complete, so a failed save
        (a full disk, an interrupted process) leaves the previous checkpoint in `save_directory` intact.
        Weight files of an earlier save that this one replaced (other shards) are removed; other files in
        the folder (tokenizer, card, Trainer checkpoints) are kept. With `push_to_hub=True` the saved model
        is then uploaded with `push_to_hub` (the arguments `repo_id`, `commit_message`, `private`, `token`,
        `create_pr`, `revision` go to the upload). Processes other than the main one and distributed
        checkpoints save as transformers does.
        """
        if args or not is_main_process or kwargs.get("distributed_checkpoint"):
            return super().save_pretrained(
                save_directory, *args, is_main_process=is_main_process, push_to_hub=push_to_hub, **kwargs
            )
        hub = {name: kwargs.pop(name) for name in UPLOAD_ARGUMENTS if name in kwargs} if push_to_hub else {}
        with staged_folder(save_directory) as staging:
            super().save_pretrained(staging, **kwargs)
            written = set(os.listdir(staging))
        for name in stale_weight_files(save_directory, written, kwargs.get("variant")):
            os.remove(os.path.join(save_directory, name))
        if push_to_hub:
            repo_id = hub.pop("repo_id", os.path.basename(os.path.abspath(save_directory)))
            return self.push_to_hub(repo_id, max_shard_size=kwargs.get("max_shard_size", "50GB"), **hub)
        return None

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """Load like `PreTrainedModel.from_pretrained`, from safetensors weights only, into parameters that own
        their memory.

        Raises:
            ValueError: `use_safetensors=False` was passed.
            PickleCheckpointError: the checkpoint holds only a pickle file (e.g. `pytorch_model.bin`).
            OSError: the checkpoint has no weights, or its `model.safetensors` is truncated or corrupt.
        """
        if kwargs.get("use_safetensors") is False:
            raise ValueError(
                f"{cls.__name__}.from_pretrained(use_safetensors=False) is not supported: attnseq loads weights from "
                "safetensors only, because unpickling a file can run arbitrary code."
            )
        if pretrained_model_name_or_path is not None and kwargs.get("state_dict") is None:
            check_safetensors_checkpoint(pretrained_model_name_or_path, **kwargs)
            kwargs["use_safetensors"] = True
        report = _HeldLoadReport()
        try:
            with report:
                loaded = super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)
        except SafetensorError as error:
            raise OSError(
                f"Could not read the weights of {pretrained_model_name_or_path}: model.safetensors is truncated or "
                f"corrupt ({error}). Save the checkpoint again or download it anew."
            ) from error
        except RuntimeError as error:
            if "ignore_mismatched_sizes" not in str(error):
                raise
            raise OSError(
                f"The weights of {pretrained_model_name_or_path} do not fit {cls.__name__} as its config.json "
                f"describes it: {report.mismatched()} tensor(s) of the same name have other shapes, so "
                "model.safetensors comes from another model (another family or other sizes) than config.json. Put "
                "the config.json saved with these weights beside them."
            ) from None
        report.release()
        model = loaded[0] if isinstance(loaded, tuple) else loaded
        own_parameter_memory(model)
        return loaded

    def push_to_hub(
        self,
        repo_id: str,
        *,
        commit_message: str | None = None,
        private: bool | None = None,
        token: str | None = None,
        revision: str | None = None,
        create_pr: bool = False,
        max_shard_size: int | str | None = "50GB",
        **kwargs,
    ):
        """Upload the model (config, safetensors weights, generation config) with attnseq's model card.

        The card is the one every other path writes (`attnseq push`, `attnseq train --push_to_hub`): architecture,
        options, usage snippet. Push the tokenizer after the model (`tokenizer.push_to_hub(repo_id)` keeps the card
        already in the repo), or push a whole trained folder with `attnseq push`, whose card also holds the
        training results. Other keyword arguments of transformers' `push_to_hub` (`tags`, `commit_description`, ...)
        are refused by name. In the remote-code export, where attnseq is not installed, this is transformers'
        `push_to_hub`.
        """
        if kwargs:
            raise TypeError(
                f"push_to_hub() got unsupported argument(s) {', '.join(sorted(kwargs))}; supported: repo_id, "
                "commit_message, private, token, revision, create_pr, max_shard_size."
            )
        upload = {"commit_message": commit_message, "private": private, "token": token, "revision": revision}
        # the card writer builds on the models: `import attnseq` installs it here (the remote-code export does not)
        push_folder = installed_push_folder()
        if push_folder is None:
            return super().push_to_hub(repo_id, max_shard_size=max_shard_size, create_pr=create_pr, **upload)
        with tempfile.TemporaryDirectory(prefix="attnseq-push-model-") as folder:
            self.save_pretrained(folder, max_shard_size=max_shard_size)
            return push_folder(folder, repo_id, create_pr=create_pr, **upload)
