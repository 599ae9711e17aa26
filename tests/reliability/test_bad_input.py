"""Bad input to both families: each either works with the documented behaviour or raises a `ValueError` that
names the problem; never an index error from inside torch, never NaN in the logits.

The cases the family tests already check (ids outside the vocabulary, float ids, masks of the wrong shape or
with values other than 0/1, padding between real tokens, learned positions shorter than the input) are not
repeated here; the fuzz test at the end covers them all together.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st

import attnseq  # noqa: F401  (registers the model types)
from attnseq import (
    CharTokenizer,
    Seq2SeqLSTMConfig,
    Seq2SeqLSTMForConditionalGeneration,
    Seq2SeqTransformerConfig,
    Seq2SeqTransformerForConditionalGeneration,
)

TEXTS = ["abc", "cba", "hello"]
TOKENIZER = CharTokenizer.from_texts(TEXTS)
VOCAB = len(TOKENIZER)
BOS, EOS = TOKENIZER.bos_token_id, TOKENIZER.eos_token_id


pytestmark = pytest.mark.usefixtures("one_thread")


def lstm(**options):
    torch.manual_seed(0)
    config = Seq2SeqLSTMConfig(vocab_size=VOCAB, embedding_size=6, hidden_size=8, attention="additive", **options)
    return Seq2SeqLSTMForConditionalGeneration(config).eval()


def transformer(**options):
    torch.manual_seed(0)
    sizes = {"d_model": 8, "encoder_layers": 1, "decoder_layers": 1, "encoder_ffn_dim": 8, "decoder_ffn_dim": 8}
    config = Seq2SeqTransformerConfig(
        vocab_size=VOCAB, encoder_attention_heads=2, decoder_attention_heads=2, **sizes, **options
    )
    return Seq2SeqTransformerForConditionalGeneration(config).eval()


BUILDERS = {
    "lstm": lstm,
    "lstm-bidirectional-input-feeding": lambda: lstm(
        bidirectional_encoder=True, input_feeding=True, attention_window=2
    ),
    "transformer-eager": lambda: transformer(attn_implementation="eager"),
    "transformer-sdpa-learned": lambda: transformer(
        attn_implementation="sdpa", position_embedding="learned", max_position_embeddings=12
    ),
}


@pytest.fixture(params=list(BUILDERS), scope="module")
def model(request):
    return BUILDERS[request.param]()


def ids(*rows, dtype=torch.long):
    return torch.tensor(rows, dtype=dtype)


SOURCE, DECODER = ids([4, 5, 6], [7, 8, 0]), ids([BOS, 4], [BOS, 5])

BAD_INPUTS = [
    (
        "empty source positions",
        dict(input_ids=torch.zeros(2, 0, dtype=torch.long), decoder_input_ids=DECODER),
        r"input_ids has shape \(2, 0\).*at least one row and one position.*\[eos\]",
    ),
    (
        "empty batch",
        dict(input_ids=torch.zeros(0, 3, dtype=torch.long), decoder_input_ids=torch.zeros(0, 1, dtype=torch.long)),
        r"input_ids has shape \(0, 3\)",
    ),
    (
        "empty decoder input",
        dict(input_ids=SOURCE, decoder_input_ids=torch.zeros(2, 0, dtype=torch.long)),
        r"decoder_input_ids has shape \(2, 0\)",
    ),
    (
        "one-dimensional ids",
        dict(input_ids=ids(4, 5), decoder_input_ids=DECODER),
        r"input_ids must have shape \(batch, seq_len\), got shape \(2,\)",
    ),
    ("a list of ids", dict(input_ids=[[4, 5]], decoder_input_ids=DECODER), "input_ids must be a tensor"),
    (
        "uint8 ids",
        dict(input_ids=SOURCE.to(torch.uint8), decoder_input_ids=DECODER),
        r"input_ids must be an integer tensor of token ids \(torch.int64 or torch.int32\), got torch.uint8",
    ),
    (
        "a list as mask",
        dict(input_ids=SOURCE, attention_mask=[[1, 1, 1], [1, 1, 0]], decoder_input_ids=DECODER),
        "attention_mask must be a tensor, got list",
    ),
    (
        "mask of another batch size",
        dict(input_ids=SOURCE, attention_mask=torch.ones(3, 3), decoder_input_ids=DECODER),
        r"attention_mask has shape \(3, 3\)",
    ),
    (
        "NaN in the mask",
        dict(input_ids=SOURCE, attention_mask=torch.full((2, 3), float("nan")), decoder_input_ids=DECODER),
        "attention_mask must hold only 0 and 1",
    ),
    (
        "a 2 in an integer mask",
        dict(input_ids=SOURCE, attention_mask=torch.tensor([[1, 1, 2], [1, 1, 0]]), decoder_input_ids=DECODER),
        "attention_mask must hold only 0 and 1",
    ),
    (
        "a -1 in an integer mask",
        dict(input_ids=SOURCE, attention_mask=torch.tensor([[1, 1, 1], [1, -1, 0]]), decoder_input_ids=DECODER),
        "attention_mask must hold only 0 and 1",
    ),
    (
        "decoder rows differ from source rows",
        dict(input_ids=SOURCE, decoder_input_ids=DECODER[:1]),
        r"decoder_input_ids has 1 row\(s\) but the source .* has 2",
    ),
    (
        "label rows differ from source rows",
        dict(input_ids=SOURCE, labels=ids([4, EOS])),
        r"labels has 1 row\(s\) but the source .* has 2",
    ),
    (
        "float labels",
        dict(input_ids=SOURCE, labels=DECODER.float()),
        r"labels must be an integer tensor of token ids \(torch.int64\), got torch.float32",
    ),
    (
        "int32 labels",
        dict(input_ids=SOURCE, labels=DECODER.int()),
        r"labels must be .*\(torch.int64\), got torch.int32",
    ),
    (
        "labels outside the vocabulary",
        dict(input_ids=SOURCE, labels=ids([4, -5], [4, EOS])),
        r"labels contains token id -5.*allowed ids: \[0, \d+\) or -100",
    ),
]


@pytest.mark.parametrize("inputs, message", [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS])
def test_bad_inputs_raise_a_value_error_naming_the_problem(model, inputs, message):
    with pytest.raises(ValueError, match=message):
        model(**inputs)


def test_generate_checks_its_inputs_the_same_way(model):
    with pytest.raises(ValueError, match="input_ids contains token id"):
        model.generate(input_ids=SOURCE + VOCAB, max_new_tokens=2)
    with pytest.raises(ValueError, match="attention_mask has shape"):
        model.generate(input_ids=SOURCE, attention_mask=torch.ones(1, 3, dtype=torch.long), max_new_tokens=2)
    with pytest.raises(ValueError, match=r"input_ids has shape \(2, 0\)"):
        model.generate(input_ids=torch.zeros(2, 0, dtype=torch.long), max_new_tokens=2)


def test_int32_ids_and_masks_of_every_dtype_give_the_same_logits(model):
    mask = ids([1, 1, 1], [1, 1, 0])
    expected = model(input_ids=SOURCE, attention_mask=mask, decoder_input_ids=DECODER).logits
    for source, source_mask in [
        (SOURCE.int(), mask),
        (SOURCE, mask.bool()),
        (SOURCE, mask.float()),
        (SOURCE, mask.half()),
        (SOURCE, mask.to(torch.bfloat16)),
    ]:
        logits = model(input_ids=source, attention_mask=source_mask, decoder_input_ids=DECODER.int()).logits
        torch.testing.assert_close(logits, expected, atol=1e-6, rtol=0)


def test_empty_texts_and_unknown_characters_through_the_tokenizer(model):
    """An empty source is encoded as `[eos]`; characters outside the vocabulary become unk (counted and
    logged, never an error). Both decode to finite logits and generate like any other source."""
    tokenizer = CharTokenizer.from_texts(TEXTS)
    batch = tokenizer(["", "abc", "xyz \N{SNOWMAN}", "hellohello"], return_tensors="pt", padding=True)
    assert batch["input_ids"][0, 0] == EOS and batch["attention_mask"][0].sum() == 1
    assert (batch["input_ids"][2, :5] == tokenizer.unk_token_id).all()
    assert tokenizer.unknown_characters == {"x": 1, "y": 1, "z": 1, " ": 1, "\N{SNOWMAN}": 1}
    with torch.no_grad():
        out = model(
            **batch,
            labels=tokenizer(text_target=["", "cba", "?", "olleh"], padding=True, return_tensors="pt")["input_ids"],
        )
    assert torch.isfinite(out.logits).all() and torch.isfinite(out.loss)
    generated = model.generate(**batch, max_new_tokens=4, num_beams=2)
    assert generated.shape[0] == 4 and generated.shape[1] <= 5
    assert len(tokenizer.batch_decode(generated, skip_special_tokens=True)) == 4
    empty_target = tokenizer(text_target=[""], return_tensors="pt")["input_ids"]
    assert empty_target.tolist() == [[EOS]]  # an empty target still has one position to score: eos


def test_rows_of_only_padding_give_finite_logits_and_no_attention(model):
    source = ids([4, 5, 6], [0, 0, 0])
    mask = ids([1, 1, 1], [0, 0, 0])
    out = model(input_ids=source, attention_mask=mask, decoder_input_ids=DECODER, output_attentions=True)
    assert torch.isfinite(out.logits).all()
    assert all(torch.all(weights[1] == 0) for weights in out.cross_attentions)
    alone = model(input_ids=source[:1], decoder_input_ids=DECODER[:1]).logits
    torch.testing.assert_close(out.logits[:1], alone, atol=1e-6, rtol=0)  # the empty row changes no other row


def test_sources_longer_than_learned_positions_are_refused_before_any_work():
    model = BUILDERS["transformer-sdpa-learned"]()
    long_source = torch.full((1, 13), 4)
    with pytest.raises(ValueError, match="13 tokens needs 13 positions.*max_position_embeddings=12"):
        model(input_ids=long_source, decoder_input_ids=DECODER[:1])
    with pytest.raises(ValueError, match="max_position_embeddings=12"):
        model.generate(input_ids=long_source, max_new_tokens=2)
    truncated = TOKENIZER(["hello" * 5], truncation=True, max_length=12, return_tensors="pt")
    assert truncated["input_ids"].shape == (1, 12) and truncated["input_ids"][0, -1] == EOS
    assert model.generate(**truncated, max_new_tokens=3).shape[1] <= 4


# --- fuzz: any input either works with finite logits or is a ValueError ----------------------------------------

CORRUPTIONS = [
    "id outside the vocabulary",
    "ids of another dtype",
    "no mask",
    "mask of another dtype",
    "mask value not 0/1",
    "hole in the mask",
    "mask of another shape",
    "target rows differ",
    "no source positions",
    "row of only padding",
]


@st.composite
def arbitrary_inputs(draw) -> dict:
    """A plausible padded batch (source, mask, labels or decoder inputs) with none, one or two corruptions."""
    batch, length = draw(st.integers(1, 3)), draw(st.integers(1, 5))
    in_vocabulary = st.integers(0, VOCAB - 1)
    source = torch.tensor(draw(st.lists(in_vocabulary, min_size=batch * length, max_size=batch * length))).reshape(
        batch, length
    )
    mask = torch.zeros(batch, length, dtype=torch.long)
    left = draw(st.booleans())
    for row in range(batch):
        real = draw(st.integers(1, length))
        if left:
            mask[row, length - real :] = 1
        else:
            mask[row, :real] = 1
    width = draw(st.integers(1, 3))
    targets = torch.tensor(draw(st.lists(in_vocabulary, min_size=batch * width, max_size=batch * width))).reshape(
        batch, width
    )
    use_labels = draw(st.booleans())
    if use_labels and width > 1 and draw(st.booleans()):
        targets[:, -1] = -100
    inputs = {"input_ids": source, "attention_mask": mask, "labels" if use_labels else "decoder_input_ids": targets}
    for corruption in draw(st.lists(st.sampled_from(CORRUPTIONS), max_size=2)):
        event(corruption)
        row, column = draw(st.integers(0, batch - 1)), draw(st.integers(0, length - 1))
        if corruption == "id outside the vocabulary":
            source[row, column] = draw(st.sampled_from([-3, -1, VOCAB, VOCAB + 7]))
        elif corruption == "ids of another dtype":
            inputs["input_ids"] = source.to(
                draw(st.sampled_from([torch.int, torch.int16, torch.uint8, torch.float32, torch.bool]))
            )
        elif corruption == "no mask":
            inputs.pop("attention_mask", None)
        elif corruption == "mask of another dtype":
            inputs["attention_mask"] = mask.to(
                draw(st.sampled_from([torch.bool, torch.float32, torch.float16, torch.int8]))
            )
        elif corruption == "mask value not 0/1":
            inputs["attention_mask"] = mask.float().index_put(
                (torch.tensor([row]), torch.tensor([column])),
                torch.tensor(draw(st.sampled_from([0.5, -1.0, 2.0, float("nan")]))),
            )
        elif corruption == "hole in the mask":
            mask[row, column] = 0
        elif corruption == "mask of another shape":
            inputs["attention_mask"] = torch.ones(
                batch + draw(st.sampled_from([-1, 1, 0])), length + draw(st.sampled_from([-1, 1]))
            )
        elif corruption == "target rows differ":
            key = "labels" if use_labels else "decoder_input_ids"
            inputs[key] = torch.cat([targets, targets[:1]]) if draw(st.booleans()) or batch == 1 else targets[1:]
        elif corruption == "no source positions":
            inputs["input_ids"], inputs["attention_mask"] = source[:, :0], mask[:, :0]
        elif corruption == "row of only padding":
            mask[row] = 0
    return inputs


MODELS: dict = {}


@pytest.mark.parametrize("name", list(BUILDERS))
@settings(max_examples=150)
@given(inputs=arbitrary_inputs())
def test_any_input_gives_finite_logits_or_a_value_error(name, inputs):
    model = MODELS.setdefault(name, BUILDERS[name]())
    try:
        with torch.no_grad():
            out = model(**inputs)
    except ValueError as error:
        event(f"ValueError: {str(error).split(' ')[0]}")
        return
    event("finite logits")
    assert torch.isfinite(out.logits).all()
