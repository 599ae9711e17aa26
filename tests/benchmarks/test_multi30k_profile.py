"""benchmarks/multi30k/profile.py times the sections of real training steps; its shares must add up to the whole step
and each section must be measured where the Trainer does that work."""

import pytest
from benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def profile_script():
    return load_benchmark("multi30k/profile.py", "multi30k_profile")


def test_every_recipe_parses_to_its_languages_and_files(profile_script, tmp_path):
    for name in profile_script.RECIPES:
        _, data, _, training = profile_script.recipe_arguments(name, "/data", 7, str(tmp_path))
        source, target = name.split("-")[-2:]
        assert (data.source_lang, data.target_lang) == (source, target)
        assert data.source_file == f"/data/train.{source}.gz" and data.test_target_file.endswith(f".{target}.gz")
        assert (training.max_steps, training.eval_strategy, training.save_strategy) == (7, "no", "no")
        assert training.per_device_train_batch_size == 64


@pytest.fixture
def tiny_recipe(profile_script, tmp_path, monkeypatch):
    """A recipe `tiny` (a small LSTM on the built-in reverse task) among the profiler's recipes."""
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(
        "task: reverse\nnum_train: 96\nnum_validation: 8\nnum_test: 8\nmodel: lstm\nhidden_size: 8\n"
        "embedding_size: 4\nper_device_train_batch_size: 8\nlabel_smoothing_factor: 0.1\ndisable_tqdm: true\n"
    )
    monkeypatch.setitem(profile_script.RECIPES, "tiny", (str(recipe), False))
    return "tiny"


def test_a_tiny_recipe_is_profiled_section_by_section(profile_script, tiny_recipe, capsys):
    result = profile_script.profile_recipe("tiny", None, steps=4, warmup=2, seed=0)
    assert result["steps"] == 4 and result["target_tokens_per_s"] > 0
    assert result["steps_per_minute"] > 0 and result["steps_per_cpu_minute"] > 0
    shares = result["shares"]
    assert set(shares) == {*profile_script.SECTIONS, "encoder", "decoder"}
    assert abs(sum(shares[section] for section in profile_script.SECTIONS) - 1) < 1e-9
    assert all(shares[section] > 0 for section in ("data", "forward", "backward", "clip", "optimizer"))
    assert shares["other"] >= -1e-6
    assert 0 < shares["encoder"] and 0 < shares["decoder"] and shares["encoder"] + shares["decoder"] < shares["forward"]
    profile_script.print_table([result], threads=1)
    table = capsys.readouterr().out
    assert "| tiny |" in table and "forward %" in table and "Means over 4 steps after warm-up" in table
    assert "| recipe | encoder % | decoder % | output layer and loss % |" in table


def test_a_variant_is_its_recipe_with_the_flags_that_change_it(profile_script, tmp_path):
    label, name, flags = profile_script.parse_variant("small=transformer-en-de --d_model 128 --encoder_layers 4")
    assert (label, name, flags) == ("small", "transformer-en-de", ["--d_model", "128", "--encoder_layers", "4"])
    model, data, _, training = profile_script.recipe_arguments(name, "/data", 5, str(tmp_path), flags)
    assert (model.d_model, model.encoder_layers, model.decoder_layers) == (128, 4, 3)
    assert (data.source_lang, data.target_lang, training.max_steps) == ("en", "de", 5)


@pytest.mark.parametrize(
    "text, message",
    [
        ("transformer-de-en --d_model 128", "LABEL=RECIPE FLAG"),
        ("small=", "LABEL=RECIPE FLAG"),
        ("small=gru --d_model 128", "'gru', which is not a recipe; recipes: transformer-de-en"),
    ],
)
def test_a_malformed_variant_is_refused_naming_the_form(profile_script, text, message, capsys):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        profile_script.parse_variant(text)
    with pytest.raises(SystemExit):
        profile_script.main(["--variant", text])
    assert message in capsys.readouterr().err


def test_a_tiny_variant_is_profiled_under_its_label(profile_script, tiny_recipe, capsys):
    assert profile_script.main(["--recipes", "tiny", "--variant", "wide=tiny --hidden_size 16", "--steps", "2",
                                "--warmup", "1"]) == 0  # fmt: skip
    table = capsys.readouterr().out.split("The forward pass in parts")[0]
    parameters = {
        cells[1].strip(): int(cells[2].replace(",", ""))
        for cells in map(lambda line: line.split("|"), table.splitlines())
        if cells[0] == "" and len(cells) > 3 and cells[1].strip() in ("tiny", "wide")
    }
    assert set(parameters) == {"tiny", "wide"} and parameters["wide"] > parameters["tiny"]
