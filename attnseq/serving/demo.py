"""`attnseq demo CHECKPOINT`: the attention demo page on this machine; `attnseq space CHECKPOINT OUT`: the same page
as a Hub Space folder (optionally uploaded with `--push SPACE_ID`).

The page itself is `attnseq.serving.demo_page` (self-contained, so the Space ships it as it is); this module loads
the checkpoint, finds its examples, tells the page what the family registry knows of the model (`page_facts`, plain
data that a Space's `app.py` carries as a literal) and starts gradio, which is imported only here and only when a
command runs (`pip install 'attnseq[demo]'`). The page listens on 127.0.0.1 unless told otherwise and never shares
a public link unless `--share true`; gradio's analytics are off.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from pathlib import Path

from ..data.run_record import read_run_info
from ..families import family_of
from ..flags import FlagParser
from . import demo_page


def _bool(value: str) -> bool:
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _import_gradio():
    """gradio, with its analytics off (they phone home), or a `ValueError` saying how to install it."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio
    except ImportError as error:
        raise ValueError("the demo page needs gradio: pip install 'attnseq[demo]'.") from error
    return gradio


def checkpoint_examples(folder) -> list[str]:
    """Example inputs of a checkpoint folder: the test example its training run recorded (`attnseq_training.json`,
    also the example of its model card), if any."""
    try:
        example = read_run_info(folder).get("example")
    except (ValueError, AttributeError):  # a broken record names no example
        return []
    source = example.get("source") if isinstance(example, dict) else example
    return [source] if isinstance(source, str) and source else []


def load_checkpoint(checkpoint: str):
    """`(model, tokenizer)` of a checkpoint folder or Hub repo id, the model in eval mode."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    import attnseq  # noqa: F401  (registers both families with the Auto classes)

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForSeq2SeqLM.from_pretrained(checkpoint).eval()
    return model, tokenizer


def page_facts(config) -> dict:
    """What the demo page needs to know of `config`'s family, from its `Family` row, as a JSON-serialisable dict
    (`demo_page.PageFacts.from_dict` reads it): the model in words, the option that turns attention off (or
    None), the `[decoder layers, heads]` of a multi-head attention (or None), and the `[module class name,
    half-width]` of a local-p window (or None)."""
    family = family_of(config.model_type)
    layout, window = family.attention_layout(config), family.local_window(config)
    return {
        "description": family.describe(config),
        "no_attention": family.no_attention(config),
        "layout": None if layout is None else [int(number) for number in layout],
        "local_window": None if window is None else [str(window[0]), int(window[1])],
    }


def checkpoint_config(folder):
    """The config of a checkpoint folder, read with attnseq's own classes."""
    from transformers import AutoConfig

    import attnseq  # noqa: F401  (registers both families with the Auto classes)

    return AutoConfig.from_pretrained(folder)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on `host` now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _common_arguments(parser: FlagParser) -> None:
    parser.add_argument("--example", action="append", default=None, help="an example input (repeatable; default: "
                        "the test example the training run recorded)")  # fmt: skip
    parser.add_argument("--title", default=None, help="the page's title (default: from the checkpoint's name)")
    parser.add_argument(
        "--max_input_tokens", type=int, default=None,
        help="longest input accepted (default: the model's position limit, else "
        f"{demo_page.DEFAULT_MAX_INPUT_TOKENS})",
    )  # fmt: skip
    parser.add_argument("--max_new_tokens", type=int, default=demo_page.DEFAULT_MAX_NEW_TOKENS)


def _title(checkpoint: str, title: str | None) -> str:
    return title or f"{Path(checkpoint.rstrip('/')).name} attention"


def demo_command(argv: Sequence[str]) -> int:
    """`attnseq demo CHECKPOINT [--port P] [--share false]`: serve the attention demo page."""
    parser = FlagParser(prog="attnseq demo", description=demo_command.__doc__)
    parser.add_argument("checkpoint", help="a saved checkpoint folder or Hub repo id")
    parser.add_argument("--port", type=int, default=None, help="port to listen on (default: a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine)")
    parser.add_argument("--share", type=_bool, default=False, help="true: also open a public gradio.live link")
    _common_arguments(parser)
    args = parser.parse_args(argv)
    _import_gradio()  # a missing gradio is a one-line error before the model loads
    model, tokenizer = load_checkpoint(args.checkpoint)
    examples = args.example if args.example is not None else checkpoint_examples(args.checkpoint)
    page = demo_page.build_page(
        model,
        tokenizer,
        page_facts(model.config),
        title=_title(args.checkpoint, args.title),
        examples=examples,
        max_input_tokens=args.max_input_tokens,
        max_new_tokens=args.max_new_tokens,
    )
    port = args.port if args.port is not None else free_port(args.host)
    print(f"attnseq demo: serving {args.checkpoint} at http://{args.host}:{port}/ (Ctrl-C stops it)", flush=True)
    page.queue().launch(server_name=args.host, server_port=port, share=args.share, inbrowser=False, quiet=True)
    return 0


APP_TEMPLATE = """{marker} (attnseq {version}): the attention demo page of the checkpoint in
# model/, which carries its own model code (trust_remote_code), so this Space needs only requirements.txt.
import os
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from demo_page import build_page  # noqa: E402
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer  # noqa: E402

MODEL = Path(__file__).resolve().parent / "model"
TITLE = {title!r}
EXAMPLES = {examples!r}
MAX_INPUT_TOKENS = {max_input_tokens!r}
MAX_NEW_TOKENS = {max_new_tokens!r}
# what the page knows of the model's family, written by `attnseq space` from attnseq's family registry
FACTS = {facts!r}

tokenizer = AutoTokenizer.from_pretrained(MODEL, trust_remote_code=True)
model = AutoModelForSeq2SeqLM.from_pretrained(MODEL, trust_remote_code=True).eval()
demo = build_page(
    model,
    tokenizer,
    FACTS,
    title=TITLE,
    examples=EXAMPLES,
    max_input_tokens=MAX_INPUT_TOKENS,
    max_new_tokens=MAX_NEW_TOKENS,
)

if __name__ == "__main__":
    demo.queue().launch()
"""


def space_requirements() -> list[str]:
    """`requirements.txt` of a Space: torch, transformers and gradio pinned to the versions installed here."""
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for package in ("torch", "transformers", "gradio"):
        try:
            installed = version(package)
        except PackageNotFoundError as error:
            raise ValueError(f"a Space pins {package}, which is not installed: pip install 'attnseq[demo]'.") from error
        pins.append(f"{package}=={installed.split('+')[0]}")  # torch's local label (+cpu) names a build, not a release
    return pins


def space_command(argv: Sequence[str], sharing) -> int:
    """`attnseq space CHECKPOINT OUT [--push SPACE_ID]`: write a Hub Space (Gradio SDK) serving the demo page.

    The Space folder and the uploads are sharing's (`attnseq.hub_cards`), which this app does not import: `sharing`
    carries `SPACE_MARKER`, `write_space`, `push_space` and `push_folder`, handed in by the command line
    (`attnseq.cli`).
    """
    parser = FlagParser(prog="attnseq space", description=space_command.__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a saved checkpoint folder or Hub model repo id")
    parser.add_argument("out", help="the Space folder to write (a new folder, or one this command wrote)")
    parser.add_argument("--push", metavar="SPACE_ID", default=None, help="upload the folder as this Hub Space")
    parser.add_argument(
        "--model_repo", default=None,
        help="the Hub model repo the Space names in `models:`; with --push, the checkpoint is uploaded there too "
        "(remote-code export). Default: CHECKPOINT when it is a repo id",
    )  # fmt: skip
    parser.add_argument("--token", default=None, help="Hub token with write access (default: HF_TOKEN or the login)")
    parser.add_argument("--private", action="store_true", default=None, help="create the Space (and model) private")
    _common_arguments(parser)
    args = parser.parse_args(argv)
    from importlib.metadata import version

    from ..version import __version__

    requirements = space_requirements()
    folder = Path(args.checkpoint)
    models = [args.model_repo] if args.model_repo else None
    if not folder.is_dir():
        from huggingface_hub import snapshot_download

        models = models or [args.checkpoint]
        folder = Path(snapshot_download(args.checkpoint))
    facts = page_facts(checkpoint_config(folder))  # a checkpoint of no attnseq family stops here, before any upload
    if args.push and args.model_repo and Path(args.checkpoint).is_dir():
        info = sharing.push_folder(folder, args.model_repo, remote_code=True, private=args.private, token=args.token)
        print(f"uploaded the model: {info.commit_url}")
    examples = args.example if args.example is not None else checkpoint_examples(folder)
    app = APP_TEMPLATE.format(
        marker=sharing.SPACE_MARKER,
        version=__version__,
        title=_title(args.checkpoint, args.title),
        examples=list(examples),
        max_input_tokens=args.max_input_tokens,
        max_new_tokens=args.max_new_tokens,
        facts=facts,
    )
    page_source = Path(demo_page.__file__).read_text(encoding="utf-8")
    out = sharing.write_space(
        folder,
        args.out,
        app_source=app,
        app_files={"demo_page.py": page_source},
        requirements=requirements,
        title=_title(args.checkpoint, args.title),
        sdk_version=version("gradio"),
        models=models,
    )
    print(f"wrote the Space folder {out}")
    if args.push:
        info = sharing.push_space(out, args.push, token=args.token, private=args.private)
        print(f"uploaded the Space: {info.commit_url}")
    return 0
