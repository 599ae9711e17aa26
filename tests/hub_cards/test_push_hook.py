"""A model's `push_to_hub` uploads through the hook that `import attnseq` installs (the card writer of
`attnseq.hub_cards`), never through an import from the models; without the hook it is transformers' own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hub_testing import tiny_model
from transformers import PreTrainedModel

import attnseq.hub_cards.push as push_module
from attnseq.hub_cards.export import export_for_remote_code
from attnseq.modeling import hooks


def test_import_attnseq_installs_the_push_hook_without_loading_hub_cards():
    code = (
        "import sys, attnseq\n"
        "from attnseq.modeling.hooks import installed_push_folder\n"
        "print(installed_push_folder() is attnseq._push_folder, 'attnseq.hub_cards' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "False"]


def test_push_to_hub_uploads_the_saved_folder_through_the_installed_hook(monkeypatch):
    calls = []

    def fake_push_folder(folder, repo_id, **upload):
        calls.append((sorted(path.name for path in Path(folder).iterdir()), repo_id, upload))
        return "uploaded"

    monkeypatch.setattr(push_module, "push_folder", fake_push_folder)  # the hook imports it when a model is pushed
    model = tiny_model("transformer", vocab_size=16)
    assert model.push_to_hub("alice/tiny", private=True, commit_message="first") == "uploaded"
    (names, repo_id, upload) = calls[0]
    assert {"config.json", "model.safetensors", "generation_config.json"} <= set(names) and repo_id == "alice/tiny"
    assert upload == {"create_pr": False, "commit_message": "first", "private": True, "token": None, "revision": None}


def test_without_the_hook_push_to_hub_is_transformers_own(monkeypatch):
    received = []
    monkeypatch.setattr(PreTrainedModel, "push_to_hub", lambda self, repo_id, **kwargs: received.append(repo_id))
    monkeypatch.setattr(hooks.PUSH_FOLDER, "function", None)
    tiny_model("lstm", vocab_size=16).push_to_hub("alice/plain")
    assert received == ["alice/plain"]


@pytest.mark.parametrize("family", ["lstm", "transformer"])
def test_the_remote_code_export_ships_the_hook_module_without_attnseq_imports(tmp_path, family):
    folder = export_for_remote_code(tiny_model(family, vocab_size=16), tmp_path / "export")
    assert (folder / "hooks.py").is_file()
    assert "from .hooks import installed_push_folder" in (folder / "loading.py").read_text()
    assert "attnseq" not in "".join(line for line in (folder / "hooks.py").read_text().splitlines(True)[2:]
                                    if line.lstrip().startswith(("import", "from")))  # fmt: skip
