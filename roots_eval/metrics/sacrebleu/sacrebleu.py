"""Corpus BLEU computed by sacrebleu, with its signature string.

Chinese targets need tokenize="zh": the default 13a tokenizer leaves an unsegmented Chinese
sentence as one token, so almost nothing matches and BLEU collapses towards 0.
"""
import datasets
import evaluate
import numpy
import sacrebleu

_DESCRIPTION = "sacrebleu corpus BLEU (0-100) with signature; per-sample sentence BLEU on request."
_KWARGS = """
predictions: list of hypothesis strings.
references: list of lists of reference strings (same number of references for every prediction).
tokenize: sacrebleu tokenizer name: "13a" (English and other spaced scripts) or "zh" (Chinese).
lowercase: bool, default False.
per_sample: bool, also return sentence-level BLEU for every prediction under "per_sample".
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


class Sacrebleu(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Post, 2018. A Call for Clarity in Reporting BLEU Scores.",
            inputs_description=_KWARGS,
            features=datasets.Features(
                {
                    "predictions": datasets.Value("string"),
                    "references": datasets.Sequence(datasets.Value("string")),
                }
            ),
        )

    def _compute(self, predictions, references, tokenize="13a", lowercase=False, per_sample=False, bootstrap_iters=0, seed=1234):
        ref_counts = {len(refs) for refs in references}
        if len(ref_counts) > 1:
            raise ValueError(f"sacrebleu needs the same number of references per prediction, got {sorted(ref_counts)}")
        n_refs = ref_counts.pop() if ref_counts else 1
        # sacrebleu wants one stream per reference, not one list per hypothesis
        ref_streams = [[refs[i] for refs in references] for i in range(n_refs)]
        bleu = sacrebleu.BLEU(tokenize=tokenize, lowercase=lowercase)
        corpus = bleu.corpus_score(list(predictions), ref_streams)
        result = {
            "bleu": corpus.score,
            "bp": corpus.bp,
            "sys_len": corpus.sys_len,
            "ref_len": corpus.ref_len,
            "signature": str(bleu.get_signature()),
        }
        if bootstrap_iters:
            stats = bleu._extract_corpus_statistics(list(predictions), ref_streams)
            result["stderr"] = {"bleu": bootstrap_stderr(bleu, stats, bootstrap_iters, seed)}
        if per_sample:
            sentence = sacrebleu.BLEU(tokenize=tokenize, lowercase=lowercase, effective_order=True)
            result["per_sample"] = {
                "sentence_bleu": [sentence.sentence_score(h, list(r)).score for h, r in zip(predictions, references)]
            }
        return result
