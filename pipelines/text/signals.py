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

import numpy as np

from . import fast_signals as fast
from .script import DIGIT_RE, NON_SPECIAL_RE, SPACE_RE, is_chinese
from .stopwords import flagged_words, stopwords

# Letters, ideographs and digits are text; punctuation, symbols and emoji are "special".
# Digits are not special: 理想固网2017年营收540万元 is a plain news headline. Number dumps are
# bounded by their own signal, `digit_ratio`. (The classes: NON_SPECIAL_RE, DIGIT_RE, SPACE_RE.)
DIVERSITY_WINDOW = 50
# A line that ends a sentence: terminal punctuation, then any closing quotes or brackets.
_SENTENCE_END_RE = re.compile(r"[.!?。！？…;；:：][\"”’」』)）\]]*$")
SENTENCE_LINES_MIN = 3
_ELLIPSIS = ("...", "…", "。。。")
_BULLETS = ("•", "●", "▪", "◦", "‣", "-", "*", "·", "►", "✓")


def repetition_ratio(items: list[str], n: int, top_sqrt: bool) -> float:
    """Share of n-gram occurrences that belong to repeated n-grams.

    top_sqrt=True (ROOTS character repetition): only the sqrt(#distinct) most frequent
    n-grams count. top_sqrt=False (ROOTS word repetition): every repeated n-gram counts.
    Word n-grams are tuples of words (as `fast_signals` compares word ids).
    """
    m = len(items) - n + 1
    if m <= 0:
        return 0.0
    if isinstance(items, str):
        counts = Counter([items[i : i + n] for i in range(m)])
    else:
        counts = Counter(zip(*[items[i : i + m] for i in range(n)]))
    repeated = [f for f in counts.values() if f > 1]
    if top_sqrt:
        # The top sqrt(#distinct) frequencies: the repeated ones are the largest, and usually few.
        k = max(1, int(math.sqrt(len(counts))))
        if len(repeated) > k:
            repeated = sorted(repeated, reverse=True)[:k]
    return sum(repeated) / m


def word_diversity(words: list[str], window: int = DIVERSITY_WINDOW) -> float:
    """Moving-average type-token ratio (Covington & McFall 2010): the mean share of distinct
    words in every `window`-word stretch; the plain ratio for shorter texts. Unlike the
    type-token ratio of the whole text it does not fall with length, so one bound fits a
    review and a book chapter. Phrase spam, keyword stuffing and templated pages say the
    same few words over and over (0.1-0.4); prose rarely goes below 0.5 in either language.

    Summed by position (no Counter slid along the text): word j is new in every window
    that holds j but not the previous occurrence of the same word."""
    n = len(words)
    if n == 0:
        return 0.0
    if n <= window:
        return len(set(words)) / n
    last_seen: dict[str, int] = {}
    total, top = 0, n - window
    for j, w in enumerate(words):
        first = last_seen.get(w, -1) + 1  # windows start at first..last and hold j, not w's previous
        last_seen[w] = j
        if first < j - window + 1:
            first = j - window + 1
        last = j if j < top else top
        if last >= first:
            total += last - first + 1
    return total / ((n - window + 1) * window)


def sentence_line_ratio(lines: list[str]) -> float:
    """Share of the characters of a page that sit in lines ending a sentence (C4 keeps only
    such lines). Menus, link lists, teaser headlines and captions do not end in punctuation;
    prose does, in both languages. Texts of fewer than SENTENCE_LINES_MIN lines score 1:
    a title or a one-line review is judged by its words, not by a layout it does not have."""
    if len(lines) < SENTENCE_LINES_MIN:
        return 1.0
    total = sum(len(l) for l in lines)
    return sum(len(l) for l in lines if _SENTENCE_END_RE.search(l.rstrip())) / total if total else 1.0


def _augmented(words: list[str], lang: str) -> list[str]:
    """Chinese stopword lists hold multi-character words that jieba may split: add the
    concatenation of each adjacent pair (ROOTS `words_augmentation_group_sizes: [2]`).
    As in ROOTS, matches in the augmented list are divided by the plain word count."""
    if not is_chinese(lang):
        return words
    return words + [a + b for a, b in zip(words, words[1:])]


def _char_counts(text: str) -> tuple[int, int, int]:
    """(non-special, digit, whitespace) characters."""
    if len(text) < fast.MIN_CHARS_CLASSES:
        return len(NON_SPECIAL_RE.findall(text)), len(DIGIT_RE.findall(text)), len(SPACE_RE.findall(text))
    return fast.class_counts(fast.codepoints(text))


def _char_repetition(text: str, n: int) -> float:
    if len(text) < fast.MIN_CHARS_REPETITION:
        return repetition_ratio(text.replace("\n", " "), n, top_sqrt=True)
    cps = fast.codepoints(text)
    return fast.repetition_from_counts(fast.ngram_counts(np.where(cps == 10, 32, cps), n), top_sqrt=True)


def _word_repetition_diversity(lower: list[str], n: int) -> tuple[float, float]:
    if len(lower) < fast.MIN_WORDS:
        return repetition_ratio(lower, n, top_sqrt=False), word_diversity(lower)
    ids, distinct = fast.word_ids(lower)
    return (fast.repetition_from_counts(fast.ngram_counts(ids, n), top_sqrt=False),
            fast.word_diversity(ids, distinct, DIVERSITY_WINDOW))


def compute_signals(text: str, words: list[str], lang: str, char_ngram: int, word_ngram: int) -> dict[str, float]:
    """The signals of one document. Long documents are counted vectorised (`fast_signals`,
    tested equal to the definitions above)."""
    n_chars = len(text)
    non_special, digits, spaces = _char_counts(text)
    # Ratios are over visible characters: line breaks and spaces are layout, not content.
    n_visible = n_chars - spaces
    lower = list(map(str.lower, words))
    n_words = len(words)
    lines = [l for l in text.split("\n") if l.strip()]
    n_lines = max(len(lines), 1)
    aug = _augmented(lower, lang)
    sw, fw = stopwords(lang), flagged_words(lang)
    word_repetition, diversity = _word_repetition_diversity(lower, word_ngram)
    return {
        "n_chars": float(n_chars),
        "n_words": float(n_words),
        "mean_word_length": (sum(map(len, words)) / n_words) if n_words else 0.0,
        "char_repetition": _char_repetition(text, char_ngram),
        "word_repetition": word_repetition,
        "special_char_ratio": (1.0 - non_special / n_visible) if n_visible else 1.0,
        "digit_ratio": digits / n_visible if n_visible else 0.0,
        "word_diversity": diversity,
        "sentence_line_ratio": sentence_line_ratio(lines),
        "stopword_ratio": min(1.0, sum(map(sw.__contains__, aug)) / n_words) if n_words and sw else 0.0,
        "flagged_word_ratio": min(1.0, sum(map(fw.__contains__, aug)) / n_words) if n_words and fw else 0.0,
        # Like sentence_line_ratio, a layout signal: a review that trails off with …… is
        # still a review; a page of truncated teaser lines is not.
        "ellipsis_line_ratio": (sum(l.rstrip().endswith(_ELLIPSIS) for l in lines) / n_lines
                                if len(lines) >= SENTENCE_LINES_MIN else 0.0),
        "bullet_line_ratio": sum(l.lstrip().startswith(_BULLETS) for l in lines) / n_lines,
        "lorem_ipsum": float("lorem ipsum" in text.lower()),
    }
