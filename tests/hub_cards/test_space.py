"""`attnseq space CHECKPOINT OUT [--push SPACE_ID]`: the Space folder, its upload to the test Hub, and (slow) the
Space started as its own process from a clean venv that holds only its requirements.txt, answering as the model
does.

The clean venv takes a minute or more to build (with the uv that scripts/setup.sh puts beside the tests' python,
else with pip): set ATTNSEQ_SPACE_VENV to a folder to keep it between runs (rebuilt when the
Space's requirements change); otherwise it is built once per run of this module.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hub_testing import ALICE_TOKEN, EXAMPLE, REPO_ROOT, client_env, save_checkpoint, tiny_tokenizer

from attnseq.serving import demo_page
from attnseq.serving.demo import page_facts

HAS_GRADIO = importlib.util.find_spec("gradio") is not None
needs_gradio = pytest.mark.skipif(not HAS_GRADIO, reason="gradio is not installed (pip install 'attnseq[demo]')")


def attnseq_command(*args: str, env: dict) -> subprocess.CompletedProcess:
    """`attnseq ARGS` in a fresh process with `env` (huggingface_hub reads the Hub's address when imported)."""
    environment = {**env, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "attnseq", *args], env=environment, capture_output=True, text=True, timeout=300
    )


def front_matter(readme: str) -> dict:
    assert readme.startswith("---\n")
    return yaml.safe_load(readme.split("---\n")[1])


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = save_checkpoint(tmp_path_factory.mktemp("space") / "tiny-transformer", "transformer")
    (folder / "attnseq_training.json").write_text(json.dumps({"example": {"source": EXAMPLE, "target": "43+21"}}))
    return folder


def run_in_process(*args: str) -> int:
    """`attnseq ARGS` in this process (what needs no Hub endpoint)."""
    from attnseq.cli import main

    return main(list(args))


@pytest.fixture(scope="module")
def space(checkpoint):
    out = checkpoint.parent / "space"
    if HAS_GRADIO:
        assert (
            run_in_process("space", str(checkpoint), str(out), "--model_repo", "alice/tiny", "--title", "Tiny demo")
            == 0
        )
    return out


@needs_gradio
def test_space_folder(space, checkpoint):
    import gradio
    from transformers import AutoConfig

    assert sorted(path.name for path in space.iterdir()) == [
        "README.md",
        "app.py",
        "attnseq_export.json",  # the export marker: a later `attnseq space` may replace only what it wrote
        "demo_page.py",
        "model",
        "requirements.txt",
    ]
    header = front_matter((space / "README.md").read_text())
    assert header["sdk"] == "gradio" and header["app_file"] == "app.py" and header["title"] == "Tiny demo"
    assert header["sdk_version"] == gradio.__version__ and header["models"] == ["alice/tiny"]
    requirements = (space / "requirements.txt").read_text().split()
    assert [line.split("==")[0] for line in requirements] == ["torch", "transformers", "gradio"]
    assert all("==" in line and "+" not in line for line in requirements)
    assert (space / "demo_page.py").read_text() == Path(demo_page.__file__).read_text()
    config = json.loads((space / "model" / "config.json").read_text())
    assert "AutoModelForSeq2SeqLM" in config["auto_map"]
    assert (space / "model" / "model.safetensors").is_file() and (space / "model" / "vocab.json").is_file()
    app = (space / "app.py").read_text()
    assert repr([EXAMPLE]) in app  # the example the training run recorded
    facts = next(  # what the page knows of the model's family, as a literal (the Space has no attnseq)
        ast.literal_eval(node.value)
        for node in ast.parse(app).body
        if isinstance(node, ast.Assign) and [target.id for target in node.targets] == ["FACTS"]
    )
    assert facts == page_facts(AutoConfig.from_pretrained(checkpoint)) and facts["layout"] is not None
    for path in [space / "app.py", space / "demo_page.py"]:  # a Space has no attnseq
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module]
                assert not any(name.startswith("attnseq") for name in names), path


@needs_gradio
def test_space_folder_is_rewritten_but_nothing_else_is_overwritten(space, checkpoint, tmp_path, capsys, monkeypatch):
    rewritten = tmp_path / "rewritten"
    shutil.copytree(space, rewritten)
    assert run_in_process("space", str(checkpoint), str(rewritten), "--title", "Again") == 0
    header = front_matter((rewritten / "README.md").read_text())
    assert header["title"] == "Again" and "models" not in header
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    capsys.readouterr()
    assert run_in_process("space", str(checkpoint), str(foreign)) == 2
    assert "no export wrote it" in capsys.readouterr().err
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    (rewritten / "notes.txt").write_text("added to the Space by hand")
    assert run_in_process("space", str(checkpoint), str(rewritten)) == 2
    assert (
        "notes.txt" in capsys.readouterr().err and (rewritten / "notes.txt").read_text() == "added to the Space by hand"
    )
    assert run_in_process("space", str(checkpoint), str(checkpoint.parent)) == 2
    assert "holds the checkpoint" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)
    assert run_in_process("space", str(checkpoint), ".") == 2
    assert "current directory" in capsys.readouterr().err
    assert not any(path.name.startswith(".") for path in tmp_path.iterdir())  # no build folder left behind


@needs_gradio
def test_space_push_to_the_hub(hub, checkpoint, tmp_path):
    env = client_env(hub, tmp_path / "hf-home", token=ALICE_TOKEN)
    out = tmp_path / "pushed-space"
    done = attnseq_command(
        "space", str(checkpoint), str(out), "--push", "alice/tiny-demo", "--model_repo", "alice/tiny-model", env=env
    )
    assert done.returncode == 0, done.stderr
    space = hub.repo("alice/tiny-demo", repo_type="space")
    assert space is not None
    files = hub.files("alice/tiny-demo", repo_type="space")
    assert {"app.py", "demo_page.py", "requirements.txt", "README.md", "model/config.json"} <= set(files)
    assert files["app.py"] == (out / "app.py").read_bytes()
    assert not any(name.endswith("attnseq_export.json") for name in files)  # the local marker stays local
    assert front_matter(files["README.md"].decode())["models"] == ["alice/tiny-model"]
    model_files = hub.files("alice/tiny-model")
    assert "model.safetensors" in model_files and "auto_map" in json.loads(model_files["config.json"])


@needs_gradio
def test_space_push_needs_a_token(hub, checkpoint, tmp_path):
    env = client_env(hub, tmp_path / "hf-home")
    done = attnseq_command("space", str(checkpoint), str(tmp_path / "s"), "--push", "alice/x", env=env)
    assert done.returncode == 1 and "No Hugging Face token" in done.stderr


# --- the Space in a venv of its own -------------------------------------------------------------------------------


def space_venv(requirements: Path, tmp_path_factory) -> Path:
    """A venv holding exactly what `requirements` names (cached under ATTNSEQ_SPACE_VENV when set)."""
    cached = os.environ.get("ATTNSEQ_SPACE_VENV")
    venv = Path(cached) if cached else tmp_path_factory.mktemp("space-venv") / "venv"
    stamp = venv / "requirements.txt"
    if stamp.is_file() and stamp.read_text() == requirements.read_text():
        return venv
    if venv.exists():
        shutil.rmtree(venv)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PIP_REQUIRE_VIRTUALENV")}
    pip = str(venv / "bin" / "pip")
    install = [pip, "install", "--quiet", "--disable-pip-version-check"]
    uv = Path(sys.executable).with_name("uv")  # scripts/setup.sh puts uv in the venv: minutes faster than pip here
    if uv.is_file():
        places = subprocess.run(
            [sys.executable, str(REPO_ROOT / "scripts" / "uv_args.py"), pip], capture_output=True, text=True, check=True
        ).stdout.split()
        install = [str(uv), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), *places]
    done = subprocess.run(
        [*install, "-r", str(requirements)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    shutil.copy(requirements, stamp)
    return venv


@pytest.mark.slow
@pytest.mark.timeout(1500)
@needs_gradio
def test_space_runs_without_attnseq_and_answers_as_the_model(space, checkpoint, tmp_path_factory, tmp_path):
    import torch
    from gradio_client import Client
    from transformers import AutoModelForSeq2SeqLM

    from attnseq.serving.demo import free_port

    venv = space_venv(space / "requirements.txt", tmp_path_factory)
    python = str(venv / "bin" / "python")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "PYTHON", "GRADIO_"))}
    # run outside the checkout (python -c puts the current directory on sys.path)
    assert subprocess.run([python, "-c", "import attnseq"], env=env, cwd=tmp_path, capture_output=True).returncode != 0
    port = free_port()
    env.update(
        HF_HOME=str(tmp_path / "hf-home"),
        HF_HUB_OFFLINE="1",
        GRADIO_ANALYTICS_ENABLED="False",
        GRADIO_SERVER_NAME="127.0.0.1",
        GRADIO_SERVER_PORT=str(port),
        OMP_NUM_THREADS="1",
    )
    log = (tmp_path / "space.log").open("w")
    process = subprocess.Popen([python, "app.py"], cwd=space, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/"
        client = None
        deadline = time.monotonic() + 240
        while client is None:
            assert process.poll() is None, (tmp_path / "space.log").read_text()
            try:
                client = Client(url, verbose=False)
            except Exception:  # noqa: BLE001 - not listening yet
                assert time.monotonic() < deadline, (tmp_path / "space.log").read_text()
                time.sleep(1)
        result = client.predict(EXAMPLE, "beam", 4, 2, 1.0, 0, 1.0, 0, 12, "1", "mean", api_name="/decode")
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
    message, output, nbest = result[0], result[1], result[2]
    assert message == ""
    tokenizer = tiny_tokenizer()
    model = AutoModelForSeq2SeqLM.from_pretrained(checkpoint).eval()
    with torch.no_grad():
        generated = model.generate(
            **tokenizer([EXAMPLE], return_tensors="pt"), num_beams=4, num_return_sequences=2, max_new_tokens=12
        )
    texts = tokenizer.batch_decode(generated, skip_special_tokens=True)
    assert output == texts[0]
    assert [row[1] for row in nbest["data"]] == texts
    assert 'class="cell' in result[4]
