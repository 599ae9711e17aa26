"""Corpus chrF and chrF++ computed by sacrebleu (Popović, 2015 and 2017)."""

import datasets
import evaluate
import sacrebleu

_CITATION = """
@inproceedings{popovic-2015-chrf,
    title = "chr{F}: character n-gram {F}-score for automatic {MT} evaluation",
    author = "Popovi{\\'c}, Maja",
    booktitle = "Proceedings of the Tenth Workshop on Statistical Machine Translation",
    year = "2015",
    publisher = "Association for Computational Linguistics",
    url = "https://aclanthology.org/W15-3049",
    pages = "392--395",
}
"""

_DESCRIPTION = """
chrF: the F-score of character n-grams (up to 6) between predictions and references, over the whole corpus,
computed by sacrebleu. With `word_order=2` it is chrF++, which adds word uni- and bigrams. Scores range from
0 to 100. It rewards partly right outputs, which suits character-level models.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[str]`): the predicted texts.
    references (`list[str]` or `list[list[str]]`): one reference per prediction, or the same number of
        references for every prediction.
    char_order (`int`, defaults to 6): the longest character n-gram.
    word_order (`int`, defaults to 0): the longest word n-gram (2 gives chrF++).
    beta (`int`, defaults to 2): recall is beta times as important as precision.
    lowercase (`bool`, defaults to `False`): compare lower-cased text.
    whitespace (`bool`, defaults to `False`): keep white space in the character n-grams.
Returns:
    chrf (`float`): the score, 0 to 100.
    signature (`str`): sacrebleu's signature of the settings, for reporting.
Examples:
    >>> chrf = evaluate.load("attnseq/data/metrics/chrf")
    >>> chrf.compute(predictions=["1994-09-27"], references=["1994-09-27"])["chrf"]
    100.0
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Chrf(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=[
                datasets.Features(
                    {
                        "predictions": datasets.Value("string"),
                        "references": datasets.Sequence(datasets.Value("string")),
                    }
                ),
                datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
            ],
            reference_urls=["https://github.com/mjpost/sacrebleu"],
        )

    def _compute(self, predictions, references, char_order=6, word_order=0, beta=2, lowercase=False, whitespace=False):
        references = [[reference] if isinstance(reference, str) else list(reference) for reference in references]
        counts = {len(reference) for reference in references}
        if len(counts) != 1:
            raise ValueError(f"every prediction needs the same number of references; got {sorted(counts)}.")
        streams = [list(stream) for stream in zip(*references)]
        metric = sacrebleu.CHRF(
            char_order=char_order, word_order=word_order, beta=beta, lowercase=lowercase, whitespace=whitespace
        )
        score = metric.corpus_score(predictions, streams)
        return {"chrf": score.score, "signature": str(metric.get_signature())}
