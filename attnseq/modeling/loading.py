"""Saving and loading checkpoints: what both model families add to `PreTrainedModel.save_pretrained` and
`PreTrainedModel.from_pretrained`."""

from __future__ import annotations

import os
import re

import torch
from safetensors import SafetensorError
from torch import nn

from ..atomic import UPLOAD_ARGUMENTS, staged_folder
from .safe_loading import SafetensorsOnlyMixin


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


class CheckpointLoadingMixin(SafetensorsOnlyMixin):
    """`save_pretrained` and `from_pretrained` for both families: checkpoints written whole or not at all,
    weights from safetensors only, bit-exact parameters, clear errors.

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
        try:
            loaded = super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)
        except SafetensorError as error:
            raise OSError(
                f"Could not read the weights of {pretrained_model_name_or_path}: model.safetensors is truncated or "
                f"corrupt ({error}). Save the checkpoint again or download it anew."
            ) from error
        model = loaded[0] if isinstance(loaded, tuple) else loaded
        own_parameter_memory(model)
        return loaded
