"""Token accuracy: the fraction of reference token positions where the prediction has the same token."""

import datasets
import evaluate

_DESCRIPTION = """
Token accuracy compares token ids position by position: each real reference position counts once, and is
right when the prediction holds the same id at that position. Padding is left out: positions whose reference
id is the ignore index (-100, the label padding of `DataCollatorForSeq2Seq`) or the pad id (`Seq2SeqTrainer`
pads labels to the generation length with it) do not count. A prediction that is shorter than its
reference, or holds the ignore index, is wrong at the missing positions. Predictions must be aligned with
the labels: generated sequences without their leading decoder start token.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[list[int]]`): predicted token ids, one sequence per example.
    references (`list[list[int]]`): reference token ids (labels), one sequence per example.
    ignore_index (`int`, defaults to -100): reference id of positions that do not count.
    pad_token_id (`int`, *optional*): the pad id; reference positions holding it do not count either.
Returns:
    token_accuracy (`float`): correct positions / counted positions, between 0 and 1.
Examples:
    >>> token_accuracy = evaluate.load("attnseq/data/metrics/token_accuracy")
    >>> token_accuracy.compute(predictions=[[5, 6, 2], [7, 2]], references=[[5, 7, 2], [7, 2, -100]])
    {'token_accuracy': 0.8}
    >>> token_accuracy.compute(predictions=[[5, 2, 0, 0]], references=[[6, 2, 0, 0]], pad_token_id=0)
    {'token_accuracy': 0.5}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class TokenAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("int64")),
                    "references": datasets.Sequence(datasets.Value("int64")),
                }
            ),
        )

    def _compute(self, predictions, references, ignore_index=-100, pad_token_id=None):
        skipped = {ignore_index} if pad_token_id is None else {ignore_index, pad_token_id}
        correct = counted = 0
        for prediction, reference in zip(predictions, references):
            for position, expected in enumerate(reference):
                if expected in skipped:
                    continue
                counted += 1
                correct += position < len(prediction) and prediction[position] == expected
        if counted == 0:
            raise ValueError(
                f"token_accuracy found no reference position that is not the ignore index {ignore_index} or the pad id "
                f"{pad_token_id}."
            )
        return {"token_accuracy": correct / counted}
