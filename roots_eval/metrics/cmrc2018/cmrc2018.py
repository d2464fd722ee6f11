"""CMRC 2018 exact match and F1 (0-100), reproducing the official evaluation script's logic.

- mixed segmentation: lower-case; every CJK character (U+4E00-U+9FA5) and every character of
  the official punctuation list is its own token; the runs in between are word-tokenised
  (the official script calls nltk.word_tokenize; NLTK's Treebank-style word tokenizer is
  used here because word_tokenize needs the punkt download, which is unavailable offline and
  only changes sentence-final periods inside an answer span);
- F1: length of the longest common *contiguous* token sequence, as precision/recall;
- EM: exact string equality after lower-casing and removing the punctuation list.
Best score over all gold answers. Note the official list holds '……' as one two-character
entry, so it never matches a single character; that quirk is kept.
"""
import difflib
import re

import datasets
import evaluate

from roots_eval.metrics.common import SPAN_QA_FEATURES, SPAN_QA_INPUTS, squad_format_inputs
from nltk.tokenize import NLTKWordTokenizer

PUNCTUATION = [
    "-", ":", "_", "*", "^", "/", "\\", "~", "`", "+", "=",
    "，", "。", "：", "？", "！", "“", "”", "；", "’", "《", "》", "……", "·", "、",
    "「", "」", "（", "）", "－", "～", "『", "』",
]
_PUNCTUATION_SET = frozenset(PUNCTUATION)
_CJK = re.compile("[\u4e00-\u9fa5]")
_WORDS = NLTKWordTokenizer()


def mixed_segmentation(text, remove_punctuation=False):
    tokens, run = [], ""
    for ch in str(text).lower().strip():
        if remove_punctuation and ch in _PUNCTUATION_SET:
            continue
        if _CJK.match(ch) or ch in _PUNCTUATION_SET:
            if run:
                tokens.extend(_WORDS.tokenize(run))
                run = ""
            tokens.append(ch)
        else:
            run += ch
    if run:
        tokens.extend(_WORDS.tokenize(run))
    return tokens


def strip_punctuation(text):
    return "".join(ch for ch in str(text).lower().strip() if ch not in _PUNCTUATION_SET)


def lcs_f1(prediction, gold):
    pred_tokens = mixed_segmentation(prediction, remove_punctuation=True)
    gold_tokens = mixed_segmentation(gold, remove_punctuation=True)
    matcher = difflib.SequenceMatcher(None, gold_tokens, pred_tokens, autojunk=False)
    common = matcher.find_longest_match(0, len(gold_tokens), 0, len(pred_tokens)).size
    if common == 0:
        return 0.0
    precision = common / len(pred_tokens)
    recall = common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


class Cmrc2018(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="CMRC 2018 exact match and LCS-based F1 for Chinese span extraction.",
            citation="Cui et al., 2019. A Span-Extraction Dataset for Chinese Machine Reading Comprehension.",
            inputs_description=SPAN_QA_INPUTS,
            features=SPAN_QA_FEATURES,
        )

    def _compute(self, predictions, references, per_sample=False):
        predictions, references = squad_format_inputs(predictions, references)
        em, f1 = [], []
        for prediction, golds in zip(predictions, references):
            em.append(100.0 * max(float(strip_punctuation(prediction) == strip_punctuation(g)) for g in golds))
            f1.append(100.0 * max(lcs_f1(prediction, g) for g in golds))
        n = max(len(predictions), 1)
        result = {"exact_match": sum(em) / n, "f1": sum(f1) / n}
        if per_sample:
            result["per_sample"] = {"exact_match": em, "f1": f1}
        return result
