"""The Multi30k recipes of benchmarks/multi30k/ are files `attnseq train` reads: each must parse, name data files that
exist, be profiled by multi30k/profile.py, and a recipe's two directions must differ only in their sides."""

from pathlib import Path

import pytest
import yaml
from benchmark_scripts import BENCHMARKS, load_benchmark

from attnseq.training.cli import parse_train_arguments

RECIPE_DIR = BENCHMARKS / "multi30k"
ROOT = BENCHMARKS.parent
RECIPE_FILES = sorted(RECIPE_DIR.glob("*.yaml"))
SIDES = ("source", "target")


def read_recipe(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_the_recipes_are_found():
    assert {path.name for path in RECIPE_FILES} >= {
        "transformer.yaml",
        "lstm.yaml",
        "transformer-tiny.yaml",
        "transformer-tiny-en-de.yaml",
        "gru-attentional.yaml",
    }


@pytest.mark.parametrize("recipe", RECIPE_FILES, ids=lambda path: path.name)
def test_each_recipe_parses_and_names_files_that_exist(recipe, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # the recipes name their data relative to the repository root
    model, data, run, training = parse_train_arguments([str(recipe), "--output_dir", str(tmp_path)])
    options = read_recipe(recipe)
    assert model.model == options["model"] and training.num_train_epochs == options["num_train_epochs"]
    assert run.max_train_minutes == options["max_train_minutes"]
    files = [getattr(data, name) for name in options if name.endswith("_file")]
    assert len(files) == 6
    if not (ROOT.parent / "shared" / "data" / "multi30k").is_dir():
        pytest.skip("the Multi30k files are not beside this checkout")
    assert [name for name in files if not Path(name).is_file()] == []


def test_every_recipe_file_is_profiled():
    profile = load_benchmark("multi30k/profile.py", "multi30k_profile_recipes")
    assert {path.name for path in RECIPE_FILES} == {recipe for recipe, _ in profile.RECIPES.values()}


def test_transformer_tiny_english_to_german_is_the_german_to_english_recipe_with_its_sides_swapped():
    german_english = read_recipe(RECIPE_DIR / "transformer-tiny.yaml")
    english_german = read_recipe(RECIPE_DIR / "transformer-tiny-en-de.yaml")
    assert (german_english["source_lang"], german_english["target_lang"]) == ("de", "en")
    swapped = dict(german_english, source_lang="en", target_lang="de")
    for prefix in ("", "validation_", "test_"):
        source, target = (f"{prefix}{side}_file" for side in SIDES)
        swapped[source], swapped[target] = german_english[target], german_english[source]
    swapped["output_dir"] = german_english["output_dir"].replace("de-en", "en-de")
    assert english_german == swapped
