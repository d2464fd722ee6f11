"""The pure dedup core on real corpus text: keys, shingles, signatures, bucket edges."""
from __future__ import annotations

import random

import numpy as np
import pytest

from pipelines.datadir import dataset_path
from pipelines.dedup import (
    DedupConfig,
    MinHasher,
    band_keys,
    estimated_jaccard,
    exact_key,
    shingles,
    signature_from_bytes,
    signatures,
)
from pipelines.dedup.buckets import (new_node, prior_dropped_node, prior_node, prior_pair_edges, star_edges,
                                     verified_edges)
from pipelines.dedup.quality import build_sample, load_corpus

CFG = DedupConfig()


@pytest.fixture(scope="module")
def corpus():
    return load_corpus(dataset_path("corpus_web_mixed"))


@pytest.fixture(scope="module")
def planted(corpus):
    docs, pairs = build_sample(corpus, n_random=300, n_planted=120, seed=3)
    by_id = {d["id"]: d for d in docs}
    return [(by_id[a], by_id[b], rate) for a, b, rate in pairs]


def test_exact_key_ignores_case_width_spacing_and_punctuation():
    assert exact_key("Hello,  World!\n") == exact_key("hello world")
    assert exact_key("你好，世界。") == exact_key("你好 世界")
    assert exact_key("ＡＢＣ１２３") == exact_key("abc123")  # full-width forms (NFKC)
    assert exact_key("hello world") != exact_key("hello word")


def test_shingles_by_language():
    assert shingles("The cat sat on the mat", "en", CFG) == {b"the cat", b"cat sat", b"sat on", b"on the", b"the mat"}
    zh = shingles("我们去公园", "zh", CFG)
    assert zh == {s.encode() for s in ("我们", "们去", "去公", "公园")}
    # jieba words when asked for.
    assert b"\xe5\x85\xac\xe5\x9b\xad" in shingles("我们去公园", "zh", DedupConfig(cjk_unit="word", cjk_ngram=1))


def test_documents_shorter_than_a_shingle():
    cfg = DedupConfig(word_ngram=5, cjk_ngram=5)
    assert shingles("Great product", "en", cfg) == {b"great product"}
    assert shingles("很好", "zh", cfg) == {"很好".encode()}
    assert shingles("  !!! ", "en", cfg) == set()
    assert shingles("", "zh", cfg) == set()
    # Two different short texts must not look alike; equal ones must.
    a, b, c = signatures([shingles(t, "en", cfg) for t in ("Great product", "Bad product", "great product!")], cfg)
    assert estimated_jaccard(a, b) < 0.3
    assert estimated_jaccard(a, c) == 1.0


def test_signature_estimates_exact_jaccard_on_planted_pairs(planted):
    sets = [(shingles(a["text"], a["lang"], CFG), shingles(b["text"], b["lang"], CFG)) for a, b, _ in planted]
    sigs = signatures([s for pair in sets for s in pair], CFG)
    assert sigs.shape == (2 * len(planted), CFG.num_perm) and sigs.dtype == np.uint32
    errors = []
    for k, (sa, sb) in enumerate(sets):
        exact = len(sa & sb) / len(sa | sb)
        errors.append(abs(estimated_jaccard(sigs[2 * k], sigs[2 * k + 1]) - exact))
    # 128 permutations: standard error <= 0.044; allow 3 sigma for all but a few.
    assert np.mean(np.array(errors) < 0.13) >= 0.97, sorted(errors)[-5:]
    assert np.mean(errors) < 0.05


def test_band_keys_collide_only_for_equal_bands():
    bands, rows = CFG.bands_rows
    sig = signatures([{b"a b", b"b c", b"c d"}], CFG)[0]
    other = sig.copy()
    other[rows] += 1  # change one value of band 1
    ka, kb = band_keys(sig, bands, rows), band_keys(other, bands, rows)
    assert len(ka) == bands
    assert [x == y for x, y in zip(ka, kb)] == [True, False] + [True] * (bands - 2)


def test_config_from_dict_and_optimizer():
    cfg = DedupConfig.from_dict({"methods": ["minhash"], "threshold": 0.8, "num_perm": 64, "lsh_weights": [0.5, 0.5]})
    assert cfg.methods == ("minhash",)
    from datasketch.lsh import _optimal_param

    assert cfg.bands_rows == _optimal_param(0.8, 64, 0.5, 0.5)
    with pytest.raises(ValueError):
        DedupConfig.from_dict({"treshold": 0.8})
    with pytest.raises(ValueError):
        DedupConfig(methods=("simhash",))


def test_oversized_bucket_is_a_star_not_all_pairs(corpus):
    """A boilerplate page in 100,000 documents: n-1 edges, n comparisons, not n^2."""
    page = next(d for d in corpus if d["source"] == "c4-en" and len(d["text"]) > 1500)
    sig = signatures([shingles(page["text"], "en", CFG)], CFG)[0]
    rng = np.random.default_rng(0)
    n = 100_000
    members = []
    for i in range(n):
        s = sig.copy()
        s[rng.integers(0, len(s), 5)] = 0  # ~96% agreement: same page, small edits
        members.append((new_node(f"doc-{i:06d}", f"doc-{i:06d}"), s))
    members.append((prior_node("zzz-released", "zzz-released"), sig))  # a released copy wins over new ids
    hasher = MinHasher(CFG)
    members = [(node, hasher.to_bytes(s)) for node, s in members]  # as shuffled and stored
    decoded = []

    def decode(b):  # counts the work instead of timing it: all pairs would decode ~n^2 times
        decoded.append(1)
        return signature_from_bytes(b, CFG)

    edges = list(verified_edges(members, CFG.min_estimate, CFG.all_pairs_max_bucket, decode=decode))
    assert len(decoded) <= 2 * (n + 1)
    assert len(edges) == n
    assert {parent for _, parent, _ in edges} == {prior_node("zzz-released", "zzz-released")}
    assert all(verified for *_, verified in edges)
    assert len(list(star_edges([m[0] for m in members]))) == n


def test_small_bucket_keeps_verified_connectivity_only(planted):
    a, b, _ = planted[0]
    unrelated = planted[-1][0]
    sa, sb, su = signatures([shingles(d["text"], d["lang"], CFG) for d in (a, b, unrelated)], CFG)
    members = [(new_node("3", "3"), sb), (new_node("1", "1"), sa), (new_node("2", "2"), su)]
    edges = list(verified_edges(members, 0.5, CFG.all_pairs_max_bucket))
    assert edges == [(new_node("3", "3"), new_node("1", "1"), True)]


def test_planted_edits_are_near_duplicates_under_the_default_shingles(planted):
    """The measured reason for 2-grams (docs/dedup.md): light edits stay above 0.8."""
    light = [(a, b) for a, b, rate in planted if rate < 0.04]
    above = 0
    for a, b in light:
        sa, sb = shingles(a["text"], a["lang"], CFG), shingles(b["text"], b["lang"], CFG)
        above += len(sa & sb) / len(sa | sb) >= CFG.threshold
    assert light and above / len(light) >= 0.9, (above, len(light))


def test_random_corpus_pairs_are_not_near_duplicates(corpus):
    rng = random.Random(5)
    long_docs = [d for d in corpus if len(d["text"]) > 300]
    hits = 0
    for _ in range(300):
        a, b = rng.sample(long_docs, 2)
        if exact_key(a["text"]) == exact_key(b["text"]):
            continue
        sa, sb = shingles(a["text"], a["lang"], CFG), shingles(b["text"], b["lang"], CFG)
        hits += len(sa & sb) / len(sa | sb) >= CFG.threshold
    assert hits == 0


def test_prior_pairs_need_one_verified_edge_per_prior_cluster():
    """A new document against prior candidates: one edge into each prior cluster it truly
    matches (representative tried first, the other members only when it does not match),
    none into a cluster it does not match, and exact copies linked without comparison."""
    base = np.arange(128, dtype=np.uint32)

    def near(k):  # agrees with `base` on 128 - k values
        sig = base.copy()
        sig[:k] = 10_000 + np.arange(k)
        return sig

    new = new_node("k9", "n")
    rep, copy = prior_node("k1", "a"), prior_dropped_node("k2", "b")
    other = prior_node("k3", "c")
    # Cluster rep <- copy: the new doc matches only the copy; cluster `other` does not match.
    cands = [(copy, rep, base, False), (rep, rep, near(60), False), (other, other, near(60), False)]
    assert list(prior_pair_edges(new, base, cands, 0.8)) == [(new, copy, True)]
    # It matches the representative too: one edge, to the representative.
    cands = [(copy, rep, base, False), (rep, rep, near(5), False)]
    assert list(prior_pair_edges(new, base, cands, 0.8)) == [(new, rep, True)]
    # An exact copy needs no comparison; a missing signature is an unverified edge.
    assert list(prior_pair_edges(new, None, [(other, other, None, True)], 0.8)) == [(new, other, True)]
    assert list(prior_pair_edges(new, None, [(other, other, base, False)], 0.8)) == [(new, other, False)]
