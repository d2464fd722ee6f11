"""Quality signals of one document, computed on segmented words (jieba for Chinese).

Definitions follow BigScience ROOTS (character/word repetition, special characters,
stopword and flagged-word ratios with word-pair augmentation for Chinese) and Gopher
(mean word length, ellipsis and bullet lines). One deliberate change: the repetition
ratios count only n-grams that actually repeat, so a 20-character headline whose
n-grams are all distinct scores 0, not sqrt(n)/n.
"""
from __future__ import annotations

import math
import re
from collections import Counter

from .script import is_chinese
from .stopwords import flagged_words, stopwords

# Punctuation, symbols, digits, whitespace and emoji: anything that is not a letter or ideograph.
_NON_SPECIAL_RE = re.compile(r"[^\W\d_]", re.UNICODE)
_ELLIPSIS = ("...", "…", "。。。")
_BULLETS = ("•", "●", "▪", "◦", "‣", "-", "*", "·", "►", "✓")


def repetition_ratio(items: list[str], n: int, top_sqrt: bool) -> float:
    """Share of n-gram occurrences that belong to repeated n-grams.

    top_sqrt=True (ROOTS character repetition): only the sqrt(#distinct) most frequent
    n-grams count. top_sqrt=False (ROOTS word repetition): every repeated n-gram counts.
    """
    if len(items) < n:
        return 0.0
    if isinstance(items, str):
        grams = [items[i : i + n] for i in range(len(items) - n + 1)]
    else:
        grams = [" ".join(items[i : i + n]) for i in range(len(items) - n + 1)]
    counts = Counter(grams)
    freqs = sorted(counts.values(), reverse=True)
    if top_sqrt:
        freqs = freqs[: max(1, int(math.sqrt(len(freqs))))]
    repeated = sum(f for f in freqs if f > 1)
    return repeated / len(grams)


def _augmented(words: list[str], lang: str) -> list[str]:
    """Chinese stopword lists hold multi-character words that jieba may split: add the
    concatenation of each adjacent pair (ROOTS `words_augmentation_group_sizes: [2]`).
    As in ROOTS, matches in the augmented list are divided by the plain word count."""
    if not is_chinese(lang):
        return words
    return words + [a + b for a, b in zip(words, words[1:])]


def compute_signals(text: str, words: list[str], lang: str, char_ngram: int, word_ngram: int) -> dict[str, float]:
    n_chars = len(text)
    lower = [w.lower() for w in words]
    n_words = len(words)
    lines = [l for l in text.split("\n") if l.strip()]
    n_lines = max(len(lines), 1)
    aug = _augmented(lower, lang)
    sw, fw = stopwords(lang), flagged_words(lang)
    return {
        "n_chars": float(n_chars),
        "n_words": float(n_words),
        "mean_word_length": (sum(len(w) for w in words) / n_words) if n_words else 0.0,
        "char_repetition": repetition_ratio(text.replace("\n", " "), char_ngram, top_sqrt=True),
        "word_repetition": repetition_ratio(lower, word_ngram, top_sqrt=False),
        "special_char_ratio": (1.0 - len(_NON_SPECIAL_RE.findall(text)) / n_chars) if n_chars else 1.0,
        "stopword_ratio": min(1.0, sum(w in sw for w in aug) / n_words) if n_words and sw else 0.0,
        "flagged_word_ratio": min(1.0, sum(w in fw for w in aug) / n_words) if n_words and fw else 0.0,
        "ellipsis_line_ratio": sum(l.rstrip().endswith(_ELLIPSIS) for l in lines) / n_lines,
        "bullet_line_ratio": sum(l.lstrip().startswith(_BULLETS) for l in lines) / n_lines,
        "lorem_ipsum": float("lorem ipsum" in text.lower()),
    }
