"""Shared pieces of the Hub tests: the test Hub module, users and tokens, and client processes.

The client side runs in fresh Python processes: `huggingface_hub` reads `HF_ENDPOINT` and
`HF_HUB_OFFLINE` when it is imported (and the test process is offline), and every process starts
from its own empty cache (`HF_HOME`), so a download can never be served from an earlier one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hub_server  # noqa: F401  (the test Hub, imported by the tests from here)

TESTS = Path(__file__).resolve().parents[1]
REPO_ROOT = TESTS.parent
CLIENT = Path(__file__).resolve().parent / "hub_client.py"

ALICE_TOKEN = "hf_alice_write_token"
BOB_TOKEN = "hf_bob_write_token"
ALICE_READ_TOKEN = "hf_alice_read_token"
TOKENS = {ALICE_TOKEN: "alice", BOB_TOKEN: "bob", ALICE_READ_TOKEN: "alice"}


def client_env(hub, home: Path, token: str | None = None) -> dict:
    """Environment of a client process: online against `hub`, its own empty cache, optional token."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(
        HF_ENDPOINT=hub.url,
        HF_HUB_OFFLINE="0",
        HF_HOME=str(home),
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        HF_HUB_DISABLE_XET="1",
        DISABLE_SAFETENSORS_CONVERSION="1",
        TRANSFORMERS_VERBOSITY="error",
        TOKENIZERS_PARALLELISM="false",
        OMP_NUM_THREADS="1",
        PYTHONPATH=str(REPO_ROOT),
    )
    if token is not None:
        env["HF_TOKEN"] = token
    return env


def run_client_process(
    hub, work: Path, action: str, spec: dict, token: str | None = None, isolated: bool = False
) -> dict:
    """Run `hub_client.py ACTION` in a fresh process (cache under `work`) and return its JSON results.

    `isolated=True` runs it with `python -I` (no PYTHONPATH, no script folder, no user site), and the
    action itself blocks attnseq from import: a user without attnseq.
    """
    import json
    import subprocess

    work.mkdir(parents=True)
    spec_path, results_path = work / "spec.json", work / "results.json"
    spec_path.write_text(json.dumps(spec))
    command = [sys.executable, *(["-I"] if isolated else []), str(CLIENT), action, str(spec_path), str(results_path)]
    done = subprocess.run(
        command, env=client_env(hub, work / "hf-home", token), cwd=work, capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0 or not results_path.is_file():
        raise AssertionError(f"client {action} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return json.loads(results_path.read_text())


# --- tiny checkpoints --------------------------------------------------------------------------------

EXAMPLE = "12+34"
SOURCES = ["12+34", "56+78"]
DECODER_INPUT_IDS = [[1, 5, 6, 7], [1, 8, 9, 4]]
FAMILIES = ("lstm", "transformer")


def tiny_tokenizer():
    from attnseq import CharTokenizer

    return CharTokenizer.from_texts(["0123456789+ "])


def tiny_model(family: str, vocab_size: int, seed: int = 0, **options):
    """A tiny model of `family` ("lstm" or "transformer") with weights drawn from `seed`."""
    import torch

    import attnseq

    torch.manual_seed(seed)
    if family == "lstm":
        config = attnseq.Seq2SeqLSTMConfig(
            vocab_size=vocab_size, hidden_size=8, embedding_size=4, **{"attention": "general", **options}
        )
        return attnseq.Seq2SeqLSTMForConditionalGeneration(config).eval()
    config = attnseq.Seq2SeqTransformerConfig(
        vocab_size=vocab_size,
        d_model=8,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=16,
        decoder_ffn_dim=16,
        **options,
    )
    return attnseq.Seq2SeqTransformerForConditionalGeneration(config).eval()


def save_checkpoint(folder: Path, family: str, seed: int = 0, with_tokenizer: bool = True, **options) -> Path:
    """Save a tiny model (and the character tokenizer) into `folder`."""
    tokenizer = tiny_tokenizer()
    tiny_model(family, tokenizer.vocab_size, seed, **options).save_pretrained(folder)
    if with_tokenizer:
        tokenizer.save_pretrained(folder)
    return folder


def model_inputs() -> dict:
    """The fixed inputs every logits comparison uses (JSON-serialisable)."""
    tokenizer = tiny_tokenizer()
    return {"input_ids": tokenizer(SOURCES)["input_ids"], "decoder_input_ids": DECODER_INPUT_IDS, "example": EXAMPLE}


def reference_logits(folder: Path):
    """Logits of the checkpoint in `folder`, loaded the way users load it."""
    import torch
    from transformers import AutoModelForSeq2SeqLM

    inputs = model_inputs()
    model = AutoModelForSeq2SeqLM.from_pretrained(folder).eval()
    with torch.no_grad():
        return model(
            input_ids=torch.tensor(inputs["input_ids"]), decoder_input_ids=torch.tensor(inputs["decoder_input_ids"])
        ).logits
