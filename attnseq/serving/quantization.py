"""Dynamic int8 quantization in PyTorch, for both families: a load-time option for decoding on a CPU.

`quantize(model)` replaces every `nn.Linear` (attention projections, feed-forward, output layer; not those with a
single output, such as the additive score's v) and every `nn.LSTM`/`nn.GRU` layer by its dynamically quantized
form (`torch.ao.quantization.quantize_dynamic`): the weights are stored as int8 (per output channel for linear
layers, per tensor for the recurrent layers, the only form torch has for them) and each call quantizes its
activations on the fly, so no calibration data is needed. Embeddings, LayerNorms and attention scores stay in
float32.

The LSTM decoder steps one token at a time through `rnn.single_step`, which runs a quantized layer over a
one-step sequence (its packed weights have no `weight_ih_l0` for the cell kernel); the recurrent cache, beam
reordering and sampling work unchanged. A quantized model is for inference only: it cannot be trained or
saved as a checkpoint (quantize again after loading).

    model = attnseq.serving.load_model("outputs/multi30k-lstm", quantize="int8")
    # or: model = attnseq.serving.quantize(AutoModelForSeq2SeqLM.from_pretrained(folder))
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from ..families import FAMILIES, family_of

QUANTIZE_CHOICES = ("int8",)


def check_quantize(value: str | None) -> str | None:
    """`value` if it is `None` or one of `QUANTIZE_CHOICES`, else a `ValueError` naming the allowed values."""
    if value is not None and value not in QUANTIZE_CHOICES:
        raise ValueError(
            f"quantize={value!r} is not supported; allowed: None (float32) or {', '.join(QUANTIZE_CHOICES)}."
        )
    return value


def quantize(model: nn.Module, dtype: str = "int8") -> nn.Module:
    """Quantize `model`'s linear and recurrent layers to int8 in place and return it, in eval mode.

    Args:
        model: an attnseq model in float32 of a family whose row says `int8` (both today), e.g. from
            `AutoModelForSeq2SeqLM.from_pretrained`.
        dtype: `"int8"` (the only choice).

    Raises:
        ValueError: `dtype` is not `"int8"`, the model's family does not quantize, or the model is not in float32.
    """
    check_quantize(dtype)
    model_type = model.config.model_type
    if not family_of(model_type).int8:
        supported = ", ".join(repr(family.model_type) for family in FAMILIES.values() if family.int8)
        raise ValueError(f"int8 quantization covers the model types {supported}; this model is {model_type!r}.")
    floating = {p.dtype for p in model.parameters() if p.is_floating_point()}
    if floating - {torch.float32}:
        raise ValueError(f"quantize needs a float32 model; this one holds {sorted(map(str, floating))} weights.")
    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig

    # Layers with one output (the additive score's v, Luong's v_p) stay float32: int8 weights save nothing there,
    # and quantizing their large inputs on the fly costs a pass over them at every step.
    qconfig = {
        name: per_channel_dynamic_qconfig if isinstance(module, nn.Linear) else default_dynamic_qconfig
        for name, module in model.named_modules()
        if isinstance(module, (nn.LSTM, nn.GRU)) or (isinstance(module, nn.Linear) and module.out_features > 1)
    }
    model.eval()
    with warnings.catch_warnings():
        # torch 2.13 announces the removal of eager-mode quantization and of quantized tensors in favour of
        # torchao, which attnseq does not depend on; they still work, and the tests say when they stop
        warnings.filterwarnings("ignore", message=r".*(torch\.ao\.quantization|quantized tensor creation).*")
        torch.ao.quantization.quantize_dynamic(model, qconfig, dtype=torch.qint8, inplace=True)
    model.attnseq_quantized = dtype
    return model


def is_quantized(model: nn.Module) -> bool:
    """Whether `quantize` has been applied to `model`."""
    return getattr(model, "attnseq_quantized", None) is not None


def load_model(checkpoint: str, quantize: str | None = None, **from_pretrained_kwargs) -> nn.Module:
    """`AutoModelForSeq2SeqLM.from_pretrained(checkpoint)` in eval mode, quantized when `quantize="int8"`."""
    from transformers import AutoModelForSeq2SeqLM

    check_quantize(quantize)
    model = AutoModelForSeq2SeqLM.from_pretrained(checkpoint, **from_pretrained_kwargs).eval()
    return model if quantize is None else _quantize(model, quantize)


_quantize = quantize  # `load_model`'s argument has the CLI flag's name
