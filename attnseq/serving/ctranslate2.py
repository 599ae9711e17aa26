"""CTranslate2 export and decoding for the Transformer family.

CTranslate2 (OpenNMT's C++ inference engine for Transformers) decodes our Transformer several times faster
than `generate()` on a CPU, above all in int8. Its own `TransformersConverter` reads transformers' BART
configs, which changed in transformers 5, and knows nothing of ours, so `export_ctranslate2` builds the
model spec itself from our config and weights:

| ours | CTranslate2 |
| --- | --- |
| self-attention `q_proj`, `k_proj`, `v_proj`, `out_proj` | `linear[0]` = [q; k; v] (fused), `linear[1]` = out |
| cross-attention `q_proj`, `k_proj`, `v_proj`, `out_proj` | `linear[0]` = q, `linear[1]` = [k; v], `linear[2]` = out |
| `self_attn_layer_norm`, `encoder_attn_layer_norm`, `final_layer_norm` | each sub-layer's `layer_norm` |
| `feed_forward.fc1`, `fc2` | `ffn.linear_0`, `ffn.linear_1` |
| encoder/decoder `layer_norm` (pre-norm only) | the stack's final `layer_norm` |
| positions: sinusoidal (sin at 2i, cos at 2i + 1) or learned | an explicit table of `max_positions` rows |
| `scale_embedding` | `scale_embeddings` = √d_model or 1 |
| `lm_head` (tied or not) | `decoder.projection` (CTranslate2 aliases equal weights when it saves) |

Every option of `Seq2SeqTransformerConfig` maps (pre- and post-norm, both position kinds, every activation,
tied, shared or separate embeddings, different encoder and decoder heads and widths). The vocabulary is the
tokenizer's, one token string per id; the export folder holds CTranslate2's `model.bin`, `config.json` and
`shared_vocabulary.json` (`source_vocabulary.json` and `target_vocabulary.json` for a model with a separate target
vocabulary, `decoder_vocab_size`), plus our tokenizer files, `generation_config.json` and `attnseq_ctranslate2.json`.

`CTranslate2Model` loads such a folder behind the part of the `generate()` interface that `attnseq generate`
and `attnseq evaluate` use (`input_ids` + `attention_mask` in, padded token ids out), so decoding code does not
care which engine runs. `ctranslate2` is an optional dependency (`pip install attnseq[serve]`), imported only here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from ..families import FAMILIES, family_of
from ..folders import check_export_folder, export_folder
from ..modeling.seq2seq import default_max_length

QUANTIZATIONS = ("int8", "int8_float32", "float16", "float32")
EXPORT_INFO = "attnseq_ctranslate2.json"
# rows of the position table written for sinusoidal positions (which have no limit in our model)
SINUSOIDAL_POSITIONS = 1024
ACTIVATIONS = {"relu": "RELU", "gelu": "GELU", "gelu_new": "GELUTanh", "silu": "SWISH", "tanh": "Tanh"}


def import_ctranslate2():
    """The `ctranslate2` module, or an `ImportError` that says how to install it."""
    try:
        import ctranslate2
    except ImportError as error:
        raise ImportError(
            "CTranslate2 export and decoding need the ctranslate2 package: pip install 'attnseq[serve]' "
            "(or pip install ctranslate2)."
        ) from error
    return ctranslate2


def is_ctranslate2_folder(path: str | os.PathLike) -> bool:
    return (Path(path) / "model.bin").is_file()


# ----------------------------------------------------------------------------------------------------------------------
# Export
# ----------------------------------------------------------------------------------------------------------------------


def export_ctranslate2(
    checkpoint: str | os.PathLike,
    output_dir: str | os.PathLike,
    quantization: str | None = None,
    max_positions: int | None = None,
    *,
    overwrite: bool = False,
) -> Path:
    """Write a CTranslate2 model of the Transformer checkpoint `checkpoint` into `output_dir`.

    Args:
        checkpoint: a folder (or Hub id) with our `config.json`, `model.safetensors` and tokenizer files.
        output_dir: the folder to write: new or empty, or (with `overwrite`) an earlier export, which is replaced
            whole. It may not hold the checkpoint or the current directory (`attnseq.folders`).
        quantization: weight type of the saved model: `None` (float32), or one of `QUANTIZATIONS`; CTranslate2
            picks the compute type from it and from the machine when loading.
        max_positions: rows of the position table; default `max_position_embeddings` for learned positions
            and `SINUSOIDAL_POSITIONS` for sinusoidal ones. CTranslate2 cannot go past it.
        overwrite: replace an earlier export in `output_dir` (one that holds only the files that export wrote).

    Returns:
        `Path(output_dir)`.

    Raises:
        FolderRefused: `output_dir` may not be written (nothing was touched).
        ValueError: the checkpoint is not of the Transformer family (CTranslate2 has no recurrent models: use
            `attnseq.serving.quantize` for the LSTM), or an argument is out of range.
        ImportError: ctranslate2 is not installed.
    """
    from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer, GenerationConfig

    if quantization is not None and quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization={quantization!r} is not supported; allowed: {', '.join(QUANTIZATIONS)}.")
    out = check_export_folder(output_dir, inputs=[checkpoint], overwrite=overwrite, command="--overwrite")
    config = AutoConfig.from_pretrained(checkpoint)
    if not family_of(config.model_type).ctranslate2:
        supported = ", ".join(repr(family.model_type) for family in FAMILIES.values() if family.ctranslate2)
        raise ValueError(
            f"CTranslate2 export covers the model types {supported}; {checkpoint} is {config.model_type!r}. "
            "CTranslate2 has no recurrent models: decode an LSTM with int8 weights in PyTorch instead "
            "(--quantize int8, attnseq.serving.quantize)."
        )
    ctranslate2 = import_ctranslate2()
    model = AutoModelForSeq2SeqLM.from_pretrained(checkpoint).eval()
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    spec = transformer_spec(model, ctranslate2, max_positions)
    source_vocabulary = vocabulary_tokens(tokenizer, config.vocab_size)
    vocabulary = (
        vocabulary_tokens(tokenizer, config.target_vocab_size, target=True)
        if config.separate_vocabularies
        else source_vocabulary
    )  # the target's: every special token below is looked up in it
    spec.register_source_vocabulary(source_vocabulary)
    spec.register_target_vocabulary(vocabulary)
    start = config.decoder_start_token_id if config.decoder_start_token_id is not None else config.bos_token_id
    spec.config.unk_token = vocabulary[tokenizer.unk_token_id] if tokenizer.unk_token_id is not None else "<unk>"
    spec.config.bos_token = vocabulary[config.bos_token_id]
    spec.config.eos_token = vocabulary[config.eos_token_id]
    spec.config.decoder_start_token = vocabulary[start]
    spec.config.layer_norm_epsilon = config.layer_norm_eps
    positions = int(spec.encoder.position_encodings.encodings.shape[0])
    spec.validate()
    spec.optimize(quantization=quantization)  # also aliases equal weights (tied, shared, the position tables)
    try:
        generation_config = GenerationConfig.from_pretrained(checkpoint)
    except OSError:
        generation_config = GenerationConfig.from_model_config(config)
    info = {
        "model_type": config.model_type,
        "quantization": quantization or "float32",
        "max_positions": positions,
        "pad_token_id": config.pad_token_id,
        "eos_token_id": config.eos_token_id,
        "decoder_start_token_id": start,
    }
    source = str(Path(checkpoint).absolute()) if os.path.isdir(checkpoint) else str(checkpoint)
    with export_folder(out, export_format="ctranslate2", source=source) as build:
        tokenizer.save_pretrained(build)
        generation_config.save_pretrained(build)
        (build / EXPORT_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        spec.save(str(build))  # model.bin last: a build cut short has none, so nothing loads it
    return Path(output_dir)


def vocabulary_tokens(tokenizer, vocab_size: int, target: bool = False) -> list[str]:
    """One distinct string per id `0..vocab_size - 1`: the tokenizer's tokens, placeholders for unused ids.

    With `target=True` the tokens of the target side of a tokenizer with separate vocabularies
    (`SourceTargetTokenizer`); otherwise those of its source side, or of the one vocabulary of any other tokenizer.
    """
    from ..tokenization.pair import SourceTargetTokenizer

    if isinstance(tokenizer, SourceTargetTokenizer):
        size = tokenizer.target_len() if target else len(tokenizer)
        tokens = [
            tokenizer.convert_ids_to_tokens(i, use_source_tokenizer=not target) if i < size else None
            for i in range(vocab_size)
        ]
    else:
        tokens = [tokenizer.convert_ids_to_tokens(i) if i < len(tokenizer) else None for i in range(vocab_size)]
    tokens = [token if token else f"<attnseq_unused_{i}>" for i, token in enumerate(tokens)]
    if len(set(tokens)) != len(tokens):
        seen: set[str] = set()
        duplicates = sorted({t for t in tokens if t in seen or seen.add(t)})
        raise ValueError(f"the tokenizer maps several ids to the same token(s) {duplicates[:5]}; CTranslate2 cannot.")
    return tokens


def transformer_spec(model, ctranslate2, max_positions: int | None = None):
    """The `TransformerSpec` of a `Seq2SeqTransformerForConditionalGeneration`, weights filled in (float32)."""
    from ctranslate2.specs import common_spec
    from ctranslate2.specs import transformer_spec as specs

    config = model.config
    activation = getattr(common_spec.Activation, ACTIVATIONS[config.activation_function])
    if max_positions is None:
        max_positions = (
            config.max_position_embeddings if config.position_embedding == "learned" else SINUSOIDAL_POSITIONS
        )
    if config.position_embedding == "learned" and max_positions > config.max_position_embeddings:
        raise ValueError(
            f"max_positions={max_positions} is more than the {config.max_position_embeddings} learned positions "
            "(max_position_embeddings) of this model."
        )
    if max_positions < 1:
        raise ValueError(f"max_positions must be a positive integer, got {max_positions}.")
    encoder_spec = specs.TransformerEncoderSpec(
        config.encoder_layers, config.encoder_attention_heads, pre_norm=config.norm_first, activation=activation
    )
    decoder_spec = specs.TransformerDecoderSpec(
        config.decoder_layers, config.decoder_attention_heads, pre_norm=config.norm_first, activation=activation
    )
    encoder, decoder = model.model.encoder, model.model.decoder
    _set_stack(encoder_spec, encoder, max_positions)
    _set_stack(decoder_spec, decoder, max_positions)
    for layer_spec, layer in zip(encoder_spec.layer, encoder.layers, strict=True):
        _set_attention(layer_spec.self_attention, layer.self_attn, layer.self_attn_layer_norm, self_attention=True)
        _set_feed_forward(layer_spec.ffn, layer)
    for layer_spec, layer in zip(decoder_spec.layer, decoder.layers, strict=True):
        _set_attention(layer_spec.self_attention, layer.self_attn, layer.self_attn_layer_norm, self_attention=True)
        _set_attention(layer_spec.attention, layer.encoder_attn, layer.encoder_attn_layer_norm, self_attention=False)
        _set_feed_forward(layer_spec.ffn, layer)
    decoder_spec.projection.weight = _array(model.lm_head.weight)
    return specs.TransformerSpec(encoder_spec, decoder_spec)


def _array(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to(torch.float32).cpu().numpy().copy()


def _set_linear(spec, *layers) -> None:
    """`spec` = the given `nn.Linear` layers stacked along their outputs (one fused matrix product)."""
    spec.weight = np.concatenate([_array(layer.weight) for layer in layers])
    if layers[0].bias is not None:
        spec.bias = np.concatenate([_array(layer.bias) for layer in layers])


def _set_layer_norm(spec, norm) -> None:
    spec.gamma = _array(norm.weight)
    spec.beta = _array(norm.bias)


def _set_attention(spec, attention, norm, self_attention: bool) -> None:
    if self_attention:
        _set_linear(spec.linear[0], attention.q_proj, attention.k_proj, attention.v_proj)
    else:
        _set_linear(spec.linear[0], attention.q_proj)
        _set_linear(spec.linear[1], attention.k_proj, attention.v_proj)
    _set_linear(spec.linear[-1], attention.out_proj)
    _set_layer_norm(spec.layer_norm, norm)


def _set_feed_forward(spec, layer) -> None:
    _set_linear(spec.linear_0, layer.feed_forward.fc1)
    _set_linear(spec.linear_1, layer.feed_forward.fc2)
    _set_layer_norm(spec.layer_norm, layer.final_layer_norm)


def _set_stack(spec, stack, max_positions: int) -> None:
    """Embeddings, their scale, the position table and (pre-norm) the final LayerNorm of an encoder or decoder."""
    embeddings = spec.embeddings[0] if isinstance(spec.embeddings, list) else spec.embeddings
    embeddings.weight = _array(stack.embed_tokens.weight)
    spec.scale_embeddings = float(stack.embed_scale)  # √d_model, or 1.0 without scale_embedding
    positions = torch.arange(max_positions).unsqueeze(0)
    with torch.no_grad():
        table = stack.embed_positions(positions, max_positions, torch.float32)[0]  # (max_positions, d_model)
    spec.position_encodings.encodings = _array(table)
    if stack.layer_norm is not None:
        _set_layer_norm(spec.layer_norm, stack.layer_norm)


# ----------------------------------------------------------------------------------------------------------------------
# Decoding
# ----------------------------------------------------------------------------------------------------------------------


class CTranslate2Model:
    """An exported folder loaded in CTranslate2, answering `generate(input_ids, attention_mask, ...)` like ours.

    `generate` returns a `(rows, length)` tensor that starts with the decoder start token and is padded with
    `pad_token_id`, as transformers' `generate()` does, so `tokenizer.batch_decode` reads it. The supported
    generation arguments are transformers' names: `max_new_tokens`/`max_length`, `min_new_tokens`/`min_length`,
    `num_beams`, `num_return_sequences`, `length_penalty`, `repetition_penalty`, `no_repeat_ngram_size`,
    `do_sample`, `top_k`, `top_p`, `temperature`; the folder's `generation_config.json` gives the defaults.
    """

    device = torch.device("cpu")

    def __init__(
        self,
        folder: str | os.PathLike,
        compute_type: str = "default",
        intra_threads: int = 0,
        inter_threads: int = 1,
    ):
        from transformers import GenerationConfig

        ctranslate2 = import_ctranslate2()
        self.folder = Path(folder)
        if not is_ctranslate2_folder(self.folder):
            raise ValueError(f"{folder} holds no CTranslate2 model (model.bin); write one with attnseq export.")
        self.info = json.loads((self.folder / EXPORT_INFO).read_text(encoding="utf-8"))
        self.translator = ctranslate2.Translator(
            str(self.folder),
            device="cpu",
            compute_type=compute_type,
            intra_threads=intra_threads,
            inter_threads=inter_threads,
        )
        # one shared_vocabulary.json, or source_vocabulary.json and target_vocabulary.json (separate vocabularies)
        vocabularies = {
            side: json.loads((self.folder / f"{name}_vocabulary.json").read_text(encoding="utf-8"))
            for side, name in (("source", "source"), ("target", "target"))
            if (self.folder / f"{name}_vocabulary.json").is_file()
        } or {"source": None, "target": None}
        if vocabularies["source"] is None:
            shared = json.loads((self.folder / "shared_vocabulary.json").read_text(encoding="utf-8"))
            vocabularies = {"source": shared, "target": shared}
        self.tokens = vocabularies["source"]  # source id -> token
        self.target_tokens = vocabularies["target"]  # target id -> token
        self.ids = {token: index for index, token in enumerate(self.target_tokens)}  # target token -> id
        self.generation_config = GenerationConfig.from_pretrained(self.folder)

    def eval(self) -> CTranslate2Model:
        return self

    def generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs) -> torch.Tensor:
        """Decode each row of `input_ids` `(batch, src_len)`; returns `(batch * num_return_sequences, length)`."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        sources = [
            [self.tokens[i] for i in row[mask.bool()].tolist()]
            for row, mask in zip(input_ids, attention_mask, strict=True)
        ]
        options, copies = self.translate_options(**kwargs)
        limit = self.info["max_positions"]
        longest = max(len(source) for source in sources)
        if longest > limit or options["max_decoding_length"] + 1 > limit:
            raise ValueError(
                f"A source of {longest} tokens or {options['max_decoding_length']} new tokens needs more than the "
                f"{limit} positions of this CTranslate2 export; export with a larger max_positions."
            )
        if copies > 1:  # sampling several outputs per source: decode each source several times
            sources = [source for source in sources for _ in range(copies)]
        results = self.translator.translate_batch(sources, max_input_length=0, **options)
        rows = []
        for result in results:
            for hypothesis in result.hypotheses:
                ids = [self.ids[token] for token in hypothesis]
                ended = len(ids) < options["max_decoding_length"]
                end = [self.info["eos_token_id"]] if ended else []
                rows.append([self.info["decoder_start_token_id"], *ids, *end])
        width = max(len(row) for row in rows)
        pad = self.info["pad_token_id"] if self.info["pad_token_id"] is not None else self.info["eos_token_id"]
        return torch.tensor([row + [pad] * (width - len(row)) for row in rows], dtype=torch.long)

    def translate_options(self, **kwargs) -> tuple[dict, int]:
        """`translate_batch` keyword arguments for transformers-style generation arguments, and the number of
        times each source is decoded (sampling with `num_return_sequences` > 1)."""
        known = {
            "max_new_tokens",
            "max_length",
            "min_new_tokens",
            "min_length",
            "num_beams",
            "num_return_sequences",
            "length_penalty",
            "repetition_penalty",
            "no_repeat_ngram_size",
            "do_sample",
            "top_k",
            "top_p",
            "temperature",
        }
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise ValueError(f"the CTranslate2 engine does not take {unknown}; it takes {sorted(known)}.")
        config = self.generation_config

        def get(name):
            value = kwargs.get(name)
            return getattr(config, name, None) if value is None else value

        max_new = get("max_new_tokens")
        if max_new is None:
            # the models' own default where nothing sets a length (`Seq2SeqLMMixin.generate`), within the export
            default = default_max_length(self.info["max_positions"] - 1)
            max_length = kwargs.get("max_length") or config.max_length or default
            max_new = max_length - 1  # transformers counts the decoder start token in max_length
        min_new = get("min_new_tokens")
        if min_new is None:
            min_new = max((get("min_length") or 0) - 1, 0)
        beams = get("num_beams") or 1
        returned = get("num_return_sequences") or 1
        options = {
            "max_decoding_length": int(max_new),
            "min_decoding_length": int(min_new),
            "beam_size": int(beams),
            "length_penalty": float(get("length_penalty") if get("length_penalty") is not None else 1.0),
            "repetition_penalty": float(get("repetition_penalty") or 1.0),
            "no_repeat_ngram_size": int(get("no_repeat_ngram_size") or 0),
            "num_hypotheses": 1,
        }
        copies = 1
        if get("do_sample"):
            if beams > 1:
                raise ValueError("the CTranslate2 engine samples without beams: pass num_beams=1 with do_sample.")
            top_k = get("top_k")
            options.update(
                sampling_topk=int(top_k) if top_k else 0,  # 0: the whole vocabulary
                sampling_topp=float(get("top_p") if get("top_p") is not None else 1.0),
                sampling_temperature=float(get("temperature") if get("temperature") is not None else 1.0),
            )
            copies = returned
        else:
            if returned > beams:
                raise ValueError(f"num_return_sequences={returned} needs num_beams >= {returned}.")
            options["num_hypotheses"] = returned
        return options, copies

    def score(self, input_ids: list[list[int]], labels: list[list[int]]) -> list[list[float]]:
        """Log-probability of each label token (eos included) given its source, per row."""
        sources = [[self.tokens[i] for i in row] for row in input_ids]
        targets = [[self.target_tokens[i] for i in row if i != self.info["eos_token_id"]] for row in labels]
        return [result.log_probs for result in self.translator.score_batch(sources, targets)]


def set_seed(seed: int) -> None:
    """Seed CTranslate2's sampling (torch's seed does not reach it)."""
    import_ctranslate2().set_random_seed(seed)
