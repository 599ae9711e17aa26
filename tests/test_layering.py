"""The import graph of attnseq, read from the source: no cycles, and every arrow points down the floors of
DESIGN.md's layout (configuration < modeling, tokenization < families < data < {training, serving, hub_cards}
< the command line), with the three apps never importing each other.

Every import counts, wherever it sits (module level, inside a function, under `TYPE_CHECKING`), and so do
dynamic ones: `importlib.import_module("attnseq.x")`, `__import__("attnseq.x")`, and any string that names an
attnseq module (`("attnseq.training.cli", "train_command")` in a table read by `import_module`).
"""

from __future__ import annotations

import ast
from pathlib import Path

from source_scan import docstring_ids

import attnseq

PACKAGE_DIR = Path(attnseq.__file__).parent
ROOT = "attnseq"

# What each top-level module or subpackage of attnseq may build on: an arrow goes only to a lower floor (or stays
# within its own subpackage). `atomic`, `flags` and `version` are base utilities everyone may use; `folders` (the
# folder policy of the commands) builds on `atomic`'s durable writes.
FLOORS = {
    "atomic": 0,
    "folders": 1,
    "flags": 0,
    "version": 0,
    "configuration": 1,
    "modeling": 2,
    "tokenization": 2,
    "families": 3,
    "data": 4,
    "training": 5,
    "serving": 5,
    "hub_cards": 5,
    "cli": 6,
    "__main__": 7,
    ROOT: 6,  # the package itself: public names, Auto* registration and the hooks it installs
}


def module_name(path: Path, package_dir: Path) -> str:
    parts = [ROOT, *path.relative_to(package_dir).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(package_dir: Path) -> dict[str, Path]:
    return {module_name(path, package_dir): path for path in sorted(package_dir.rglob("*.py"))}


def imported_names(name: str, path: Path, known: set[str]) -> set[str]:
    """Every module name `name` (the module at `path`) imports, statically or dynamically, as written."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    docstrings = docstring_ids(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            # `from .pkg import module` imports the module; `from .module import Name` the module alone
            found.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            # import_module("attnseq.x"), __import__("attnseq.x"), find_spec(...), or a table of module names
            if node.value in known or node.value.startswith(ROOT + "."):
                found.add(node.value)
    return found


def import_graph(package_dir: Path = PACKAGE_DIR) -> dict[str, set[str]]:
    """module -> the attnseq modules importing it runs: each one named, and the package `__init__` above it
    when it lies in another subpackage (importing `attnseq.hub_cards.push` runs `attnseq/hub_cards/__init__.py`).
    The package root, which every import runs first, is left out."""
    known = modules(package_dir)
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        edges = set()
        for target in imported_names(name, path, set(known)):
            while target and target not in known:
                target = target.rpartition(".")[0]  # `from attnseq.x.y import Name` -> the module attnseq.x.y
            if not target or target in (ROOT, name):
                continue
            edges.add(target)
            parent = target.rpartition(".")[0]
            while parent not in ("", ROOT) and not (name + ".").startswith(parent + "."):
                edges.add(parent)
                parent = parent.rpartition(".")[0]
        graph[name] = edges
    return graph


def group_of(module: str) -> str:
    return module.split(".")[1] if module != ROOT else ROOT


def upward_imports(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    """The arrows that do not point to a lower floor (sideways between apps counts as upward)."""
    bad = set()
    for importer, targets in graph.items():
        for target in targets:
            source_group, target_group = group_of(importer), group_of(target)
            if source_group != target_group and FLOORS[target_group] >= FLOORS[source_group]:
                bad.add((importer, target))
    return bad


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph` as `[a, b, ..., a]`, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


GRAPH = import_graph()


def test_every_part_of_the_package_has_a_floor():
    assert {group_of(module) for module in GRAPH} <= set(FLOORS), "give a new top-level module a floor in FLOORS"


def test_the_import_graph_has_no_cycle():
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_module_imports_upward_or_across_apps():
    unexpected = sorted(upward_imports(GRAPH))
    assert not unexpected, "upward or sideways imports: " + ", ".join(f"{a} -> {b}" for a, b in unexpected)


def test_the_apps_read_their_data_from_the_data_layer():
    """Training and decoding (`generate`, `evaluate`) read pairs and metrics through `attnseq.data`; the run
    record that training writes and the card reads lives there too."""
    users = {
        group_of(importer)
        for importer, targets in GRAPH.items()
        for target in targets
        if target == ROOT + ".data.loading"
    }
    assert {"training", "serving"} <= users
    assert ROOT + ".data.run_record" in GRAPH[ROOT + ".training.record"]
    assert ROOT + ".data.run_record" in GRAPH[ROOT + ".hub_cards.card"]


def test_models_reach_the_card_writer_only_through_the_hook():
    """The edge that made the 7-module circle families -> modeling -> loading -> hub_cards -> card -> families."""
    assert not {target for target in GRAPH["attnseq.modeling.loading"] if group_of(target) == "hub_cards"}


def test_the_reader_sees_dynamic_imports_and_finds_cycles(tmp_path):
    sources = {
        "__init__.py": "",
        "families.py": "from .modeling.loading import x\n",
        "modeling/__init__.py": '"""attnseq.hub_cards in a docstring is no import."""\n',
        "modeling/loading.py": (
            "import importlib\n\n\ndef push():\n    return importlib.import_module('attnseq.hub_cards.push')\n"
        ),
        "hub_cards/__init__.py": "",
        "hub_cards/push.py": "from ..families import FAMILIES\n",
        "cli.py": 'COMMANDS = {"train": ("attnseq.training.cli", "main")}\n',
        "training/__init__.py": "",
        "training/cli.py": "x = __import__('attnseq.serving')\n",
        "serving/__init__.py": "",
    }
    for relative, text in sources.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text, encoding="utf-8")
    graph = import_graph(tmp_path)
    assert graph["attnseq.modeling.loading"] == {"attnseq.hub_cards.push", "attnseq.hub_cards"}
    assert graph["attnseq.modeling"] == set()
    assert graph["attnseq.cli"] == {"attnseq.training.cli", "attnseq.training"}
    assert find_cycle(graph) == [
        "attnseq.families",
        "attnseq.modeling.loading",
        "attnseq.hub_cards.push",
        "attnseq.families",
    ]
    assert upward_imports(graph) == {
        ("attnseq.modeling.loading", "attnseq.hub_cards.push"),
        ("attnseq.modeling.loading", "attnseq.hub_cards"),
        ("attnseq.training.cli", "attnseq.serving"),
    }
