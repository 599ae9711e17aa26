"""benchmarks/multi30k/choose_decoding.py picks a run's model and decoding on validation only, then scores the test
set once with that choice; the means it builds are of the run's best checkpoints by its validation BLEU."""

import contextlib
import gzip
import io
import json

import pytest
import torch
from benchmark_scripts import load_benchmark
from safetensors.torch import load_file

from attnseq import CharTokenizer, Seq2SeqTransformerConfig, Seq2SeqTransformerForConditionalGeneration
from attnseq.cli import main as attnseq_main

LETTERS = "abcdefgh"
VALIDATION_BLEU = {10: 5.0, 20: 9.0, 30: 7.0}


@pytest.fixture(scope="module")
def choose():
    return load_benchmark("multi30k/choose_decoding.py", "choose_decoding")


def save_model(folder, seed):
    tokenizer = CharTokenizer.from_texts([LETTERS])
    torch.manual_seed(seed)
    config = Seq2SeqTransformerConfig(
        vocab_size=len(tokenizer), d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, init_std=0.3,
    )  # fmt: skip
    Seq2SeqTransformerForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


@pytest.fixture
def finished_run(tmp_path):
    """A run folder as `attnseq train` leaves it: the saved model, three kept checkpoints, the validation log."""
    run = tmp_path / "run"
    save_model(run, seed=0)
    for step in VALIDATION_BLEU:
        save_model(run / f"checkpoint-{step}", seed=step)
    history = [{"step": step, "eval_bleu": bleu} for step, bleu in VALIDATION_BLEU.items()]
    (run / "trainer_state.json").write_text(json.dumps({"log_history": history}))
    data = tmp_path / "data"
    data.mkdir()
    for name in ("val", "t"):
        for language, texts in (("xx", ["abc", "hgf", "bad"]), ("yy", ["cba", "fgh", "dab"])):
            with gzip.open(data / f"{name}.{language}.gz", "wt") as handle:
                handle.write("\n".join(texts) + "\n")
    return run, data


def test_choice_is_made_on_validation_and_the_test_set_is_decoded_once(choose, finished_run, monkeypatch, capsys):
    run, data = finished_run
    calls = []

    def in_process(*argv):
        calls.append(argv)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert attnseq_main(list(argv)) == 0
        return out.getvalue()

    monkeypatch.setattr(choose, "attnseq", in_process)
    assert [path.name for _, path in choose.ranked_checkpoints(run)] == [
        "checkpoint-20",
        "checkpoint-30",
        "checkpoint-10",
    ]
    flags = ["--source_lang", "xx", "--target_lang", "yy", "--data_dir", str(data), "--test_name", "t"]
    options = ["--average_counts", "2,5", "--num_beams", "1,2", "--length_penalties", "1.0,1.5"]
    assert choose.main([str(run), *flags, *options]) == 0

    mean = load_file(run / "decoding-choice" / "average-best-2" / "model.safetensors")
    best, second = (load_file(run / f"checkpoint-{step}" / "model.safetensors") for step in (20, 30))
    for name, tensor in mean.items():  # the mean of the two best by validation BLEU (5 > the 3 kept: no such mean)
        torch.testing.assert_close(tensor, (best[name] + second[name]) / 2)
    record = json.loads((run / "decoding-choice" / "choice.json").read_text())
    rows = record["validation"]
    assert {row["candidate"] for row in rows} == {
        "saved model",
        "best checkpoint (checkpoint-20)",
        "mean of the 2 best",
    }
    assert len(rows) == 3 * 3  # greedy, and beam 2 with each length penalty, for each candidate
    assert record["chosen"] == max(rows, key=lambda row: row["bleu"])
    evaluations = [call for call in calls if call[0] == "evaluate"]
    on_test = [call for call in evaluations if f"{data}/t.xx.gz" in call]
    assert len(evaluations) == 10 and len(on_test) == 1
    chosen = record["chosen"]
    assert on_test[0][1] == chosen["model"]
    assert on_test[0][-4:] == ("--num_beams", str(chosen["beams"]), "--length_penalty", str(chosen["length_penalty"]))
    assert record["test"]["rows"] == 3
    assert "chosen on validation:" in capsys.readouterr().out


def test_a_work_folder_with_other_files_is_refused(choose, finished_run):
    run, _ = finished_run
    (run / "decoding-choice").mkdir()
    (run / "decoding-choice" / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit):
        choose.parse_arguments([str(run)])
    assert (run / "decoding-choice" / "notes.txt").read_text() == "mine"
