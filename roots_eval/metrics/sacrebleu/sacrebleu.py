"""Corpus BLEU computed by sacrebleu, with its signature string.

Chinese targets need tokenize="zh": the default 13a tokenizer leaves an unsegmented Chinese
sentence as one token, so almost nothing matches and BLEU collapses towards 0.
"""
import evaluate
import sacrebleu

from roots_eval.metrics.common import REFERENCE_FORMS, as_reference_lists, bootstrap_stderr, reference_streams

_DESCRIPTION = "sacrebleu corpus BLEU (0-100) with signature; per-sample sentence BLEU on request."
_KWARGS = """
predictions: list of hypothesis strings.
references: list of lists of reference strings (same number of references for every prediction),
    or a list of reference strings (one per prediction), as the Hub's `sacrebleu` module accepts.
tokenize: sacrebleu tokenizer name: "13a" (English and other spaced scripts) or "zh" (Chinese).
lowercase: bool, default False.
smooth_method, smooth_value, force, use_effective_order: as sacrebleu.BLEU (and the Hub module).
per_sample: bool, also return sentence-level BLEU for every prediction under "per_sample".
bootstrap_iters, seed: when bootstrap_iters > 0, return the bootstrap standard error under "stderr".
"""


class Sacrebleu(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Post, 2018. A Call for Clarity in Reporting BLEU Scores.",
            inputs_description=_KWARGS,
            features=REFERENCE_FORMS,
        )

    def _compute(self, predictions, references, tokenize="13a", lowercase=False, per_sample=False, bootstrap_iters=0,
                 seed=1234, smooth_method="exp", smooth_value=None, force=False, use_effective_order=False):
        references = as_reference_lists(references)
        ref_streams = reference_streams(references, "sacrebleu")
        options = dict(lowercase=lowercase, force=force, smooth_method=smooth_method, smooth_value=smooth_value)
        bleu = sacrebleu.BLEU(tokenize=tokenize or "13a", effective_order=use_effective_order, **options)
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
            sentence = sacrebleu.BLEU(tokenize=tokenize or "13a", effective_order=True, **options)
            result["per_sample"] = {
                "sentence_bleu": [sentence.sentence_score(h, list(r)).score for h, r in zip(predictions, references)]
            }
        return result
