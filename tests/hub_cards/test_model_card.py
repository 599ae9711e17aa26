"""Model cards: metadata the Hub accepts, the architecture and training sections, the attention
picture, and a usage snippet that runs against the saved folder."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import sys

import pytest
import torch
from hub_testing import EXAMPLE, FAMILIES, hub_server, save_checkpoint, tiny_tokenizer
from huggingface_hub import ModelCard
from matplotlib.image import imread
from transformers import AutoModelForSeq2SeqLM

from attnseq.hub_cards import card as card_module
from attnseq.hub_cards import extract_usage_snippet, write_model_card
from attnseq.hub_cards.commands import main_card

LOG_HISTORY = [
    {"loss": 2.5, "learning_rate": 0.001, "epoch": 0.5, "step": 5},
    {
        "eval_loss": 2.25,
        "eval_exact_match": 0.125,
        "eval_runtime": 0.5,
        "eval_samples_per_second": 10.0,
        "epoch": 0.5,
        "step": 5,
    },
    {"loss": 2.0, "learning_rate": 0.0005, "epoch": 1.0, "step": 10},
    {"eval_loss": 1.75, "eval_exact_match": 0.375, "eval_runtime": 0.5, "epoch": 1.0, "step": 10},
    {"train_runtime": 3.0, "train_loss": 2.2, "epoch": 1.0, "step": 10},
]


def run_snippet(code: str, checkpoint: str) -> str:
    """Run a card's usage snippet with `checkpoint` pointing at a local folder; return what it printed."""
    lines = code.splitlines()
    assignments = [i for i, line in enumerate(lines) if line.startswith("checkpoint = ")]
    assert len(assignments) == 1, code
    lines[assignments[0]] = f"checkpoint = {checkpoint!r}"
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile("\n".join(lines), "<usage snippet>", "exec"), {"__name__": "__main__"})
    return output.getvalue()


@pytest.fixture
def trained_folder(tmp_path):
    folder = save_checkpoint(tmp_path / "lstm", "lstm", attention="additive", bidirectional_encoder=True)
    (folder / "trainer_state.json").write_text(
        json.dumps(
            {
                "log_history": LOG_HISTORY,
                "train_batch_size": 16,
                "num_train_epochs": 1,
                "max_steps": 10,
                "global_step": 10,
            }
        )
    )
    return folder


def test_card_metadata_is_accepted_by_the_hub_rules(trained_folder):
    path = write_model_card(
        trained_folder,
        dataset="attnseq/addition",
        example=(EXAMPLE, "43+21"),
        repo_id="alice/addition",
        tags=["character-level"],
    )
    text = path.read_text()
    assert hub_server.validate_card_metadata(text) == []
    data = ModelCard.load(path).data
    assert data.library_name == "attnseq" and data.license == "mit"
    assert data.pipeline_tag is None  # transformers 5 has no pipeline for encoder-decoder generation
    assert data.tags == ["attnseq", "seq2seq_lstm", "seq2seq", "character-level"]
    assert data.datasets == ["attnseq/addition"] and data.metrics == ["exact_match"]
    results = {result.metric_type: result for result in data.eval_results}
    assert set(results) == {"loss", "exact_match"}  # the last evaluation; runtimes are not results
    assert results["exact_match"].metric_value == 0.375 and results["loss"].metric_value == 1.75
    assert {result.dataset_type for result in data.eval_results} == {"attnseq/addition"}
    assert data.model_name == "addition"


def test_card_describes_architecture_training_and_attention(trained_folder):
    text = write_model_card(trained_folder, example=(EXAMPLE, "43+21")).read_text()
    model = AutoModelForSeq2SeqLM.from_pretrained(trained_folder)
    architecture = text.split("## Architecture", 1)[1].split("## Training", 1)[0]
    assert f"- Parameters: {model.num_parameters():,}" in architecture
    options = [line.split("|")[1].strip(" `") for line in architecture.splitlines() if line.startswith("| `")]
    assert options == ["vocab_size", "embedding_size", "hidden_size", "attention", "bidirectional_encoder"]
    assert "| `attention` | `'additive'` | `'dot'` |" in architecture
    assert "- train_batch_size: 16" in text and "- learning_rate (first logged): 0.001" in text
    assert "| Training Loss | Epoch | Step | Validation Loss | Exact Match |" in text
    assert len([line for line in text.splitlines() if line.startswith("| 2.5 ") or line.startswith("| 2.0 ")]) == 2
    assert "![Attention weights of one example](attention_heatmap.png)" in text
    assert f"turns `{EXAMPLE}` into" in text and "(reference: `43+21`)" in text
    picture = imread(trained_folder / "attention_heatmap.png")
    assert picture.ndim == 3 and picture.shape[0] > 100 and picture.shape[1] > 100
    assert sorted(p.name for p in trained_folder.iterdir() if p.name.startswith(".")) == []  # no temp files left


@pytest.mark.parametrize("family", FAMILIES)
def test_usage_snippet_runs_against_the_saved_folder(tmp_path, family):
    folder = save_checkpoint(tmp_path / family, family)
    text = write_model_card(folder, example=EXAMPLE, max_new_tokens=6).read_text()
    code = extract_usage_snippet(text)
    assert "import attnseq" in code and "trust_remote_code" not in code
    printed = run_snippet(code, str(folder))

    tokenizer = tiny_tokenizer()
    model = AutoModelForSeq2SeqLM.from_pretrained(folder)
    expected = tokenizer.batch_decode(
        model.generate(**tokenizer([EXAMPLE], return_tensors="pt"), max_new_tokens=6), skip_special_tokens=True
    )
    assert printed == f"{expected}\n"


def test_card_without_attention_tokenizer_or_example_says_why(tmp_path):
    folder = save_checkpoint(tmp_path / "plain", "lstm", with_tokenizer=False, attention="none")
    text = write_model_card(folder, example=EXAMPLE, max_new_tokens=4).read_text()
    assert "no attention (`attention='none'`)" in text
    assert "No training log" in text and "No evaluation results" in text
    assert not (folder / "attention_heatmap.png").exists()
    assert hub_server.validate_card_metadata(text) == []
    assert "model-index" not in text  # no results, no model-index
    printed = run_snippet(extract_usage_snippet(text), str(folder))  # ids in, ids out without a tokenizer
    assert printed.startswith("[[") and len(json.loads(printed)[0]) <= 5

    attentive = save_checkpoint(tmp_path / "attentive", "transformer")
    text = write_model_card(attentive).read_text()
    assert "No example was given" in text and not (attentive / "attention_heatmap.png").exists()


def test_card_without_matplotlib_notes_it(tmp_path, monkeypatch):
    folder = save_checkpoint(tmp_path / "lstm", "lstm")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    text = write_model_card(
        folder, example=EXAMPLE, metrics={"test_exact_match": 0.5, "test_runtime": 1.0}, dataset="attnseq/addition"
    ).read_text()
    assert "matplotlib is not installed" in text and not (folder / "attention_heatmap.png").exists()
    assert "Results on `attnseq/addition` (test split)" in text
    assert [result.dataset_split for result in ModelCard.load(folder / "README.md").data.eval_results] == ["test"]


def test_card_is_replaced_whole_or_not_at_all(trained_folder, monkeypatch):
    old = f"{card_module.MARKER}\nold card\n"  # a card attnseq wrote: only such a card is replaced
    (trained_folder / "README.md").write_text(old)

    def broken(*args, **kwargs):
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(card_module, "_attention_section", broken)
    with pytest.raises(RuntimeError, match="drawing failed"):
        write_model_card(trained_folder, example=EXAMPLE)
    assert (trained_folder / "README.md").read_text() == old
    monkeypatch.undo()
    write_model_card(trained_folder, example=EXAMPLE)
    assert (trained_folder / "README.md").read_text().startswith("---\n")
    assert [p.name for p in trained_folder.iterdir() if p.name.endswith(".tmp")] == []


def test_card_command(trained_folder, tmp_path, capsys):
    status = main_card(
        [
            str(trained_folder),
            "--dataset",
            "attnseq/addition",
            "--example",
            EXAMPLE,
            "--target",
            "43+21",
            "--license",
            "apache-2.0",
            "--max-new-tokens",
            "5",
        ]
    )
    assert status == 0 and capsys.readouterr().out.strip() == str(trained_folder / "README.md")
    data = ModelCard.load(trained_folder / "README.md").data
    assert data.license == "apache-2.0" and data.datasets == ["attnseq/addition"]
    assert main_card([str(tmp_path / "missing")]) == 1
    assert "is not a folder" in capsys.readouterr().err


def test_attention_matrix_rows_are_distributions(tmp_path):
    folder = save_checkpoint(tmp_path / "t", "transformer")
    model = AutoModelForSeq2SeqLM.from_pretrained(folder)
    source_tokens, output_tokens, weights = card_module.attention_matrix(model, tiny_tokenizer(), EXAMPLE, 5)
    assert weights.shape == (len(output_tokens), len(source_tokens)) == (weights.shape[0], len(EXAMPLE) + 1)
    assert torch.allclose(torch.from_numpy(weights).sum(-1), torch.ones(len(output_tokens)), atol=1e-5)


def test_every_card_path_writes_the_same_complete_card_from_the_folder(trained_folder, capsys):
    """`attnseq train` records the run next to the checkpoint; `write_model_card(folder)` and `attnseq card`
    then write the card train wrote: data set, test results with the BLEU signature, configured hyperparameters,
    base model, heatmap and the example."""
    from attnseq.data.run_record import write_run_info

    write_run_info(
        trained_folder,
        dataset={"name": "local file `my_dates.tsv`", "hub_id": None},
        example={"source": EXAMPLE, "target": "43+21"},
        base_model="alice/date-lstm",
        hyperparameters={"learning_rate": 0.005, "train_batch_size": 64},
    )
    (trained_folder / "test_results.json").write_text(
        json.dumps(
            {
                "test_exact_match": 0.5,
                "test_bleu": 80.0,
                "test_runtime": 1.0,
                "test_bleu_signature": "nrefs:1|case:mixed|eff:no|tok:char|smooth:exp|version:2.6.0",
            }
        )
    )
    first = write_model_card(trained_folder).read_text()
    (trained_folder / "attention_heatmap.png").unlink()
    assert main_card([str(trained_folder)]) == 0
    second = (trained_folder / "README.md").read_text()
    assert second == first and (trained_folder / "attention_heatmap.png").is_file()

    assert hub_server.validate_card_metadata(first) == []
    data = ModelCard(first).data
    assert data.pipeline_tag is None and data.datasets is None  # a local file is not a Hub dataset id
    assert data.base_model == "alice/date-lstm" and data.base_model_relation == "finetune"
    results = {result.metric_type: result for result in data.eval_results}
    assert {r.dataset_type for r in data.eval_results} == {"unknown"}
    assert {r.dataset_name for r in data.eval_results} == {"local file `my_dates.tsv`"}
    assert {r.dataset_split for r in data.eval_results} == {"test"}
    assert results["bleu"].metric_value == 80.0 and "tok:char" in results["bleu"].metric_args["signature"]
    assert "signature `nrefs:1|case:mixed|eff:no|tok:char" in first
    assert "- learning_rate: 0.005" in first and "first logged" not in first
    assert f"turns `{EXAMPLE}` into" in first and f'tokenizer(["{EXAMPLE}"]' in first
    assert "pip install attnseq" not in first and "attnseq 0.1.0" in first and "--remote_code" in first
    assert "pypi.org" not in first


def hand_built_facts(**changes) -> card_module.CardFacts:
    from attnseq.families import FAMILIES

    facts = card_module.CardFacts(
        name="dates",
        family=FAMILIES["transformer"],
        options=[("d_model", 16, 512)],
        vocabulary_sizes=(30, 40),
        num_parameters=12345,
        hyperparameters={"learning_rate": 0.001},
        log_history=None,
        metrics={"bleu": 31.25},
        split="test",
        signatures={"bleu": "nrefs:1"},
        dataset_name="local file `d.tsv`",
        hub_dataset=None,
        base_model="alice/base",
        license="mit",
        language=["de", "en"],
        tags=["attnseq", "seq2seq_transformer", "seq2seq"],
        attention=card_module.AttentionMap(
            "ab",
            "ba",
            "bb",
            ["a", "b", "</s>"],
            ["b", "b"],
            [[0.5, 0.5, 0.0]] * 2,
            "decoder layer 1 of 1, mean of 2 heads",
        ),
        checkpoint="alice/dates",
        example_source="ab",
        input_ids=None,
        max_new_tokens=7,
        version="9.9.9",
    )
    return dataclasses.replace(facts, **changes)


def test_render_card_is_a_pure_function_of_hand_built_facts(tmp_path):
    facts = hand_built_facts()
    text = card_module.render_card(facts)
    assert text == card_module.render_card(facts)  # same facts, same text
    assert hub_server.validate_card_metadata(text) == []
    data = ModelCard(text).data
    assert data.language == ["de", "en"] and data.base_model == "alice/base" and data.datasets is None
    assert [(r.metric_type, r.dataset_type, r.dataset_split) for r in data.eval_results] == [
        ("bleu", "unknown", "test")
    ]
    body = ModelCard(text).text
    assert body.lstrip().startswith(card_module.MARKER + "\n\n# dates\n\n")
    assert "family `seq2seq_transformer` trained on local file `d.tsv`. Fine-tuned from [`alice/base`]" in body
    assert "attnseq 9.9.9 models load" in body and body.rstrip().endswith("Card written by attnseq 9.9.9.")
    assert "source 30 tokens (`vocab_size`), target 40 tokens" in body and "- Parameters: 12,345" in body
    assert "| `d_model` | `16` | `512` |" in body and "- learning_rate: 0.001" in body
    assert "| bleu | 31.2500 |" in body and "signature `nrefs:1`" in body
    assert "(decoder layer 1 of 1, mean of 2 heads) while the model turns `ab` into `bb` (reference: `ba`):" in body
    code = extract_usage_snippet(text)
    assert 'checkpoint = "alice/dates"' in code and "max_new_tokens=7" in code and 'tokenizer(["ab"]' in code

    plain = card_module.render_card(
        hand_built_facts(attention="No example was given.", options=[], vocabulary_sizes=None, metrics={})
    )
    assert "## Attention\n\nNo example was given." in plain and "All options have the defaults of" in plain
    assert "No evaluation results were given." in plain and "model-index" not in plain
    assert list(tmp_path.iterdir()) == []  # rendering touched no folder


def test_gathering_the_facts_writes_nothing(trained_folder):
    before = {path.name: path.stat().st_mtime_ns for path in trained_folder.iterdir()}
    facts = card_module.gather_card_facts(trained_folder, example=(EXAMPLE, "43+21"), dataset="attnseq/addition")
    assert {path.name: path.stat().st_mtime_ns for path in trained_folder.iterdir()} == before
    assert facts.hub_dataset == "attnseq/addition" and facts.attention.source == EXAMPLE
    assert facts.options[0][0] == "vocab_size" and facts.family.name == "lstm"
