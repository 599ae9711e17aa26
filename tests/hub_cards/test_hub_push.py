"""Sharing attnseq checkpoints through the Hub, end to end with the real client in fresh processes.

For each model family one scenario runs once (module fixture) in three processes, each with an empty
cache: `push` (model/tokenizer `push_to_hub`, `push_folder` incl. a second push, a branch, remote code,
a private repo, a pickle-only repo and, for the LSTM, `Trainer.push_to_hub`), `load` (`from_pretrained`
by repo id, branch and commit hash, with attnseq imported) and `isolated` (a process that cannot import
attnseq loads the remote-code checkpoints). The tests below check one aspect each.
"""

from __future__ import annotations

import json

import pytest
import torch
from hub_testing import (
    ALICE_READ_TOKEN,
    ALICE_TOKEN,
    EXAMPLE,
    FAMILIES,
    TOKENS,
    hub_server,
    model_inputs,
    reference_logits,
    run_client_process,
    save_checkpoint,
    tiny_tokenizer,
)
from safetensors.torch import load_file

from attnseq.hub_cards import export_for_remote_code, write_model_card

REQUIRED_FILES = {
    "config.json",
    "model.safetensors",
    "generation_config.json",
    "tokenizer_config.json",
    "vocab.json",
    "README.md",
}


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    """Run the push, load and isolated processes for every family against one test Hub."""
    root = tmp_path_factory.mktemp("share")
    inputs = model_inputs()
    push_specs, load_specs, isolated_specs, local = {}, {}, {}, {}
    for family in FAMILIES:
        base = root / family
        folder = save_checkpoint(base / "checkpoint", family, seed=0)
        write_model_card(folder, dataset="attnseq/tiny-copy", example=(EXAMPLE, "43+21"))
        updated = save_checkpoint(base / "updated", family, seed=1)
        pickle_folder = base / "pickle-only"
        pickle_folder.mkdir()
        (pickle_folder / "config.json").write_text((folder / "config.json").read_text())
        torch.save({"weight": torch.zeros(2)}, pickle_folder / "pytorch_model.bin")
        repo = f"alice/{family}"
        push_specs[family] = {
            "repo": repo,
            "folder": str(folder),
            "updated_folder": str(updated),
            "pickle_folder": str(pickle_folder),
            "trainer_dir": str(base / "trainer") if family == "lstm" else None,
        }
        load_specs[family] = {"repo": repo, "trainer": family == "lstm", "logits": str(base / "load.safetensors")}
        isolated_specs[family] = {
            "remote_repo": f"{repo}-remote",
            "export_folder": str(export_for_remote_code(folder, base / "export")),
            "logits": str(base / "isolated.safetensors"),
        }
        local[family] = {
            "family": family,
            "repo": repo,
            "reference": reference_logits(folder),
            "updated": reference_logits(updated),
            "trainer_dir": base / "trainer",
        }
    server = hub_server.HubServer(root / "hub-repos", tokens=TOKENS, read_only_tokens={ALICE_READ_TOKEN})
    server.start()
    try:
        pushed = run_client_process(
            server, root / "push", "push", {**inputs, "token": ALICE_TOKEN, "scenarios": push_specs}
        )
        for family in FAMILIES:
            load_specs[family].update(
                main_commit=pushed[family]["tokenizer_push"], folder_first_commit=pushed[family]["folder_push"]
            )
        loaded = run_client_process(
            server, root / "load", "load", {**inputs, "token": ALICE_TOKEN, "scenarios": load_specs}
        )
        isolated = run_client_process(
            server, root / "isolated", "isolated", {**inputs, "scenarios": isolated_specs}, isolated=True
        )
        yield {
            family: {
                **local[family],
                "hub": server,
                "pushed": pushed[family],
                "loaded": loaded[family],
                "isolated": isolated[family],
                "load_logits": load_file(load_specs[family]["logits"]),
                "isolated_logits": load_file(isolated_specs[family]["logits"]),
            }
            for family in FAMILIES
        }
    finally:
        server.stop()
    assert server.unknown_requests == [], f"the client called routes the test Hub lacks: {server.unknown_requests}"


@pytest.fixture(params=FAMILIES)
def shared(request, scenario):
    """The results of one family's scenario."""
    return scenario[request.param]


def test_pushes_without_a_valid_token_fail_clearly_and_write_nothing(shared):
    pushed, hub, repo = shared["pushed"], shared["hub"], shared["repo"]
    assert pushed["model_no_token"].startswith("ValueError: No Hugging Face token")
    assert "Invalid credentials in Authorization header" in pushed["model_wrong_token"]
    assert "no write access to the namespace 'bob'" in pushed["model_other_namespace"]
    assert pushed["folder_no_token"].startswith("ValueError: No Hugging Face token")
    assert hub.repo(f"{repo}-refused") is None and hub.repo("bob/taken") is None


def test_model_and_tokenizer_push_to_hub_upload_a_complete_checkpoint(shared):
    hub, repo, pushed = shared["hub"], shared["repo"], shared["pushed"]
    files = hub.files(repo, revision=pushed["tokenizer_push"])
    assert REQUIRED_FILES <= set(files)
    assert not any(name.endswith((".bin", ".pt", ".pth")) for name in files)
    assert json.loads(files["config.json"])["model_type"] == f"seq2seq_{shared['family']}"
    # model.push_to_hub uploads attnseq's card, which tokenizer.push_to_hub then keeps
    card = files["README.md"].decode()
    assert "library_name: attnseq" in card and "## Usage" in card and "More Information Needed" not in card


def test_from_pretrained_in_a_fresh_process_gives_identical_logits(shared):
    loaded, logits = shared["loaded"], shared["load_logits"]
    family = shared["family"]
    assert loaded["class"].startswith(f"attnseq.modeling.{family}.")
    assert loaded["config_class"] == f"Seq2Seq{'LSTM' if family == 'lstm' else 'Transformer'}Config"
    assert loaded["base_class"].endswith("Model")
    assert loaded["tokenizer_class"] == "CharTokenizer"
    assert loaded["encoded"] == tiny_tokenizer()(EXAMPLE)["input_ids"]
    assert torch.equal(logits["main"], shared["reference"])


def test_revisions_by_branch_and_commit_hash_and_branch_push_leaves_main(shared):
    hub, repo, pushed, logits = shared["hub"], shared["repo"], shared["pushed"], shared["load_logits"]
    branches = hub.repo(repo)["branches"]
    assert branches["main"] == pushed["tokenizer_push"] and branches["dev"] == pushed["branch_push"]
    assert torch.equal(logits["dev"], shared["updated"])
    assert torch.equal(logits["main_by_hash"], shared["reference"])
    assert shared["loaded"]["dev_config_class"].endswith("Config")


def test_second_push_updates_and_old_commits_stay_downloadable(shared):
    hub, repo, pushed, logits = shared["hub"], shared["repo"], shared["pushed"], shared["load_logits"]
    history = hub.repo(f"{repo}-folder")
    assert history["branches"]["main"] == pushed["folder_push_updated"] != pushed["folder_push"]
    assert torch.equal(logits["folder"], shared["updated"])
    assert torch.equal(logits["folder_first"], shared["reference"])


def test_push_folder_uploads_the_card_and_the_attention_picture(shared):
    hub, repo, pushed, loaded = shared["hub"], shared["repo"], shared["pushed"], shared["loaded"]
    first = hub.files(f"{repo}-folder", revision=pushed["folder_push"])
    assert REQUIRED_FILES | {"attention_heatmap.png"} <= set(first)
    assert first["attention_heatmap.png"].startswith(b"\x89PNG")
    assert b"](attention_heatmap.png)" in first["README.md"]
    updated = hub.files(f"{repo}-folder")  # the second checkpoint came without a card: push_folder wrote one
    assert b"<!-- written by attnseq -->" in updated["README.md"]
    assert loaded["card_library"] == "attnseq" and {"attnseq", f"seq2seq_{shared['family']}"} <= set(
        loaded["card_tags"]
    )
    assert loaded["snippet_output"].startswith("[") and loaded["snippet_output"].strip().endswith("]")
    assert "POST /api/validate-yaml" in hub.requests  # the client had the Hub check the card's metadata


def test_private_repo_needs_the_token(shared):
    assert shared["hub"].repo(f"{shared['repo']}-private")["private"] is True
    assert "not a valid model identifier" in shared["loaded"]["private_anonymous"]
    assert torch.equal(shared["load_logits"]["private"], shared["reference"])


def test_pickle_only_repo_is_refused(shared):
    assert "pytorch_model.bin" in shared["loaded"]["pickle_files"]
    assert shared["loaded"]["pickle"].startswith("PickleCheckpointError")
    assert "safetensors only" in shared["loaded"]["pickle"]


def test_users_without_attnseq_load_the_remote_code_export(shared):
    isolated, logits = shared["isolated"], shared["isolated_logits"]
    assert isolated["import_attnseq"].startswith("ModuleNotFoundError")
    assert isolated["attnseq_modules"] == []
    for where in ("hub", "local"):
        assert isolated[f"{where}_class"].startswith("transformers_modules.")
        assert isolated[f"{where}_class"].endswith("ForConditionalGeneration")
        assert torch.equal(logits[where], shared["reference"]), where
        assert isolated[f"{where}_encoded"] == tiny_tokenizer()(EXAMPLE)["input_ids"]
    assert isolated["card_library"] == "transformers" and "custom_code" in isolated["card_tags"]
    assert isolated["snippet_output"].startswith("[")
    files = shared["hub"].files(f"{shared['repo']}-remote")
    model_type = f"seq2seq_{shared['family']}"
    assert {f"configuration_{model_type}.py", f"modeling_{model_type}.py", "attention.py"} <= set(files)


def test_with_attnseq_the_remote_code_checkpoint_gives_the_package_classes(shared):
    assert shared["loaded"]["remote_repo_class"].startswith(f"attnseq.modeling.{shared['family']}.")
    assert torch.equal(shared["load_logits"]["remote_repo_with_attnseq"], shared["reference"])


def test_trainer_push_to_hub_uploads_checkpoint_and_card(scenario):
    shared = scenario["lstm"]  # one family is enough for the Trainer: it only calls save_pretrained and upload
    loaded = shared["loaded"]
    assert REQUIRED_FILES <= set(loaded["trainer_files"])
    card = loaded["trainer_card"]
    assert "library_name: attnseq" in card and "### Training results" in card and "learning_rate: 0.01" in card
    assert "attention_heatmap.png" in loaded["trainer_files"]
    assert torch.equal(shared["load_logits"]["trainer"], reference_logits(shared["trainer_dir"]))
