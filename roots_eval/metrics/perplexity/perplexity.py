"""Word perplexity, byte perplexity and bits per byte of whole texts (lm-evaluation-harness's
wikitext metrics), from each text's summed token log-likelihood.

All three are corpus-level ratios (sums over texts, not means of per-text values), so they do
not depend on how a tokenizer cuts the text: bits per byte = -sum(loglik) / (ln 2 * UTF-8
bytes). Words are whitespace-separated for English (as lm-evaluation-harness counts them) and
jieba words for Chinese (`words: jieba`), where whitespace separates nothing. Lower is better.
The standard error comes from resampling texts (bootstrap of the ratio).
"""
import math
import re

import datasets
import evaluate
import numpy


def count_words(text: str, words: str) -> int:
    if words == "jieba":
        import jieba

        jieba.setLogLevel(60)
        return sum(1 for w in jieba.cut(text) if w.strip())
    return len(re.split(r"\s+", text.strip())) if text.strip() else 0


def _scores(ll, n_words, n_bytes):
    nll = -float(numpy.sum(ll))
    return {"bits_per_byte": nll / (math.log(2) * max(numpy.sum(n_bytes), 1)),
            "byte_perplexity": math.exp(nll / max(numpy.sum(n_bytes), 1)),
            "word_perplexity": math.exp(min(nll / max(numpy.sum(n_words), 1), 700))}


class Perplexity(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="word/byte perplexity and bits per byte of texts",
            citation="",
            inputs_description="predictions: summed log-likelihood of each text (natural log); references: the texts; "
            "words: whitespace | jieba; per_sample; bootstrap_iters, seed",
            features=datasets.Features({"predictions": datasets.Value("float64"), "references": datasets.Value("string")}),
        )

    def _compute(self, predictions, references, words="whitespace", per_sample=False, bootstrap_iters=0, seed=1234):
        ll = numpy.asarray(predictions, dtype=float)
        n_words = numpy.array([count_words(t, words) for t in references], dtype=float)
        n_bytes = numpy.array([len(t.encode("utf-8")) for t in references], dtype=float)
        result = _scores(ll, n_words, n_bytes)
        n = len(ll)
        if bootstrap_iters and n > 1:
            rng = numpy.random.default_rng(seed)
            draws = [_scores(ll[i], n_words[i], n_bytes[i]) for i in (rng.integers(0, n, n) for _ in range(bootstrap_iters))]
            result["stderr"] = {k: float(numpy.std([d[k] for d in draws], ddof=1)) for k in result}
        if per_sample:
            result["per_sample"] = {"bits_per_byte": [-l / (math.log(2) * max(b, 1)) for l, b in zip(ll, n_bytes)]}
        return result
