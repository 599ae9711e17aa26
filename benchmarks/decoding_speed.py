"""Decoding speed on a CPU: our `generate()` against CTranslate2 (float32, int8), torch int8 and BART.

For each family's checkpoint, every engine decodes the same test sentences (the source column of a TSV file),
greedy and beam 5, at batch 1 (ms per sentence) and batch 32 (sentences per second); the engines of one
workload run interleaved in this process (A B C, then C B A, ...) and the table gives medians. BART is
transformers' `BartForConditionalGeneration` with our Transformer's sizes and random weights, made to emit as
many tokens per batch as our float32 model does (min = max new tokens), so it does the same work. With
`--bleu_file`, every engine also decodes that whole file (greedy, batch 64) for corpus BLEU (sacrebleu, 13a,
lowercased), and the float32 CTranslate2 outputs are compared with `generate()`'s token for token.

Command that produced the table in the README ("Serving on a CPU"):

    .venv/bin/python benchmarks/decoding_speed.py --transformer outputs/m30k-transformer/checkpoint-150 \
        --lstm outputs/m30k-lstm/checkpoint-150 --test_file test.tsv --bleu_file val.tsv
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import interleaved, machine_summary, markdown_table, median  # noqa: E402

BEAMS = 5


def read_column(path: str, limit: int | None = None, column: int = 0) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        rows = [line.rstrip("\n").split("\t")[column] for line in handle]
    return rows[:limit] if limit else rows


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


def speed_rows(family: str, tokenizer, models: dict, texts: list[str], args) -> list[list[object]]:
    pad = tokenizer.pad_token_id
    reference = models["ours, float32"]
    timings: dict[str, dict[str, float]] = {name: {} for name in models}
    if family == "Transformer":
        timings["BART (same sizes, same tokens)"] = {}
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
                contenders["BART (same sizes, same tokens)"] = decoder(
                    bart, tokenizer, subset, batch_size, beams, args.max_new_tokens, forced=lengths
                )
            seconds = {name: median(values) for name, values in interleaved(contenders, args.repeats).items()}
            key = f"{'greedy' if beams == 1 else f'beam {beams}'}, batch {batch_size}"
            for name, value in seconds.items():
                timings[name][key] = value * 1000 / count if batch_size == 1 else count / value
    rows = []
    base = timings["ours, float32"]
    for name, row in timings.items():
        keys = ("greedy, batch 1", f"beam {BEAMS}, batch 1", "greedy, batch 32", f"beam {BEAMS}, batch 32")
        rows.append([family, name, *(row[key] for key in keys), *(base[key] / row[key] for key in keys[:2])])
    return rows


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
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    texts = read_column(args.test_file)
    print(f"Machine: {machine_summary()}\n")
    speed, quality = [], []
    with tempfile.TemporaryDirectory() as workdir:
        for family, checkpoint in (("Transformer", args.transformer), ("LSTM", args.lstm)):
            if checkpoint is None:
                continue
            tokenizer, models = engines(checkpoint, args.threads, os.path.join(workdir, family))
            reference = models["ours, float32"]
            print(f"{family}: {checkpoint}, {reference.num_parameters():,} parameters", flush=True)
            speed += speed_rows(family, tokenizer, models, texts, args)
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
        f"at most {args.max_new_tokens} new tokens. Speed-up: against ours, float32."
    )
    if quality:
        print()
        print(markdown_table(["family", "engine", "BLEU", "outputs equal to ours, float32", "seconds"], quality))
        print(f"\nGreedy, batch 64, on every row of {args.bleu_file}; sacrebleu corpus BLEU, 13a, lowercase.")


if __name__ == "__main__":
    main()
