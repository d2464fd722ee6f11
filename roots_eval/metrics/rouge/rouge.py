"""ROUGE-1/2/L F-measure (mean over samples, 0-100) computed by rouge-score.

rouge-score's default tokenizer lowercases and replaces every character outside [a-z0-9]
with a space, so a Chinese summary becomes zero tokens and scores 0 against anything.
tokenizer="zh_char" scores Chinese on characters (CJK characters one token each, Latin
letter/digit runs one token each, punctuation dropped) instead.
"""
import re

import datasets
import evaluate
from rouge_score import rouge_scorer

_KWARGS = """
predictions: list of summary strings.
references: list of lists of reference summaries (best-matching reference counts, as rouge-score's
    score_multi), or a list of reference strings (one per prediction), as the Hub's `rouge` module accepts.
rouge_types: default ["rouge1", "rouge2", "rougeL"].
tokenizer: "default" (rouge-score's English tokenizer), "zh_char", or a callable text -> tokens (as the
    Hub module takes).
use_stemmer: Porter stemming for the default tokenizer (True for English).
use_aggregator: True (default) for means; False returns each sample's F-measure lists under the
    rouge type keys, as the Hub module does (0-100 here, like every roots_eval score).
per_sample: bool, also return each sample's F-measures under "per_sample".
"""

_ZH_TOKEN = re.compile(r"[a-z0-9]+|[^\W_]")


class ChineseCharTokenizer:
    """One token per CJK character (or other non-Latin letter), one per lower-cased [a-z0-9] run."""

    def tokenize(self, text):
        return _ZH_TOKEN.findall(text.lower())


class _CallableTokenizer:
    """rouge-score wants an object with .tokenize(); the Hub module takes a plain function."""

    def __init__(self, func):
        self.tokenize = func


class Rouge(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="rouge-score ROUGE F-measures with a character tokenizer option for Chinese.",
            citation="Lin, 2004. ROUGE: A Package for Automatic Evaluation of Summaries.",
            inputs_description=_KWARGS,
            features=[  # the two reference forms the Hub module takes
                datasets.Features({"predictions": datasets.Value("string"),
                                   "references": datasets.Sequence(datasets.Value("string"))}),
                datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
            ],
        )

    def _compute(self, predictions, references, rouge_types=None, tokenizer="default", use_stemmer=False, per_sample=False,
                 use_aggregator=True):
        rouge_types = list(rouge_types or ["rouge1", "rouge2", "rougeL"])
        if tokenizer == "zh_char":
            scorer = rouge_scorer.RougeScorer(rouge_types, tokenizer=ChineseCharTokenizer())
        elif callable(tokenizer):
            scorer = rouge_scorer.RougeScorer(rouge_types, tokenizer=_CallableTokenizer(tokenizer))
        elif tokenizer in ("default", None):
            scorer = rouge_scorer.RougeScorer(rouge_types, use_stemmer=use_stemmer)
        else:
            raise ValueError(f"unknown rouge tokenizer {tokenizer!r} (use 'default', 'zh_char' or a callable)")
        samples = {t: [] for t in rouge_types}
        for prediction, refs in zip(predictions, references):
            # a single reference string scores as rouge-score's score(); a list as score_multi()
            scores = scorer.score(refs, prediction) if isinstance(refs, str) else scorer.score_multi(list(refs), prediction)
            for t in rouge_types:
                samples[t].append(100.0 * scores[t].fmeasure)
        if not use_aggregator:
            return dict(samples)
        n = max(len(predictions), 1)
        result = {t: sum(v) / n for t, v in samples.items()}
        if per_sample:
            result["per_sample"] = samples
        return result
