"""Where a batch-1 greedy sentence of the LSTM family goes: `generate()` against plain decoding loops.

The same checkpoint decodes the same sentences, one at a time, greedily, three ways; every way must produce
exactly the tokens `generate()` produces (the script checks), so the differences are overhead only:

1. `model.generate()`, as users call it: transformers' set-up (generation config, logits processors,
   stopping criteria), the encoder, then per token its loop (`prepare_inputs_for_generation`, the model's
   `forward`, cache bookkeeping, stopping criteria).
2. A loop over the model's `forward` (encoder once, then one call per token with the recurrent cache): the
   model's own per-token cost with its input checks and output dataclasses, without `generate()`.
3. A loop over the decoder's step (`Seq2SeqLSTMDecoder.forward_step`, the embedding and the output layer, no
   `forward` wrapper): the layers alone.

The gap between 1 and 2 is what `generate()` adds; between 2 and 3, the model's `forward` wrapper (checks,
`ModelOutput`s, module calls). The decoding benchmark (`decoding_speed.py`) measures rows 1 against Joey NMT.

Command that produced the figures in the README ("Serving on a CPU"):

    .venv/bin/python benchmarks/generate_overhead.py outputs/multi30k-de-en-lstm --test_file test_2016_flickr.tsv
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import interleaved, machine_summary, markdown_table, median, read_column  # noqa: E402


def greedy_loop(model, encoded: list[dict], max_new_tokens: int, through_forward: bool):
    """A callable decoding every `(1, src_len)` input greedily by hand; returns one `(1, 1 + new)` tensor each.

    `through_forward`: each token goes through `model(...)` with the cache; otherwise through the decoder's
    `forward_step` and `lm_head` directly.
    """
    config = model.config
    decoder = model.get_decoder()

    def run():
        outputs = []
        with torch.inference_mode():
            for inputs in encoded:
                encoder_outputs = model.get_encoder()(**inputs)
                mask = inputs["attention_mask"]
                tokens = [torch.full((1, 1), config.decoder_start_token_id, dtype=torch.long)]
                cache = None if through_forward else decoder.start_cache(encoder_outputs)
                hs, source_mask = encoder_outputs.last_hidden_state, mask.bool()
                while len(tokens) <= max_new_tokens:
                    if through_forward:
                        step = model(
                            encoder_outputs=encoder_outputs,
                            attention_mask=mask,
                            decoder_input_ids=tokens[-1],
                            cache=cache,
                            use_cache=True,
                        )
                        logits, cache = step.logits, step.cache
                    else:
                        features = decoder.forward_step(decoder.embed_tokens(tokens[-1]), hs, source_mask, cache)[0]
                        logits = model.lm_head(features)
                    tokens.append(logits[:, -1].argmax(-1, keepdim=True))
                    if tokens[-1].item() == config.eos_token_id:
                        break
                outputs.append(torch.cat(tokens, dim=1))
        return outputs

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="an LSTM-family checkpoint folder")
    parser.add_argument("--test_file", required=True, help="TSV whose first column holds the sources")
    parser.add_argument("--sentences", type=int, default=20)
    parser.add_argument("--max_new_tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--quantize", default="int8", help="int8 (default) or none")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from transformers import AutoTokenizer

    from attnseq.serving import load_model

    model = load_model(args.checkpoint, quantize=None if args.quantize == "none" else args.quantize)
    if model.config.model_type != "seq2seq_lstm":
        raise SystemExit(f"{args.checkpoint} holds a {model.config.model_type} model, not seq2seq_lstm")
    tokenizer = AutoTokenizer.from_pretrained(args.checkpoint)
    encoded = [tokenizer([text], return_tensors="pt") for text in read_column(args.test_file, args.sentences)]

    def with_generate():
        with torch.inference_mode():
            return [
                model.generate(**inputs, num_beams=1, do_sample=False, max_new_tokens=args.max_new_tokens)
                for inputs in encoded
            ]

    contenders = {
        "generate()": with_generate,
        "loop over forward()": greedy_loop(model, encoded, args.max_new_tokens, through_forward=True),
        "loop over the decoder step": greedy_loop(model, encoded, args.max_new_tokens, through_forward=False),
    }
    expected = with_generate()
    for name, run in contenders.items():
        if any(not torch.equal(a, b) for a, b in zip(run(), expected)):
            raise SystemExit(f"{name} decoded other tokens than generate(); the comparison would not be fair")
    tokens = sum(output.size(1) - 1 for output in expected)

    times = interleaved(contenders, args.repeats)
    base = median(times["generate()"])
    rows = [
        [name, median(values) * 1e3 / len(encoded), median(values) * 1e6 / tokens, base / median(values)]
        for name, values in times.items()
    ]
    print(machine_summary())
    print(f"{args.checkpoint} ({args.quantize}), greedy, batch 1: {len(encoded)} sentences, {tokens} new tokens")
    print()
    print(markdown_table(["decoding", "ms per sentence", "µs per token", "speed-up over generate() (×)"], rows))
    print(f"\nMedians of {args.repeats} interleaved rounds, {args.threads} thread(s); the same tokens every way.")


if __name__ == "__main__":
    main()
