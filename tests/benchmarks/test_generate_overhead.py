"""benchmarks/generate_overhead.py compares generate() with two hand-written greedy loops; the comparison only
means something if all three decode the same tokens."""

import pytest
import torch
from benchmark_scripts import load_benchmark

from attnseq import Seq2SeqLSTMConfig, Seq2SeqLSTMForConditionalGeneration
from attnseq.serving import quantize


@pytest.fixture(scope="module")
def generate_overhead():
    return load_benchmark("generate_overhead.py", "generate_overhead")


@pytest.mark.parametrize("int8", [False, True], ids=["float32", "int8"])
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_hand_loops_decode_what_generate_decodes(generate_overhead, cell, int8):
    torch.manual_seed(0)
    config = Seq2SeqLSTMConfig(
        vocab_size=23, embedding_size=16, hidden_size=32, cell=cell, bidirectional_encoder=True, attention="additive"
    )
    model = Seq2SeqLSTMForConditionalGeneration(config).eval()
    if int8:
        quantize(model)
    encoded = [{"input_ids": torch.randint(3, 23, (1, length)), "attention_mask": torch.ones(1, length, dtype=torch.long)}
               for length in (1, 4, 9)]  # fmt: skip

    def generate():
        with torch.inference_mode():
            return [model.generate(**inputs, num_beams=1, do_sample=False, max_new_tokens=12) for inputs in encoded]

    # EOS becomes the token that appears last for the first time in the first output: outputs end at different steps
    first = generate()[0][0].tolist()
    step = max(i for i in range(2, len(first)) if first[i] not in first[:i])
    model.config.eos_token_id = model.generation_config.eos_token_id = first[step]
    expected = generate()
    assert expected[0][0].tolist() == first[: step + 1]
    assert sum(output.size(1) for output in expected) > 3 * 5  # the loops have several steps to agree on
    for through_forward in (True, False):
        decoded = generate_overhead.greedy_loop(model, encoded, 12, through_forward=through_forward)()
        assert [output.tolist() for output in decoded] == [output.tolist() for output in expected]
