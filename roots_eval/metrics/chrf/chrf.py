"""Corpus chrF (character n-gram F-score) computed by sacrebleu, with its signature string.

chrF works on characters, so it needs no tokenizer choice and is meaningful for Chinese.
"""
import evaluate
import sacrebleu

from roots_eval.metrics.common import REFERENCE_FORMS, as_reference_lists, bootstrap_stderr, reference_streams

_KWARGS = """
predictions: list of hypothesis strings.
references: list of lists of reference strings (same number per prediction), or a list of
    reference strings (one per prediction), as the Hub's `chrf` module accepts.
char_order, word_order (0 chrF, 2 chrF++), beta, lowercase, whitespace, eps_smoothing: as
    sacrebleu.CHRF (and the Hub module).
per_sample: bool, also return sentence-level chrF under "per_sample".
bootstrap_iters, seed: when bootstrap_iters > 0, return the bootstrap standard error under "stderr".
"""


class Chrf(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="sacrebleu corpus chrF (0-100) with signature.",
            citation="Popovic, 2015. chrF: character n-gram F-score for automatic MT evaluation.",
            inputs_description=_KWARGS,
            features=REFERENCE_FORMS,
        )

    def _compute(self, predictions, references, word_order=0, per_sample=False, bootstrap_iters=0, seed=1234,
                 char_order=sacrebleu.CHRF.CHAR_ORDER, beta=sacrebleu.CHRF.BETA, lowercase=False, whitespace=False,
                 eps_smoothing=False):
        references = as_reference_lists(references)
        ref_streams = reference_streams(references, "chrF")
        chrf = sacrebleu.CHRF(char_order=char_order, word_order=word_order, beta=beta, lowercase=lowercase,
                              whitespace=whitespace, eps_smoothing=eps_smoothing)
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
