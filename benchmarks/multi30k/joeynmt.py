"""Joey NMT 2.3 trained like our Multi30k recipes, for a fixed wall-clock budget on one CPU thread.

The script trains Joey NMT 2.3 (`joeynmt` on PyPI) on Multi30k German -> English with the sizes and training
settings of one of our recipes (`transformer.yaml`, `lstm.yaml` next to this file), for `--minutes` of wall-clock
time, validation included, then decodes test2016 with Joey's best checkpoint and scores it as `attnseq train`
scores the test split, so that the README can set attnseq and Joey NMT side by side at equal CPU time.

What it does:

1. Reads the recipe's train, validation and test files (paths relative to the repository root) with attnseq's
   own reader, and trains the recipe's tokenizer exactly as `attnseq train` does
   (`attnseq.tokenization.train_subword_tokenizer` on the training sources then targets: BPE, 4,000 pieces,
   lower-cased, NFKC), or reuses a checkpoint's tokenizer (`--tokenizer FOLDER`).
2. Writes every split as space-separated pieces of that tokenizer (Joey's `level: word` splits at spaces only,
   and no piece holds a space) and Joey's vocabulary file: our 4,000 entries, our special tokens as Joey's
   specials (Joey numbers them unk 0, pad 1, bos 2, eos 3; ours are pad 0, bos 1, eos 2, unk 3; the other
   entries keep their order). One vocabulary serves both sides, as ours does.
3. Builds the model with Joey's own `build_model` and trains it with Joey's `TrainManager`, in this process,
   with `torch.set_num_threads(1)`. The only thing added from outside is the budget: once `--minutes` have
   passed since training began, the step that crosses it is the last, it is validated, and Joey's loop ends
   as at `updates:` (our `--max_train_minutes` does the same: the crossing step is evaluated and saved).
4. Loads Joey's best checkpoint by validation BLEU (`best.ckpt`), decodes test2016 with Joey's beam search
   (beam 5, alpha 1.0) and times it, turns the pieces back into text with our tokenizer's decoder and scores
   against the raw reference lines with sacrebleu: `corpus_bleu(hyps, [refs], lowercase=True)` (13a) and
   chrF with `lowercase=True`, as our test evaluation does.
5. Prints and writes `OUTPUT_DIR/joey_results.json`: test BLEU, chrF and their signatures, training minutes,
   steps, epochs, the validation BLEU of every evaluation with the minutes since training began, and the test
   decoding speed (sentences/s); `test_predictions.txt` holds the decoded test set, `joey/` Joey's model folder
   (`train.log`, `validations.txt`, checkpoints), `data/` the piece files.

Fairness choices (the same as our recipe): the same tokenizer and vocabulary, pieces and sentences; batches of
64 sentences; Adam (betas 0.9/0.999, no weight decay) with the recipe's peak learning rate (Transformer 1e-3,
LSTM 2e-3) and warm-up steps (400, 200), then inverse square root decay (Joey's `warmupinversesquareroot` has
the formula of transformers' `inverse_sqrt`, lr = peak * sqrt(warmup / step)); gradients clipped to norm 5
(our `max_grad_norm`); label smoothing 0.1; loss averaged over target tokens; validation every 150 steps on
the 1,014 validation sentences, greedy, in batches of 256, up to 8 tokens past the longest training target
(ours: the same limit), BLEU on decoded text (lower-cased, 13a) against the decoded references, as ours;
seed 42; one torch thread; the budget counts validation and checkpoint writing. The validation and test files
are written sorted by source length, as our trainer sorts them before decoding (corpus scores do not depend
on the order; the test outputs are put back in the original order). Test decoding may run to 127 new tokens,
as `generate()`'s default limit of 128 (with the start token) allows ours. Joey's learning rate starts at 0
for the first update as transformers' schedule does (Joey's optimizer would otherwise make its first update
with the peak rate, before its scheduler first sets the rate).

Sizes. Transformer: 3 + 3 layers, d_model 256, 8 heads, feed-forward 512, ReLU, dropout 0.1, pre-norm, embeddings
scaled by sqrt(d_model), sinusoidal positions, one embedding table for source and target tied to the output layer.
LSTM family (the recipe's hidden_size 512, this script's default): GRU, embeddings 256, a
bidirectional encoder of 256 per direction (our hidden_size counts both directions, Joey's counts one), a
decoder GRU of 512 started from the encoder's last state (`init_hidden: last`), additive (Bahdanau) attention,
no input feeding, separate source and target embeddings, untied output layer, dropout 0.3.

Where Joey NMT differs, and the script leaves it so (it is Joey's own design):

- Batching: Joey 2.3 has no length bucketing; its batches are 64 random sentences, where ours group similar
  lengths (`group_by_length`), so Joey pads more per step.
- Initialisation: Joey's defaults (Xavier uniform everywhere, zero biases); ours: normal(0, 0.02) for the
  Transformer, as the model family defines.
- Transformer dropout: Joey applies its one `dropout` also to the attention weights and inside the feed-forward
  block; ours has dropout 0.1 on the residual branches and embeddings only (attention and activation dropout 0).
- LSTM family: Joey's recurrent decoder always has its attentional layer tanh(W [h; context]) (512) feeding the
  output layer, where ours (`input_feeding false`, no `attentional_size`) feeds [context; h] (1,024) to the output
  layer directly: Joey's model has 7,117,824 parameters, ours 8,645,024 (the Transformers match: 4,978,688
  both). Dropout 0.3 sits on the embeddings and on the attentional layer's input (`hidden_dropout`), Joey's
  usual places.
- Label smoothing: Joey spreads the 0.1 over the vocabulary less the padding and the true token (KL
  divergence); transformers' label smoother spreads it over the whole vocabulary (cross-entropy).
- Beam search: Joey's length penalty with alpha 1.0 is GNMT's ((5 + length) / 6); ours divides the score by
  the length (`length_penalty 1.0`). The Transformer's decoding re-runs the decoder over the whole prefix at
  every step (Joey keeps no cache), which makes its validation and test decoding slower.
- Validation also computes the validation loss (Joey always does; so does our evaluation).

Joey NMT clashes with our environment (see `common.py`): the script makes `benchmarks/.venv-joeynmt` on first
use and re-runs itself in that interpreter, which imports torch, transformers, sacrebleu and attnseq from this
one.

Commands (run from the repository root; about 15 minutes each on one thread):

    .venv/bin/python benchmarks/multi30k/joeynmt.py --family transformer --minutes 15 \
        --output_dir outputs/joey-transformer
    .venv/bin/python benchmarks/multi30k/joeynmt.py --family lstm --minutes 15 --output_dir outputs/joey-lstm

A quick check on a few hundred sentences with a recipe checkpoint's tokenizer:

    .venv/bin/python benchmarks/multi30k/joeynmt.py --family transformer --minutes 1 --max_train_rows 300 \
        --max_eval_rows 100 --tokenizer outputs/multi30k-de-en-transformer --output_dir outputs/joey-check
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BENCHMARKS = os.path.dirname(HERE)
REPO = os.path.dirname(BENCHMARKS)
# this file is named like the package it drives: take its folder off the path, so that `import joeynmt` finds Joey
sys.path[:] = [path for path in sys.path if os.path.abspath(path or os.curdir) != HERE]
sys.path.insert(0, BENCHMARKS)
from common import joey_python  # noqa: E402

RECIPES = {"transformer": os.path.join(HERE, "transformer.yaml"), "lstm": os.path.join(HERE, "lstm.yaml")}
LSTM_HIDDEN_SIZE = 512  # benchmarks/multi30k/lstm.yaml
# our special tokens, given to Joey as its own (Joey's ids: unk 0, pad 1, bos 2, eos 3)
SPECIALS = {"unk": "<unk>", "pad": "<pad>", "bos": "<s>", "eos": "</s>"}
EVAL_BATCH_SIZE = 256  # our `per_device_eval_batch_size`
MAX_GRAD_NORM = 5.0  # our `max_grad_norm`
SEED = 42  # our `seed`
RESULTS_NAME = "joey_results.json"
# characters that end a line for `str.splitlines`, which Joey's file reader uses; no piece may hold one
LINE_BREAKS = set("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", choices=sorted(RECIPES), required=True, help="the recipe to follow")
    parser.add_argument("--minutes", type=float, default=None, help="the training budget (default: the recipe's)")
    parser.add_argument("--output_dir", required=True, help="folder for Joey's model, the data and the results")
    parser.add_argument(
        "--tokenizer", default=None, help="a folder with our tokenizer to reuse (default: train it as the recipe)"
    )
    parser.add_argument(
        "--hidden_size", type=int, default=None, help=f"LSTM family: our hidden_size (default {LSTM_HIDDEN_SIZE})"
    )
    parser.add_argument("--max_train_rows", type=int, default=None, help="train on the first N pairs (a quick check)")
    parser.add_argument(
        "--max_eval_rows", type=int, default=None, help="validate and test on the first N pairs (a quick check)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--joey-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.minutes is not None and args.minutes <= 0:
        parser.error("--minutes must be positive")
    if args.hidden_size is not None and args.family != "lstm":
        parser.error("--hidden_size is an option of the LSTM family")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.joey_child:
        run(args)
        return 0
    python, note = joey_python(training=True)
    if python is None:
        print(f"Joey NMT {note}", file=sys.stderr)
        return 1
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    raw = sys.argv[1:] if argv is None else argv
    return subprocess.run([python, os.path.abspath(__file__), *raw, "--joey-child"], env=env).returncode


# ---------------------------------------------------------------------------------------------------------------
# In the Joey NMT environment


def run(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set
        pass
    import yaml

    with open(RECIPES[args.family], encoding="utf-8") as handle:
        recipe = yaml.safe_load(handle)
    minutes = args.minutes if args.minutes is not None else float(recipe["max_train_minutes"])
    splits = read_splits(recipe, args)
    tokenizer = recipe_tokenizer(recipe, splits["train"], args.tokenizer)
    output_dir = os.path.abspath(args.output_dir)
    data_dir, model_dir = os.path.join(output_dir, "data"), os.path.join(output_dir, "joey")
    for folder in (data_dir, model_dir):  # both are made by this script: start them afresh
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
    src, trg = recipe["source_lang"], recipe["target_lang"]
    prepared = write_piece_files(tokenizer, splits, data_dir, src, trg)
    cfg = joey_config(recipe, args, data_dir, model_dir, prepared["longest_train_target"])
    with open(os.path.join(model_dir, "config.yaml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(cfg, handle, sort_keys=False)
    results = train_and_test(cfg, recipe, tokenizer, splits, prepared, minutes, args)
    with open(os.path.join(output_dir, RESULTS_NAME), "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=2)
        handle.write("\n")
    print_summary(results, os.path.join(output_dir, RESULTS_NAME))


def read_splits(recipe: dict, args: argparse.Namespace) -> dict:
    """`{split: (sources, targets)}` read as `attnseq train` reads the recipe's files."""
    from attnseq.data.readers import read_parallel_files

    files = {
        "train": ("source_file", "target_file", args.max_train_rows),
        "validation": ("validation_source_file", "validation_target_file", args.max_eval_rows),
        "test": ("test_source_file", "test_target_file", args.max_eval_rows),
    }
    splits = {}
    for split, (source_key, target_key, limit) in files.items():
        pairs = read_parallel_files(os.path.join(REPO, recipe[source_key]), os.path.join(REPO, recipe[target_key]))
        if limit is not None:
            pairs = pairs.select(range(min(limit, len(pairs))))
        splits[split] = (list(pairs["source"]), list(pairs["target"]))
    return splits


def recipe_tokenizer(recipe: dict, train: tuple[list[str], list[str]], folder: str | None):
    """Our tokenizer: loaded from `folder`, or trained as `attnseq train` trains it for the recipe."""
    if folder is not None:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(folder)
    from attnseq.tokenization.bpe import train_subword_tokenizer

    if recipe["tokenizer"] == "char":
        raise ValueError("the Multi30k recipes use a subword tokenizer")
    texts = (text for column in train for text in column)  # sources, then targets, as the pipeline does
    return train_subword_tokenizer(
        texts,
        vocab_size=int(recipe["subword_vocab_size"]),
        model=recipe["tokenizer"],
        min_frequency=recipe.get("min_frequency"),
        lowercase=bool(recipe["lowercase"]),
    )


def pieces_of(tokenizer, texts: list[str]) -> list[list[str]]:
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return [tokenizer.convert_ids_to_tokens(row) for row in ids]


def write_piece_files(tokenizer, splits: dict, data_dir: str, src: str, trg: str) -> dict:
    """Joey's files: `train|dev|test.{src,trg}` (test: source only) of space-separated pieces, and `vocab.txt`.

    The validation and test rows are written sorted by source length (the order our trainer decodes them in);
    `test_order[i]` is the original row of written test row i.
    """
    vocabulary = [token for token, _ in sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])]
    specials = set(SPECIALS.values())
    missing = specials - set(vocabulary)
    if missing:
        raise ValueError(f"the tokenizer lacks the special tokens {sorted(missing)}")
    bad = [token for token in vocabulary if " " in token or token == "" or LINE_BREAKS & set(token)]
    if bad:
        raise ValueError(f"pieces Joey's word-level files cannot carry: {bad[:10]!r}")
    with open(os.path.join(data_dir, "vocab.txt"), "w", encoding="utf-8") as handle:
        handle.writelines(token + "\n" for token in vocabulary if token not in specials)

    prepared = {"vocab_size": len(vocabulary)}
    for split, name in (("train", "train"), ("validation", "dev"), ("test", "test")):
        sources, targets = (pieces_of(tokenizer, texts) for texts in splits[split])
        order = list(range(len(sources)))
        if split != "train":  # stable, by the length of the source ids (with eos), as ours sorts them
            order.sort(key=lambda row: len(sources[row]))
        for row in order:
            if not sources[row] or not targets[row]:
                raise ValueError(f"{split} row {row} encodes to no pieces; Joey drops empty lines")
        sides = [(src, sources)] + ([] if split == "test" else [(trg, targets)])
        for lang, rows in sides:
            with open(os.path.join(data_dir, f"{name}.{lang}"), "w", encoding="utf-8") as handle:
                handle.writelines(" ".join(rows[row]) + "\n" for row in order)
        if split == "train":
            prepared["longest_train_target"] = max(len(row) for row in targets)
            prepared["train_rows"] = len(sources)
        if split == "test":
            prepared["test_order"] = order
    return prepared


def joey_config(recipe: dict, args: argparse.Namespace, data_dir: str, model_dir: str, longest_target: int) -> dict:
    """Joey's configuration with the recipe's sizes and training settings."""
    from attnseq.modeling.seq2seq import DEFAULT_MAX_LENGTH

    side = {"level": "word", "lowercase": False, "normalize": False, "voc_file": os.path.join(data_dir, "vocab.txt")}
    specials = {f"{name}_token": token for name, token in SPECIALS.items()}
    specials.update({"unk_id": 0, "pad_id": 1, "bos_id": 2, "eos_id": 3})
    data = {
        "train": os.path.join(data_dir, "train"),
        "dev": os.path.join(data_dir, "dev"),
        "test": os.path.join(data_dir, "test"),
        "dataset_type": "plain",
        "src": {"lang": recipe["source_lang"], **side},
        "trg": {"lang": recipe["target_lang"], **side},
        "special_symbols": specials,
    }
    eval_steps = int(recipe["eval_steps"])
    training = {
        "optimizer": "adam",
        "adam_betas": [0.9, 0.999],
        "weight_decay": 0.0,
        "learning_rate": float(recipe["learning_rate"]),
        "learning_rate_min": 1.0e-8,  # Joey stops below this rate and floors the schedule at it: out of the way
        "scheduling": "warmupinversesquareroot",
        "learning_rate_warmup": int(recipe["warmup_steps"]),
        "clip_grad_norm": MAX_GRAD_NORM,
        "loss": "crossentropy",
        "label_smoothing": float(recipe["label_smoothing_factor"]),
        "normalization": "tokens",
        "batch_size": int(recipe["per_device_train_batch_size"]),
        "batch_type": "sentence",
        "batch_multiplier": 1,
        "epochs": int(recipe["num_train_epochs"]),
        "validation_freq": eval_steps,
        "logging_freq": int(recipe["logging_steps"]) if eval_steps % int(recipe["logging_steps"]) == 0 else eval_steps,
        "early_stopping_metric": "bleu",
        "keep_best_ckpts": int(recipe["save_total_limit"]),
        "shuffle": True,
        "print_valid_sents": [0, 1, 2],
    }
    testing = {
        "batch_size": EVAL_BATCH_SIZE,
        "batch_type": "sentence",
        "eval_metrics": ["bleu"],
        "sacrebleu_cfg": {"tokenize": "13a", "lowercase": bool(recipe.get("lowercase_metrics", False))},
        # validation: ours stops 8 tokens after the longest training target (with its eos); test: see `test_args`
        "max_output_length": longest_target + 8,
        "beam_size": int(recipe["test_num_beams"]),
        "beam_alpha": float(recipe["test_length_penalty"]),
        "n_best": 1,
        "test_max_output_length": DEFAULT_MAX_LENGTH - 1,  # read by `test_args`, not by Joey
    }
    return {
        "name": f"multi30k-{recipe['source_lang']}-{recipe['target_lang']}-{args.family}",
        "joeynmt_version": "2.3.0",
        "model_dir": model_dir,
        "use_cuda": False,
        "fp16": False,
        "random_seed": SEED,
        "num_workers": 0,
        "data": data,
        "training": training,
        "testing": testing,
        "model": model_config(recipe, args),
    }


def model_config(recipe: dict, args: argparse.Namespace) -> dict:
    if recipe["model"] == "transformer":
        size, dropout = int(recipe["d_model"]), float(recipe["dropout"])

        def side(layers: int, heads: int, ffn: int) -> dict:
            return {
                "type": "transformer",
                "num_layers": layers,
                "num_heads": heads,
                "hidden_size": size,
                "ff_size": ffn,
                "dropout": dropout,
                "layer_norm": "pre" if recipe.get("norm_first") else "post",
                "activation": "relu",
                # ours scales embeddings by sqrt(d_model) (`scale_embedding`, on by default)
                "embeddings": {"embedding_dim": size, "scale": True, "dropout": dropout},
            }

        return {
            "tied_embeddings": True,  # one table for source and target (`share_encoder_decoder_embeddings`)
            "tied_softmax": True,  # and the output layer (`tie_word_embeddings`)
            "encoder": side(
                int(recipe["encoder_layers"]), int(recipe["encoder_attention_heads"]), int(recipe["encoder_ffn_dim"])
            ),
            "decoder": side(
                int(recipe["decoder_layers"]), int(recipe["decoder_attention_heads"]), int(recipe["decoder_ffn_dim"])
            ),
        }
    if recipe.get("attention", "additive") != "additive" or not recipe.get("bidirectional_encoder", False):
        raise ValueError("this script maps the LSTM recipe's additive attention and bidirectional encoder only")
    hidden = args.hidden_size or LSTM_HIDDEN_SIZE
    dropout = float(recipe["dropout"])
    embeddings = {"embedding_dim": int(recipe["embedding_size"]), "dropout": dropout}
    return {
        "tied_embeddings": False,
        "tied_softmax": False,
        "encoder": {
            "type": "recurrent",
            "rnn_type": recipe.get("cell", "lstm"),
            "hidden_size": hidden // 2,  # per direction; ours counts both
            "bidirectional": True,
            "num_layers": 1,
            "dropout": dropout,
            "embeddings": dict(embeddings),
        },
        "decoder": {
            "type": "recurrent",
            "rnn_type": recipe.get("cell", "lstm"),
            "hidden_size": hidden,
            "attention": "bahdanau",
            "input_feeding": False,
            "init_hidden": "last",  # ours starts the decoder from the encoder's final state
            "num_layers": 1,
            "dropout": dropout,
            "hidden_dropout": dropout,
            "embeddings": dict(embeddings),
        },
    }


class BudgetedTrainArgs:
    """Joey's `TrainConfig` with the wall-clock budget folded in.

    Joey's loop reads `max_updates` right after every update (`steps >= max_updates` ends training after that
    step) and `validation_freq` just after: once the budget is spent, the first says 0 and the second 1, so
    that the step that crossed the budget is validated and is the last, as our `TimeBudgetCallback` does.
    """

    def __init__(self, args, seconds: float):
        self._args = args
        self.seconds = seconds
        self.started: float | None = None
        self.spent = False
        self.stopped_at_step: int | None = None

    def __getattr__(self, name):
        return getattr(self._args, name)

    @property
    def max_updates(self):
        self.spent = self.started is not None and time.monotonic() - self.started >= self.seconds
        return 0 if self.spent else self._args.max_updates

    @property
    def validation_freq(self):
        return 1 if self.spent else self._args.validation_freq


def post_processor(tokenizer):
    """Joey's detokenizer replaced by ours: pieces (a list, or a line of space-separated pieces) to text."""

    def post_process(sequence, generate_unk: bool = True, cut_at_sep: bool = True) -> str:
        pieces = sequence.split(" ") if isinstance(sequence, str) else list(sequence)
        return tokenizer.decode(tokenizer.convert_tokens_to_ids(pieces), skip_special_tokens=True)

    return post_process


def train_and_test(cfg, recipe, tokenizer, splits, prepared, minutes, args) -> dict:
    from pathlib import Path

    import sacrebleu
    import torch
    from joeynmt.config import log_config, parse_global_args, set_validation_args
    from joeynmt.helpers import load_checkpoint, set_seed
    from joeynmt.helpers_for_ddp import get_logger
    from joeynmt.prediction import predict, prepare
    from joeynmt.training import TrainManager

    model_dir = Path(cfg["model_dir"])
    get_logger("", log_file=(model_dir / "train.log").as_posix())
    log_config(cfg)
    test_max_output_length = cfg["testing"].pop("test_max_output_length")
    joey = parse_global_args(cfg, rank=0, mode="train")
    set_seed(joey.seed)  # before the model is built: its initial weights follow the seed
    model, train_data, dev_data, test_data = prepare(joey, rank=0, mode="train")
    for lang in (train_data.src_lang, train_data.trg_lang):  # one tokenizer dict serves all three datasets
        train_data.tokenizer[lang].post_process = post_processor(tokenizer)
    assert len(train_data) == prepared["train_rows"] and len(test_data) == len(prepared["test_order"])
    parameters = sum(p.numel() for p in model.parameters())

    trainer = TrainManager(
        rank=0,
        model=model,
        model_dir=joey.model_dir,
        device=joey.device,
        n_gpu=0,
        num_workers=0,
        autocast=joey.autocast,
        seed=joey.seed,
        train_args=joey.train,
        dev_args=set_validation_args(joey.test),
    )
    # transformers' schedule makes the first update with the rate of step 0 (0 during warm-up); Joey's scheduler
    # first sets the rate after that update, which would otherwise use the optimizer's initial (peak) rate
    for group in trainer.optimizer.param_groups:
        group["lr"] = 0.0
    budget = BudgetedTrainArgs(trainer.args, minutes * 60)
    trainer.args = budget
    evaluations = []
    add_report = trainer._add_report

    def report(valid_scores: dict, new_best: bool = False) -> None:
        evaluations.append(
            {
                "step": trainer.stats.steps,
                "minutes": round((time.monotonic() - budget.started) / 60, 2),
                "bleu": valid_scores["bleu"],
                "loss": valid_scores["loss"],
            }
        )
        add_report(valid_scores=valid_scores, new_best=new_best)

    trainer._add_report = report
    budget.started = time.monotonic()
    trainer.train_and_validate(train_data=train_data, valid_data=dev_data)
    training_seconds = time.monotonic() - budget.started
    steps = trainer.stats.steps
    if budget.spent:  # Joey's own line says "maximum num. of updates 0": the budget is what stopped it
        print(f"stopped after step {steps}: the training budget of {minutes:g} minutes is spent", flush=True)

    best = model_dir / "best.ckpt"
    model.load_state_dict(load_checkpoint(best, map_location=joey.device)["model_state"])
    test_args = joey.test._replace(max_output_length=test_max_output_length)
    test_data.reset_indices(random_subset=-1)
    started = time.perf_counter()
    _, _, hypotheses, _, _, _ = predict(
        model=model,
        data=test_data,
        device=joey.device,
        n_gpu=0,
        rank=0,
        compute_loss=False,
        normalization=joey.train.normalization,
        num_workers=0,
        args=test_args,
        autocast=joey.autocast,
    )
    decoding_seconds = time.perf_counter() - started
    ordered = [""] * len(hypotheses)
    for position, row in enumerate(prepared["test_order"]):
        ordered[row] = hypotheses[position]
    references = splits["test"][1]
    lowercase = bool(recipe.get("lowercase_metrics", False))
    bleu = sacrebleu.BLEU(tokenize="13a", lowercase=lowercase)
    chrf = sacrebleu.CHRF(lowercase=lowercase)
    bleu_score = bleu.corpus_score(ordered, [references])
    chrf_score = chrf.corpus_score(ordered, [references])
    with open(os.path.join(os.path.dirname(model_dir), "test_predictions.txt"), "w", encoding="utf-8") as handle:
        handle.writelines(text.replace("\n", " ") + "\n" for text in ordered)

    batches_per_epoch = -(-prepared["train_rows"] // joey.train.batch_size)
    return {
        "system": "Joey NMT 2.3.0",
        "family": args.family,
        "test_bleu": round(bleu_score.score, 2),
        "test_chrf": round(chrf_score.score, 2),
        "test_bleu_signature": str(bleu.get_signature()),
        "test_chrf_signature": str(chrf.get_signature()),
        "test_bleu_length_ratio": round(bleu_score.sys_len / max(bleu_score.ref_len, 1), 4),
        "training_minutes": round(training_seconds / 60, 2),
        "budget_minutes": minutes,
        "stopped_by_budget": budget.spent,
        "steps": steps,
        "epochs": round(steps / batches_per_epoch, 2),
        "best_step": trainer.stats.best_ckpt_iter,
        "best_validation_bleu": round(trainer.stats.best_ckpt_score, 2),
        "validations": evaluations,
        "test_sentences": len(ordered),
        "test_decoding_seconds": round(decoding_seconds, 2),
        "test_sentences_per_second": round(len(ordered) / decoding_seconds, 2),
        "test_decoding": {
            "beam_size": test_args.beam_size,
            "beam_alpha": test_args.beam_alpha,
            "batch_size": test_args.batch_size,
            "max_output_length": test_args.max_output_length,
        },
        "parameters": parameters,
        "vocab_size": len(model.trg_vocab),
        "train_rows": prepared["train_rows"],
        "validation_rows": len(dev_data),
        "torch_threads": torch.get_num_threads(),
        "tokenizer": args.tokenizer or "trained as the recipe's",
        "model": cfg["model"],
        "training": {key: value for key, value in cfg["training"].items()},
    }


def print_summary(results: dict, path: str) -> None:
    print(f"\n{results['system']}, {results['family']} ({results['parameters']:,} parameters)")
    print(
        f"trained {results['training_minutes']} minutes (budget {results['budget_minutes']}): {results['steps']} "
        f"steps, {results['epochs']} epochs; best validation BLEU {results['best_validation_bleu']} at step "
        f"{results['best_step']}"
    )
    for evaluation in results["validations"]:
        step, minutes, bleu = evaluation["step"], evaluation["minutes"], evaluation["bleu"]
        print(f"  step {step:>6}  {minutes:>7.2f} min  validation BLEU {bleu:.2f}")
    print(
        f"test2016: BLEU {results['test_bleu']} ({results['test_bleu_signature']}), chrF {results['test_chrf']}; "
        f"beam {results['test_decoding']['beam_size']}: {results['test_sentences_per_second']} sentences/s"
    )
    print(f"written to {path}")


if __name__ == "__main__":
    sys.exit(main())
