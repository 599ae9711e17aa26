"""Exact match (sequence accuracy): the fraction of predicted texts equal to their reference."""

import datasets
import evaluate

_DESCRIPTION = """
Exact match, also called sequence accuracy: the fraction of predictions that equal their reference string
character for character. It is the score of the book's addition and date tasks, where an answer is either
right or wrong.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[str]`): the predicted texts.
    references (`list[str]`): one reference text per prediction.
    ignore_case (`bool`, defaults to `False`): compare the texts lower-cased.
    strip (`bool`, defaults to `False`): compare the texts with surrounding white space removed.
Returns:
    exact_match (`float`): the fraction of exact matches, between 0 and 1.
Examples:
    >>> exact_match = evaluate.load("attnseq/data/metrics/exact_match")
    >>> exact_match.compute(predictions=["62", "1994-09-27", "8"], references=["62", "1994-09-28", "8"])
    {'exact_match': 0.6666666666666666}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class ExactMatch(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references, ignore_case=False, strip=False):
        if not predictions:
            raise ValueError("exact_match needs at least one prediction.")

        def normalize(text):
            text = text.strip() if strip else text
            return text.lower() if ignore_case else text

        matches = sum(normalize(p) == normalize(r) for p, r in zip(predictions, references))
        return {"exact_match": matches / len(predictions)}
