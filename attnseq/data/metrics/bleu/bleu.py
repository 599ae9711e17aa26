"""Corpus BLEU computed by sacrebleu (Post, 2018), with one or several references per prediction."""

import datasets
import evaluate
import sacrebleu

_CITATION = """
@inproceedings{post-2018-call,
    title = "A Call for Clarity in Reporting {BLEU} Scores",
    author = "Post, Matt",
    booktitle = "Proceedings of the Third Conference on Machine Translation: Research Papers",
    year = "2018",
    publisher = "Association for Computational Linguistics",
    url = "https://www.aclweb.org/anthology/W18-6319",
    pages = "186--191",
}
"""

_DESCRIPTION = """
BLEU (Papineni et al., 2002) over the whole corpus, computed by sacrebleu so that scores are comparable with
published ones: sacrebleu tokenizes the detokenized texts itself. Scores range from 0 to 100.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[str]`): the predicted (detokenized) texts.
    references (`list[str]` or `list[list[str]]`): one reference per prediction, or the same number of
        references for every prediction.
    tokenize (`str`, defaults to "13a"): sacrebleu's tokenizer ("13a", "intl", "char", "zh", "none", ...).
    lowercase (`bool`, defaults to `False`): compare lower-cased text.
    smooth_method (`str`, defaults to "exp"): "none", "floor", "add-k" or "exp".
Returns:
    bleu (`float`): the score, 0 to 100.
    precisions (`list[float]`): the 1- to 4-gram precisions.
    brevity_penalty (`float`), sys_len (`int`), ref_len (`int`): the length terms.
    signature (`str`): sacrebleu's signature of the settings, for reporting.
Examples:
    >>> bleu = evaluate.load("attnseq/data/metrics/bleu")
    >>> bleu.compute(predictions=["the cat sat on the mat"], references=["the cat sat on the mat"])["bleu"]
    100.00000000000004
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Bleu(evaluate.Metric):
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

    def _compute(self, predictions, references, tokenize="13a", lowercase=False, smooth_method="exp"):
        references = [[reference] if isinstance(reference, str) else list(reference) for reference in references]
        counts = {len(reference) for reference in references}
        if len(counts) != 1:
            raise ValueError(f"every prediction needs the same number of references; got {sorted(counts)}.")
        streams = [list(stream) for stream in zip(*references)]
        metric = sacrebleu.BLEU(tokenize=tokenize, lowercase=lowercase, smooth_method=smooth_method)
        score = metric.corpus_score(predictions, streams)
        return {
            "bleu": score.score,
            "precisions": list(score.precisions),
            "brevity_penalty": score.bp,
            "sys_len": score.sys_len,
            "ref_len": score.ref_len,
            "signature": str(metric.get_signature()),
        }
