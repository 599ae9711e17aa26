"""`attnseq push` of a checkpoint written by `attnseq average`: the uploaded card names the checkpoints averaged."""

from __future__ import annotations

import subprocess
import sys

from hub_testing import ALICE_TOKEN, REPO_ROOT, client_env, save_checkpoint

from attnseq.cli import main


def test_push_of_an_averaged_checkpoint_carries_its_card(hub, tmp_path):
    first = save_checkpoint(tmp_path / "run" / "checkpoint-100", "transformer", seed=0)
    second = save_checkpoint(tmp_path / "run" / "checkpoint-200", "transformer", seed=1)
    out = tmp_path / "averaged"
    assert main(["average", str(first), str(second), "--output_dir", str(out)]) == 0

    env = {**client_env(hub, tmp_path / "hf-home", token=ALICE_TOKEN), "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "attnseq", "push", str(out), "alice/averaged"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    files = hub.files("alice/averaged")
    assert {"config.json", "model.safetensors", "tokenizer_config.json", "README.md"} <= set(files)
    assert files["model.safetensors"] == (out / "model.safetensors").read_bytes()
    card = files["README.md"].decode()
    assert "## Checkpoint averaging" in card
    assert f"mean of the weights of 2 checkpoints: `{first}`, `{second}`" in card
    assert "from_pretrained(checkpoint)" in card and '"alice/averaged"' in card  # the card written for the repo
    assert not any(name.endswith("attnseq_export.json") for name in files)
