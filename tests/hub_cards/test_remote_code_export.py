"""The flat remote-code export and the refusal of pickle checkpoints (in this process; loading the
export in a process without attnseq is covered by test_hub_push.py)."""

from __future__ import annotations

import ast
import json

import pytest
import torch
from hub_testing import FAMILIES, reference_logits, save_checkpoint
from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer

from attnseq.cli import export_command
from attnseq.hub_cards import ExportError, export_for_remote_code, push_folder, write_model_card
from attnseq.hub_cards.commands import main_push
from attnseq.hub_cards.export import rewrite_imports
from attnseq.modeling.loading import PickleCheckpointError


@pytest.mark.parametrize("family", FAMILIES)
def test_export_writes_a_flat_folder_with_same_folder_imports(tmp_path, family):
    folder = save_checkpoint(tmp_path / "checkpoint", family)
    write_model_card(folder, example="12+3", max_new_tokens=4)
    (folder / "training_args.bin").write_bytes(b"pickle")
    (folder / "optimizer.pt").write_bytes(b"pickle")
    out = export_for_remote_code(folder, tmp_path / "export")

    model_type = f"seq2seq_{family}"
    names = {path.name for path in out.iterdir()}
    assert {
        f"configuration_{model_type}.py",
        f"modeling_{model_type}.py",
        "attention.py",
        "config.json",
        "model.safetensors",
        "generation_config.json",
        "tokenizer_config.json",
        "vocab.json",
        "README.md",
        "tokenization_char.py",
    } <= names
    assert not {"training_args.bin", "optimizer.pt"} & names
    for path in out.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                assert not any(alias.name.split(".")[0] == "attnseq" for alias in node.names), path.name
            if isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] != "attnseq", (path.name, node.lineno)
                if node.level:
                    assert node.level == 1 and (out / f"{node.module}.py").is_file(), (path.name, node.module)
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == model_type
    assert set(config["auto_map"]) == {"AutoConfig", "AutoModel", "AutoModelForSeq2SeqLM"}
    for reference in config["auto_map"].values():
        module, name = reference.split(".")
        assert f"class {name}(" in (out / f"{module}.py").read_text()
    tokenizer_config = json.loads((out / "tokenizer_config.json").read_text())
    assert tokenizer_config["auto_map"]["AutoTokenizer"] == ["tokenization_char.CharTokenizer", None]
    card = (out / "README.md").read_text()
    assert "library_name: transformers" in card and "trust_remote_code=True" in card and "import attnseq\n" not in card


@pytest.mark.parametrize("family", FAMILIES)
def test_with_attnseq_the_export_loads_the_package_classes(tmp_path, family):
    folder = save_checkpoint(tmp_path / "checkpoint", family)
    out = export_for_remote_code(
        AutoModelForSeq2SeqLM.from_pretrained(folder),
        tmp_path / "export",
        tokenizer=AutoTokenizer.from_pretrained(folder),
    )
    model = AutoModelForSeq2SeqLM.from_pretrained(out)
    assert type(model).__module__ == f"attnseq.modeling.{family}"
    assert torch.equal(reference_logits(out), reference_logits(folder))
    assert type(AutoTokenizer.from_pretrained(out)).__module__ == "attnseq.tokenization.char"


def test_export_replaces_the_folder_whole_or_not_at_all(tmp_path):
    folder = save_checkpoint(tmp_path / "checkpoint", "lstm")
    out = export_for_remote_code(save_checkpoint(tmp_path / "first", "lstm", seed=1), tmp_path / "export")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((folder / "config.json").read_text().replace("seq2seq_lstm", "bert"))
    (broken / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    with pytest.raises(ValueError, match="'bert' is not an attnseq family"):
        export_for_remote_code(broken, out, overwrite=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "checkpoint", "export", "first"]  # no leftovers

    export_for_remote_code(folder, out, overwrite=True)
    assert (out / "model.safetensors").read_bytes() == (folder / "model.safetensors").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "checkpoint", "export", "first"]


def test_imports_that_cannot_be_flattened_are_named():
    def flat(target):
        return target.rpartition(".")[2]

    source, targets = rewrite_imports(
        "attnseq.modeling.demo",
        "import torch\nfrom ..configuration.lstm import Seq2SeqLSTMConfig as Config\nif True:\n"
        "    from attnseq.modeling.attention import (\n        masked_softmax,\n        weighted_sum,\n    )\n",
        flat,
    )
    assert source == (
        "import torch\nfrom .lstm import Seq2SeqLSTMConfig as Config\nif True:\n"
        "    from .attention import masked_softmax, weighted_sum\n"
    )
    assert targets == ["attnseq.configuration.lstm", "attnseq.modeling.attention"]
    for bad, message in [
        ("import attnseq.modeling.attention\n", "cannot be flattened"),
        ("from . import attention\n", "from the package"),
        ("from .. import Seq2SeqLSTMConfig\n", "from the package"),
        ("x = 1; from .attention import masked_softmax\n", "lines of its own"),
    ]:
        with pytest.raises(ExportError, match=message):
            rewrite_imports("attnseq.modeling.demo", bad, flat)


def _pickle_only(folder):
    state = {"weight": torch.zeros(2)}
    torch.save(state, folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    return folder


@pytest.mark.parametrize("family", FAMILIES)
def test_pickle_only_checkpoints_are_refused(tmp_path, family):
    folder = _pickle_only(save_checkpoint(tmp_path / "checkpoint", family))
    with pytest.raises(PickleCheckpointError, match="pytorch_model.bin.*safetensors only"):
        AutoModelForSeq2SeqLM.from_pretrained(folder)
    with pytest.raises(PickleCheckpointError):
        AutoModelForSeq2SeqLM.from_pretrained(folder / "pytorch_model.bin", config=AutoConfig.from_pretrained(folder))
    with pytest.raises(ValueError, match=r"use_safetensors=False\) is not supported"):
        AutoModelForSeq2SeqLM.from_pretrained(save_checkpoint(tmp_path / "ok", family), use_safetensors=False)
    with pytest.raises(ExportError, match="no safetensors weights.*pytorch_model.bin"):
        export_for_remote_code(folder, tmp_path / "export")
    with pytest.raises(PickleCheckpointError):
        push_folder(folder, "alice/never-created", token="unused")


def test_export_and_push_commands_report_errors(tmp_path, capsys):
    folder = save_checkpoint(tmp_path / "checkpoint", "lstm")
    assert export_command([str(folder), str(tmp_path / "export")]) == 0
    assert (tmp_path / "export" / "modeling_seq2seq_lstm.py").is_file()
    _pickle_only(folder)
    assert main_push([str(folder), "alice/x"]) == 1
    assert "safetensors only" in capsys.readouterr().err


def _requirement_closure(names: list[str]) -> list:
    """The installed distributions of `names` and everything they require (extras left out)."""
    import importlib.metadata as metadata
    import re

    from packaging.markers import Marker

    found, pending = {}, list(names)
    while pending:
        name = pending.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in found:
            continue
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        found[key] = distribution
        for requirement in distribution.requires or []:
            requirement, _, marker = requirement.partition(";")
            if marker and not Marker(marker).evaluate({"extra": ""}):
                continue
            pending.append(re.match(r"[A-Za-z0-9_.-]+", requirement).group(0))
    return list(found.values())


def _venv_with_only(folder, names: list[str]):
    """A virtual environment whose site-packages holds exactly `names` and their requirements (links to the
    installed copies); returns its python."""
    import subprocess
    import sys
    import sysconfig

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    site = type(folder)(purelib)
    here = type(folder)(sysconfig.get_paths()["purelib"])
    for distribution in _requirement_closure(names):
        for entry in {path.parts[0] for path in distribution.files or []}:
            source = here / entry
            if source.exists() and not (site / entry).exists() and entry != "..":
                (site / entry).symlink_to(source)
    return python


ISOLATED_LOAD = """
import ast, importlib.util, json, sys
from pathlib import Path
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

folder = Path(sys.argv[1])
model = AutoModelForSeq2SeqLM.from_pretrained(folder, trust_remote_code=True)
tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
ids = model.generate(**tokenizer(["12+34"], return_tensors="pt"), max_new_tokens=3)
missing = sorted({(path.name, alias) for path in folder.glob("*.py") for node in ast.walk(ast.parse(path.read_text()))
                  if isinstance(node, (ast.Import, ast.ImportFrom)) and getattr(node, "level", 0) == 0
                  for alias in ([a.name for a in node.names] if isinstance(node, ast.Import) else [node.module])
                  if importlib.util.find_spec(alias.split(".")[0]) is None})
print(json.dumps({"class": type(model).__module__, "tokens": ids.shape[1], "missing": missing,
                  "datasets": importlib.util.find_spec("datasets") is not None,
                  "attnseq": importlib.util.find_spec("attnseq") is not None}))
"""


@pytest.mark.parametrize("family", FAMILIES)
def test_export_loads_where_only_torch_and_transformers_are_installed(tmp_path, family):
    import os
    import subprocess

    folder = save_checkpoint(tmp_path / "checkpoint", family)
    out = export_for_remote_code(folder, tmp_path / "export")
    python = _venv_with_only(tmp_path / "venv", ["torch", "transformers"])
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HF_HOME": str(tmp_path / "hf-home"),
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "TRANSFORMERS_VERBOSITY": "error",
    }
    done = subprocess.run(
        [str(python), "-I", "-c", ISOLATED_LOAD, str(out)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["datasets"] is False and result["attnseq"] is False  # exactly torch, transformers, their needs
    assert result["class"].startswith("transformers_modules.") and result["tokens"] >= 2
    assert result["missing"] == []  # every import of the exported files (function-local ones too) is there


SEPARATE_LOAD = """
import importlib.util, json, sys
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

folder = sys.argv[1]
tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
model = AutoModelForSeq2SeqLM.from_pretrained(folder, trust_remote_code=True)
batch = tokenizer(["abc"], text_target=["A B C"])
ids = model.generate(**tokenizer(["abc"], return_tensors="pt"), max_new_tokens=3)
print(json.dumps({"tokenizer": type(tokenizer).__module__, "input_ids": batch["input_ids"], "labels": batch["labels"],
                  "decoded": tokenizer.decode(batch["labels"][0], skip_special_tokens=True),
                  "largest": int(ids.max()), "attnseq": importlib.util.find_spec("attnseq") is not None}))
"""


def test_a_checkpoint_with_two_vocabularies_exports_and_loads_without_attnseq(tmp_path):
    import os
    import subprocess

    from attnseq import Seq2SeqTransformerConfig, Seq2SeqTransformerForConditionalGeneration
    from attnseq.tokenization import train_seq2seq_tokenizer

    sources = ["abc", "cab", "bca", "abcabc", "cc", "ba"] * 10
    tokenizer = train_seq2seq_tokenizer(sources, [" ".join(s.upper()) for s in sources], shared=False, vocab_size=30)
    config = Seq2SeqTransformerConfig(
        vocab_size=len(tokenizer), decoder_vocab_size=tokenizer.target_len(), share_encoder_decoder_embeddings=False,
        d_model=16, encoder_layers=1, decoder_layers=1, encoder_ffn_dim=32, decoder_ffn_dim=32,
    )  # fmt: skip
    folder = tmp_path / "checkpoint"
    Seq2SeqTransformerForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    out = export_for_remote_code(folder, tmp_path / "export")
    names = {path.name for path in out.iterdir()}
    assert {"tokenization_source_target.py", "source_tokenizer.json", "target_tokenizer.json"} <= names
    tokenizer_config = json.loads((out / "tokenizer_config.json").read_text())
    assert tokenizer_config["auto_map"]["AutoTokenizer"] == ["tokenization_source_target.SourceTargetTokenizer", None]
    python = _venv_with_only(tmp_path / "venv", ["torch", "transformers"])
    env = {"PATH": os.environ.get("PATH", ""), "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [str(python), "-I", "-c", SEPARATE_LOAD, str(out)], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    expected = tokenizer(["abc"], text_target=["A B C"])
    assert result["attnseq"] is False and result["tokenizer"].startswith("transformers_modules.")
    assert (result["input_ids"], result["labels"]) == (expected["input_ids"], expected["labels"])
    assert result["decoded"] == "A B C" and result["largest"] < tokenizer.target_len()
