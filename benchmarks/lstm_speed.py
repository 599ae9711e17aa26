"""Speed of the attention LSTM family: fused path vs step loop, recurrent cache vs re-run, and Joey NMT.

Command that produced the tables in benchmarks/README.md:

    .venv/bin/python benchmarks/lstm_speed.py --repeats 3

Model (both sides of every comparison): vocabulary 1000, word vectors 256, hidden size 512, one LSTM
layer each side, a bidirectional encoder (256 per direction), Luong's "general" attention score
hᵀ W hs and Luong's attentional vector h̃ = tanh(W_c [context; h]) of size 512 read by the output layer,
dropout 0. Batches of 32 rows × 32 source tokens × 32 target tokens, no padding.

1. Training step (forward + loss + backward + AdamW step), target tokens per second: the fused
   teacher-forcing path (`input_feeding=False`: one `nn.LSTM` call over the whole target, attention
   as batched matrix products) against the step loop (`input_feeding=True`: each step reads the
   previous attentional vector), same sizes.
2. `generate` of exactly 64 new tokens (greedy) with the recurrent cache (`use_cache=True`) against
   re-running the decoder over the whole prefix at every step (`use_cache=False`), batch 1 and 32.
3. Joey NMT 2.3 (`joeynmt` on PyPI), `RecurrentEncoder` + `RecurrentDecoder` built by its own
   `build_model` with the same sizes, cell, attention (`attention: luong`), bidirectional encoder and
   `init_hidden: last`: training step (its `return_type="loss"` forward + backward + AdamW step) and its
   `recurrent_greedy` decoding of exactly 64 tokens. Joey's RNN decoder always runs a step loop, with or
   without input feeding; both settings are compared.

   Joey NMT pins `protobuf<3.21` and pulls a full torch build, which clash with our environment. The
   script therefore makes its own virtual environment `benchmarks/.venv-joeynmt` (git-ignored) with
   `pip install --no-deps joeynmt==2.3.0` and the few packages its model code imports, and lets it
   import torch, transformers and attnseq from the interpreter running this script (a `.pth` line):
   both contenders then run in the same process on the same torch, interleaved. If the install fails the
   table says so and the other comparisons still run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import interleaved, joey_python, joey_vocabulary, machine_summary, markdown_table, median  # noqa: E402

VOCAB, EMBEDDING, HIDDEN = 1000, 256, 512
BATCH, SRC_LEN, TGT_LEN = 32, 32, 32
NEW_TOKENS = 64
PAD, BOS, EOS = 0, 1, 2


# ----------------------------------------------------------------------------------------------------------------------
# attnseq
# ----------------------------------------------------------------------------------------------------------------------


def build_ours(input_feeding: bool, seed: int = 0):
    import attnseq  # noqa: F401
    from attnseq import Seq2SeqLSTMConfig, Seq2SeqLSTMForConditionalGeneration

    config = Seq2SeqLSTMConfig(
        vocab_size=VOCAB,
        embedding_size=EMBEDDING,
        hidden_size=HIDDEN,
        cell="lstm",
        attention="general",
        attentional_size=HIDDEN,
        input_feeding=input_feeding,
        bidirectional_encoder=True,
        reverse_source=False,
        dropout=0.0,
        pad_token_id=PAD,
        bos_token_id=BOS,
        eos_token_id=EOS,
    )
    torch.manual_seed(seed)
    return Seq2SeqLSTMForConditionalGeneration(config)


def batch(batch_size: int, seed: int = 1) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {
        "input_ids": torch.randint(4, VOCAB, (batch_size, SRC_LEN), generator=generator),
        "attention_mask": torch.ones(batch_size, SRC_LEN, dtype=torch.long),
        "labels": torch.randint(4, VOCAB, (batch_size, TGT_LEN), generator=generator),
    }


def ours_training_step(input_feeding: bool):
    model = build_ours(input_feeding).train()
    inputs = batch(BATCH)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        optimizer.zero_grad(set_to_none=True)
        model(**inputs).loss.backward()
        optimizer.step()

    return step


def ours_generation(batch_size: int, use_cache: bool, input_feeding: bool = False):
    model = build_ours(input_feeding).eval()
    inputs = batch(batch_size)
    arguments = {
        "input_ids": inputs["input_ids"],
        "attention_mask": inputs["attention_mask"],
        "max_length": NEW_TOKENS + 1,  # the decoder start token and NEW_TOKENS new ones
        "min_length": NEW_TOKENS + 1,
        "num_beams": 1,
        "do_sample": False,
        "use_cache": use_cache,
    }

    def run():
        with torch.inference_mode():
            model.generate(**arguments)

    return run


# ----------------------------------------------------------------------------------------------------------------------
# Joey NMT (runs inside the Joey NMT environment)
# ----------------------------------------------------------------------------------------------------------------------


def build_joey(input_feeding: bool, seed: int = 0):
    from joeynmt.model import build_model

    vocabulary = joey_vocabulary(VOCAB)
    config = {
        "tied_embeddings": True,
        "encoder": {
            "type": "recurrent",
            "rnn_type": "lstm",
            "embeddings": {"embedding_dim": EMBEDDING},
            "hidden_size": HIDDEN // 2,
            "bidirectional": True,
            "num_layers": 1,
            "dropout": 0.0,
        },
        "decoder": {
            "type": "recurrent",
            "rnn_type": "lstm",
            "embeddings": {"embedding_dim": EMBEDDING},
            "hidden_size": HIDDEN,
            "attention": "luong",
            "input_feeding": input_feeding,
            "init_hidden": "last",
            "num_layers": 1,
            "dropout": 0.0,
            "hidden_dropout": 0.0,
        },
    }
    torch.manual_seed(seed)
    model = build_model(config, vocabulary, vocabulary)
    model.loss_function = ("crossentropy", 0.0)
    return model


def joey_inputs(batch_size: int) -> dict[str, torch.Tensor]:
    inputs = batch(batch_size)
    labels = inputs["labels"]
    return {
        "src": inputs["input_ids"],
        "src_length": torch.full((batch_size,), SRC_LEN),
        "src_mask": torch.ones(batch_size, 1, SRC_LEN, dtype=torch.bool),
        "trg": labels,
        "trg_input": torch.cat([torch.full((batch_size, 1), 2), labels[:, :-1]], dim=1),  # Joey's BOS is 2
        "trg_mask": torch.ones(batch_size, 1, TGT_LEN, dtype=torch.bool),
    }


def joey_training_step(input_feeding: bool):
    model = build_joey(input_feeding).train()
    inputs = joey_inputs(BATCH)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = model(return_type="loss", **inputs)[0]
        (loss / inputs["trg_mask"].sum()).backward()  # Joey sums the token losses; normalise as we do
        optimizer.step()

    return step


def joey_generation(batch_size: int, input_feeding: bool):
    from joeynmt.search import recurrent_greedy

    model = build_joey(input_feeding).eval()
    inputs = joey_inputs(batch_size)

    def run():
        with torch.inference_mode():
            encoder_output, encoder_hidden, _, _ = model(
                return_type="encode", src=inputs["src"], src_length=inputs["src_length"], src_mask=inputs["src_mask"]
            )
            recurrent_greedy(
                inputs["src_mask"], NEW_TOKENS, model, encoder_output, encoder_hidden, min_output_length=NEW_TOKENS
            )

    return run


def joey_rows(repeats: int) -> list[list[object]]:
    """Ours vs Joey NMT, interleaved in this process (the Joey NMT environment)."""
    rows = []
    for input_feeding in (True, False):
        ours_path = "step loop" if input_feeding else "fused"
        times = interleaved(
            {"ours": ours_training_step(input_feeding), "joey": joey_training_step(input_feeding)}, repeats
        )
        ours, joey = (BATCH * TGT_LEN / median(times[name]) for name in ("ours", "joey"))
        what = f"train step, input feeding {'on' if input_feeding else 'off'} (ours: {ours_path})"
        rows.append([what, "target tokens/s", ours, joey, ours / joey])
        for batch_size in (1, BATCH):
            times = interleaved(
                {
                    "ours": ours_generation(batch_size, use_cache=True, input_feeding=input_feeding),
                    "joey": joey_generation(batch_size, input_feeding),
                },
                repeats,
            )
            ours, joey = (median(times[name]) * 1000 for name in ("ours", "joey"))
            what = f"greedy {NEW_TOKENS} tokens, batch {batch_size}, input feeding {'on' if input_feeding else 'off'}"
            rows.append([what, "ms", ours, joey, joey / ours])
    return rows


# ----------------------------------------------------------------------------------------------------------------------
# The tables
# ----------------------------------------------------------------------------------------------------------------------


def forward_multiply_adds(input_feeding: bool) -> int:
    """Multiply-adds of one training batch's forward pass, counted from the sizes (backward is about twice this).

    Encoder (both directions), the "general" keys W hs, the decoder LSTM (whose input grows by the 512-wide
    attentional vector with input feeding), scores and contexts, the attentional layer and the output layer.
    """
    per_direction = HIDDEN // 2
    encoder = 2 * SRC_LEN * BATCH * 4 * per_direction * (EMBEDDING + per_direction)
    keys = SRC_LEN * BATCH * HIDDEN * HIDDEN
    decoder_input = EMBEDDING + HIDDEN + (HIDDEN if input_feeding else 0)
    decoder = TGT_LEN * BATCH * 4 * HIDDEN * decoder_input
    attention = 2 * TGT_LEN * BATCH * SRC_LEN * HIDDEN
    attentional = TGT_LEN * BATCH * HIDDEN * 2 * HIDDEN
    output = TGT_LEN * BATCH * VOCAB * HIDDEN
    return encoder + keys + decoder + attention + attentional + output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds per contender (after a warm-up)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: stable timings on a shared CPU)")
    parser.add_argument("--joey-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.joey_child:
        print(json.dumps(joey_rows(args.repeats)))
        return

    print(f"Machine: {machine_summary()}\n")
    times = interleaved({"fused": ours_training_step(False), "loop": ours_training_step(True)}, args.repeats)
    fused, loop = (BATCH * TGT_LEN / median(times[name]) for name in ("fused", "loop"))
    arithmetic = forward_multiply_adds(True) / forward_multiply_adds(False)
    print("Training step, target tokens/s:\n")
    print(
        markdown_table(
            ["fused (no input feeding)", "step loop (input feeding)", "fused / loop (×)", "multiply-adds loop / fused"],
            [[fused, loop, fused / loop, arithmetic]],
        )
    )

    rows = []
    for batch_size in (1, BATCH):
        times = interleaved(
            {"cache": ours_generation(batch_size, True), "rerun": ours_generation(batch_size, False)}, args.repeats
        )
        cache, rerun = (median(times[name]) * 1000 for name in ("cache", "rerun"))
        rows.append([f"greedy {NEW_TOKENS} new tokens, batch {batch_size}", cache, rerun, rerun / cache])
    print("\nGeneration, ms per `generate`:\n")
    print(markdown_table(["workload", "recurrent cache", "re-run the prefix", "speed-up (×)"], rows))

    print("\nAgainst Joey NMT:\n")
    python, version = joey_python()
    if python is None:
        print(f"Joey NMT {version}; no comparison.")
    else:
        child = [python, os.path.abspath(__file__), "--joey-child", "--repeats", str(args.repeats)]
        result = subprocess.run(child + ["--threads", str(args.threads)], capture_output=True, text=True)
        if result.returncode != 0:
            print(f"Joey NMT run failed: {result.stderr.strip()[-1500:]}")
        else:
            rows = json.loads(result.stdout.strip().splitlines()[-1])
            print(markdown_table(["workload", "unit", "attnseq", version, "speed-up (×)"], rows))
    print(
        f"\nMedians of {args.repeats} interleaved runs, {args.threads} torch thread(s). Speed-up > 1 = attnseq faster."
    )


if __name__ == "__main__":
    main()
