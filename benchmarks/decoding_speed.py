"""Decoding speed on a CPU: our `generate()` against CTranslate2, torch int8, BART and Joey NMT.

For each family's checkpoint, every engine decodes the same test sentences (the source column of a TSV file),
greedy and beam 5, at batch 1 (ms per sentence) and batch 32 (sentences per second); the engines of one
workload run interleaved in one process (A B C, then C B A, ...) and the table gives medians. Our engines:
`generate()` in float32 and with torch's dynamic int8 linears, and for the Transformer CTranslate2 float32 and
int8 (an export of the checkpoint). Two reference contenders have random weights and are made to emit, for
every batch, exactly as many new tokens as our float32 model emitted for it (the most of any row), so they do
the same work:

- BART (Transformer only): transformers' `BartForConditionalGeneration` with our Transformer's sizes,
  `min_new_tokens = max_new_tokens` = that number.
- Joey NMT 2.3 (both families): a model built by Joey's own `joeynmt.model.build_model` with the checkpoint's
  sizes. Transformer: d_model, layers, heads, feed-forward size, activation, pre/post norm, embedding scaling,
  shared and tied embeddings. LSTM family: the cell (gru/lstm), embedding size, layers, a bidirectional
  encoder of hidden_size / 2 per direction (our hidden_size counts both directions, Joey's is per
  direction), a decoder of hidden_size started from the last encoder state (`init_hidden: last`), attention
  additive -> "bahdanau", dot/scaled_dot/general -> "luong", input feeding as configured (Joey always has
  its attentional layer; its output layer reads a hidden_size vector). It encodes each batch (sorted by
  length, as its recurrent encoder packs it) and decodes it with `joeynmt.search.greedy` or
  `joeynmt.search.beam_search` (alpha 1) with `min_output_length = max_output_length` = that number: Joey
  never emits EOS before its minimum and stops at its maximum, so every row gets exactly that many tokens
  (the script asserts it). Joey's Transformer decoding re-runs the decoder over the whole prefix at each
  step (it keeps no cache); its recurrent decoder runs one step at a time.

Joey NMT clashes with our environment (see `common.py`): the script makes `benchmarks/.venv-joeynmt` on first
use (`common.joey_python`) and re-runs itself, whole, in that interpreter, which also imports torch,
transformers, CTranslate2 and attnseq from this one, so that all contenders share one process. If Joey NMT
cannot be installed (or with `--without_joey`) the script runs here without the Joey rows and says why. A
line per family gives the best of our engines against Joey NMT in sentences per second (batch 1: 1000 / ms)
for every workload; the target is ≥ 2×.

With `--bleu_file`, each of our engines also decodes that whole file (greedy, batch 64) for corpus BLEU
(sacrebleu, 13a, lowercased), and the float32 CTranslate2 outputs are compared with `generate()`'s token for
token.

Command that produced the table in the README ("Serving on a CPU"):

    .venv/bin/python benchmarks/decoding_speed.py --transformer outputs/m30k-transformer/checkpoint-150 \
        --lstm outputs/m30k-lstm/checkpoint-150 --test_file test.tsv --bleu_file val.tsv
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import (  # noqa: E402
    interleaved,
    joey_python,
    joey_vocabulary,
    machine_summary,
    markdown_table,
    median,
    read_column,
)

BEAMS = 5
BART = "BART (same sizes, same tokens)"
JOEY = "Joey NMT 2.3 (same sizes, same tokens)"
WORKLOADS = ("greedy, batch 1", f"beam {BEAMS}, batch 1", "greedy, batch 32", f"beam {BEAMS}, batch 32")


def batches(texts: list[str], size: int) -> list[list[str]]:
    return [texts[i : i + size] for i in range(0, len(texts), size)]


def decoder(model, tokenizer, texts: list[str], batch_size: int, num_beams: int, max_new_tokens: int, forced=None):
    """A callable decoding `texts` in batches; `forced[i]` = exact new tokens of batch i (BART only)."""
    encoded = [tokenizer(batch, padding=True, return_tensors="pt") for batch in batches(texts, batch_size)]

    def run():
        outputs = []
        with torch.inference_mode():
            for i, inputs in enumerate(encoded):
                length = {} if forced is None else {"min_new_tokens": forced[i], "max_new_tokens": forced[i]}
                arguments = {"num_beams": num_beams, "do_sample": False, "max_new_tokens": max_new_tokens, **length}
                outputs.append(model.generate(**inputs, **arguments))
        return outputs

    return run


def new_tokens(outputs: list[torch.Tensor], pad: int) -> list[int]:
    """Per batch: the most new tokens any row generated (the decoder start token left out)."""
    return [int((output[:, 1:] != pad).sum(1).max()) for output in outputs]


def bart_like(config, seed: int = 0):
    from transformers import BartConfig, BartForConditionalGeneration

    sizes = {
        name: getattr(config, name)
        for name in (
            "vocab_size", "d_model", "encoder_layers", "decoder_layers", "encoder_attention_heads",
            "decoder_attention_heads", "encoder_ffn_dim", "decoder_ffn_dim", "activation_function",
            "scale_embedding", "pad_token_id", "bos_token_id", "eos_token_id",
        )
    }  # fmt: skip
    torch.manual_seed(seed)
    bart = BartConfig(
        **sizes, max_position_embeddings=1024, dropout=0.0, decoder_start_token_id=config.bos_token_id,
        forced_eos_token_id=None, forced_bos_token_id=None,
    )  # fmt: skip
    return BartForConditionalGeneration(bart).eval()


def joey_like(config, seed: int = 0):
    """A Joey NMT model with the sizes of our `config`, random weights, built by Joey's own `build_model`."""
    import logging

    from joeynmt.model import build_model

    logging.getLogger("joeynmt.model").setLevel(logging.WARNING)  # its own handler logs every build at INFO
    if config.model_type == "seq2seq_transformer":

        def side(layers: int, heads: int, ffn: int) -> dict:
            return {
                "type": "transformer",
                "embeddings": {"embedding_dim": config.d_model, "scale": config.scale_embedding},
                "hidden_size": config.d_model,
                "ff_size": ffn,
                "num_heads": heads,
                "num_layers": layers,
                "dropout": 0.0,
                "layer_norm": "pre" if config.norm_first else "post",
                "activation": {"silu": "swish", "gelu_new": "gelu"}.get(
                    config.activation_function, config.activation_function
                ),
            }

        joey = {
            "tied_embeddings": config.share_encoder_decoder_embeddings,
            "tied_softmax": config.tie_word_embeddings,
            "encoder": side(config.encoder_layers, config.encoder_attention_heads, config.encoder_ffn_dim),
            "decoder": side(config.decoder_layers, config.decoder_attention_heads, config.decoder_ffn_dim),
        }
    else:
        if config.attention == "none":
            raise ValueError("Joey NMT's recurrent decoder always attends; attention='none' has no counterpart")
        embeddings = {"embedding_dim": config.embedding_size}
        joey = {
            "tied_embeddings": False,
            # Joey's output layer reads its hidden_size attentional vector: tying needs embedding_size to match
            "tied_softmax": config.tie_word_embeddings and config.embedding_size == config.hidden_size,
            "encoder": {
                "type": "recurrent",
                "rnn_type": config.cell,
                "embeddings": embeddings,
                "hidden_size": config.hidden_size // 2 if config.bidirectional_encoder else config.hidden_size,
                "bidirectional": config.bidirectional_encoder,
                "num_layers": config.encoder_layers,
                "dropout": 0.0,
            },
            "decoder": {
                "type": "recurrent",
                "rnn_type": config.cell,
                "embeddings": embeddings,
                "hidden_size": config.hidden_size,
                "attention": "bahdanau" if config.attention == "additive" else "luong",
                "input_feeding": config.input_feeding,
                "init_hidden": "last",
                "num_layers": config.decoder_layers,
                "dropout": 0.0,
                "hidden_dropout": 0.0,
            },
        }
    vocabulary = joey_vocabulary(config.vocab_size)
    torch.manual_seed(seed)
    return build_model(joey, vocabulary, vocabulary).eval()


def joey_decoder(model, tokenizer, texts: list[str], batch_size: int, num_beams: int, forced: list[int]):
    """A callable decoding `texts` in batches with Joey NMT's search, exactly `forced[i]` new tokens in batch i."""
    from joeynmt.search import beam_search, greedy

    encoded = []
    for batch in batches(texts, batch_size):
        rows = sorted(tokenizer(batch)["input_ids"], key=len, reverse=True)  # Joey packs the batch: longest first
        length = torch.tensor([len(row) for row in rows])
        source = torch.full((len(rows), int(length[0])), model.pad_index, dtype=torch.long)
        for i, row in enumerate(rows):
            source[i, : len(row)] = torch.tensor(row)
        mask = (torch.arange(source.size(1)) < length[:, None]).unsqueeze(1)  # batch × 1 × source length
        encoded.append({"src": source, "src_length": length, "src_mask": mask})

    def run():
        outputs = []
        with torch.inference_mode():
            for i, inputs in enumerate(encoded):
                encoder_output, encoder_hidden, _, _ = model(return_type="encode", **inputs)
                search = {
                    "model": model,
                    "encoder_output": encoder_output,
                    "encoder_hidden": encoder_hidden,
                    "src_mask": inputs["src_mask"],
                    "max_output_length": forced[i],
                    "min_output_length": forced[i],
                }
                if num_beams == 1:
                    output = greedy(**search)[0]
                else:
                    output = beam_search(beam_size=num_beams, alpha=1.0, **search)[0]
                # one column per decoding step (Joey's output has no start token and no padding here)
                assert output.shape == (len(inputs["src"]), forced[i]), (
                    f"Joey NMT's output of batch {i} is {tuple(output.shape)}, not rows × {forced[i]} (ours)"
                )
                outputs.append(output)
        return outputs

    return run


def versus_joey(family: str, timings: dict[str, dict[str, float]]) -> str:
    """The best of our engines against Joey NMT, in sentences per second, for every workload."""
    ours = {name: row for name, row in timings.items() if name not in (BART, JOEY)}
    parts = []
    for key in WORKLOADS:

        def per_second(value: float, key: str = key) -> float:
            return 1000 / value if key.endswith("batch 1") else value  # batch 1 is in ms per sentence

        best = max(ours, key=lambda name: per_second(ours[name][key]))
        ratio = per_second(ours[best][key]) / per_second(timings[JOEY][key])
        parts.append(f"{key} {ratio:.2f}× ({best}{'' if ratio >= 2 else ', below 2×'})")
    return f"{family}, best engine vs Joey NMT, sentences/s: " + "; ".join(parts)


def engines(checkpoint: str, threads: int, workdir: str) -> tuple[object, dict[str, object]]:
    """`(tokenizer, {engine name: model})` of one checkpoint."""
    from transformers import AutoTokenizer

    from attnseq.serving import load_model

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    models = {"ours, float32": load_model(checkpoint), "ours, torch int8": load_model(checkpoint, quantize="int8")}
    if models["ours, float32"].config.model_type == "seq2seq_transformer":
        from attnseq.serving import CTranslate2Model, export_ctranslate2

        folder = export_ctranslate2(checkpoint, os.path.join(workdir, "ct2"))
        for name, compute_type in (("CTranslate2 float32", "float32"), ("CTranslate2 int8", "int8")):
            models[name] = CTranslate2Model(folder, compute_type=compute_type, intra_threads=threads)
    return tokenizer, models


def speed_rows(family: str, tokenizer, models: dict, texts: list[str], args) -> tuple[list[list[object]], str]:
    """The table's rows of one family, and its line against Joey NMT (or why there is none)."""
    pad = tokenizer.pad_token_id
    reference = models["ours, float32"]
    timings: dict[str, dict[str, float]] = {name: {} for name in models}
    if family == "Transformer":
        timings[BART] = {}
    joey, note = None, f"{family}: no Joey NMT rows, {args.joey_note}"
    if args.joey_note is None:
        try:
            joey = joey_like(reference.config)
            timings[JOEY] = {}
        except ValueError as error:
            note = f"{family}: no Joey NMT rows, {error}"
    for batch_size, count in ((1, args.sentences), (32, args.batch_sentences)):
        for beams in (1, BEAMS):
            subset = texts[:count]
            lengths = new_tokens(decoder(reference, tokenizer, subset, batch_size, beams, args.max_new_tokens)(), pad)
            contenders = {
                name: decoder(model, tokenizer, subset, batch_size, beams, args.max_new_tokens)
                for name, model in models.items()
            }
            if family == "Transformer":
                bart = bart_like(reference.config)
                contenders[BART] = decoder(
                    bart, tokenizer, subset, batch_size, beams, args.max_new_tokens, forced=lengths
                )
            if joey is not None:
                contenders[JOEY] = joey_decoder(joey, tokenizer, subset, batch_size, beams, lengths)
            seconds = {name: median(values) for name, values in interleaved(contenders, args.repeats).items()}
            key = f"{'greedy' if beams == 1 else f'beam {beams}'}, batch {batch_size}"
            for name, value in seconds.items():
                timings[name][key] = value * 1000 / count if batch_size == 1 else count / value
    rows = []
    base = timings["ours, float32"]
    for name, row in timings.items():
        rows.append([family, name, *(row[key] for key in WORKLOADS), *(base[key] / row[key] for key in WORKLOADS[:2])])
    return rows, note if joey is None else versus_joey(family, timings)


def bleu_rows(family: str, tokenizer, models: dict, path: str, max_new_tokens: int) -> list[list[object]]:
    import sacrebleu

    sources, references = read_column(path), read_column(path, column=1)
    rows, hypotheses = [], {}
    for name, model in models.items():
        start = time.perf_counter()
        outputs = decoder(model, tokenizer, sources, 64, 1, max_new_tokens)()
        elapsed = time.perf_counter() - start
        hypotheses[name] = [text for output in outputs for text in tokenizer.batch_decode(output, True)]
        bleu = sacrebleu.corpus_bleu(hypotheses[name], [references], lowercase=True)
        same = sum(a == b for a, b in zip(hypotheses[name], hypotheses["ours, float32"], strict=True))
        rows.append([family, name, bleu.score, f"{same} of {len(sources)}", elapsed])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transformer", help="a Transformer checkpoint")
    parser.add_argument("--lstm", help="an LSTM checkpoint")
    parser.add_argument("--test_file", required=True, help="TSV whose first column holds the sources to decode")
    parser.add_argument("--bleu_file", help="TSV source/reference pairs for BLEU of every engine (greedy)")
    parser.add_argument("--sentences", type=int, default=40, help="sentences decoded one at a time")
    parser.add_argument("--batch_sentences", type=int, default=128, help="sentences decoded in batches of 32")
    parser.add_argument("--max_new_tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch and CTranslate2 threads")
    parser.add_argument("--without_joey", action="store_true", help="leave Joey NMT out (no environment is made)")
    parser.add_argument("--joey-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.joey_note = None  # why there are no Joey NMT rows; None: there are
    if args.without_joey:
        args.joey_note = "left out (--without_joey)"
    elif not args.joey_child:
        python, version = joey_python()
        if python is None:
            args.joey_note = f"Joey NMT {version}"
        else:  # the whole measurement runs in the Joey NMT environment, all contenders in one process
            child = subprocess.run([python, os.path.abspath(__file__), *sys.argv[1:], "--joey-child"])
            if child.returncode == 0:
                return
            args.joey_note = f"the run in the Joey NMT environment failed (exit status {child.returncode})"
            print(f"\n{args.joey_note}; measuring again without Joey NMT.\n", flush=True)
    torch.set_num_threads(args.threads)
    texts = read_column(args.test_file)
    print(f"Machine: {machine_summary()}\n")
    speed, quality, joey_lines = [], [], []
    with tempfile.TemporaryDirectory() as workdir:
        for family, checkpoint in (("Transformer", args.transformer), ("LSTM", args.lstm)):
            if checkpoint is None:
                continue
            tokenizer, models = engines(checkpoint, args.threads, os.path.join(workdir, family))
            reference = models["ours, float32"]
            print(f"{family}: {checkpoint}, {reference.num_parameters():,} parameters", flush=True)
            rows, joey_line = speed_rows(family, tokenizer, models, texts, args)
            speed += rows
            joey_lines.append(joey_line)
            if args.bleu_file:
                quality += bleu_rows(family, tokenizer, models, args.bleu_file, args.max_new_tokens)
    headers = [
        "family", "engine", "greedy, batch 1 (ms/sentence)", f"beam {BEAMS}, batch 1 (ms/sentence)",
        "greedy, batch 32 (sentences/s)", f"beam {BEAMS}, batch 32 (sentences/s)", "speed-up greedy b1 (×)",
        f"speed-up beam {BEAMS} b1 (×)",
    ]  # fmt: skip
    print()
    print(markdown_table(headers, speed))
    print(
        f"\nMedians of {args.repeats} interleaved rounds, {args.threads} thread(s); batch 1 over the first "
        f"{args.sentences} sentences of {args.test_file}, batch 32 over the first {args.batch_sentences}; "
        f"at most {args.max_new_tokens} new tokens. Speed-up: against ours, float32. BART and Joey NMT: random "
        "weights, exactly as many new tokens per batch as ours, float32 emitted."
    )
    print()
    print("\n".join(joey_lines))
    if quality:
        print()
        print(markdown_table(["family", "engine", "BLEU", "outputs equal to ours, float32", "seconds"], quality))
        print(f"\nGreedy, batch 64, on every row of {args.bleu_file}; sacrebleu corpus BLEU, 13a, lowercase.")


if __name__ == "__main__":
    main()
