"""SQuAD v1.1 exact match and F1 (0-100), following the official v1.1 evaluation logic.

Answers are normalised (lower case, ASCII punctuation and the articles a/an/the removed,
whitespace collapsed); F1 is over whitespace tokens; each prediction takes its best score
over all gold answers.
"""
import collections
import re
import string

import datasets
import evaluate

from roots_eval.metrics.common import SPAN_QA_FEATURES, SPAN_QA_INPUTS, squad_format_inputs

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text):
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def token_f1(prediction, gold):
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    overlap = sum((collections.Counter(pred_tokens) & collections.Counter(gold_tokens)).values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(pred_tokens)
    recall = overlap / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


class Squad(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="SQuAD v1.1 exact match and token F1.",
            citation="Rajpurkar et al., 2016. SQuAD: 100,000+ Questions for Machine Comprehension of Text.",
            inputs_description=SPAN_QA_INPUTS,
            features=SPAN_QA_FEATURES,
        )

    def _compute(self, predictions, references, per_sample=False):
        predictions, references = squad_format_inputs(predictions, references)
        em, f1 = [], []
        for prediction, golds in zip(predictions, references):
            em.append(100.0 * max(float(normalize_answer(prediction) == normalize_answer(g)) for g in golds))
            f1.append(100.0 * max(token_f1(prediction, g) for g in golds))
        n = max(len(predictions), 1)
        result = {"exact_match": sum(em) / n, "f1": sum(f1) / n}
        if per_sample:
            result["per_sample"] = {"exact_match": em, "f1": f1}
        return result
