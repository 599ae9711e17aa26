"""Loading checkpoints: what both model families add to `PreTrainedModel.from_pretrained`."""

from __future__ import annotations

import torch
from safetensors import SafetensorError
from torch import nn

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


class CheckpointLoadingMixin(SafetensorsOnlyMixin):
    """`from_pretrained` for both families: safetensors only, bit-exact parameters, clear errors.

    Put it first among the bases of a family's `PreTrainedModel` subclass.
    """

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
