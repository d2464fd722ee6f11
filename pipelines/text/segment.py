"""Word segmentation: a jieba-family segmenter for Chinese (dictionary words, HMM off:
new-word discovery doubles the cost and changes no quality signal), a Unicode word regex for
English and other space-delimited languages.

Quality signals (word counts, repetition, stopword ratios) and MinHash shingles are
computed on these words; a whitespace split of Chinese would make one "word" per clause.

Chinese backends (config `segment.backend`), all with jieba's default dictionary:
- `rjieba` (default): the Rust port (jieba-rs); ~15x faster, the same words as `jieba` on
  all but a few documents (benchmarks/bench_segment.py measures the agreement and the
  quality-filter decisions both give).
- `jieba`: the Python reference, kept for tests and agreement measurements.

A `Segmenter` is cheap to create and loads its dictionary on first use (or `load()`), once
per process and backend; it pickles by backend name, so a Beam DoFn can carry one.
"""
from __future__ import annotations

import itertools
import logging
import re
import threading
from dataclasses import dataclass
from typing import Callable

from ..config.schema import Section, setting
from .script import is_chinese

BACKENDS = ("rjieba", "jieba")
DEFAULT_BACKEND = "rjieba"

# A word: a run of letters/digits, with inner apostrophes or hyphens (don't, e-mail).
_WORD_RE = re.compile(r"\w+(?:['’\-]\w+)*", re.UNICODE)
# A segmenter token counts as a word when it holds a letter, digit or CJK character.
_HAS_WORD_CHAR = re.compile(r"\w", re.UNICODE)

_lock = threading.Lock()
_jieba = None
_cutters: dict[str, Callable[[str], list[str]]] = {}


def load_jieba():
    """Import jieba and build its dictionary once per process (~0.6 s, 9 MB cache)."""
    global _jieba
    if _jieba is None:
        with _lock:
            if _jieba is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                jieba.initialize()
                _jieba = jieba
    return _jieba


def _load_rjieba() -> Callable[[str], list[str]]:
    import rjieba

    # rjieba.cut defaults to hmm=True; HMM off is jieba.lcut(text, HMM=False), the mode the
    # filters were tuned on. The module's own instance (built at import): a second
    # rjieba.Jieba() would cost every worker another 24 MB.
    cut = rjieba.cut
    return lambda text: cut(text, hmm=False)


def _cutter(backend: str) -> Callable[[str], list[str]]:
    """The raw cut function of `backend` (all tokens, punctuation and spaces included)."""
    cut = _cutters.get(backend)
    if cut is None:
        check_backend(backend)
        if backend == "jieba":
            jieba = load_jieba()
            cut = lambda text: jieba.lcut(text, HMM=False)  # noqa: E731
        else:
            with _lock:
                cut = _cutters.get(backend) or _load_rjieba()
        _cutters[backend] = cut
    return cut


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"unknown segmentation backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    return backend


@dataclass(frozen=True)
class SegmentConfig(Section):
    """Chinese word segmentation for quality signals and dedup word shingles. rjieba (Rust port of
    jieba) is ~9.5x faster and gives jieba's words (HMM off) on every Chinese document of the
    shared corpus, with no filter decision changed (benchmarks/bench_segment.py); jieba is the reference."""
    section_name = "segment"
    backend: str = setting(DEFAULT_BACKEND, "rjieba | jieba", choices=BACKENDS)


class Segmenter:
    """Words of a document in its language, with one Chinese backend."""

    def __init__(self, backend: str = DEFAULT_BACKEND):
        self.backend = check_backend(backend)

    def __reduce__(self):
        return (Segmenter, (self.backend,))

    def __repr__(self):
        return f"Segmenter({self.backend!r})"

    def load(self) -> "Segmenter":
        """Build the dictionary now (in a DoFn's setup) rather than on the first document."""
        _cutter(self.backend)
        return self

    def words(self, text: str, lang: str | None) -> list[str]:
        """The words of `text` in language `lang` (punctuation and whitespace dropped)."""
        if is_chinese(lang):
            # isalnum() first: true for nearly every word and ~3x cheaper than the regex;
            # \w never matches whitespace, so whitespace tokens fail both.
            has_word_char = _HAS_WORD_CHAR.search
            return [tok for tok in _cutter(self.backend)(text) if tok.isalnum() or has_word_char(tok)]
        return _WORD_RE.findall(text)


def has_words(text: str, n: int) -> bool:
    """Whether `text` holds at least `n` space-delimited words (`words(text, None)`), reading
    only as far as the n-th: a long page need not be split to know it is not too short."""
    return n <= 0 or next(itertools.islice(_WORD_RE.finditer(text), n - 1, None), None) is not None


def words(text: str, lang: str | None, backend: str = DEFAULT_BACKEND) -> list[str]:
    """The words of `text` in language `lang` with `backend`. No process-wide setting: a step
    that segments with the configured backend is given its `Segmenter` (dedup shingling too)."""
    return Segmenter(backend).words(text, lang)
