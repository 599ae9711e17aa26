"""The attention demo page: its decoding is `generate()`'s, its heatmap the model's cross-attention, its errors
messages; and, in a real headless browser, the page `attnseq demo` serves (marked slow)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import attnseq
from attnseq.hub_cards.attention_map import attention_matrix
from attnseq.serving import demo_page
from attnseq.serving.demo import checkpoint_examples, page_facts
from attnseq.serving.demo_page import DemoModel, PageFacts, Settings, heatmap_html, select_weights

pytestmark = pytest.mark.usefixtures("one_thread")

TEXT = "abcdefg"
LETTERS = "abcdefghij"


def tokenizer():
    return attnseq.CharTokenizer.from_texts([LETTERS])


def model(family: str, seed: int = 0, **options):
    torch.manual_seed(seed)
    vocab = tokenizer().vocab_size
    if family == "lstm":
        config = attnseq.Seq2SeqLSTMConfig(
            vocab_size=vocab, hidden_size=16, embedding_size=8, **{"attention": "general", **options}
        )
        return attnseq.Seq2SeqLSTMForConditionalGeneration(config).eval()
    config = attnseq.Seq2SeqTransformerConfig(
        vocab_size=vocab,
        d_model=16,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        **options,
    )
    return attnseq.Seq2SeqTransformerForConditionalGeneration(config).eval()


SETTINGS = {
    "greedy": Settings("greedy", max_new_tokens=9),
    "beam": Settings("beam", num_beams=4, num_return_sequences=3, max_new_tokens=9),
    "sampling": Settings(
        "sampling", num_return_sequences=3, temperature=1.3, top_k=5, top_p=0.9, seed=7, max_new_tokens=9
    ),
}


@pytest.mark.parametrize("strategy", sorted(SETTINGS))
@pytest.mark.parametrize("family", ["lstm", "transformer"])
def test_decoding_equals_generate(family, strategy):
    net, tok = model(family), tokenizer()
    settings = SETTINGS[strategy]
    decoding = DemoModel(net, tok, page_facts(net.config)).decode(TEXT, settings)

    kwargs = settings.generate_kwargs()
    if strategy == "sampling":
        torch.manual_seed(settings.seed)
    with torch.no_grad():
        direct = net.generate(**tok([TEXT], return_tensors="pt"), **kwargs)
    texts = tok.batch_decode(direct.sequences, skip_special_tokens=True)
    assert [h.text for h in decoding.hypotheses] == texts
    assert len(decoding.hypotheses) == settings.num_return_sequences
    for hypothesis, row in zip(decoding.hypotheses, direct.sequences):
        assert hypothesis.ids == row[: len(hypothesis.ids)].tolist()
        # what follows the end token is filling (beam search fills with the end token)
        assert set(row[len(hypothesis.ids) :].tolist()) <= {tok.pad_token_id, tok.eos_token_id}
    if strategy == "beam":
        assert [h.score for h in decoding.hypotheses] == pytest.approx(direct.sequences_scores.tolist())
        assert [h.score for h in decoding.hypotheses] == sorted((h.score for h in decoding.hypotheses), reverse=True)
    else:  # the sum of the token log-probabilities up to the end token, recomputed from the logits
        for hypothesis in decoding.hypotheses:
            ids = torch.tensor([hypothesis.ids])
            with torch.no_grad():
                logits = net(**tok([TEXT], return_tensors="pt"), decoder_input_ids=ids[:, :-1]).logits
            if strategy == "greedy":
                expected = logits.log_softmax(-1)[0].gather(-1, ids[0, 1:, None]).sum()
                assert hypothesis.score == pytest.approx(float(expected), abs=1e-4)
            assert hypothesis.score <= 0


def test_sampling_depends_on_the_seed_only():
    net, tok = model("lstm"), tokenizer()
    demo = DemoModel(net, tok, page_facts(net.config))
    first = [h.text for h in demo.decode(TEXT, SETTINGS["sampling"]).hypotheses]
    again = [h.text for h in demo.decode(TEXT, SETTINGS["sampling"]).hypotheses]
    other = Settings(**{**SETTINGS["sampling"].__dict__, "seed": 8})
    assert first == again
    assert [h.text for h in demo.decode(TEXT, other).hypotheses] != first


@pytest.mark.parametrize("family", ["lstm", "transformer"])
def test_heatmap_weights_are_the_cross_attentions(family):
    net, tok = model(family), tokenizer()
    demo = DemoModel(net, tok, page_facts(net.config))
    decoding = demo.decode(TEXT, SETTINGS["beam"])
    for index, hypothesis in enumerate(decoding.hypotheses):
        attention = demo.attention(decoding, index)
        with torch.no_grad():
            direct = net(
                **tok([TEXT], return_tensors="pt"),
                decoder_input_ids=torch.tensor([hypothesis.ids[:-1]]),
                output_attentions=True,
            ).cross_attentions
        assert attention.weights.shape == (len(direct), direct[0].size(1), len(hypothesis.ids) - 1, len(TEXT) + 1)
        for layer, weights in enumerate(direct):
            np.testing.assert_allclose(attention.weights[layer], weights[0].numpy(), atol=1e-6)
        assert attention.source_tokens == tok.convert_ids_to_tokens(tok(TEXT)["input_ids"])
        assert attention.output_tokens == tok.convert_ids_to_tokens(hypothesis.ids[1:])


@pytest.mark.parametrize("family", ["lstm", "transformer"])
def test_greedy_heatmap_matches_plot_attention_and_the_decoding_steps(family):
    net, tok = model(family), tokenizer()
    demo = DemoModel(net, tok, page_facts(net.config))
    decoding = demo.decode(TEXT, Settings("greedy", max_new_tokens=9))
    attention = demo.attention(decoding)
    source_tokens, output_tokens, weights = attention_matrix(net, tok, TEXT, max_new_tokens=9)
    assert (attention.source_tokens, attention.output_tokens) == (source_tokens, output_tokens)
    np.testing.assert_allclose(select_weights(attention), weights, atol=1e-6)
    if family == "transformer":
        for layer, head in [(0, 1), (1, 0), (0, None)]:
            expected = attention_matrix(net, tok, TEXT, max_new_tokens=9, layer=layer, head=head)[2]
            chosen = select_weights(attention, layer, "mean" if head is None else head)
            np.testing.assert_allclose(chosen, expected, atol=1e-6)
    # the attention generate() itself reports step by step is the same
    with torch.no_grad():
        steps = net.generate(
            **tok([TEXT], return_tensors="pt"), max_new_tokens=9, output_attentions=True, return_dict_in_generate=True
        ).cross_attentions
    stepwise = torch.cat([step[-1][0, :, -1:, :] for step in steps], dim=1).mean(0)  # (tgt, src), last layer
    np.testing.assert_allclose(select_weights(attention), stepwise[: len(output_tokens)].numpy(), atol=1e-5)


def test_layer_and_head_selection():
    net, tok = model("transformer"), tokenizer()
    demo = DemoModel(net, tok, page_facts(net.config))
    assert (demo.layers, demo.heads) == (2, 2)
    attention = demo.attention(demo.decode(TEXT, Settings("greedy", max_new_tokens=6)))
    np.testing.assert_allclose(select_weights(attention, 0, "mean"), attention.weights[0].mean(0))
    np.testing.assert_allclose(select_weights(attention, -1, 1), attention.weights[1, 1])
    assert not np.allclose(select_weights(attention, 0, 0), select_weights(attention, 0, 1))
    with pytest.raises(ValueError, match="allowed: 0 to 1"):
        select_weights(attention, 2)
    with pytest.raises(ValueError, match="allowed: 0 to 1 or 'mean'"):
        select_weights(attention, 0, 2)


def test_lstm_options_in_words_and_the_local_p_centre():
    net = model("lstm", attention="additive", attention_window=2, peeky=True, input_feeding=True)
    words = page_facts(net.config)["description"]
    for phrase in [
        "additive (Bahdanau)",
        "local-p",
        "±2",
        "reversed source**: yes",
        "peeky**: yes",
        "input feeding**: yes",
    ]:
        assert phrase in words
    plain = page_facts(model("lstm", reverse_source=False).config)["description"]
    assert "global" in plain and "reversed source**: no" in plain and "peeky**: no" in plain
    assert "2 decoder layers, 2 attention heads" in page_facts(model("transformer").config)["description"]

    tok = tokenizer()
    demo = DemoModel(net, tok, page_facts(net.config))
    decoding = demo.decode(TEXT, Settings("greedy", max_new_tokens=6))
    attention = demo.attention(decoding)
    # the centres the model's own window predicts: p_t = start + (L - 1) sigmoid(v_p tanh(W_p h_t)), read from
    # the decoder states that enter the window
    window = next(m for m in net.modules() if type(m).__name__ == "LocalPWindow")
    queries = []
    hook = window.register_forward_hook(lambda module, args, out: queries.append(args[0]))
    with torch.no_grad():
        net(**tok([TEXT], return_tensors="pt"), decoder_input_ids=torch.tensor([decoding.hypotheses[0].ids[:-1]]))
    hook.remove()
    h = torch.cat(queries, dim=1)[0]
    length = len(TEXT) + 1
    expected = (length - 1) * torch.sigmoid(window.position_energy(torch.tanh(window.position_proj(h)))).squeeze(-1)
    np.testing.assert_allclose(attention.centres, expected.detach().double().numpy(), atol=1e-4)
    weights = select_weights(attention)
    far = np.abs(np.arange(length)[None, :] - attention.centres[:, None]) > 2
    assert np.all(weights[far] == 0)
    page = heatmap_html(attention.source_tokens, attention.output_tokens, weights, attention.centres)
    assert page.count('class="cell centre"') == len(attention.output_tokens)
    first_centre = int(round(attention.centres[0]))
    assert f'<td class="cell centre" data-source="{first_centre}" data-output="0"' in page
    assert f"window centre p = {attention.centres[0]:.2f}" in page


def test_page_facts_come_from_the_family_rows_as_plain_data():
    lstm = model("lstm", attention="additive", attention_window=2)
    facts = page_facts(lstm.config)
    assert json.loads(json.dumps(facts)) == facts  # what a Space's app.py carries as a literal
    assert facts["no_attention"] is None and facts["layout"] is None
    assert facts["local_window"] == ["LocalPWindow", 2]
    assert page_facts(model("lstm").config)["local_window"] is None
    assert page_facts(model("lstm", attention="none").config)["no_attention"] == "`attention='none'`"
    transformer = page_facts(model("transformer").config)
    assert transformer["layout"] == [2, 2] and transformer["local_window"] is None
    assert PageFacts.from_dict(transformer).layout == (2, 2)
    with pytest.raises(ValueError, match=r"lack \['layout'\] and have unknown keys \['heads'\]"):
        PageFacts.from_dict({**{k: v for k, v in transformer.items() if k != "layout"}, "heads": 2})


def test_the_page_follows_the_facts_not_the_config():
    """The page asks the config nothing of its family: facts that say otherwise change what it shows."""
    net, tok = model("lstm", attention="additive", attention_window=2), tokenizer()
    facts = page_facts(net.config)
    decoding = DemoModel(net, tok, facts).decode(TEXT, Settings("greedy", max_new_tokens=6))
    assert DemoModel(net, tok, facts).attention(decoding).centres is not None
    unmarked = DemoModel(net, tok, {**facts, "local_window": None}).attention(decoding)
    assert unmarked.centres is None and unmarked.width is None
    assert DemoModel(net, tok, {**facts, "no_attention": "`attention='none'`"}).attention(decoding) is None
    layered = DemoModel(net, tok, {**facts, "layout": [3, 4]})
    assert (layered.layers, layered.heads) == (3, 4)


def test_heatmap_cells_show_tokens_and_weight_on_hover():
    weights = np.array([[0.25, 0.75], [1.0, 0.0]])
    page = heatmap_html(["a", " "], ["x", "</s>"], weights, caption="layer 1")
    assert page.count('class="cell"') == 4
    assert "source a → output x: 0.250" in page
    assert "source ␣ → output &lt;/s&gt;: 0.000" in page  # whitespace shown, markup escaped
    assert 'data-weight="0.750000"' in page and "layer 1" in page


@pytest.mark.parametrize(
    "family, options, limit, why",
    [
        ("lstm", {}, 5, "the page's limit"),
        ("transformer", {"position_embedding": "learned", "max_position_embeddings": 6}, 6, "its learned positions"),
    ],
)
def test_errors_are_messages_naming_the_limit(family, options, limit, why):
    net = model(family, **options)
    demo = DemoModel(net, tokenizer(), page_facts(net.config), max_input_tokens=5 if family == "lstm" else None)
    with pytest.raises(ValueError, match="The input is empty"):
        demo.decode("  ", Settings())
    with pytest.raises(ValueError, match=f"8 tokens long; this model reads at most {limit} tokens \\({why}"):
        demo.decode(TEXT, Settings())
    assert len(demo.decode("abc", Settings(max_new_tokens=64)).hypotheses[0].ids) <= 1 + (limit if options else 64)
    with pytest.raises(ValueError, match="n-best list of 5 needs at least as many beams"):
        Settings("beam", num_beams=4, num_return_sequences=5).generate_kwargs()
    with pytest.raises(ValueError, match="allowed: greedy, beam, sampling"):
        Settings("nucleus").generate_kwargs()


def test_model_without_attention_decodes_and_shows_no_heatmap():
    net = model("lstm", attention="none")
    demo = DemoModel(net, tokenizer(), page_facts(net.config))
    decoding = demo.decode(TEXT, Settings())
    assert decoding.hypotheses and demo.attention(decoding) is None


def test_examples_come_from_the_training_run(tmp_path):
    assert checkpoint_examples(tmp_path) == []
    (tmp_path / "attnseq_training.json").write_text(json.dumps({"example": {"source": "Sep 27, 94", "target": "x"}}))
    assert checkpoint_examples(tmp_path) == ["Sep 27, 94"]


def test_without_gradio_the_commands_say_how_to_install_it(monkeypatch, tmp_path, capsys):
    import sys

    from attnseq.cli import main

    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio fails
    net, tok = model("lstm"), tokenizer()
    net.save_pretrained(tmp_path / "ckpt")
    tok.save_pretrained(tmp_path / "ckpt")
    assert main(["demo", str(tmp_path / "ckpt")]) == 1
    assert "pip install 'attnseq[demo]'" in capsys.readouterr().err


def test_the_page_module_imports_nothing_from_attnseq():
    """A Space ships demo_page.py without attnseq: it may import only the standard library, numpy, torch,
    transformers and gradio."""
    tree = ast.parse(Path(demo_page.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"relative import on line {node.lineno}"
            imported.add(node.module.split(".")[0])
    assert imported <= {"__future__", "html", "math", "dataclasses", "numpy", "torch", "transformers", "gradio"}


# --- the page in a real browser (headless Chromium) ---------------------------------------------------------------

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def _browser_skip_reason() -> str | None:
    import importlib.util

    for module, package in (("gradio", "gradio (pip install 'attnseq[demo]')"), ("selenium", "selenium")):
        if importlib.util.find_spec(module) is None:
            return f"{package} is not installed"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.is_file():
            return f"{path} is missing (apt-get install chromium chromium-driver)"
    return None


@pytest.fixture(scope="module")
def served_page(tmp_path_factory):
    """`attnseq demo` serving a tiny two-layer, two-head Transformer, and the model for reference."""
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    reason = _browser_skip_reason()
    if reason:
        pytest.skip(f"browser test: {reason}")
    from attnseq.serving.demo import free_port

    folder = tmp_path_factory.mktemp("demo") / "tiny-transformer"
    net, tok = model("transformer"), tokenizer()
    net.save_pretrained(folder)
    tok.save_pretrained(folder)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "GRADIO_ANALYTICS_ENABLED": "False"}
    log_path = folder.parent / "demo.log"
    log = log_path.open("w")
    command = [sys.executable, "-m", "attnseq", "demo", str(folder), "--port", str(port), "--example", TEXT]
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                urllib.request.urlopen(url, timeout=5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.5)
        yield url, net, tok
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def browser(served_page, tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1400",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver, condition, timeout: float = 60):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda _: condition())


def _click_choice(driver, group: str, label: str) -> None:
    from selenium.webdriver.common.by import By

    choices = driver.find_elements(By.CSS_SELECTOR, f"#{group} label")
    next(choice for choice in choices if choice.text.strip() == label).click()


def _caption(driver) -> str:
    from selenium.webdriver.common.by import By

    captions = driver.find_elements(By.CSS_SELECTOR, "#heatmap caption")
    return captions[0].text if captions else ""


def _page_weights(driver) -> np.ndarray:
    from selenium.webdriver.common.by import By

    cells = driver.find_elements(By.CSS_SELECTOR, "#heatmap td.cell")
    rows = 1 + max(int(cell.get_attribute("data-output")) for cell in cells)
    return np.array([float(cell.get_attribute("data-weight")) for cell in cells]).reshape(rows, -1)


@pytest.mark.slow
def test_page_in_a_browser(served_page, browser, tmp_path):
    from io import BytesIO

    from PIL import Image
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    url, net, tok = served_page
    driver = browser
    driver.get(url)
    # the page's components appear one by one: the input box can be there before the button
    text_box = _wait(driver, lambda: driver.find_elements(By.CSS_SELECTOR, "#input textarea"))[0]
    submit = _wait(driver, lambda: driver.find_elements(By.CSS_SELECTOR, "#submit"))[0]

    # an empty input is a message on the page, not a stack trace
    submit.click()
    _wait(driver, lambda: "The input is empty" in driver.find_element(By.ID, "message").text)

    text_box.send_keys(TEXT)
    driver.find_element(By.CSS_SELECTOR, "#submit").click()
    output = _wait(driver, lambda: driver.find_element(By.CSS_SELECTOR, "#output textarea").get_attribute("value"))
    demo = DemoModel(net, tok, page_facts(net.config))
    decoding = demo.decode(TEXT, Settings("greedy"))
    assert output == decoding.hypotheses[0].text
    assert driver.find_element(By.ID, "message").text.strip() == ""
    _wait(driver, lambda: driver.find_elements(By.CSS_SELECTOR, "#heatmap td.cell"))
    attention = demo.attention(decoding)
    assert "decoder layer 2 of 2, mean of heads" in _caption(driver)
    np.testing.assert_allclose(_page_weights(driver), select_weights(attention, -1, "mean"), atol=1e-5)

    # hovering a cell shows its source token, output token and weight
    cell = driver.find_elements(By.CSS_SELECTOR, "#heatmap td.cell")[2]
    tip = cell.find_element(By.CSS_SELECTOR, ".tip")
    assert not tip.is_displayed()
    ActionChains(driver).move_to_element(cell).perform()
    _wait(driver, tip.is_displayed, timeout=10)
    output_token = attention.output_tokens[int(cell.get_attribute("data-output"))]
    source_token = attention.source_tokens[int(cell.get_attribute("data-source"))]
    weight = float(cell.get_attribute("data-weight"))
    assert tip.text == f"source {source_token} → output {output_token}: {weight:.3f}"

    # switching layer and head redraws the heatmap with that layer's and head's weights
    _click_choice(driver, "layer", "1")
    _wait(driver, lambda: "decoder layer 1 of 2, mean of heads" in _caption(driver))
    np.testing.assert_allclose(_page_weights(driver), select_weights(attention, 0, "mean"), atol=1e-5)
    _click_choice(driver, "head", "2")
    _wait(driver, lambda: "decoder layer 1 of 2, head 2 of 2" in _caption(driver))
    np.testing.assert_allclose(_page_weights(driver), select_weights(attention, 0, 1), atol=1e-5)

    # beam search: the n-best list with scores, and the heatmap of another hypothesis
    _click_choice(driver, "strategy", "beam")
    driver.find_element(By.CSS_SELECTOR, "#submit").click()
    _wait(driver, lambda: len(driver.find_elements(By.CSS_SELECTOR, "#hypothesis label")) == 4)
    beams = demo.decode(TEXT, Settings("beam", num_beams=4, num_return_sequences=4))
    table = driver.find_element(By.ID, "nbest").text
    for hypothesis in beams.hypotheses:
        assert f"{hypothesis.score:.4f}".rstrip("0") in table
    _click_choice(driver, "hypothesis", "3")
    _wait(driver, lambda: _caption(driver).startswith("Hypothesis 3"))
    np.testing.assert_allclose(_page_weights(driver), select_weights(demo.attention(beams, 2), 0, 1), atol=1e-5)

    screenshot = Image.open(BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    (tmp_path / "page.png").write_bytes(driver.get_screenshot_as_png())
    colours = len(set(screenshot.getdata()))
    assert colours > 100, f"the page looks blank: {colours} colours"
