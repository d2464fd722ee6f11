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
references: list of lists of reference summaries (best-matching reference counts, as rouge-score's score_multi).
rouge_types: default ["rouge1", "rouge2", "rougeL"].
tokenizer: "default" (rouge-score's English tokenizer) or "zh_char".
use_stemmer: Porter stemming for the default tokenizer (True for English).
per_sample: bool, also return each sample's F-measures under "per_sample".
"""

_ZH_TOKEN = re.compile(r"[a-z0-9]+|[^\W_]")


class ChineseCharTokenizer:
    """One token per CJK character (or other non-Latin letter), one per lower-cased [a-z0-9] run."""

    def tokenize(self, text):
        return _ZH_TOKEN.findall(text.lower())


class Rouge(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="rouge-score ROUGE F-measures with a character tokenizer option for Chinese.",
            citation="Lin, 2004. ROUGE: A Package for Automatic Evaluation of Summaries.",
            inputs_description=_KWARGS,
            features=datasets.Features(
                {
                    "predictions": datasets.Value("string"),
                    "references": datasets.Sequence(datasets.Value("string")),
                }
            ),
        )

    def _compute(self, predictions, references, rouge_types=None, tokenizer="default", use_stemmer=False, per_sample=False):
        rouge_types = list(rouge_types or ["rouge1", "rouge2", "rougeL"])
        if tokenizer == "zh_char":
            scorer = rouge_scorer.RougeScorer(rouge_types, tokenizer=ChineseCharTokenizer())
        elif tokenizer == "default":
            scorer = rouge_scorer.RougeScorer(rouge_types, use_stemmer=use_stemmer)
        else:
            raise ValueError(f"unknown rouge tokenizer {tokenizer!r} (use 'default' or 'zh_char')")
        samples = {t: [] for t in rouge_types}
        for prediction, refs in zip(predictions, references):
            scores = scorer.score_multi(list(refs), prediction)
            for t in rouge_types:
                samples[t].append(100.0 * scores[t].fmeasure)
        n = max(len(predictions), 1)
        result = {t: sum(v) / n for t, v in samples.items()}
        if per_sample:
            result["per_sample"] = samples
        return result
