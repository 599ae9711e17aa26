"""`--label_smoothing_factor` (transformers' `LabelSmoother` inside the Trainer) works with both families."""

import pytest
import torch
from transformers import Seq2SeqTrainingArguments
from transformers.trainer_pt_utils import LabelSmoother

from attnseq import (
    Seq2SeqLSTMConfig,
    Seq2SeqLSTMForConditionalGeneration,
    Seq2SeqTransformerConfig,
    Seq2SeqTransformerForConditionalGeneration,
)
from attnseq.data.encoding import build_data_collator
from attnseq.tokenization.char import CharTokenizer
from attnseq.training.trainer import AttnseqTrainer

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(family, vocab_size):
    if family == "lstm":
        return Seq2SeqLSTMForConditionalGeneration(Seq2SeqLSTMConfig(vocab_size=vocab_size, hidden_size=8))
    config = Seq2SeqTransformerConfig(
        vocab_size=vocab_size,
        d_model=8,
        encoder_layers=1,
        decoder_layers=1,
        encoder_ffn_dim=16,
        decoder_ffn_dim=16,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
    )
    return Seq2SeqTransformerForConditionalGeneration(config)


@pytest.mark.parametrize("family", ["lstm", "transformer"])
def test_smoothed_loss_is_the_label_smoother_on_the_models_logits(tmp_path, family):
    tokenizer = CharTokenizer.from_texts(["abc", "cba", "hello", "olleh"])
    torch.manual_seed(0)
    model = tiny(family, len(tokenizer)).eval()
    features = [
        {"input_ids": tokenizer(source)["input_ids"], "labels": tokenizer(text_target=target)["input_ids"]}
        for source, target in (("abc", "cba"), ("hello", "olleh"))
    ]
    batch = build_data_collator(tokenizer, model)(features)  # labels padded with -100, decoder inputs shifted
    losses = {}
    for factor in (0.0, 0.1):
        args = Seq2SeqTrainingArguments(
            str(tmp_path / str(factor)), label_smoothing_factor=factor, report_to="none", use_cpu=True
        )
        trainer = AttnseqTrainer(model=model, args=args, processing_class=tokenizer)
        with torch.no_grad():
            losses[factor] = trainer.compute_loss(model, dict(batch)).item()
    with torch.no_grad():
        logits = model(**{key: value for key, value in batch.items() if key != "labels"}).logits
        plain = model(**batch).loss.item()
    expected = LabelSmoother(epsilon=0.1)({"logits": logits}, batch["labels"]).item()
    assert losses[0.0] == pytest.approx(plain, rel=1e-5)
    assert losses[0.1] == pytest.approx(expected, rel=1e-5)
    assert abs(losses[0.1] - plain) > 1e-4  # the smoothing reached the loss
