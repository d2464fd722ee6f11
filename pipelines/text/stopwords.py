"""Stopword and flagged-word lists.

Stopwords: stopwords-iso (https://github.com/stopwords-iso, MIT), through the `stopwordsiso`
package: zh 794 entries, en 1,298. Flagged words: the BigScience ROOTS lists shipped in
pipelines/resources (see the header of each file for attribution).
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=None)
def stopwords(lang: str) -> frozenset[str]:
    import stopwordsiso

    if not stopwordsiso.has_lang(lang):
        return frozenset()
    return frozenset(w.lower() for w in stopwordsiso.stopwords(lang))


@lru_cache(maxsize=None)
def flagged_words(lang: str) -> frozenset[str]:
    res = resources.files("pipelines.resources") / f"flagged_words_{lang}.txt"
    if not res.is_file():
        return frozenset()
    lines = res.read_text(encoding="utf-8").splitlines()
    return frozenset(l.strip().lower() for l in lines if l.strip() and not l.startswith("#"))
