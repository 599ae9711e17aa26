"""Model cards for attnseq checkpoints, written with huggingface_hub's `ModelCard` and `ModelCardData`.

A card has YAML metadata the Hub indexes (`library_name`, `tags` with `attnseq` and the family,
`datasets` (Hub dataset ids only), `base_model` of a fine-tuned checkpoint, `metrics`, `license`, `model-index`
with the evaluation results) and a body:
the architecture (family, every option that differs from the default, parameter count), the training
hyperparameters and results table (from the arguments or the folder's `trainer_state.json`, parsed
with transformers' own Trainer-card helpers), the checkpoints averaged into the weights (where they are a
mean), an attention heatmap of one example (a PNG next to the card), and a usage snippet that runs as it stands.

Everything the card says comes from the folder (`config.json`, the weights, tokenizer files,
`trainer_state.json`, `test_results.json`, and `attnseq_training.json`, which `attnseq train` writes: the data
set, the example, the configured hyperparameters, the checkpoint it started from and the checkpoints averaged
into the weights), so every path that
writes a card gives the same card; arguments of `write_model_card` override what the folder says.

The card is written to a temporary file in the folder and renamed over `README.md`, so a reader never
sees half a card.
"""

from __future__ import annotations

import inspect
import json
import re
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ..atomic import replaced_file
from ..data.run_record import read_json, read_run_info, write_run_info
from ..families import Family, family_of
from ..folders import FolderRefused
from ..tokenization.pair import target_tokens_to_ids
from ..version import __version__
from .attention_map import DEFAULT_MAX_NEW_TOKENS, attention_matrix, describe_attention, write_attention_heatmap

CARD_NAME = "README.md"
HEATMAP_NAME = "attention_heatmap.png"
MARKER = "<!-- written by attnseq -->"
USAGE_START = "<!-- attnseq:usage -->"
USAGE_END = "<!-- /attnseq:usage -->"
# The Hub task of the `model-index` results. No `pipeline_tag` is set: transformers 5 has no pipeline for
# encoder-decoder text generation (`text2text-generation` is gone), so the Hub could not run one.
TASK_TYPE = "text-generation"
TEST_RESULTS_NAME = "test_results.json"
# The `model-index` dataset type of data that is not a Hub dataset (a built-in task, a local file).
UNKNOWN_DATASET = "unknown"

# Keys of an evaluation log that are bookkeeping, not results.
_NOT_METRICS = {
    "runtime",
    "samples_per_second",
    "steps_per_second",
    "minutes",
    "epoch",
    "step",
    "total_flos",
    "num_beams",
    "length_penalty",
}
# trainer_state.json fields that describe the training run.
_STATE_HYPERPARAMETERS = (
    "train_batch_size",
    "num_train_epochs",
    "max_steps",
    "global_step",
    "logging_steps",
    "eval_steps",
    "save_steps",
)


def _read_log_history(folder: Path) -> list[dict] | None:
    path = folder / "trainer_state.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("log_history") or []
    except ValueError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error


def _state_hyperparameters(folder: Path) -> dict:
    path = folder / "trainer_state.json"
    if not path.is_file():
        return {}
    state = json.loads(path.read_text(encoding="utf-8"))
    found = {key: state[key] for key in _STATE_HYPERPARAMETERS if state.get(key) not in (None, 0)}
    rates = [entry["learning_rate"] for entry in state.get("log_history", []) if "learning_rate" in entry]
    if rates:
        found["learning_rate (first logged)"] = rates[0]
    return found


def _clean_metrics(metrics: dict) -> tuple[dict[str, float], str]:
    """`{"eval_bleu": 31.2, "eval_runtime": 2.0}` -> `({"bleu": 31.2}, "validation")`: results only, the
    prefix dropped and turned into the split (`test_` -> test, otherwise validation)."""
    cleaned = {}
    split = "test" if any(key.startswith("test_") for key in metrics) else "validation"
    for key, value in metrics.items():
        name = re.sub(r"^(eval|test|validation)_", "", key)
        if name not in _NOT_METRICS and isinstance(value, (int, float)) and not isinstance(value, bool):
            cleaned[name] = value
    return cleaned, split


def non_default_options(config) -> list[tuple[str, object, object]]:
    """`(option, value, default)` for every option of the family's config class that differs from its default."""
    defaults = type(config)()
    rows = []
    for name in inspect.get_annotations(type(config)):
        if name.startswith("_") or not hasattr(defaults, name):
            continue
        value, default = getattr(config, name, None), getattr(defaults, name)
        if value != default:
            rows.append((name, value, default))
    return rows


def _markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _example_source(example) -> tuple[str | None, str | None]:
    if example is None:
        return None, None
    if isinstance(example, str):
        return example, None
    if isinstance(example, dict):
        return example.get("source"), example.get("target")
    source, target = example
    return source, target


# --- the facts ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttentionMap:
    """The decoder-to-encoder attention of one example, as the card's heatmap shows it.

    `weights` is an (output tokens x source tokens) array of attention weights; `heads` says which attention it
    is for a model of layers of heads (`"decoder layer 2 of 2, mean of 4 heads"`), else None.
    """

    source: str
    target: str | None
    output_text: str
    source_tokens: list[str]
    output_tokens: list[str]
    weights: object
    heads: str | None

    @property
    def title(self) -> str:
        return "decoder-to-encoder attention" + (f" ({self.heads})" if self.heads else "")


@dataclass(frozen=True)
class CardFacts:
    """Everything a card says, gathered from a checkpoint folder and the caller's arguments: plain data, from
    which `render_card` writes the text.

    `attention` is the heatmap's data, or the sentence that says why there is none. The usage snippet loads
    `checkpoint` and encodes `example_source` with the tokenizer, or feeds `input_ids` without one. `averaged_from`
    names the checkpoints of which the weights are the element-wise mean (None: weights of one training state).
    """

    name: str
    family: Family
    options: list[tuple[str, object, object]]  # (option, value, default) where the config differs from defaults
    vocabulary_sizes: tuple[int, int] | None  # (source, target) of a model with a separate target vocabulary
    num_parameters: int
    hyperparameters: dict
    log_history: list[dict] | None
    metrics: dict[str, float]
    split: str
    signatures: dict[str, str]  # metric -> sacrebleu signature
    dataset_name: str | None
    hub_dataset: str | None
    base_model: str | None
    license: str | None
    language: str | list[str] | None
    tags: list[str]
    attention: AttentionMap | str
    checkpoint: str
    example_source: str | None
    input_ids: list[int] | None
    max_new_tokens: int
    version: str = __version__
    averaged_from: list[str] | None = None  # the checkpoints whose weights these are the mean of
    averaging: str | None = None  # how they were chosen ("the last 2 checkpoints of the run")

    @property
    def hub_base_model(self) -> str | None:
        """The base model if it is a Hub repo id (not a local folder)."""
        return self.base_model if self.base_model and not Path(self.base_model).exists() else None


# --- gathering ----------------------------------------------------------------------------------------


def _load_checkpoint(folder: Path, model, tokenizer):
    """`(model, tokenizer)` of the checkpoint in `folder`: the given ones, else loaded from it (no tokenizer
    without tokenizer files)."""
    from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer

    if model is None:
        family_of(AutoConfig.from_pretrained(folder).model_type)  # names the known families for a foreign folder
        model = AutoModelForSeq2SeqLM.from_pretrained(folder)
    if tokenizer is None and (folder / "tokenizer_config.json").is_file():
        tokenizer = AutoTokenizer.from_pretrained(folder)
    return model, tokenizer


def _results(folder: Path, metrics: dict | None, log_history: list[dict] | None):
    """`(metrics, split, signatures)`: the given results, else the folder's test results, else the last
    evaluation of the log; runtimes dropped and the sacrebleu signatures set apart."""
    if metrics is None:
        metrics = read_json(folder / TEST_RESULTS_NAME)
    if metrics is None and log_history:
        evaluations = [entry for entry in log_history if "eval_loss" in entry]
        metrics = evaluations[-1] if evaluations else {}
    signatures = {
        key.rsplit("_signature", 1)[0].split("_", 1)[-1]: value
        for key, value in (metrics or {}).items()
        if key.endswith("_signature") and isinstance(value, str)
    }
    cleaned, split = _clean_metrics(metrics or {})
    return cleaned, split, signatures


def _attention_facts(family: Family, model, tokenizer, example, max_new_tokens: int) -> AttentionMap | str:
    """The attention map of `example`, or the sentence that says why the card has none."""
    source, target = _example_source(example)
    no_attention = family.no_attention(model.config)
    if no_attention is not None:
        return f"This model has no attention ({no_attention}), so there is no attention map to show."
    if source is None:
        return "No example was given, so no attention map was drawn (pass `example=` or `--example`)."
    if tokenizer is None:
        return "No tokenizer came with this checkpoint, so the example could not be encoded."
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return "matplotlib is not installed, so no attention map was drawn (`pip install attnseq[plot]`)."
    found = attention_matrix(model, tokenizer, source, max_new_tokens)
    if found is None:
        return "The model returned no cross-attention weights, so there is no attention map to show."
    source_tokens, output_tokens, weights = found
    output_text = tokenizer.decode(target_tokens_to_ids(tokenizer, output_tokens), skip_special_tokens=True)
    heads = describe_attention(model.config) if family.attention_layout(model.config) else None
    return AttentionMap(source, target, output_text, source_tokens, output_tokens, weights, heads)


def _default_example(tokenizer, config) -> tuple[str | None, list[int] | None]:
    if tokenizer is None:
        special = {config.pad_token_id, config.bos_token_id, config.eos_token_id, config.decoder_start_token_id}
        ids = [i for i in range(config.vocab_size) if i not in special][:4]
        return None, ids + [config.eos_token_id]
    special = set(tokenizer.all_special_tokens)
    tokens = [
        token
        for token, _ in sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
        if token not in special and len(token) == 1 and token.isprintable()
    ]
    return "".join(tokens[:5]), None


def gather_card_facts(
    folder,
    *,
    model=None,
    tokenizer=None,
    repo_id: str | None = None,
    model_name: str | None = None,
    dataset: str | None = None,
    license: str | None = "mit",  # noqa: A002 - the metadata key
    language: str | list[str] | None = None,
    tags: list[str] | tuple[str, ...] = (),
    metrics: dict | None = None,
    hyperparameters: dict | None = None,
    log_history: list[dict] | None = None,
    example=None,
    max_new_tokens: int | None = None,
) -> CardFacts:
    """What the card of the checkpoint in `folder` says: the arguments of `write_model_card` over what the folder
    holds (`attnseq_training.json`, `trainer_state.json`, `test_results.json`). Reads, and runs the model on the
    example for the attention map; writes nothing."""
    folder = Path(folder)
    model, tokenizer = _load_checkpoint(folder, model, tokenizer)
    config, family = model.config, family_of(model.config.model_type)
    run = read_run_info(folder)
    log_history = _read_log_history(folder) if log_history is None else log_history
    metrics, split, signatures = _results(folder, metrics, log_history)
    recorded = run.get("dataset") or {}
    hub_dataset, dataset_name = (
        (dataset, dataset) if dataset is not None else (recorded.get("hub_id"), recorded.get("name"))
    )
    example = run.get("example") if example is None else example
    averaged = run.get("averaged") or {}
    max_new_tokens = max_new_tokens or DEFAULT_MAX_NEW_TOKENS
    default_source, input_ids = _default_example(tokenizer, config)
    return CardFacts(
        name=model_name or (repo_id.split("/")[-1] if repo_id else folder.absolute().name),
        family=family,
        options=non_default_options(config),
        vocabulary_sizes=(config.vocab_size, config.target_vocab_size) if config.separate_vocabularies else None,
        num_parameters=model.num_parameters(),
        hyperparameters=(run.get("hyperparameters") or _state_hyperparameters(folder))
        if hyperparameters is None
        else hyperparameters,
        log_history=log_history,
        metrics=metrics,
        split=split,
        signatures=signatures,
        dataset_name=dataset_name,
        hub_dataset=hub_dataset,
        base_model=run.get("base_model"),
        license=license,
        language=run.get("language") if language is None else language,
        tags=list(dict.fromkeys(["attnseq", family.model_type, "seq2seq", *tags])),
        attention=_attention_facts(family, model, tokenizer, example, max_new_tokens),
        checkpoint=repo_id or f"path/to/{folder.absolute().name}",
        example_source=_example_source(example)[0] or default_source,
        input_ids=input_ids,
        max_new_tokens=max_new_tokens,
        averaged_from=list(averaged.get("checkpoints") or []) or None,
        averaging=averaged.get("selection"),
    )


# --- rendering ----------------------------------------------------------------------------------------


def _architecture_section(facts: CardFacts) -> str:
    family = facts.family
    parts = [
        "## Architecture",
        "",
        f"- Family: {family.description} (`model_type: {family.model_type}`, `{family.generation_class.__name__}`)",
    ]
    if facts.vocabulary_sizes is not None:
        source, target = facts.vocabulary_sizes
        parts.append(
            f"- Vocabularies: separate, source {source:,} tokens (`vocab_size`), target "
            f"{target:,} tokens (`decoder_vocab_size`); the tokenizer encodes `text` with the "
            "source vocabulary and `text_target` with the target vocabulary, and decodes with the target vocabulary"
        )
    parts += [f"- Parameters: {facts.num_parameters:,}", ""]
    if facts.options:
        rows = [[f"`{n}`", f"`{v!r}`", f"`{d!r}`"] for n, v, d in facts.options]
        parts += [
            "Options that differ from the defaults of `" + family.config_class.__name__ + "`:",
            "",
            _markdown_table(["option", "value", "default"], rows),
        ]
    else:
        parts.append(f"All options have the defaults of `{family.config_class.__name__}`.")
    return "\n".join(parts)


def _training_section(hyperparameters: dict, log_history: list[dict] | None) -> str:
    from transformers.modelcard import make_markdown_table, parse_log_history

    parts = ["## Training", ""]
    if hyperparameters:
        parts += ["### Training hyperparameters", ""]
        parts += [f"- {key}: {value}" for key, value in hyperparameters.items()]
        parts.append("")
    # the same column order whether the log comes from the Trainer or from trainer_state.json (keys sorted):
    # the loss columns first, as transformers orders them, then the metrics by name
    first = ("loss", "epoch", "step", "eval_loss")

    def ordered(entry: dict) -> dict:
        return dict(sorted(entry.items(), key=lambda item: (first.index(item[0]) if item[0] in first else 4, item[0])))

    lines = parse_log_history([ordered(entry) for entry in log_history])[1] if log_history else None
    if lines:
        parts += ["### Training results", "", make_markdown_table(lines).strip()]
    else:
        parts.append("No training log (`trainer_state.json`) came with this checkpoint.")
    return "\n".join(parts)


def _averaging_section(checkpoints: list[str] | None, selection: str | None) -> str | None:
    """The card's note that the weights are a mean of checkpoints, naming them; None for weights of one state."""
    if not checkpoints:
        return None
    how = f" ({selection})" if selection else ""
    names = ", ".join(f"`{name}`" for name in checkpoints)
    return (
        "## Checkpoint averaging\n\n"
        f"The weights are the element-wise mean of the weights of {len(checkpoints)} checkpoints: {names}{how}."
    )


def _dataset_words(name: str, hub_id: str | None) -> str:
    return f"[`{hub_id}`](https://huggingface.co/datasets/{hub_id})" if hub_id else name


def _evaluation_section(
    metrics: dict[str, float], dataset: str | None, split: str, signatures: dict[str, str] | None = None
) -> str:
    if not metrics:
        return "## Evaluation\n\nNo evaluation results were given."
    on = (
        f" on {dataset if dataset.startswith(('the ', 'local')) else f'`{dataset}`'} ({split} split)"
        if dataset
        else f" ({split} split)"
    )
    rows = [[name, f"{value:.4f}" if isinstance(value, float) else value] for name, value in metrics.items()]
    text = f"## Evaluation\n\nResults{on}:\n\n" + _markdown_table(["metric", "value"], rows)
    for metric, signature in (signatures or {}).items():
        if metric in metrics:
            text += f"\n\n{metric} computed by sacrebleu, signature `{signature}`."
    return text


def _attention_section(attention: AttentionMap | str) -> str:
    if isinstance(attention, str):
        return f"## Attention\n\n{attention}"
    reference = f" (reference: `{attention.target}`)" if attention.target is not None else ""
    heads = f" ({attention.heads})" if attention.heads else ""
    lines = [
        "## Attention",
        "",
        f"Decoder-to-encoder attention{heads} while the model turns `{attention.source}` into "
        f"`{attention.output_text}`{reference}:",
        "",
        f"![Attention weights of one example]({HEATMAP_NAME})",
    ]
    return "\n".join(lines)


# --- usage snippet ------------------------------------------------------------------------------------


def _python_string(text: str) -> str:
    """A double-quoted Python string literal for `text` (JSON string syntax is valid Python)."""
    return json.dumps(text, ensure_ascii=False)


def usage_snippet(
    checkpoint: str,
    example_source: str | None,
    input_ids: list[int] | None,
    max_new_tokens: int,
    remote_code: bool = False,
) -> str:
    """Python code that loads the checkpoint and generates; with a tokenizer it encodes `example_source`."""
    trust = ", trust_remote_code=True" if remote_code else ""
    lines = [] if remote_code else ["import attnseq  # registers the attnseq families with transformers' Auto classes"]
    if input_ids is not None:
        lines += [
            "import torch",
            "from transformers import AutoModelForSeq2SeqLM",
            "",
            f"checkpoint = {_python_string(checkpoint)}",
            f"model = AutoModelForSeq2SeqLM.from_pretrained(checkpoint{trust})",
            "",
            f"input_ids = torch.tensor([{input_ids!r}])",
            f"output_ids = model.generate(input_ids=input_ids, max_new_tokens={max_new_tokens})",
            "print(output_ids.tolist())",
        ]
    else:
        lines += [
            "from transformers import AutoModelForSeq2SeqLM, AutoTokenizer",
            "",
            f"checkpoint = {_python_string(checkpoint)}",
            f"tokenizer = AutoTokenizer.from_pretrained(checkpoint{trust})",
            f"model = AutoModelForSeq2SeqLM.from_pretrained(checkpoint{trust})",
            "",
            f'inputs = tokenizer([{_python_string(example_source)}], return_tensors="pt")',
            f"output_ids = model.generate(**inputs, max_new_tokens={max_new_tokens})",
            "print(tokenizer.batch_decode(output_ids, skip_special_tokens=True))",
        ]
    return "\n".join(lines)


def _usage_section(code: str, remote_code: bool) -> str:
    if remote_code:
        intro = (
            "This checkpoint carries its model code, so transformers alone loads it (`trust_remote_code=True`, "
            f"after reading the `.py` files). With attnseq {__version__} installed, `import attnseq` first and "
            "leave `trust_remote_code` out to use the package's own classes."
        )
    else:
        intro = (
            f"Needs attnseq {__version__}, the package that made this checkpoint (it is not on the Python "
            "Package Index yet: install it from its source with `pip install .` in a checkout of that version); "
            "importing it registers the model with transformers' Auto classes. Without attnseq, use a copy "
            "of this checkpoint that carries its code (`attnseq push FOLDER REPO --remote_code`), which "
            "loads with transformers alone and `trust_remote_code=True`."
        )
    return f"{USAGE_START}\n## Usage\n\n{intro}\n\n```python\n{code}\n```\n{USAGE_END}"


def extract_usage_snippet(card_text: str) -> str:
    """The Python code of the usage section of a card written by attnseq."""
    match = re.search(
        re.escape(USAGE_START) + r"[\s\S]*?```python\n([\s\S]*?)\n```[\s\S]*?" + re.escape(USAGE_END), card_text
    )
    if match is None:
        raise ValueError("The card has no attnseq usage section.")
    return match.group(1)


def _card_data(facts: CardFacts) -> ModelCardData:
    """The card's YAML metadata: library, license, tags, data, base model and the `model-index` results."""
    eval_results = None
    if facts.metrics and facts.dataset_name:
        eval_results = [
            EvalResult(
                task_type=TASK_TYPE,
                task_name="Sequence-to-sequence generation",
                dataset_type=facts.hub_dataset or UNKNOWN_DATASET,
                dataset_name=facts.dataset_name,
                dataset_split=facts.split,
                metric_type=metric,
                metric_name=metric.replace("_", " "),
                metric_value=value,
                metric_args={"signature": facts.signatures[metric]} if metric in facts.signatures else None,
            )
            for metric, value in facts.metrics.items()
        ]
    return ModelCardData(
        library_name="attnseq",
        license=facts.license,
        language=facts.language,
        tags=facts.tags,
        datasets=[facts.hub_dataset] if facts.hub_dataset else None,
        metrics=[metric for metric in facts.metrics if metric != "loss"] or None,
        base_model=facts.hub_base_model,
        base_model_relation="finetune" if facts.hub_base_model else None,
        model_name=facts.name if eval_results else None,
        eval_results=eval_results,
    )


def _summary(facts: CardFacts) -> str:
    trained_on = f" trained on {_dataset_words(facts.dataset_name, facts.hub_dataset)}" if facts.dataset_name else ""
    tuned = ""
    if facts.base_model:
        tuned = (
            f" Fine-tuned from [`{facts.base_model}`](https://huggingface.co/{facts.base_model})."
            if facts.hub_base_model
            else f" Fine-tuned from the local checkpoint `{facts.base_model}`."
        )
    return (
        f"A sequence-to-sequence model of the attnseq family `{facts.family.model_type}`{trained_on}.{tuned} "
        f"attnseq {facts.version} models load with transformers' `AutoModelForSeq2SeqLM` and decode with "
        "`generate()`."
    )


def render_card(facts: CardFacts) -> str:
    """The text of the card (`README.md`: YAML metadata, then the body) that `facts` describe. Pure: the same
    facts give the same text, and nothing is read or written."""
    code = usage_snippet(facts.checkpoint, facts.example_source, facts.input_ids, facts.max_new_tokens)
    body = "\n\n".join(
        [
            MARKER,
            f"# {facts.name}",
            _summary(facts),
            _architecture_section(facts),
            _training_section(facts.hyperparameters, facts.log_history),
            *filter(None, [_averaging_section(facts.averaged_from, facts.averaging)]),
            _evaluation_section(facts.metrics, facts.dataset_name, facts.split, facts.signatures),
            _attention_section(facts.attention),
            _usage_section(code, remote_code=False),
            f"Card written by attnseq {facts.version}.",
        ]
    )
    return str(ModelCard(f"---\n{_card_data(facts).to_yaml()}\n---\n\n{body}\n"))


# --- the card -----------------------------------------------------------------------------------------


def _record_run_info(folder: Path, dataset: str | None, example) -> None:
    """Keep a given data set and example in the folder's run record, so that later cards (`attnseq push`) say the
    same."""
    run = read_run_info(folder)
    source, target = _example_source(example)
    write_run_info(
        folder,
        dataset={"name": dataset, "hub_id": dataset} if dataset is not None else run.get("dataset"),
        example={"source": source, "target": target} if example is not None else run.get("example"),
        hyperparameters=run.get("hyperparameters") or {},
        base_model=run.get("base_model"),
        language=run.get("language"),
        averaged=run.get("averaged"),
    )


def write_model_card(
    folder,
    *,
    model=None,
    tokenizer=None,
    repo_id: str | None = None,
    model_name: str | None = None,
    dataset: str | None = None,
    license: str | None = "mit",  # noqa: A002 - the metadata key
    language: str | list[str] | None = None,
    tags: list[str] | tuple[str, ...] = (),
    metrics: dict | None = None,
    hyperparameters: dict | None = None,
    log_history: list[dict] | None = None,
    example=None,
    max_new_tokens: int | None = None,
) -> Path:
    """Write `README.md` (and the attention heatmap PNG) into a saved checkpoint folder.

    Args:
        folder: a checkpoint folder (config.json + model.safetensors, optionally tokenizer files and
            `trainer_state.json`).
        model, tokenizer: the loaded model/tokenizer; loaded from `folder` when not given.
        repo_id: the Hub repo the card is for; the usage snippet loads from it (else from the folder name).
        model_name: the card's title and `model-index` name (default: the repo or folder name).
        dataset: the Hub dataset id the model was trained and evaluated on (listed in `datasets`); default: the
            data recorded in `attnseq_training.json` (a built-in task or a local file is named in the card and
            in `model-index` with dataset type `unknown`, and not listed in `datasets`).
        license: the model's license id (default: MIT, the package's license).
        language: the languages of the data (default: the `--source_lang`/`--target_lang` that `attnseq train`
            recorded in `attnseq_training.json`).
        tags: more tags; `attnseq` and the family's `model_type` are always there.
        metrics: evaluation results (`{"eval_bleu": 30.1, ...}`; runtimes are dropped, a `test_` prefix marks
            test-split results, `eval_` validation ones, `*_signature` entries are sacrebleu signatures shown
            next to their score); default: the folder's `test_results.json`, else the last evaluation in
            `log_history`.
        hyperparameters: training hyperparameters to list; default: the configured ones in
            `attnseq_training.json`, else what `trainer_state.json` records.
        log_history: the Trainer's `state.log_history`; default: from `trainer_state.json` in the folder.
        example: one (validation) example for the attention heatmap and the usage snippet: the source text,
            a `(source, target)` pair or a `{"source", "target"}` dict; default: the one in `attnseq_training.json`.
            A given `example` or `dataset` is recorded there, so that later cards (`attnseq push`) keep it.
        max_new_tokens: generation length in the snippet and the heatmap (default: 32).

    Returns:
        The path of the written card.

    Raises:
        FolderRefused: the folder holds a `README.md` that attnseq did not write (it is left as it is).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder; save the model first (model.save_pretrained(folder)).")
    if (folder / CARD_NAME).is_file() and not is_attnseq_card(folder / CARD_NAME):
        raise FolderRefused(
            f"refusing to write {folder / CARD_NAME}: attnseq did not write that card; move it away to write "
            "attnseq's card there."
        )
    facts = gather_card_facts(
        folder,
        model=model,
        tokenizer=tokenizer,
        repo_id=repo_id,
        model_name=model_name,
        dataset=dataset,
        license=license,
        language=language,
        tags=tags,
        metrics=metrics,
        hyperparameters=hyperparameters,
        log_history=log_history,
        example=example,
        max_new_tokens=max_new_tokens,
    )
    text = render_card(facts)
    if example is not None or dataset is not None:
        _record_run_info(folder, dataset, example)
    if isinstance(facts.attention, AttentionMap):
        picture = facts.attention
        write_attention_heatmap(
            folder / HEATMAP_NAME, picture.source_tokens, picture.output_tokens, picture.weights, picture.title
        )
    path = folder / CARD_NAME
    with replaced_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def is_attnseq_card(path) -> bool:
    """Whether the card at `path` was written by `write_model_card`."""
    return MARKER in Path(path).read_text(encoding="utf-8")


def update_card_for_remote_code(folder) -> Path:
    """Switch an attnseq card in `folder` to a checkpoint that carries its code (`export_for_remote_code`).

    The usage snippet loads with `trust_remote_code=True` and no `import attnseq`; the metadata says
    `library_name: transformers` and gets the `custom_code` tag. Everything else stays as written.
    """
    path = Path(folder) / CARD_NAME
    card = ModelCard.load(path)
    code = extract_usage_snippet(card.text)
    remote = "\n".join(line for line in code.splitlines() if not line.startswith("import attnseq"))
    remote = re.sub(r"\.from_pretrained\(checkpoint\)", ".from_pretrained(checkpoint, trust_remote_code=True)", remote)
    start, end = card.text.index(USAGE_START), card.text.index(USAGE_END) + len(USAGE_END)
    card.text = card.text[:start] + _usage_section(remote, remote_code=True) + card.text[end:]
    card.data.library_name = "transformers"
    card.data.tags = list(dict.fromkeys([*(card.data.tags or []), "custom_code"]))
    with replaced_file(path) as tmp:
        tmp.write_text(str(card), encoding="utf-8")
    return path


def write_model_card_for_trainer(trainer, **kwargs) -> Path:
    """Write the card into `trainer.args.output_dir` from a (Seq2Seq)Trainer's arguments and log.

    Meant for a Trainer subclass's `create_model_card`, so that `Trainer.push_to_hub` uploads this card.
    `kwargs` go to `write_model_card` (e.g. `dataset`, `example`, `repo_id`).
    """
    from transformers.modelcard import extract_hyperparameters_from_trainer

    model = trainer.accelerator.unwrap_model(trainer.model) if hasattr(trainer, "accelerator") else trainer.model
    run = read_run_info(trainer.args.output_dir)
    kwargs.setdefault("hyperparameters", run.get("hyperparameters") or extract_hyperparameters_from_trainer(trainer))
    kwargs.setdefault("log_history", trainer.state.log_history)
    kwargs.setdefault("tokenizer", trainer.processing_class)
    kwargs.setdefault("repo_id", trainer.hub_model_id)
    return write_model_card(trainer.args.output_dir, model=model, **kwargs)
