"""Measuring dedup quality on real data: samples with planted near-duplicates, exact
Jaccard by brute force, pairwise precision / recall. Used by the tests and benchmarks/bench_dedup.py.

Ground truth (`reference_pairs`) comes from `reference_shingles`, a shingling written here
on its own (plain Unicode regexes, its own OpenCC converter), not from the code under test:
a bug in the pipeline's normalization or shingling cannot agree with itself. It follows the
same definition (word 2-grams, Han character 2-grams, one script), so it is also fair to
peers that bring their own shingling.
"""
from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Iterable
from itertools import combinations
from pathlib import Path

import numpy as np

from pipelines.dedup.config import DedupConfig
from pipelines.dedup.sketch import exact_key, shingles
from pipelines.files import read_jsonl
from pipelines.text.script import is_chinese, looks_chinese
from pipelines.text.segment import load_jieba

_EN_SPLIT = re.compile(r"(\w+(?:['’\-]\w+)*)", re.UNICODE)


def guess_lang(text: str) -> str:
    """The corpus has no `lang` yet (language ID is upstream): "zh" when the text looks
    Chinese by the pipeline's one script rule (language ID's own), else "en". Picks a shingling."""
    return "zh" if looks_chinese(text) else "en"


def load_corpus(corpus_dir: Path) -> list[dict]:
    docs = [doc for path in sorted(Path(corpus_dir).glob("*.jsonl")) for doc in read_jsonl(path)]
    for doc in docs:
        doc["lang"] = guess_lang(doc["text"])
    return docs


def _tokens(text: str, lang: str) -> tuple[list[str], list[int], str]:
    """(tokens whose concatenation is the text, indexes of word tokens, joiner for inserts)."""
    if is_chinese(lang):
        toks = load_jieba().lcut(text, HMM=True)
        joiner = ""
    else:
        toks = _EN_SPLIT.split(text)
        joiner = " "
    return toks, [i for i, t in enumerate(toks) if re.search(r"\w", t)], joiner


def plant_near_duplicate(text: str, lang: str, rate: float, rng: random.Random, vocabulary: list[str]) -> str:
    """A copy with `rate` of its words substituted, deleted or followed by an inserted word,
    as reposts with small edits are."""
    toks, word_idx, joiner = _tokens(text, lang)
    if not word_idx:
        return text
    for i in rng.sample(word_idx, max(1, round(rate * len(word_idx)))):
        op = rng.random()
        if op < 0.5:
            toks[i] = rng.choice(vocabulary)
        elif op < 0.75:
            toks[i] = ""
        else:
            toks[i] = toks[i] + joiner + rng.choice(vocabulary)
    return "".join(toks)


def build_sample(
    corpus: list[dict], n_random: int, n_planted: int, seed: int = 0, min_words: int = 30
) -> tuple[list[dict], list[tuple[str, str, float]]]:
    """A random sample, enriched with the natural exact-duplicate partners of its documents
    and with planted near-duplicates (half zh, half en, 1-10% of words edited).

    Returns (docs, planted pairs (original id, copy id, edit rate)).
    """
    rng = random.Random(seed)
    picked = rng.sample(corpus, n_random)
    by_key: dict[bytes, list[dict]] = {}
    for doc in corpus:
        by_key.setdefault(exact_key(doc["text"]), []).append(doc)
    ids = {d["id"] for d in picked}
    for doc in list(picked):
        for twin in by_key[exact_key(doc["text"])]:
            if twin["id"] not in ids:
                ids.add(twin["id"])
                picked.append(twin)
    planted, docs = [], list(picked)
    for lang in ("zh", "en"):
        pool = [d for d in picked if d["lang"] == lang and len(_tokens(d["text"], lang)[1]) >= min_words]
        vocabulary = [t for d in pool[:200] for t in _tokens(d["text"], lang)[0] if re.search(r"\w", t)]
        for k, doc in enumerate(rng.sample(pool, min(len(pool), n_planted // 2))):
            rate = 0.01 + 0.09 * rng.random()
            copy = dict(doc, id=f"{doc['id']}~planted{k}", text=plant_near_duplicate(doc["text"], lang, rate, rng, vocabulary))
            docs.append(copy)
            planted.append((doc["id"], copy["id"], rate))
    return docs, planted


_REF_WORD = re.compile(r"[^\W_]+")
_REF_CHAR_LANGS = ("zh", "ja", "th", "lo", "km", "my", "bo", "yue", "wuu")
_ref_converter = None


def reference_shingles(text: str, lang: str | None, n: int = 2) -> set[str]:
    """The ground-truth shingling: NFKC, case folding, Traditional -> Simplified (the
    definition says the two scripts of one text are one text), then character n-grams of the
    letters and digits for Chinese and other unsegmented scripts, word n-grams of runs of
    letters and digits otherwise. Shorter than one n-gram: the whole sequence is the shingle."""
    global _ref_converter
    if _ref_converter is None:
        from opencc_pyo3 import OpenCC

        _ref_converter = OpenCC("t2s")
    text = _ref_converter.convert(unicodedata.normalize("NFKC", text).casefold())
    if (lang or "").split("-")[0].lower() in _REF_CHAR_LANGS:
        units: list[str] | str = "".join(_REF_WORD.findall(text))
        sep = ""
    else:
        units = _REF_WORD.findall(text)
        sep = " "
    if not units:
        return set()
    if len(units) <= n:
        return {sep.join(units)}
    return {sep.join(units[i:i + n]) for i in range(len(units) - n + 1)}


def reference_pairs(docs: list[dict], threshold: float, **kwargs) -> tuple[set[tuple[str, str]], dict]:
    """Ground truth: every pair whose `reference_shingles` Jaccard is >= threshold."""
    return jaccard_pairs(docs, [reference_shingles(d["text"], d.get("lang")) for d in docs], threshold, **kwargs)


def true_pairs(docs: list[dict], cfg: DedupConfig, **kwargs) -> tuple[set[tuple[str, str]], dict]:
    """Every pair whose exact Jaccard of the pipeline's own shingles is >= cfg.threshold:
    what MinHash-LSH approximates, for measuring the sketching alone (not ground truth)."""
    return jaccard_pairs(docs, [shingles(d["text"], d.get("lang"), cfg) for d in docs], cfg.threshold, **kwargs)


def jaccard_pairs(docs: list[dict], sets: list[set], threshold: float, chunk: int = 1000,
                  min_jaccard: float = 0.5) -> tuple[set[tuple[str, str]], dict]:
    """All pairs with exact Jaccard of `sets` >= threshold, by brute force: a sparse
    doc x shingle matrix times its transpose gives every pair's intersection at once.
    Also returns the Jaccard of every pair above `min_jaccard`, for inspecting errors.
    Documents without shingles are duplicates when their texts are equal letter for letter
    (case and width folded)."""
    from scipy import sparse

    vocab: dict = {}
    rows, cols = [], []
    for r, s in enumerate(sets):
        for sh in s:
            rows.append(r)
            cols.append(vocab.setdefault(sh, len(vocab)))
    x = sparse.csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, cols)), shape=(len(docs), max(1, len(vocab))))
    sizes = np.array([len(s) for s in sets])
    parts = []
    # In row blocks: a common shingle ("的", "of the") makes the full product dense.
    for start in range(0, len(docs), chunk):
        inter = (x[start : start + chunk] @ x.T).tocoo()
        i, j, n = inter.row + start, inter.col, inter.data
        mask = i < j
        i, j, n = i[mask], j[mask], n[mask]
        jac = n / (sizes[i] + sizes[j] - n)
        keep = jac >= min_jaccard
        parts.append((i[keep], j[keep], jac[keep]))
    i, j, jac = (np.concatenate(a) for a in zip(*parts))
    ok = jac >= threshold
    ids = [d["id"] for d in docs]
    pairs = {_pair(ids[a], ids[b]) for a, b in zip(i[ok], j[ok])}
    empty = {}
    for d, s in zip(docs, sets):
        if not s:
            empty.setdefault(unicodedata.normalize("NFKC", d["text"]).casefold().strip(), []).append(d["id"])
    for group in empty.values():
        pairs |= {_pair(a, b) for a, b in combinations(group, 2)}
    jaccard = {_pair(ids[a], ids[b]): float(v) for a, b, v in zip(i, j, jac)}
    return pairs, jaccard


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def clusters_from_dropped(ids: Iterable[str], dropped: Iterable[dict]) -> dict[str, str]:
    """id -> cluster representative, for every id (kept ones represent themselves)."""
    rep = {i: i for i in ids}
    for d in dropped:
        rep[d["id"]] = d["duplicate_of"]
    return rep


def predicted_pairs(rep: dict[str, str]) -> set[tuple[str, str]]:
    groups: dict[str, list[str]] = {}
    for i, r in rep.items():
        groups.setdefault(r, []).append(i)
    return {_pair(a, b) for g in groups.values() if len(g) > 1 for a, b in combinations(g, 2)}


def precision_recall(predicted: set, truth: set) -> tuple[float, float]:
    hit = len(predicted & truth)
    return (hit / len(predicted) if predicted else 1.0), (hit / len(truth) if truth else 1.0)
