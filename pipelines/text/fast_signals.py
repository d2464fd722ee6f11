"""Vectorised forms of the costly quality signals (numpy over code points and word ids),
used for documents long enough to gain from them.

The pure-Python definitions in `signals.py` stay the reference: `tests/pipelines/test_signals_fast.py`
checks that these give the same values (bit for bit: the same integer counts divided the
same way) on every document of the shared corpus and on edge cases. Character repetition,
word repetition, word diversity and the character-class counts are most of the time of
`compute_signals` in Python (`benchmarks/bench_pipeline.py` measures the core as a whole).

Exactness: code points (< 2**21) and per-document word ids (< 2**21: a document has at most
`read.max_doc_chars` = 1e6 words) are packed three to a 64-bit key, so n-grams are compared
exactly: a hash-like mix of the keys only orders them, and its collisions are detected.
"""
from __future__ import annotations

import math

import numpy as np

from .script import DIGIT_RE, NON_SPECIAL_RE, SPACE_RE

_BITS = 21
_PER_KEY = 3  # 21-bit values per uint64 key
_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit multiplier mixing the keys of one n-gram
NON_SPECIAL, DIGIT, SPACE = 1, 2, 4


def _classify(ch: str) -> int:
    # The regexes of signals.py's reference counts, one character at a time.
    return ((NON_SPECIAL if NON_SPECIAL_RE.match(ch) else 0) | (DIGIT if DIGIT_RE.match(ch) else 0)
            | (SPACE if SPACE_RE.match(ch) else 0))


# Row f of this matrix picks the class codes that have flag f.
_CLASS_WEIGHTS = np.array([[1 if c & flag else 0 for c in range(8)] for flag in (NON_SPECIAL, DIGIT, SPACE)],
                          dtype=np.int64)
# Below these sizes Python's own str/Counter/regex work beats numpy's per-call overhead
# (measured per length bucket on corpus_web_mixed, where the median document has 30
# characters); above them the vectorised forms are 2-5x faster.
MIN_CHARS_CLASSES, MIN_CHARS_REPETITION, MIN_WORDS = 200, 300, 300


def codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _bmp_classes() -> np.ndarray:
    """`_classify` of every character of the Basic Multilingual Plane, each regex run once
    over all of them (~10 ms, where 65,536 calls took ~30 ms of every process's start): the
    regexes match one character each, so a character is in a class exactly when the
    regex's substitution replaces it (with a code point beyond the plane, found by value)."""
    plane = "".join(map(chr, range(0x10000)))
    marker = "\U0010ffff"
    classes = np.zeros(0x10000, dtype=np.uint8)
    for regex, flag in ((NON_SPECIAL_RE, NON_SPECIAL), (DIGIT_RE, DIGIT), (SPACE_RE, SPACE)):
        classes |= (codepoints(regex.sub(marker, plane)) == ord(marker)).astype(np.uint8) * flag
    return classes


# Classes of the Basic Multilingual Plane, built once per process; characters beyond it
# (emoji, rare ideographs) are classified one by one.
_BMP = _bmp_classes()


def class_counts(cps: np.ndarray) -> tuple[int, int, int]:
    """(non-special, digit, whitespace) character counts, as `NON_SPECIAL_RE`, `DIGIT_RE`
    and `SPACE_RE` would find them."""
    if not len(cps):
        return 0, 0, 0
    bmp = cps < 0x10000
    if bmp.all():
        classes = _BMP[cps]
    else:
        classes = np.empty(len(cps), dtype=np.uint8)
        classes[bmp] = _BMP[cps[bmp]]
        classes[~bmp] = [_classify(chr(c)) for c in cps[~bmp].tolist()]
    non_special, digit, space = (_CLASS_WEIGHTS @ np.bincount(classes, minlength=8)).tolist()
    return non_special, digit, space


def _packed_keys(values: np.ndarray, n: int) -> list[np.ndarray]:
    """The n-grams of `values` as ceil(n/3) uint64 keys each, exactly (three 21-bit values a key)."""
    m = len(values) - n + 1
    v = values.astype(np.uint64)
    keys = []
    for start in range(0, n, _PER_KEY):
        key = np.zeros(m, dtype=np.uint64)
        for j in range(start, min(start + _PER_KEY, n)):
            key = (key << np.uint64(_BITS)) | v[j : j + m]
        keys.append(key)
    return keys


def ngram_counts(values: np.ndarray, n: int) -> np.ndarray:
    """Occurrence counts of the distinct n-grams of a sequence of values < 2**21 (any order).

    Up to 3 values an n-gram is one exact key, sorted. Longer n-grams are sorted by a
    mix of their keys (one sort instead of a lexsort over every key, 3x faster at n = 10),
    then every key is compared along the sorted order: a mix collision (two different
    n-grams side by side under one value) is detected and the exact lexsort decides."""
    m = len(values) - n + 1
    if m <= 0:
        return np.zeros(0, dtype=np.int64)
    keys = _packed_keys(values, n)
    if len(keys) == 1:
        ordered = np.sort(keys[0])
        change = ordered[1:] != ordered[:-1]
    else:
        mixed = keys[0].copy()
        for key in keys[1:]:
            mixed = mixed * _MIX + key  # wraps mod 2**64
        order = np.argsort(mixed)
        ordered = mixed[order]
        change = ordered[1:] != ordered[:-1]
        same = ~change
        if not all(np.array_equal(key[order][1:][same], key[order][:-1][same]) for key in keys):
            order = np.lexsort(keys[::-1])
            change = np.zeros(m - 1, dtype=bool)
            for key in keys:
                ordered = key[order]
                change |= ordered[1:] != ordered[:-1]
    bounds = np.flatnonzero(change) + 1
    return np.diff(np.concatenate(([0], bounds, [m])))


def repetition_from_counts(counts: np.ndarray, top_sqrt: bool) -> float:
    """`signals.repetition_ratio` given the n-gram counts."""
    total = int(counts.sum())
    if not total:
        return 0.0
    if top_sqrt:
        k = max(1, int(math.sqrt(len(counts))))
        counts = np.sort(counts)[::-1][:k]
    return int(counts[counts > 1].sum()) / total


def word_ids(words: list[str]) -> tuple[np.ndarray, int]:
    """Each word's id in order of first appearance, and the number of distinct words."""
    vocab = {w: i for i, w in enumerate(dict.fromkeys(words))}
    return np.fromiter(map(vocab.__getitem__, words), dtype=np.int64, count=len(words)), len(vocab)


def word_diversity(ids: np.ndarray, distinct: int, window: int) -> float:
    """`signals.word_diversity` (moving-average type-token ratio) on word ids. The sum of the
    distinct counts of all windows is a sum over positions: word j is new in every window
    that holds j but not j's previous occurrence."""
    n = len(ids)
    if n == 0:
        return 0.0
    if n <= window:
        return distinct / n
    order = np.argsort(ids, kind="stable")
    prev = np.full(n, -1, dtype=np.int64)
    same = ids[order[1:]] == ids[order[:-1]]
    prev[order[1:][same]] = order[:-1][same]
    j = np.arange(n, dtype=np.int64)
    first = np.maximum(np.maximum(j - window + 1, prev + 1), 0)
    last = np.minimum(j, n - window)
    total = int(np.clip(last - first + 1, 0, None).sum())
    return total / ((n - window + 1) * window)
