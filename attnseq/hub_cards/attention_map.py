"""The attention picture of a model card: decoder-to-encoder attention of one example as a heatmap.

`attention_matrix` decodes one source greedily and reads the cross-attention that produced the
output (a teacher-forced pass over the generated tokens); `write_attention_heatmap` draws it with
matplotlib's object API (no pyplot state), written to a temporary file and renamed into place.
"""

from __future__ import annotations

from pathlib import Path

from ..atomic import replaced_file
from ..families import family_of
from ..tokenization.pair import source_ids_to_tokens

DEFAULT_MAX_NEW_TOKENS = 32


def attention_matrix(
    model,
    tokenizer,
    source: str,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    layer: int = -1,
    head: int | None = None,
):
    """Greedy output for `source` and the decoder-to-encoder attention that produced it.

    Args:
        layer: which decoder layer's cross-attention (Python indexing: -1 is the last). The LSTM has one.
        head: which head of that layer, or None for the mean over its heads. The LSTM has one.

    Returns:
        `(source_tokens, output_tokens, weights)` with `weights` a `(len(output), len(source))` float array, or
        `None` if the model returns no cross-attentions (`attention='none'`).

    Raises:
        ValueError: `layer` or `head` is outside the model's layers or heads (the message names the range).
    """
    import torch

    limit = model.config.position_limit
    if limit is not None:  # learned positions: never ask for more positions than the model has
        max_new_tokens = min(max_new_tokens, limit)
    truncation = {} if limit is None else {"truncation": True, "max_length": limit}
    inputs = tokenizer([source], return_tensors="pt", **truncation).to(model.device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            generated = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1)
            outputs = model(**inputs, decoder_input_ids=generated[:, :-1], output_attentions=True)
    finally:
        model.train(was_training)
    attentions = getattr(outputs, "cross_attentions", None)
    if not attentions or attentions[-1] is None:
        return None
    layers = len(attentions)
    if not -layers <= layer < layers:
        raise ValueError(f"--layer {layer} is not a decoder layer of this model; allowed: {-layers} to {layers - 1}.")
    weights = attentions[layer][0].float()  # (heads, tgt, src)
    if head is not None:
        if not 0 <= head < weights.size(0):
            raise ValueError(f"--head {head} is not a head of this model; allowed: 0 to {weights.size(0) - 1}.")
        weights = weights[head]
    else:
        weights = weights.mean(0)
    source_tokens = source_ids_to_tokens(tokenizer, inputs["input_ids"][0].tolist())
    output_tokens = tokenizer.convert_ids_to_tokens(generated[0, 1:].tolist())
    return source_tokens, output_tokens, weights.cpu().numpy()


def describe_attention(config, layer: int = -1, head: int | None = None) -> str:
    """Which attention a heatmap shows, e.g. "decoder layer 3 of 3, mean of 4 heads" (the LSTM: its one
    attention)."""
    layout = family_of(config.model_type).attention_layout(config)
    if layout is None:
        return "the decoder's attention over the source"
    layers, heads = layout
    number = layer % layers + 1
    shown = f"head {head} of {heads}" if head is not None else f"mean of {heads} heads"
    return f"decoder layer {number} of {layers}, {shown}"


def write_attention_heatmap(path: Path, source_tokens, output_tokens, weights, title: str) -> None:
    """Draw `weights` (output x source) as a heatmap PNG at `path` (matplotlib, no pyplot state)."""
    from matplotlib.figure import Figure

    width = min(2.0 + 0.45 * len(source_tokens), 16.0)
    height = min(1.8 + 0.4 * len(output_tokens), 16.0)
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    image = axes.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    axes.set_xticks(range(len(source_tokens)), [repr(t)[1:-1] or "␣" for t in source_tokens], rotation=90)
    axes.set_yticks(range(len(output_tokens)), [repr(t)[1:-1] or "␣" for t in output_tokens])
    axes.set_xlabel("source")
    axes.set_ylabel("output")
    axes.set_title(title, fontsize=9)
    figure.colorbar(image, ax=axes, shrink=0.8)
    with replaced_file(path, suffix=".png") as tmp:
        figure.savefig(tmp, format="png")
