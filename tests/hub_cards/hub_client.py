"""Client side of the Hub tests, run in a fresh process: `python hub_client.py ACTION SPEC RESULTS`.

A SPEC with `scenarios` (name -> settings) runs the action once per scenario, results keyed by name.

Each action uses the unmodified `huggingface_hub`/`transformers` client against the test Hub named
by `HF_ENDPOINT`, records what happened (commit ids, class names, error messages) in the RESULTS JSON
and saves logits to a safetensors file, so the test process makes the assertions. Errors that are
part of a scenario are caught and recorded; anything else fails the process.

Top-level imports are standard library only: the `isolated` action must block attnseq before
anything could import it.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path


def _error(call, *args, **kwargs) -> str | None:
    """Run `call(*args, **kwargs)`; `None` if it succeeded, else `"ExceptionType: message"`."""
    try:
        call(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - the scenario records any failure
        return f"{type(error).__name__}: {error}"
    return None


def _logits(model, spec) -> object:
    import torch

    with torch.no_grad():
        return model(
            input_ids=torch.tensor(spec["input_ids"]), decoder_input_ids=torch.tensor(spec["decoder_input_ids"])
        ).logits.contiguous()


def _run_snippet(code: str) -> str:
    """Execute a usage snippet as a script of its own and return what it printed."""
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(code, "<model card usage snippet>", "exec"), {"__name__": "__main__"})
    return output.getvalue()


# --- plain huggingface_hub: the server's endpoints ---------------------------------------------------


def server_roundtrip(spec: dict) -> dict:
    """Create, upload, branch, list and download with `HfApi`, `hf_hub_download`, `snapshot_download`."""
    from huggingface_hub import HfApi, ModelCard, hf_hub_download, snapshot_download

    api, repo, folder = HfApi(), spec["repo"], Path(spec["folder"])
    out: dict = {"whoami": api.whoami()["name"]}
    out["url"] = str(api.create_repo(repo))
    out["url_again"] = str(api.create_repo(repo, exist_ok=True))
    out["create_twice"] = _error(lambda: api.create_repo(repo))
    first = api.upload_folder(folder_path=folder, repo_id=repo, commit_message="first upload")
    out["first"] = first.oid
    info = api.model_info(repo)
    out["info_sha"], out["siblings"] = info.sha, sorted(s.rfilename for s in info.siblings)
    out["card_tags"] = info.card_data.tags if info.card_data else None
    out["tree"] = sorted(entry.path for entry in api.list_repo_tree(repo, recursive=True))
    out["tree_top"] = sorted(entry.path for entry in api.list_repo_tree(repo))
    out["nested"] = Path(hf_hub_download(repo, "sub/data.bin")).read_bytes().hex()
    out["snapshot"] = sorted(
        p.relative_to(snapshot).as_posix()
        for snapshot in [Path(snapshot_download(repo))]
        for p in snapshot.rglob("*")
        if p.is_file()
    )
    ModelCard.load(repo).validate()
    api.create_branch(repo, branch="dev")
    out["branch_twice"] = _error(lambda: api.create_branch(repo, branch="dev"))
    (folder / "a.txt").write_text("changed on dev")
    dev = api.upload_folder(folder_path=folder, repo_id=repo, revision="dev", commit_message="dev change")
    out["dev"] = dev.oid
    out["a_main"] = Path(hf_hub_download(repo, "a.txt")).read_text()
    out["a_dev"] = Path(hf_hub_download(repo, "a.txt", revision="dev")).read_text()
    out["a_first"] = Path(hf_hub_download(repo, "a.txt", revision=first.oid)).read_text()
    out["info_dev_sha"] = api.model_info(repo, revision="dev").sha
    out["refs"] = {ref.name: ref.target_commit for ref in api.list_repo_refs(repo).branches}
    out["dev_history"] = [commit.title for commit in api.list_repo_commits(repo, revision="dev")]
    unchanged = api.upload_folder(folder_path=folder, repo_id=repo, revision="dev")
    out["unchanged_oid"] = unchanged.oid
    api.delete_file("sub/data.bin", repo)
    out["exists_after_delete"] = api.file_exists(repo, "sub/data.bin")
    out["old_revision_still_has_it"] = Path(hf_hub_download(repo, "sub/data.bin", revision=first.oid)).is_file()
    out["paths_info"] = sorted(
        (type(entry).__name__, entry.path)
        for entry in api.get_paths_info(repo, ["a.txt", "sub", "nothing"], revision=first.oid)
    )
    out["stale_parent"] = _error(
        api.upload_file, path_or_fileobj=b"late", path_in_repo="late.txt", repo_id=repo, parent_commit=first.oid
    )
    out["missing_file"] = _error(hf_hub_download, repo, "nope.txt")
    out["missing_revision"] = _error(hf_hub_download, repo, "a.txt", revision="no-such-branch")
    out["missing_repo"] = _error(hf_hub_download, "alice/no-such-repo", "a.txt")
    api.create_repo("alice/scratch")
    api.delete_repo("alice/scratch")
    out["deleted_repo"] = _error(api.model_info, "alice/scratch")
    return out


def refused_writes(spec: dict) -> dict:
    """Writes with no token, a wrong token, a read-only token and another user's token."""
    from huggingface_hub import HfApi

    folder, repo = spec["folder"], spec["repo"]
    out = {}
    for label, token in [
        ("none", False),
        ("wrong", "hf_not_a_token"),
        ("read_only", spec["read_token"]),
        ("other_user", spec["bob_token"]),
    ]:
        api = HfApi(token=token)
        out[f"create_{label}"] = _error(api.create_repo, "alice/refused")
        out[f"upload_{label}"] = _error(api.upload_folder, folder_path=folder, repo_id=repo)
        out[f"branch_{label}"] = _error(api.create_branch, repo, branch="sneaky")
    return out


def private_reads(spec: dict) -> dict:
    """Reads of a private repo with no token, another user's token, a wrong token and the owner's."""
    from huggingface_hub import hf_hub_download

    out = {}
    for label, token in [
        ("none", False),
        ("other_user", spec["bob_token"]),
        ("wrong", "hf_not_a_token"),
        ("owner", spec["token"]),
    ]:
        out[label] = _error(hf_hub_download, spec["repo"], "a.txt", token=token)
    return out


# --- attnseq checkpoints -----------------------------------------------------------------------------


def push(spec: dict) -> dict:
    """Push a checkpoint every supported way; no HF_TOKEN in the environment, tokens are passed."""
    from huggingface_hub import HfApi
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    import attnseq  # noqa: F401 - registers the families
    from attnseq.hub_cards import push_folder

    token, repo, folder = spec["token"], spec["repo"], spec["folder"]
    model = AutoModelForSeq2SeqLM.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    out = {
        "model_no_token": _error(lambda: model.push_to_hub(f"{repo}-refused", token=False)),
        "model_wrong_token": _error(lambda: model.push_to_hub(f"{repo}-refused", token="hf_not_a_token")),
        "model_other_namespace": _error(lambda: model.push_to_hub("bob/taken", token=token)),
        "folder_no_token": _error(lambda: push_folder(folder, f"{repo}-refused")),
    }
    out["model_push"] = model.push_to_hub(repo, token=token).oid
    out["tokenizer_push"] = tokenizer.push_to_hub(repo, token=token).oid
    out["folder_push"] = push_folder(folder, f"{repo}-folder", token=token).oid
    out["folder_push_updated"] = push_folder(spec["updated_folder"], f"{repo}-folder", token=token).oid
    out["branch_push"] = push_folder(spec["updated_folder"], repo, revision="dev", token=token).oid
    out["remote_push"] = push_folder(folder, f"{repo}-remote", remote_code=True, token=token).oid
    out["private_push"] = push_folder(folder, f"{repo}-private", private=True, token=token).oid
    api = HfApi(token=token)
    api.create_repo(f"{repo}-pickle")
    out["pickle_push"] = api.upload_folder(folder_path=spec["pickle_folder"], repo_id=f"{repo}-pickle").oid
    if spec.get("trainer_dir"):
        out["trainer_push"] = _trainer_push(spec, model, tokenizer)
    return out


def _trainer_push(spec: dict, model, tokenizer) -> str:
    """One training step with a Seq2SeqTrainer whose card is attnseq's, then `Trainer.push_to_hub`."""
    from datasets import Dataset
    from transformers import DataCollatorForSeq2Seq, Seq2SeqTrainer, Seq2SeqTrainingArguments

    from attnseq.hub_cards import write_model_card_for_trainer

    class CardTrainer(Seq2SeqTrainer):
        def create_model_card(self, **kwargs):
            write_model_card_for_trainer(self, dataset="attnseq/tiny-copy", example=spec["example"])

    texts = ["12+3", "4+56", "7+8", "90+1"]
    data = Dataset.from_dict(
        {
            "input_ids": [tokenizer(t)["input_ids"] for t in texts],
            "labels": [tokenizer(t[::-1])["input_ids"] for t in texts],
        }
    )
    args = Seq2SeqTrainingArguments(
        output_dir=spec["trainer_dir"],
        max_steps=1,
        per_device_train_batch_size=4,
        per_device_eval_batch_size=4,
        learning_rate=1e-2,
        eval_strategy="steps",
        eval_steps=1,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        seed=0,
        hub_model_id=f"{spec['repo']}-trainer",
        hub_token=spec["token"],
        disable_tqdm=True,
    )
    trainer = CardTrainer(
        model=model,
        args=args,
        train_dataset=data,
        eval_dataset=data,
        processing_class=tokenizer,
        data_collator=DataCollatorForSeq2Seq(tokenizer, model=model),
    )
    trainer.train()
    return trainer.push_to_hub().oid


def load(spec: dict) -> dict:
    """Load everything back in a process with an empty cache; no token unless passed explicitly."""
    from huggingface_hub import HfApi, ModelCard
    from safetensors.torch import save_file
    from transformers import AutoConfig, AutoModel, AutoModelForSeq2SeqLM, AutoTokenizer

    import attnseq  # noqa: F401 - registers the families
    from attnseq.hub_cards import extract_usage_snippet

    repo, logits, out = spec["repo"], {}, {}
    model = AutoModelForSeq2SeqLM.from_pretrained(repo)
    out["class"] = f"{type(model).__module__}.{type(model).__name__}"
    logits["main"] = _logits(model, spec)
    tokenizer = AutoTokenizer.from_pretrained(repo)
    out["tokenizer_class"] = type(tokenizer).__name__
    out["encoded"] = tokenizer(spec["example"])["input_ids"]
    out["config_class"] = type(AutoConfig.from_pretrained(repo)).__name__
    out["base_class"] = type(AutoModel.from_pretrained(repo)).__name__
    out["dev_config_class"] = type(AutoConfig.from_pretrained(repo, revision="dev")).__name__
    logits["dev"] = _logits(AutoModelForSeq2SeqLM.from_pretrained(repo, revision="dev"), spec)
    logits["main_by_hash"] = _logits(AutoModelForSeq2SeqLM.from_pretrained(repo, revision=spec["main_commit"]), spec)
    logits["folder"] = _logits(AutoModelForSeq2SeqLM.from_pretrained(f"{repo}-folder"), spec)
    logits["folder_first"] = _logits(
        AutoModelForSeq2SeqLM.from_pretrained(f"{repo}-folder", revision=spec["folder_first_commit"]), spec
    )
    remote = AutoModelForSeq2SeqLM.from_pretrained(f"{repo}-remote")
    out["remote_repo_class"] = f"{type(remote).__module__}.{type(remote).__name__}"
    logits["remote_repo_with_attnseq"] = _logits(remote, spec)
    out["private_anonymous"] = _error(lambda: AutoModelForSeq2SeqLM.from_pretrained(f"{repo}-private"))
    logits["private"] = _logits(AutoModelForSeq2SeqLM.from_pretrained(f"{repo}-private", token=spec["token"]), spec)
    out["pickle"] = _error(lambda: AutoModelForSeq2SeqLM.from_pretrained(f"{repo}-pickle"))
    out["pickle_files"] = sorted(HfApi().list_repo_files(f"{repo}-pickle"))
    card = ModelCard.load(f"{repo}-folder")
    out["card_library"], out["card_tags"] = card.data.library_name, card.data.tags
    out["snippet_output"] = _run_snippet(extract_usage_snippet(card.text))
    if spec.get("trainer"):
        trained = AutoModelForSeq2SeqLM.from_pretrained(f"{repo}-trainer")
        logits["trainer"] = _logits(trained, spec)
        trainer_card = ModelCard.load(f"{repo}-trainer")
        out["trainer_card"] = trainer_card.content
        out["trainer_files"] = sorted(HfApi().list_repo_files(f"{repo}-trainer"))
    save_file(logits, spec["logits"])
    return out


class BlockAttnseq:
    """A meta-path finder that makes attnseq unimportable, whatever the path or an editable install offer."""

    def find_spec(self, name, path=None, target=None):
        if name == "attnseq" or name.startswith("attnseq."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: this process has no attnseq)", name=name)
        return None


def isolated(spec: dict) -> dict:
    """A user without attnseq: attnseq cannot be imported; load the remote-code checkpoints."""
    if not any(isinstance(finder, BlockAttnseq) for finder in sys.meta_path):
        sys.meta_path.insert(0, BlockAttnseq())
    out = {"import_attnseq": _error(lambda: __import__("attnseq"))}
    from huggingface_hub import ModelCard
    from safetensors.torch import save_file
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    logits = {}
    for label, location in [("hub", spec["remote_repo"]), ("local", spec["export_folder"])]:
        model = AutoModelForSeq2SeqLM.from_pretrained(location, trust_remote_code=True)
        out[f"{label}_class"] = f"{type(model).__module__}.{type(model).__name__}"
        logits[label] = _logits(model, spec)
        tokenizer = AutoTokenizer.from_pretrained(location, trust_remote_code=True)
        out[f"{label}_encoded"] = tokenizer(spec["example"])["input_ids"]
    card = ModelCard.load(spec["remote_repo"])
    code = card.text.split("```python\n", 1)[1].split("\n```", 1)[0]
    out["card_library"], out["card_tags"] = card.data.library_name, card.data.tags
    out["snippet_output"] = _run_snippet(code)
    out["attnseq_modules"] = sorted(name for name in sys.modules if name.split(".")[0] == "attnseq")
    save_file(logits, spec["logits"])
    return out


ACTIONS = {
    function.__name__: function for function in (server_roundtrip, refused_writes, private_reads, push, load, isolated)
}

if __name__ == "__main__":
    action, spec_path, results_path = sys.argv[1:4]
    spec = json.loads(Path(spec_path).read_text())
    scenarios = spec.pop("scenarios", None)
    if scenarios is None:
        results = ACTIONS[action](spec)
    else:  # one process runs the action for every scenario (e.g. every model family) in turn
        results = {name: ACTIONS[action]({**spec, **scenario}) for name, scenario in scenarios.items()}
    Path(results_path).write_text(json.dumps(results, indent=1))
