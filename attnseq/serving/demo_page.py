"""The attention demo page: decode one input as `generate()` does and show the cross-attention as a heatmap.

This module is self-contained: it imports nothing from attnseq (only torch, numpy, transformers and, inside
`build_page`, gradio), so that `attnseq demo` serves it for a checkpoint loaded with attnseq, and a Hub Space
(`attnseq space`) ships this same file next to its `app.py` and serves it for the remote-code export of the
checkpoint, where attnseq is not installed. What the page needs to know of the model's family (its description in
words, whether it has attention, the layers and heads of its attention, its local-p window) it does not read from
the config: it is handed in as plain data (`PageFacts`, from a JSON-like dict that `attnseq.serving.demo` builds from
the family registry, and that `attnseq space` writes into the Space's `app.py` as a literal).

The pieces, each usable without gradio: `DemoModel.decode` runs `model.generate()` (greedy, beam n-best or
sampling with a seed) and `DemoModel.attention` reads the decoder-to-encoder attention of one hypothesis with a
teacher-forced forward pass over its tokens (plus, for the LSTM's local-p attention, the window centre the model
predicted); `select_weights` picks a layer and a head (or their mean); `heatmap_html` draws the weights as an HTML
table whose cells show source token, output token and weight on hover. `build_page` wires them into a gradio page.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field, fields

import numpy as np
import torch

STRATEGIES = ("greedy", "beam", "sampling")
DEFAULT_MAX_INPUT_TOKENS = 256  # a recurrent model has no position limit; the page still bounds the work per input
DEFAULT_MAX_NEW_TOKENS = 64
MEAN_OF_HEADS = "mean"


@dataclass(frozen=True)
class PageFacts:
    """What the page knows of the model's family, as plain data (see `from_dict`).

    Attributes:
        description: Markdown saying in words what the model was built with.
        no_attention: None when the model has decoder-to-encoder attention, else the option that turns it off.
        layout: `(decoder layers, heads per layer)` of a multi-head attention (the page then offers layer and head
            selectors), or None for the one attention of a model without layers of heads.
        local_window: `(class name of the module that places a local-p window, its half-width D)`, or None; the
            page hooks that module, whose forward returns the Gaussian factor it applied second, to mark the
            window centres.
    """

    description: str
    no_attention: str | None
    layout: tuple[int, int] | None
    local_window: tuple[str, int] | None

    @classmethod
    def from_dict(cls, facts: dict) -> PageFacts:
        """`PageFacts` of a JSON-like dict with exactly the attribute names as keys (lists for the pairs).
        Raises `ValueError` naming a missing or unknown key."""
        if isinstance(facts, cls):
            return facts
        names = [f.name for f in fields(cls)]
        missing, unknown = [n for n in names if n not in facts], sorted(set(facts) - set(names))
        if missing or unknown:
            raise ValueError(
                f"The page facts lack {missing} and have unknown keys {unknown}; expected exactly: {', '.join(names)}."
            )
        layout, window = facts["layout"], facts["local_window"]
        return cls(
            description=str(facts["description"]),
            no_attention=facts["no_attention"],
            layout=None if layout is None else (int(layout[0]), int(layout[1])),
            local_window=None if window is None else (str(window[0]), int(window[1])),
        )


@dataclass
class Settings:
    """How to decode: `strategy` is greedy, beam or sampling; `num_return_sequences` is the n-best list of beam
    search or the number of samples (greedy returns one)."""

    strategy: str = "greedy"
    num_beams: int = 4
    num_return_sequences: int = 1
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int = 0
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS

    def generate_kwargs(self) -> dict:
        """The keyword arguments of `model.generate()` these settings stand for (scores and a dict output
        included). Raises `ValueError` for a setting outside its allowed values."""
        if self.strategy not in STRATEGIES:
            raise ValueError(f"Decoding {self.strategy!r} is not known; allowed: {', '.join(STRATEGIES)}.")
        if int(self.max_new_tokens) < 1:
            raise ValueError(f"Max new tokens must be at least 1, got {self.max_new_tokens}.")
        returned = int(self.num_return_sequences)
        if returned < 1:
            raise ValueError(f"The number of hypotheses must be at least 1, got {returned}.")
        kwargs = {"max_new_tokens": int(self.max_new_tokens), "output_scores": True, "return_dict_in_generate": True}
        if self.strategy == "greedy":
            return {**kwargs, "do_sample": False, "num_beams": 1}
        if self.strategy == "beam":
            beams = int(self.num_beams)
            if beams < 2:
                raise ValueError(f"Beam search needs at least 2 beams, got {beams}.")
            if returned > beams:
                raise ValueError(f"An n-best list of {returned} needs at least as many beams; got {beams} beams.")
            return {**kwargs, "do_sample": False, "num_beams": beams, "num_return_sequences": returned}
        if not self.temperature > 0:
            raise ValueError(f"Temperature must be above 0, got {self.temperature}.")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"Top-p must be in (0, 1], got {self.top_p}.")
        if int(self.top_k) < 0:
            raise ValueError(f"Top-k must be 0 (off) or more, got {self.top_k}.")
        return {
            **kwargs,
            "do_sample": True,
            "num_beams": 1,
            "num_return_sequences": returned,
            "temperature": float(self.temperature),
            "top_k": int(self.top_k),
            "top_p": float(self.top_p),
        }


@dataclass
class Hypothesis:
    """One decoded output: `ids` as `generate()` returned them (decoder start token first, padding removed),
    its text, and its score (beam search: the length-normalised log-probability beam search ranks by; greedy and
    sampling: the sum of the token log-probabilities, after the sampling warpers)."""

    ids: list[int]
    text: str
    score: float


@dataclass
class Decoding:
    """The hypotheses `generate()` returned for one input, best first for beam search, and the input ids."""

    source_ids: list[int]
    hypotheses: list[Hypothesis] = field(default_factory=list)


@dataclass
class HypothesisAttention:
    """The cross-attention behind one hypothesis.

    `weights` is `(layers, heads, len(output_tokens), len(source_tokens))` (the LSTM: one layer, one head);
    `centres`, for the LSTM's local-p attention, the predicted aligned source position p_t of each output
    token `(len(output_tokens),)`, else None; `width` the window's half-width D."""

    source_tokens: list[str]
    output_tokens: list[str]
    weights: np.ndarray
    centres: np.ndarray | None = None
    width: int | None = None


def _source_tokens(tokenizer, ids: list[int]) -> list[str]:
    # a tokenizer with separate vocabularies reads target ids in convert_ids_to_tokens; sources need its flag
    if type(tokenizer).__name__ == "SourceTargetTokenizer":
        return tokenizer.convert_ids_to_tokens(ids, use_source_tokenizer=True)
    return tokenizer.convert_ids_to_tokens(ids)


def _local_windows(model, class_name: str) -> list[torch.nn.Module]:
    return [module for module in model.modules() if type(module).__name__ == class_name]


def centres_from_gaussian(gaussian: torch.Tensor, width: int) -> torch.Tensor:
    """The centres p_t of local-p windows from the Gaussian factor the model applied, exp(-(s - p_t)² / (2σ²)) with
    σ = width / 2: solved exactly from the two largest neighbouring values (where it never underflows).

    `gaussian` is `(tgt_len, src_len)` with src_len >= 2; returns `(tgt_len,)`."""
    sigma2 = (width / 2.0) ** 2
    peak = gaussian.argmax(-1)
    other = torch.where(peak + 1 < gaussian.size(-1), peak + 1, peak - 1)
    log_peak = gaussian.gather(-1, peak[:, None]).squeeze(-1).double().log()
    log_other = gaussian.gather(-1, other[:, None]).squeeze(-1).double().log()
    # log g(a) - log g(b) = (b - a)(a + b - 2p) / (2σ²)
    a, b = peak.double(), other.double()
    return (a + b) / 2 - sigma2 * (log_peak - log_other) / (b - a)


class DemoModel:
    """A model and its tokenizer as the page uses them.

    Args:
        model: a seq2seq model of either attnseq family (the package's classes or the remote-code export).
        tokenizer: its tokenizer.
        facts: what the page knows of the model's family: a `PageFacts` or its dict (`PageFacts.from_dict`).
        max_input_tokens: the longest input accepted, in tokens; default: the model's position limit (learned
            positions), else `DEFAULT_MAX_INPUT_TOKENS`.
    """

    def __init__(self, model, tokenizer, facts: PageFacts | dict, max_input_tokens: int | None = None):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.position_limit = getattr(model.config, "position_limit", None)
        if max_input_tokens is None:
            max_input_tokens = self.position_limit or DEFAULT_MAX_INPUT_TOKENS
        elif self.position_limit is not None and max_input_tokens > self.position_limit:
            raise ValueError(
                f"max_input_tokens={max_input_tokens} exceeds the model's {self.position_limit} learned positions."
            )
        self.max_input_tokens = max_input_tokens
        self.facts = PageFacts.from_dict(facts)
        self.layers, self.heads = self.facts.layout or (1, 1)
        self.has_attention = self.facts.no_attention is None

    def encode(self, text: str) -> dict:
        """`{"input_ids", "attention_mask"}` tensors `(1, src_len)` of `text`. Raises `ValueError` for an empty
        input or one longer than `max_input_tokens` (the message names the limit)."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError("The input is empty: type a text to decode.")
        inputs = self.tokenizer([text], return_tensors="pt")
        length = inputs["input_ids"].size(1)
        if length > self.max_input_tokens:
            why = "its learned positions" if self.max_input_tokens == self.position_limit else "the page's limit"
            raise ValueError(
                f"The input is {length} tokens long; this model reads at most {self.max_input_tokens} tokens "
                f"({why}). Shorten it."
            )
        return {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"]}

    def max_new_tokens(self, requested: int) -> int:
        """`requested`, capped by the model's position limit (learned positions)."""
        return int(requested) if self.position_limit is None else min(int(requested), self.position_limit)

    def decode(self, text: str, settings: Settings) -> Decoding:
        """Decode `text` with `model.generate()` and `settings` (sampling seeded with `settings.seed`)."""
        inputs = self.encode(text)
        kwargs = settings.generate_kwargs()
        kwargs["max_new_tokens"] = self.max_new_tokens(kwargs["max_new_tokens"])
        with torch.no_grad():
            if kwargs["do_sample"]:
                torch.manual_seed(int(settings.seed))
            output = self.model.generate(**inputs, **kwargs)
        sequences = output.sequences
        if kwargs["num_beams"] > 1:
            scores = output.sequences_scores.tolist()
        else:
            transition = self.model.compute_transition_scores(sequences, output.scores, normalize_logits=True)
            scores = [float(row[: len(self._trim(ids)) - 1].sum()) for row, ids in zip(transition, sequences)]
        texts = self.tokenizer.batch_decode(sequences, skip_special_tokens=True)
        hypotheses = [
            Hypothesis(ids=self._trim(ids), text=text_, score=float(score))
            for ids, text_, score in zip(sequences, texts, scores)
        ]
        return Decoding(source_ids=inputs["input_ids"][0].tolist(), hypotheses=hypotheses)

    def _trim(self, ids: torch.Tensor) -> list[int]:
        """A generated row up to its first end-of-sequence token (padding after it removed)."""
        ids = ids.tolist()
        eos = self.model.generation_config.eos_token_id
        eos = set(eos if isinstance(eos, list) else [eos])
        for position, token in enumerate(ids[1:], start=1):
            if token in eos:
                return ids[: position + 1]
        return ids

    def attention(self, decoding: Decoding, index: int = 0) -> HypothesisAttention | None:
        """The cross-attention that produced hypothesis `index` of `decoding` (a forward pass over its tokens,
        the decoder reading the hypothesis without its last token), or None for a model without attention."""
        if not self.has_attention:
            return None
        ids = decoding.hypotheses[index].ids
        source = torch.tensor([decoding.source_ids])
        gaussians, hooks = [], []
        window_class, width = self.facts.local_window or (None, None)
        windows = _local_windows(self.model, window_class) if window_class else []
        for window in windows:
            hooks.append(window.register_forward_hook(lambda module, args, out: gaussians.append(out[1])))
        try:
            with torch.no_grad():
                outputs = self.model(
                    input_ids=source,
                    attention_mask=torch.ones_like(source),
                    decoder_input_ids=torch.tensor([ids[:-1]]),
                    output_attentions=True,
                )
        finally:
            for hook in hooks:
                hook.remove()
        attentions = getattr(outputs, "cross_attentions", None)
        if not attentions or attentions[-1] is None:
            return None
        weights = torch.stack([layer[0].float() for layer in attentions]).numpy()  # (layers, heads, tgt, src)
        centres = None
        if gaussians and weights.shape[-1] >= 2:
            gaussian = torch.cat([g[0] for g in gaussians], dim=0)  # the step loop calls it once per step
            centres = centres_from_gaussian(gaussian, width).numpy()
        return HypothesisAttention(
            source_tokens=_source_tokens(self.tokenizer, decoding.source_ids),
            output_tokens=self.tokenizer.convert_ids_to_tokens(ids[1:]),
            weights=weights,
            centres=centres,
            width=width if centres is not None else None,
        )


def select_weights(attention: HypothesisAttention, layer: int = -1, head: int | str = MEAN_OF_HEADS) -> np.ndarray:
    """`(tgt, src)` weights of decoder `layer` (Python indexing) and `head` (an index, or `"mean"` for the mean of
    the layer's heads). Raises `ValueError` naming the allowed range."""
    layers, heads = attention.weights.shape[:2]
    if not -layers <= int(layer) < layers:
        raise ValueError(f"Layer {layer} is not a decoder layer of this model; allowed: 0 to {layers - 1}.")
    weights = attention.weights[int(layer)]
    if head == MEAN_OF_HEADS or head is None:
        return weights.mean(0)
    if not 0 <= int(head) < heads:
        raise ValueError(f"Head {head} is not a head of this model; allowed: 0 to {heads - 1} or {MEAN_OF_HEADS!r}.")
    return weights[int(head)]


# viridis at five stops, interpolated linearly
_VIRIDIS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=float)


def _colour(weight: float) -> str:
    position = min(max(float(weight), 0.0), 1.0) * (len(_VIRIDIS) - 1)
    low = min(int(math.floor(position)), len(_VIRIDIS) - 2)
    rgb = _VIRIDIS[low] + (position - low) * (_VIRIDIS[low + 1] - _VIRIDIS[low])
    return "rgb({},{},{})".format(*np.round(rgb).astype(int))


def _shown(token: str) -> str:
    return html.escape(repr(token)[1:-1] if token.strip() else "␣" * max(len(token), 1))


HEATMAP_STYLE = """<style>
.attnseq-scroll {overflow-x: auto; padding-bottom: 40px}
.attnseq-heatmap {border-collapse: collapse; font-family: monospace; font-size: 12px; width: auto !important}
.attnseq-heatmap td, .attnseq-heatmap th {padding: 0 !important; text-align: center; min-width: 21px; height: 21px;
  line-height: 21px; border: 1px solid transparent !important}
.attnseq-heatmap th.source {vertical-align: bottom; font-weight: normal}
.attnseq-heatmap th.output {text-align: right; padding-right: 6px; font-weight: normal}
.attnseq-heatmap td.cell {position: relative; color: #fff}
.attnseq-heatmap tr:hover td.cell {border-color: #f44 !important}
.attnseq-heatmap tr:hover th.output {color: #f44; font-weight: bold}
.attnseq-heatmap td.cell .tip {display: none; position: absolute; z-index: 10; left: 100%; top: 100%;
  background: #222; color: #fff; padding: 3px 6px; border-radius: 3px; white-space: nowrap; font-size: 12px}
.attnseq-heatmap td.cell:hover .tip {display: block}
.attnseq-heatmap td.centre {outline: 2px solid #f44; outline-offset: -2px}
</style>"""


def heatmap_html(
    source_tokens: list[str],
    output_tokens: list[str],
    weights: np.ndarray,
    centres: np.ndarray | None = None,
    caption: str = "",
) -> str:
    """The `(len(output_tokens), len(source_tokens))` weights as an HTML table: one row per output token, one
    column per source token, cells coloured by weight (viridis, 0 to 1). Hovering a cell shows its source token,
    output token and weight; hovering a row highlights that output token's weights over the source. With `centres`
    (the local-p window centres p_t), the cell nearest each row's centre is outlined and marked ◆."""
    rows = [HEATMAP_STYLE, '<div class="attnseq-scroll"><table class="attnseq-heatmap">']
    if caption:
        rows.append(f'<caption style="caption-side: top; text-align: left">{html.escape(caption)}</caption>')
    header = "".join(f'<th class="source">{_shown(token)}</th>' for token in source_tokens)
    rows.append(f"<tr><th></th>{header}</tr>")
    for t, output_token in enumerate(output_tokens):
        centre = None if centres is None else float(centres[t])
        marked = None if centre is None else int(round(centre))
        cells = []
        for s, source_token in enumerate(source_tokens):
            weight = float(weights[t, s])
            tip = f"source {_shown(source_token)} → output {_shown(output_token)}: {weight:.3f}"
            classes = "cell"
            mark = ""
            if s == marked:
                classes += " centre"
                mark = "◆"
                tip += f" (window centre p = {centre:.2f})"
            cells.append(
                f'<td class="{classes}" data-source="{s}" data-output="{t}" data-weight="{weight:.6f}" '
                f'style="background:{_colour(weight)}">{mark}<span class="tip">{tip}</span></td>'
            )
        rows.append(f'<tr><th class="output">{_shown(output_token)}</th>{"".join(cells)}</tr>')
    rows.append("</table></div>")
    return "\n".join(rows)


def _nbest_rows(decoding: Decoding) -> list[list]:
    return [
        [rank, hypothesis.text, round(hypothesis.score, 4)] for rank, hypothesis in enumerate(decoding.hypotheses, 1)
    ]


def _message(error: Exception) -> str:
    detail = str(error) or type(error).__name__
    return f"**Error:** {detail}"


def build_page(
    model,
    tokenizer,
    facts: PageFacts | dict,
    *,
    title: str = "attnseq attention demo",
    examples: list[str] = (),
    max_input_tokens: int | None = None,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
):
    """The gradio page (a `gradio.Blocks`, not launched) for `model` and `tokenizer`: the model described in
    words (`facts.description`), an input box with `examples`, decoding settings, the output and its n-best list,
    and the heatmap of a chosen hypothesis, with layer and head selectors when `facts.layout` has them. Errors
    appear as a message on the page."""
    import gradio as gr

    demo = DemoModel(model, tokenizer, facts, max_input_tokens)
    has_heads = demo.facts.layout is not None
    layer_choices = [str(number) for number in range(1, demo.layers + 1)]
    head_choices = [MEAN_OF_HEADS] + [str(number) for number in range(1, demo.heads + 1)]

    def draw(decoding, index, layer, head) -> str:
        if decoding is None or not decoding.hypotheses:
            return ""
        attention = demo.attention(decoding, index)
        if attention is None:
            return f"<p>This model has no attention to show ({html.escape(demo.facts.no_attention.strip('`'))}).</p>"
        layer_index = int(layer) - 1 if layer else -1
        head_index = MEAN_OF_HEADS if head in (None, MEAN_OF_HEADS) else int(head) - 1
        weights = select_weights(attention, layer_index, head_index)
        if has_heads:
            shown = "mean of heads" if head_index == MEAN_OF_HEADS else f"head {head_index + 1} of {demo.heads}"
            caption = f"decoder layer {layer_index % demo.layers + 1} of {demo.layers}, {shown}"
        else:
            caption = "the decoder's attention over the source"
        caption = f"Hypothesis {index + 1}: {caption}"
        return heatmap_html(attention.source_tokens, attention.output_tokens, weights, attention.centres, caption)

    def run(text, strategy, num_beams, returned, temperature, top_k, top_p, seed, new_tokens, layer, head):
        settings = Settings(strategy, num_beams, returned, temperature, top_k, top_p, seed, new_tokens)
        if strategy == "greedy":
            settings.num_return_sequences = 1
        try:
            decoding = demo.decode(text, settings)
            choices = [str(number) for number in range(1, len(decoding.hypotheses) + 1)]
            return (
                "",
                decoding.hypotheses[0].text,
                _nbest_rows(decoding),
                gr.update(choices=choices, value="1"),
                draw(decoding, 0, layer, head),
                decoding,
            )
        except Exception as error:  # noqa: BLE001 - every failure is shown on the page, never a stack trace
            return _message(error), "", [], gr.update(choices=["1"], value="1"), "", None

    def redraw(decoding, hypothesis, layer, head):
        try:
            return "", draw(decoding, int(hypothesis or 1) - 1, layer, head)
        except Exception as error:  # noqa: BLE001
            return _message(error), ""

    with gr.Blocks(title=title) as page:
        gr.Markdown(f"# {title}")
        gr.Markdown(demo.facts.description, elem_id="model-description")
        state = gr.State(None)
        with gr.Row():
            with gr.Column(scale=1):
                text = gr.Textbox(label="Input", elem_id="input", lines=1, max_lines=4)
                strategy = gr.Radio(list(STRATEGIES), value="greedy", label="Decoding", elem_id="strategy")
                with gr.Accordion("Decoding settings", open=False):
                    num_beams = gr.Slider(2, 16, value=4, step=1, label="Beams (beam search)")
                    returned = gr.Slider(1, 16, value=4, step=1, label="Hypotheses: n-best list or samples")
                    temperature = gr.Slider(0.1, 2.0, value=1.0, step=0.05, label="Temperature (sampling)")
                    top_k = gr.Slider(0, 100, value=0, step=1, label="Top-k (sampling; 0: off)")
                    top_p = gr.Slider(0.05, 1.0, value=1.0, step=0.05, label="Top-p (sampling)")
                    seed = gr.Number(value=0, precision=0, label="Seed (sampling)")
                    new_tokens = gr.Slider(
                        1, demo.max_new_tokens(4 * max_new_tokens), value=demo.max_new_tokens(max_new_tokens),
                        step=1, label="Max new tokens",
                    )  # fmt: skip
                submit = gr.Button("Decode", variant="primary", elem_id="submit")
                if examples:
                    gr.Examples([[example] for example in examples], inputs=text, label="Examples")
            with gr.Column(scale=1):
                message = gr.Markdown(elem_id="message")
                output = gr.Textbox(label="Output", elem_id="output", interactive=False)
                nbest = gr.Dataframe(
                    headers=["rank", "output", "score"], label="Hypotheses", elem_id="nbest", interactive=False
                )
                hypothesis = gr.Radio(["1"], value="1", label="Heatmap of hypothesis", elem_id="hypothesis")
        with gr.Row(visible=has_heads):
            layer = gr.Radio(layer_choices, value=layer_choices[-1], label="Decoder layer", elem_id="layer")
            head = gr.Radio(head_choices, value=MEAN_OF_HEADS, label="Head", elem_id="head")
        heatmap = gr.HTML(elem_id="heatmap")
        inputs = [text, strategy, num_beams, returned, temperature, top_k, top_p, seed, new_tokens, layer, head]
        outputs = [message, output, nbest, hypothesis, heatmap, state]
        submit.click(run, inputs, outputs, api_name="decode")
        text.submit(run, inputs, outputs, api_name=False)
        for selector in (hypothesis, layer, head):
            selector.input(redraw, [state, hypothesis, layer, head], [message, heatmap], api_name=False)
    return page
