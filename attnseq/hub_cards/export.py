"""Export a checkpoint for users without attnseq: a flat folder loadable with `trust_remote_code=True`.

transformers copies a checkpoint's custom code by file name and follows only same-folder imports of
the form ``from .module import Name``. The package's layout (`configuration/lstm.py`,
`modeling/lstm.py`, imports such as ``from ..configuration.lstm import ...``) cannot be shipped as it
is, so the exporter writes every module a family needs into one folder under flat names
(`configuration_seq2seq_lstm.py`, `modeling_seq2seq_lstm.py`, `attention.py`, ...), rewrites the
package-internal imports to same-folder form, and sets `auto_map` in `config.json` (and in
`tokenizer_config.json` for the package's tokenizers). `model_type` is kept, so users who have attnseq
installed still get the package's own classes from the same checkpoint.

The folder is built next to its destination and swapped into place (`attnseq.folders`): a reader never sees it
half written, and an export never replaces a folder it did not write.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import shutil
from pathlib import Path

from ..families import EXPORTED_TOKENIZERS, FAMILIES, family_of
from ..modeling.averaging import TOKENIZER_FILES
from ..version import __version__

PACKAGE = "attnseq"

# Files of a checkpoint folder that are copied into an export; anything else (optimizer state, pickled
# training arguments, checkpoint-* folders, old exported code) stays behind.
CHECKPOINT_FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors.index.json",
    *TOKENIZER_FILES,
    "trainer_state.json",
    "test_results.json",
    "attnseq_training.json",
    "README.md",
)
CHECKPOINT_SUFFIXES = (".safetensors", ".png")


class ExportError(ValueError):
    """The package's code or the checkpoint cannot be exported as a flat remote-code folder."""


def _module_file(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        raise ExportError(f"Cannot find the source file of module {module!r}.")
    return Path(spec.origin)


def _is_package(module: str) -> bool:
    return _module_file(module).name == "__init__.py"


def _internal_target(node: ast.ImportFrom | ast.Import, module: str) -> str | None:
    """The package module an import statement refers to, or `None` for an import from outside the package."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                raise ExportError(
                    f"{module} line {node.lineno}: `import {alias.name}` cannot be flattened; use "
                    "`from .module import Name` (relative) imports inside the package."
                )
        return None
    if node.level == 0:
        name = node.module or ""
        return name if name == PACKAGE or name.startswith(PACKAGE + ".") else None
    package = module.rpartition(".")[0]
    return importlib.util.resolve_name("." * node.level + (node.module or ""), package)


def rewrite_imports(module: str, source: str, flat_name) -> tuple[str, list[str]]:
    """Rewrite the package-internal imports of `module`'s source to same-folder form.

    `flat_name(target_module)` gives the flat module name (without `.py`) of an internal module.
    Returns the new source and the internal modules it imports.
    """
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    replacements, targets = [], []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        target = _internal_target(node, module)
        if target is None:
            continue
        where = f"{module} line {node.lineno}"
        if target == PACKAGE or _is_package(target):
            raise ExportError(
                f"{where}: importing from the package {target!r} cannot be flattened; import the names from the "
                "module that defines them (e.g. `from .attention import masked_softmax`)."
            )
        first, last = lines[node.lineno - 1], lines[node.end_lineno - 1]
        if first[: node.col_offset].strip() or last[node.end_col_offset :].split("#")[0].strip():
            raise ExportError(f"{where}: put the import on lines of its own to export it.")
        names = ", ".join(
            alias.name if alias.asname is None else f"{alias.name} as {alias.asname}" for alias in node.names
        )
        statement = f"{first[: node.col_offset]}from .{flat_name(target)} import {names}\n"
        replacements.append((node.lineno - 1, node.end_lineno, statement))
        targets.append(target)
    for start, end, statement in sorted(replacements, reverse=True):
        lines[start:end] = [statement]
    return "".join(lines), targets


def flatten_modules(roots: dict[str, str]) -> dict[str, str]:
    """Source of every module needed by `roots` (module -> flat file name), under flat names.

    Modules imported by the roots (transitively) keep their own file name (`attention.py`); two
    modules that would share a flat name are an `ExportError`.

    Returns:
        flat file name -> rewritten source.
    """
    names = dict(roots)

    def flat_name(target: str) -> str:
        if target not in names:
            names[target] = target.rpartition(".")[2] + ".py"
        return names[target][: -len(".py")]

    files: dict[str, str] = {}
    owners: dict[str, str] = {}
    pending = list(roots)
    while pending:
        module = pending.pop()
        file_name = names[module]
        if file_name in owners:
            if owners[file_name] != module:
                raise ExportError(
                    f"{owners[file_name]} and {module} would both be exported as {file_name}; give one of them "
                    "an entry with its own flat name."
                )
            continue
        owners[file_name] = module
        source, imported = rewrite_imports(module, _module_file(module).read_text(encoding="utf-8"), flat_name)
        header = (
            f"# Exported from {module} (attnseq {__version__}) for loading with trust_remote_code=True.\n"
            "# With attnseq installed, the package's own classes load this checkpoint without remote code.\n"
        )
        files[file_name] = header + source
        pending.extend(target for target in imported if names[target] not in owners)
    for file_name, source in files.items():
        for node in ast.walk(ast.parse(source)):
            absolute = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [getattr(node, "module", None) or ""]
            )
            if isinstance(node, ast.ImportFrom) and (node.level > 1 or (node.level == 1 and not node.module)):
                raise ExportError(f"{file_name} line {node.lineno}: only `from .module import Name` is followed.")
            if (
                isinstance(node, (ast.Import, ast.ImportFrom))
                and getattr(node, "level", 0) == 0
                and any(name == PACKAGE or name.startswith(PACKAGE + ".") for name in absolute)
            ):
                raise ExportError(f"{file_name} line {node.lineno} still imports from {PACKAGE} after flattening.")
    return files


def copy_checkpoint(source: Path, destination: Path, link: bool = False) -> None:
    """Copy the checkpoint files of `source` (config, safetensors weights, tokenizer files, generation
    config, card and pictures) into the folder `destination`; with `link`, hard-link them where possible
    (for a short-lived staging copy). The code files of an exported checkpoint come along.

    Raises `ExportError` without safetensors weights or config.json.
    """
    suffixes = CHECKPOINT_SUFFIXES
    config = source / "config.json"
    if config.is_file() and "auto_map" in json.loads(config.read_text(encoding="utf-8")):
        suffixes += (".py",)  # an exported checkpoint carries its model code
    # config.json last: a copy cut short has none, so nothing loads it
    for entry in sorted(source.iterdir(), key=lambda entry: (entry.name == "config.json", entry.name)):
        if entry.is_file() and (entry.name in CHECKPOINT_FILES or entry.name.endswith(suffixes)):
            if link:
                try:
                    os.link(entry, destination / entry.name)
                    continue
                except OSError:
                    pass
            shutil.copy2(entry, destination / entry.name)
    if not any(destination.glob("*.safetensors")):
        pickles = sorted(path.name for path in source.glob("*.bin"))
        detail = f" (it holds {', '.join(pickles)}, a pickle format that attnseq never loads)" if pickles else ""
        raise ExportError(f"{source} has no safetensors weights to export{detail}.")
    if not (destination / "config.json").is_file():
        raise ExportError(f"{source} has no config.json; is it a saved model folder?")


def _update_json(path: Path, update) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    update(data)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _write_code(folder: Path) -> list[str]:
    """Write the flat code files for the checkpoint in `folder` and set `auto_map`; returns the file names."""
    config_path = folder / "config.json"
    model_type = json.loads(config_path.read_text(encoding="utf-8")).get("model_type")
    family = family_of(model_type)
    roots = {family.config_module: family.config_file, family.modeling_module: family.modeling_file}
    tokenizer_config = folder / "tokenizer_config.json"
    tokenizer = None
    if tokenizer_config.is_file():
        tokenizer_class_name = json.loads(tokenizer_config.read_text(encoding="utf-8")).get("tokenizer_class")
        tokenizer = EXPORTED_TOKENIZERS.get(tokenizer_class_name)
        if tokenizer is not None:
            tokenizer_class, tokenizer_file = tokenizer
            roots[tokenizer_class.__module__] = tokenizer_file
    files = flatten_modules(roots)
    for file_name, source in files.items():
        (folder / file_name).write_text(source, encoding="utf-8")

    config_stem, modeling_stem = family.config_file[:-3], family.modeling_file[:-3]

    def set_model_auto_map(config: dict) -> None:
        config["auto_map"] = {
            "AutoConfig": f"{config_stem}.{family.config_class.__name__}",
            "AutoModel": f"{modeling_stem}.{family.base_model_class.__name__}",
            "AutoModelForSeq2SeqLM": f"{modeling_stem}.{family.generation_class.__name__}",
        }
        config["model_type"] = family.model_type

    _update_json(config_path, set_model_auto_map)
    if tokenizer is not None:
        _update_json(
            tokenizer_config,
            lambda data: data.update(
                auto_map={"AutoTokenizer": [f"{tokenizer_file[:-3]}.{tokenizer_class.__name__}", None]}
            ),
        )
    return sorted(files)


def export_for_remote_code(checkpoint_folder_or_model, out_folder, tokenizer=None, *, overwrite: bool = False) -> Path:
    """Write a checkpoint that loads with `trust_remote_code=True` where attnseq is not installed.

    Args:
        checkpoint_folder_or_model: a saved checkpoint folder (config.json + safetensors weights, optionally
            tokenizer files, generation config, model card) or an attnseq model object.
        out_folder: the folder to write: new or empty, or (with `overwrite`) an earlier export, which is replaced
            whole. It may not hold the checkpoint or the current directory (`attnseq.folders`).
        tokenizer: with a model object, a tokenizer to save alongside it.
        overwrite: replace an earlier export in `out_folder` (one that holds only the files that export wrote).

    Returns:
        The path of the written folder, holding the checkpoint files, the flat code files, `auto_map` and the
        export marker `attnseq_export.json`.

    Raises:
        FolderRefused: `out_folder` may not be written (nothing was touched).
        ExportError: no safetensors weights, an unknown `model_type`, or code that cannot be flattened.
    """
    from ..folders import check_export_folder, export_folder

    is_folder = isinstance(checkpoint_folder_or_model, (str, os.PathLike))
    inputs = [checkpoint_folder_or_model] if is_folder else []
    out = check_export_folder(out_folder, inputs=inputs, overwrite=overwrite, command="--overwrite")
    if is_folder and not Path(checkpoint_folder_or_model).is_dir():
        raise ExportError(f"{checkpoint_folder_or_model} is not a checkpoint folder.")
    source = str(Path(checkpoint_folder_or_model).absolute()) if is_folder else None
    with export_folder(out, export_format="remote_code", source=source) as build:
        if is_folder:
            copy_checkpoint(Path(checkpoint_folder_or_model), build)
        else:
            model_type = getattr(getattr(checkpoint_folder_or_model, "config", None), "model_type", None)
            family_of(model_type)
            checkpoint_folder_or_model.save_pretrained(build)
            if tokenizer is not None:
                tokenizer.save_pretrained(build)
        _write_code(build)
        from .card import CARD_NAME, is_attnseq_card, update_card_for_remote_code

        if (build / CARD_NAME).is_file() and is_attnseq_card(build / CARD_NAME):
            update_card_for_remote_code(build)
    return out


__all__ = ["FAMILIES", "ExportError", "copy_checkpoint", "export_for_remote_code", "flatten_modules"]
