"""attnseq installs beside the transformers and torch a user already runs, without changing them.

The attnseq wheel is built from this checkout and installed with a plain `pip install` (dependency resolution on)
into a venv that already holds the newest transformers and torch setup.cfg admits: a hard-linked clone of the
venv .ci/run sets up from requirements/lock-torch214.txt (`ATTNSEQ_BESIDE_VENV`, default `.venv-torch214`), without
its editable attnseq. What pip lists before and after must differ by the attnseq line only; the installed attnseq
then loads a checkpoint of each family and generates what this process generates from it.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from attnseq import (
    Seq2SeqLSTMConfig,
    Seq2SeqLSTMForConditionalGeneration,
    Seq2SeqTransformerConfig,
    Seq2SeqTransformerForConditionalGeneration,
)

ROOT = Path(__file__).resolve().parents[2]
BASE = Path(os.environ.get("ATTNSEQ_BESIDE_VENV", ROOT / ".venv-torch214")).absolute()
SOURCES = [[5, 9, 4, 7, 3], [8, 3, 6, 0, 0]]
MASK = [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (BASE / "bin" / "python").exists(),
        reason=f"no venv to install beside at {BASE}: .ci/run sets it up "
        "(bash scripts/setup.sh .venv-torch214 requirements/lock-torch214.txt), or set ATTNSEQ_BESIDE_VENV",
    ),
]

GENERATE = """
import json, sys, torch, transformers
import attnseq
from transformers import AutoModelForSeq2SeqLM
folder, sources, mask = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
model = AutoModelForSeq2SeqLM.from_pretrained(folder).eval()
out = model.generate(torch.tensor(sources), attention_mask=torch.tensor(mask), max_new_tokens=6, do_sample=False)
print(json.dumps({"attnseq": attnseq.__file__, "tokens": out.tolist()}))
"""


def clean_env() -> dict:
    """The environment without this checkout on `PYTHONPATH`: the installed attnseq must be the one imported."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HF_HUB_OFFLINE="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def run(*args, cwd: Path) -> str:
    result = subprocess.run(args, cwd=cwd, env=clean_env(), capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def installed(python: Path, cwd: Path) -> dict[str, str]:
    """What `pip list` reports of a venv (what `pip freeze` pins) as {name: version, plus the folder of an editable
    install}."""
    listed = json.loads(run(python, "-m", "pip", "list", "--format=json", cwd=cwd))
    return {
        p["name"].lower(): " ".join(filter(None, (p["version"], p.get("editable_project_location")))) for p in listed
    }


def checkpoints(folder: Path) -> dict[str, tuple[Path, list]]:
    """A tiny saved model of each family and the tokens this process generates from it."""
    torch.manual_seed(0)
    models = {
        "lstm": Seq2SeqLSTMForConditionalGeneration(
            Seq2SeqLSTMConfig(vocab_size=12, embedding_size=8, hidden_size=12, init_std=0.5)
        ),
        "transformer": Seq2SeqTransformerForConditionalGeneration(
            Seq2SeqTransformerConfig(
                vocab_size=12,
                d_model=16,
                encoder_layers=1,
                decoder_layers=1,
                encoder_attention_heads=2,
                decoder_attention_heads=2,
                encoder_ffn_dim=32,
                decoder_ffn_dim=32,
                dropout=0.0,
            )
        ),
    }
    saved = {}
    for family, model in models.items():
        model.eval().save_pretrained(folder / family)
        with torch.no_grad():
            tokens = model.generate(
                torch.tensor(SOURCES), attention_mask=torch.tensor(MASK), max_new_tokens=6, do_sample=False
            )
        saved[family] = (folder / family, tokens.tolist())
    return saved


def test_wheel_installs_beside_newest_transformers_and_torch_without_changing_them(tmp_path):
    source = tmp_path / "source"  # built from a copy: the build's own folders stay out of the checkout
    source.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "attnseq", source / "attnseq", ignore=shutil.ignore_patterns("__pycache__"))
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", source,
        cwd=tmp_path)  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("attnseq-*.whl")

    venv = tmp_path / "venv"  # hard links: seconds, and the base venv's files are never written through them
    run("cp", "-al", BASE, venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    if "attnseq" in installed(python, tmp_path):
        run(python, "-m", "pip", "uninstall", "--yes", "attnseq", cwd=tmp_path)
    before = installed(python, tmp_path)
    assert {"torch", "transformers"} <= before.keys(), f"{BASE} holds no torch or transformers"

    run(python, "-m", "pip", "install", wheel, cwd=tmp_path)  # dependency resolution on

    after = installed(python, tmp_path)
    assert after.pop("attnseq") == wheel.name.split("-")[1], "attnseq is not the wheel's, or is editable"
    changed = {name: (before.get(name), after.get(name)) for name in before.keys() | after.keys()}
    assert {name: pair for name, pair in changed.items() if pair[0] != pair[1]} == {}
    for family, (folder, tokens) in checkpoints(tmp_path / "checkpoints").items():
        result = json.loads(run(python, "-c", GENERATE, folder, json.dumps(SOURCES), json.dumps(MASK), cwd=tmp_path))
        assert Path(result["attnseq"]).is_relative_to(venv), result["attnseq"]
        assert result["tokens"] == tokens, family
