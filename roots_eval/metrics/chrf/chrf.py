"""Corpus chrF (character n-gram F-score) computed by sacrebleu, with its signature string.

chrF works on characters, so it needs no tokenizer choice and is meaningful for Chinese.
"""
import datasets
import evaluate
import numpy
import sacrebleu

_KWARGS = """
predictions: list of hypothesis strings.
references: list of lists of reference strings (same number per prediction).
word_order: 0 for chrF (default), 2 for chrF++.
per_sample: bool, also return sentence-level chrF under "per_sample".
bootstrap_iters, seed: when bootstrap_iters > 0, return the bootstrap standard error under "stderr".
"""


def bootstrap_stderr(metric, stats, iters, seed):
    """Standard deviation of the corpus score over resamples of the sentences.

    Resamples sacrebleu's per-sentence sufficient statistics (as its own paired bootstrap
    does) instead of re-tokenising the corpus for every draw.
    """
    n = len(stats)
    if iters <= 0 or n < 2:
        return None
    table = numpy.asarray(stats, dtype=float)
    rng = numpy.random.default_rng(seed)
    scores = [metric._compute_score_from_stats(list(table[rng.integers(0, n, n)].sum(axis=0))).score for _ in range(iters)]
    return float(numpy.std(scores, ddof=1))


class Chrf(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="sacrebleu corpus chrF (0-100) with signature.",
            citation="Popovic, 2015. chrF: character n-gram F-score for automatic MT evaluation.",
            inputs_description=_KWARGS,
            features=datasets.Features(
                {
                    "predictions": datasets.Value("string"),
                    "references": datasets.Sequence(datasets.Value("string")),
                }
            ),
        )

    def _compute(self, predictions, references, word_order=0, per_sample=False, bootstrap_iters=0, seed=1234):
        ref_counts = {len(refs) for refs in references}
        if len(ref_counts) > 1:
            raise ValueError(f"chrF needs the same number of references per prediction, got {sorted(ref_counts)}")
        n_refs = ref_counts.pop() if ref_counts else 1
        ref_streams = [[refs[i] for refs in references] for i in range(n_refs)]
        chrf = sacrebleu.CHRF(word_order=word_order)
        result = {
            "chrf": chrf.corpus_score(list(predictions), ref_streams).score,
            "signature": str(chrf.get_signature()),
        }
        if bootstrap_iters:
            stats = chrf._extract_corpus_statistics(list(predictions), ref_streams)
            result["stderr"] = {"chrf": bootstrap_stderr(chrf, stats, bootstrap_iters, seed)}
        if per_sample:
            result["per_sample"] = {
                "sentence_chrf": [chrf.sentence_score(h, list(r)).score for h, r in zip(predictions, references)]
            }
        return result
