"""The models keep their generation defaults through a user's own stock `Seq2SeqTrainer`.

`Seq2SeqTrainer.prediction_step` fills transformers' whole default set (`max_length=20` among it) into
`model.generation_config`; saved, that would make every later `generate()` stop at 20 tokens and every
`generate(max_new_tokens=...)` warn that both lengths are set.
"""

import json
import logging

import numpy as np
import pytest
import torch
from datasets import Dataset
from transformers import (
    AutoModelForSeq2SeqLM,
    DataCollatorForSeq2Seq,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
)

from attnseq import (
    CharTokenizer,
    Seq2SeqLSTMConfig,
    Seq2SeqLSTMForConditionalGeneration,
    Seq2SeqTransformerConfig,
    Seq2SeqTransformerForConditionalGeneration,
)
from attnseq.modeling.seq2seq import DEFAULT_MAX_LENGTH

PAIRS = [("abc", "cba"), ("hello", "olleh"), ("xyz", "zyx"), ("tests", "stset")] * 4


def _lstm(tokenizer):
    config = Seq2SeqLSTMConfig(
        vocab_size=len(tokenizer), hidden_size=64, embedding_size=32, attention="dot",
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.bos_token_id,
    )  # fmt: skip
    return Seq2SeqLSTMForConditionalGeneration(config)


def _transformer(tokenizer):
    config = Seq2SeqTransformerConfig(
        vocab_size=len(tokenizer), d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.bos_token_id,
    )  # fmt: skip
    return Seq2SeqTransformerForConditionalGeneration(config)


@pytest.mark.parametrize("build", [_lstm, _transformer], ids=["lstm", "transformer"])
def test_a_stock_seq2seq_trainer_leaves_the_generation_defaults(build, tmp_path, caplog):
    torch.manual_seed(0)
    tokenizer = CharTokenizer.from_texts([text for pair in PAIRS for text in pair])
    model = build(tokenizer)
    data = Dataset.from_dict({"source": [s for s, _ in PAIRS], "target": [t for _, t in PAIRS]})
    data = data.map(
        lambda row: tokenizer(row["source"], text_target=row["target"]), remove_columns=["source", "target"]
    )
    scored = []

    def compute_metrics(evaluation):
        scored.append(len(evaluation.predictions))
        return {"rows": float(np.asarray(evaluation.predictions).shape[0])}

    args = Seq2SeqTrainingArguments(
        output_dir=str(tmp_path / "run"), predict_with_generate=True, generation_max_length=16,
        eval_strategy="steps", eval_steps=2, max_steps=2, per_device_train_batch_size=8,
        per_device_eval_batch_size=8, report_to=[], save_strategy="no", use_cpu=True, disable_tqdm=True,
    )  # fmt: skip
    trainer = Seq2SeqTrainer(
        model=model, args=args, train_dataset=data, eval_dataset=data, processing_class=tokenizer,
        data_collator=DataCollatorForSeq2Seq(tokenizer, model=model), compute_metrics=compute_metrics,
    )  # fmt: skip
    trainer.train()
    assert scored, "the Trainer evaluated with compute_metrics"
    out = tmp_path / "saved"
    trainer.save_model(str(out))
    saved = json.loads((out / "generation_config.json").read_text())
    assert "max_length" not in saved and "top_k" not in saved and "num_beams" not in saved, saved

    reloaded = AutoModelForSeq2SeqLM.from_pretrained(out)
    limit = reloaded.config.position_limit
    expected = DEFAULT_MAX_LENGTH if limit is None else min(DEFAULT_MAX_LENGTH, limit + 1)
    source = tokenizer(["abc"], return_tensors="pt")
    # a model that never stops: the length limit alone ends the generation
    reloaded.config.eos_token_id = reloaded.generation_config.eos_token_id = None
    with torch.no_grad():
        assert reloaded.generate(**source).shape[1] == expected
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            assert reloaded.generate(**source, max_new_tokens=5).shape[1] == 6
    assert not [record for record in caplog.records if "max_new_tokens" in record.getMessage()]
    # the trained model in memory also generates with its own defaults
    model.generation_config.eos_token_id = model.config.eos_token_id = None
    with torch.no_grad():
        assert model.generate(**{k: v.to(model.device) for k, v in source.items()}).shape[1] == expected
