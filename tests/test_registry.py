"""A family is one row: what the package knows of a family lives in its `Family` row (attnseq/families.py) and in
the family's own configuration and model files; nothing else names a model type or sniffs a config's options."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest
from source_scan import docstring_ids
from transformers import PretrainedConfig

import attnseq
from attnseq.families import FAMILIES, Family

PACKAGE_DIR = Path(attnseq.__file__).parent
# where family knowledge belongs: the registry and each family's own config and model files
OWNERS = ("families.py", "configuration/", "modeling/")
BASE_FIELDS = {f.name for f in dataclasses.fields(PretrainedConfig)}


def app_files() -> list[Path]:
    return [
        path
        for path in sorted(PACKAGE_DIR.rglob("*.py"))
        if not path.relative_to(PACKAGE_DIR).as_posix().startswith(OWNERS)
    ]


def family_only_options() -> set[str]:
    """Config options that some family has and another has not: asking a config for one is asking its family."""
    options = [{f.name for f in dataclasses.fields(family.config_class)} - BASE_FIELDS for family in FAMILIES.values()]
    return set.union(*options) - set.intersection(*options)


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def family_knowledge(source: str) -> list[str]:
    """What `source` says of a particular family: a model type in a string, a family looked up or compared by its
    literal name, or a config asked for a family-only option (`getattr`/`hasattr`, `"option" in ...`)."""
    model_types = {family.model_type for family in FAMILIES.values()}
    names, only = set(FAMILIES), family_only_options()
    tree = ast.parse(source)
    docstrings = docstring_ids(tree)
    found = []
    for node in ast.walk(tree):
        where = f"line {getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            found += [f"{where}: names model type {t!r}" for t in sorted(model_types) if t in node.value]
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and node.slice.value in names:
            found.append(f"{where}: looks up the family {node.slice.value!r} by name")
        elif isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            constants = {o.value for o in operands if isinstance(o, ast.Constant) and isinstance(o.value, str)}
            if constants & names and any(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops):
                found.append(f"{where}: compares with the family name {sorted(constants & names)[0]!r}")
            if constants & only and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops):
                found.append(f"{where}: asks whether a config has {sorted(constants & only)[0]!r}")
        elif isinstance(node, ast.Dict):
            keys = {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
            if keys & names:
                found.append(f"{where}: a table keyed by the family names {sorted(keys & names)}")
        elif isinstance(node, ast.keyword) and isinstance(node.value, ast.Constant) and node.value.value in names:
            found.append(f"{where}: {node.arg}={node.value.value!r} names a family")
        elif isinstance(node, ast.Call) and (_is_name(node.func, "getattr") or _is_name(node.func, "hasattr")):
            option = node.args[1] if len(node.args) > 1 else None
            if isinstance(option, ast.Constant) and option.value in only:
                found.append(f"{where}: {node.func.id}(..., {option.value!r}) sniffs a family-only option")
    return found


@pytest.mark.parametrize("path", app_files(), ids=lambda path: path.relative_to(PACKAGE_DIR).as_posix())
def test_only_the_registry_knows_the_families(path):
    found = family_knowledge(path.read_text(encoding="utf-8"))
    assert not found, f"{path.relative_to(PACKAGE_DIR)}: " + "; ".join(found) + " (put it on the Family row)"


def test_the_scan_finds_each_kind_of_family_knowledge():
    source = '''
"""seq2seq_lstm in a docstring is fine."""
MODEL_TYPE = "seq2seq_transformer"
family = FAMILIES["lstm"]
if model_args.model == "lstm":
    pass
if "share_encoder_decoder_embeddings" in family_options(name):
    pass
heads = getattr(config, "decoder_attention_heads", None)
shared = getattr(config, "vocab_size", None)
DEFAULTS = {"lstm": {"hidden_size": 128}}
model: str = field(default="lstm")
'''
    found = family_knowledge(source)
    lines = ["line 3", "line 4", "line 5", "line 7", "line 9", "line 11", "line 12"]
    assert sorted({line.split(":")[0] for line in found}, key=lambda line: int(line.split()[1])) == lines


def test_every_family_fills_its_row():
    for family in FAMILIES.values():
        options = {f.name for f in dataclasses.fields(family.config_class)}
        assert set(family.train_defaults) <= options, family.name
        assert set(family.separate_vocabulary_options) <= options, family.name
        family.config_class(**family.train_defaults)  # valid options, valid values
        assert isinstance(family, Family) and family.description


def test_the_rows_answer_for_attention_and_serving():
    lstm, transformer = FAMILIES["lstm"], FAMILIES["transformer"]
    assert lstm.no_attention(lstm.config_class(attention="none")) == "`attention='none'`"
    assert lstm.no_attention(lstm.config_class(attention="dot")) is None
    assert lstm.attention_layout(lstm.config_class()) is None
    config = transformer.config_class(decoder_layers=3, decoder_attention_heads=4, d_model=16)
    assert transformer.no_attention(config) is None and transformer.attention_layout(config) == (3, 4)
    assert (lstm.ctranslate2, transformer.ctranslate2) == (False, True) and lstm.int8 and transformer.int8


def test_the_lstm_row_settles_a_bidirectional_encoder():
    settle = FAMILIES["lstm"].settle_options
    assert settle({"hidden_size": 128}, []) == ({}, None)
    changes, note = settle({"hidden_size": 256, "bidirectional_encoder": True}, ["bidirectional_encoder"])
    assert changes == {"reverse_source": False}
    assert "hidden_size 256" in note and "128 each" in note and "off by default" in note
    changes, note = settle({"bidirectional_encoder": True, "reverse_source": True}, ["reverse_source"])
    assert changes == {} and note.endswith("reverse_source=True")
    assert FAMILIES["transformer"].settle_options is None
