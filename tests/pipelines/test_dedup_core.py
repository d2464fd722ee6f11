"""The pure dedup core on real corpus text: keys, shingles, signatures, bucket edges."""
from __future__ import annotations

import random

import numpy as np
import pytest

from pipelines.datadir import dataset_path
from pipelines.dedup import (
    DedupConfig,
    band_keys,
    estimated_jaccard,
    exact_key,
    shingles,
    signatures,
)
from pipelines.dedup.buckets import (EXACT_BAND, agrees, candidate_pairs, match_prior, new_node, prior_dropped_node,
                                     prior_node, prior_pair_edges)
from pipelines.dedup.config import minhash_scheme
from pipelines.dedup.sketch import Sketcher
from roots_measure.dedup import build_sample, reference_shingles

CFG = DedupConfig()


@pytest.fixture(scope="module")
def drcd_paragraphs():
    """Distinct DRCD contexts (Traditional-script Chinese Wikipedia paragraphs)."""
    import json

    seen = {}
    with open(dataset_path("qa_drcd") / "dev.jsonl", encoding="utf-8") as f:
        for line in f:
            seen.setdefault(json.loads(line)["context"], None)
    return list(seen)


@pytest.fixture(scope="module")
def planted(dedup_corpus):
    docs, pairs = build_sample(dedup_corpus, n_random=300, n_planted=120, seed=3)
    by_id = {d["id"]: d for d in docs}
    return [(by_id[a], by_id[b], rate) for a, b, rate in pairs]


def test_exact_key_ignores_case_width_spacing_and_punctuation():
    assert exact_key("Hello,  World!\n") == exact_key("hello world")
    assert exact_key("你好，世界。") == exact_key("你好 世界")
    assert exact_key("ＡＢＣ１２３") == exact_key("abc123")  # full-width forms (NFKC)
    assert exact_key("hello world") != exact_key("hello word")


def test_shingles_by_language():
    assert shingles("The cat sat on the mat", "en", CFG) == {"the cat", "cat sat", "sat on", "on the", "the mat"}
    assert shingles("我们去公园", "zh", CFG) == {"我们", "们去", "去公", "公园"}
    # jieba words when asked for.
    assert "公园" in shingles("我们去公园", "zh", DedupConfig(cjk_unit="word", cjk_ngram=1))


def test_documents_shorter_than_a_shingle():
    cfg = DedupConfig(word_ngram=5, cjk_ngram=5)
    assert shingles("Great product", "en", cfg) == {"great product"}
    assert shingles("很好", "zh", cfg) == {"很好"}
    assert shingles("  !!! ", "en", cfg) == set()
    assert shingles("", "zh", cfg) == set()
    # Two different short texts must not look alike; equal ones must.
    a, b, c = signatures([shingles(t, "en", cfg) for t in ("Great product", "Bad product", "great product!")], cfg)
    assert estimated_jaccard(a, b) < 0.3
    assert estimated_jaccard(a, c) == 1.0


@pytest.mark.parametrize("impl", ["rensa", "datasketch"])
def test_signature_estimates_exact_jaccard_on_planted_pairs(planted, impl):
    cfg = DedupConfig(minhash_impl=impl)
    sets = [(shingles(a["text"], a["lang"], cfg), shingles(b["text"], b["lang"], cfg)) for a, b, _ in planted]
    sigs = signatures([s for pair in sets for s in pair], cfg)
    assert sigs.shape == (2 * len(planted), cfg.num_perm) and sigs.dtype == np.uint32
    errors = []
    for k, (sa, sb) in enumerate(sets):
        exact = len(sa & sb) / len(sa | sb)
        errors.append(abs(estimated_jaccard(sigs[2 * k], sigs[2 * k + 1]) - exact))
    # 128 permutations: standard error <= 0.044; allow 3 sigma for all but a few.
    assert np.mean(np.array(errors) < 0.13) >= 0.97, sorted(errors)[-5:]
    assert np.mean(errors) < 0.05


def test_low_bits_kept_estimate_jaccard_as_the_full_values_do(planted):
    """The stored signature keeps 8 bits of each of 512 values (the default). On the planted
    pairs its estimate is as close to the exact Jaccard of the shingle sets as the full values'
    estimate; on unrelated documents (J ~ 0), where 1 byte in 256 agrees by chance, the
    corrected estimate is ~0 while the plain share of equal bytes is ~1/256."""
    from pipelines.dedup.sketch import signature_from_bytes, stored_signature

    cfg = DedupConfig()
    assert (cfg.num_perm, cfg.signature_bits) == (512, 8)
    stored = lambda sig: signature_from_bytes(stored_signature(sig, cfg), cfg)  # noqa: E731
    sets = [(shingles(a["text"], a["lang"], cfg), shingles(b["text"], b["lang"], cfg)) for a, b, _ in planted]
    sigs = signatures([s for pair in sets for s in pair], cfg)
    low = [stored(s) for s in sigs]
    assert low[0].dtype == np.uint8 and len(stored_signature(sigs[0], cfg)) == 512
    exact = np.array([len(sa & sb) / len(sa | sb) for sa, sb in sets])
    err_low = np.array([estimated_jaccard(low[2 * k], low[2 * k + 1]) for k in range(len(sets))]) - exact
    err_full = np.array([estimated_jaccard(sigs[2 * k], sigs[2 * k + 1]) for k in range(len(sets))]) - exact
    assert abs(err_low.mean()) < 0.01 and np.abs(err_low).mean() < 1.2 * np.abs(err_full).mean() + 0.002
    # Unrelated documents (each with a document of another planted pair, J mostly < 0.1):
    # averaged over the pairs, the share of equal bytes overshoots J by ~(1 - J) / 256 and
    # the estimate does not (the standard error of these means is ~0.0007).
    flat = [s for pair in sets for s in pair]
    pairs = [(2 * k, 2 * k + 5) for k in range(len(sets) - 3)]
    j = np.array([len(flat[a] & flat[b]) / len(flat[a] | flat[b]) for a, b in pairs])
    share = np.array([np.mean(low[a] == low[b]) for a, b in pairs])
    estimate = np.array([estimated_jaccard(low[a], low[b]) for a, b in pairs])
    assert j.mean() < 0.1 and abs((estimate - j).mean()) < 0.0015, (j.mean(), (estimate - j).mean())
    assert (share - j).mean() > 0.0025, (share - j).mean()


def test_rensa_agrees_with_the_datasketch_reference(planted):
    """The fast implementation estimates what the reference estimates: on the planted pairs
    (J from ~0.5 to 1) the two estimates differ by no more than two MinHashes' noise, and
    neither is biased against the other."""
    sets = [(shingles(a["text"], a["lang"], CFG), shingles(b["text"], b["lang"], CFG)) for a, b, _ in planted]
    flat = [s for pair in sets for s in pair]
    fast = signatures(flat, DedupConfig(minhash_impl="rensa"))
    ref = signatures(flat, DedupConfig(minhash_impl="datasketch"))
    diffs = np.array([estimated_jaccard(fast[2 * k], fast[2 * k + 1]) - estimated_jaccard(ref[2 * k], ref[2 * k + 1])
                      for k in range(len(sets))])
    assert abs(diffs.mean()) < 0.02 and np.mean(np.abs(diffs) < 0.15) >= 0.97, (diffs.mean(), sorted(diffs)[-3:])
    # Different permutations: the values themselves never coincide wholesale.
    assert np.mean(fast == ref) < 0.01
    assert minhash_scheme("rensa") != minhash_scheme("datasketch")


def test_datasketch_implementation_is_datasketch_itself():
    """The reference path gives datasketch's own MinHash values (affine32, xxh32 of the UTF-8
    shingle): what every index before format 4 stored, so such an index stays readable."""
    from datasketch import MinHash

    import xxhash

    cfg = DedupConfig(minhash_impl="datasketch")
    grams = shingles("The quick brown fox jumps over the lazy dog", "en", cfg) | {"我们", "公园"}
    m = MinHash(num_perm=cfg.num_perm, seed=cfg.seed, hashfunc=xxhash.xxh32_intdigest, scheme="affine32")
    for g in grams:
        m.update(g.encode("utf-8"))
    assert np.array_equal(signatures([grams], cfg)[0], m.hashvalues)

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


def test_oversized_bucket_is_a_star_not_all_pairs():
    """A boilerplate page in 100,000 documents: n-1 candidate pairs, all to the smallest
    node, not n^2/2; a small bucket gives every pair once."""
    n = 100_000
    nodes = [new_node(f"doc-{i:06d}", f"doc-{i:06d}") for i in range(n)]
    pairs = list(candidate_pairs(nodes[::-1], CFG.all_pairs_max_bucket))
    assert len(pairs) == n - 1 and {parent for _, parent in pairs} == {nodes[0]}
    small = nodes[:5]
    pairs = list(candidate_pairs(small[::-1], CFG.all_pairs_max_bucket))
    assert sorted(pairs) == sorted((b, a) for i, a in enumerate(small) for b in small[i + 1:])


def test_verification_separates_planted_copies_from_unrelated_documents(planted):
    a, b, _ = planted[0]
    unrelated = planted[-1][0]
    sa, sb, su = signatures([shingles(d["text"], d["lang"], CFG) for d in (a, b, unrelated)], CFG)
    assert agrees(sa, sb, 0.5) and not agrees(sa, su, 0.5)


def test_prior_matching_of_a_boilerplate_bucket_pairs_with_the_smallest_prior_only():
    """A bucket holding more than all_pairs_max new and prior documents pairs every new one
    with the smallest prior document only (n pairs, not n x m); a small bucket pairs all;
    the exact-text bucket pairs all, marked exact, whatever its size."""
    new = [new_node(f"n{i:03d}", f"n{i:03d}") for i in range(10)]
    prior = [f"p{i:03d}" for i in range(60)][::-1]  # not in order: the smallest is picked
    own = [(p, p) for p in prior]  # every prior document its own cluster
    big, small, exact = (3, b"h" * 8), (4, b"s" * 8), (EXACT_BAND, b"e" * 16)
    assert match_prior({big: new}, {big: own}, 64) == ({("p000", n): False for n in new}, 0)
    assert match_prior({small: new[:2]}, {small: own[:3]}, 64, 2) == (
        {(p, n): False for p in prior[:3] for n in new[:2]}, 0)
    pairs, left_out = match_prior({exact: new}, {exact: own}, 64, 2)
    assert len(pairs) == 600 and all(pairs.values()) and left_out == 0
    # A pair that shares an LSH bucket and the exact bucket is an exact pair.
    pairs, _ = match_prior({big: new, exact: new[:1]}, {big: own, exact: [("p000", "p000")]}, 64)
    assert pairs[("p000", new[0])] is True and pairs[("p000", new[1])] is False


def test_prior_matching_bounds_the_members_of_one_cluster():
    """With per_cluster = k a bucket pairs a new document with at most k members of each
    prior cluster: the representative first, then the smallest keys; clusters are bounded
    separately, 0 pairs with all, and the oversized-bucket rule still counts every member."""
    n = new_node("n", "n")
    bucket = (2, b"b" * 8)
    # r5 the representative (a representative need not have the smallest key: an earlier
    # part of the corpus may hold a larger one)
    cluster_r = [("r9", "r5"), ("r5", "r5"), ("r1", "r5"), ("r3", "r5")]
    cluster_q = [("q4", "q2"), ("q7", "q2")]  # the representative q2 not in this bucket
    prior = {bucket: cluster_r + cluster_q}
    pairs, left_out = match_prior({bucket: [n]}, prior, 64, 2)
    assert set(pairs) == {("r5", n), ("r1", n), ("q4", n), ("q7", n)} and left_out == 2
    pairs, left_out = match_prior({bucket: [n]}, prior, 64, 1)
    assert set(pairs) == {("r5", n), ("q4", n)} and left_out == 4
    pairs, left_out = match_prior({bucket: [n]}, prior, 64, 0)
    assert len(pairs) == 6 and left_out == 0
    # The exact-text bucket is never bounded: each of its pairs is a duplicate without comparison.
    exact = (EXACT_BAND, b"e" * 16)
    pairs, left_out = match_prior({exact: [n]}, {exact: cluster_r}, 64, 1)
    assert pairs == {(k, n): True for k, _ in cluster_r} and left_out == 0
    # 6 prior + 60 new members: oversized whatever the cap, one pair per new document.
    many = [new_node(f"m{i:02d}", f"m{i:02d}") for i in range(60)]
    pairs, _ = match_prior({bucket: many}, prior, 64, 1)
    assert set(pairs) == {("q4", m) for m in many}


def test_traditional_and_simplified_copies_share_keys_and_shingles(drcd_paragraphs):
    """A DRCD paragraph (Traditional) and its Simplified conversion by OpenCC: one exact key
    and one shingle set, as the definition of a duplicate asks; without script folding they
    are far apart."""
    from opencc_pyo3 import OpenCC

    t2s = OpenCC("t2s")
    raw = DedupConfig(script_fold="none")
    for trad in drcd_paragraphs[:20]:
        simp = t2s.convert(trad)
        assert simp != trad
        assert exact_key(trad) == exact_key(simp)
        assert shingles(trad, "zh", CFG) == shingles(simp, "zh", CFG)
        # Ground truth computed apart from the pipeline: the reference shingling agrees.
        assert reference_shingles(trad, "zh") == reference_shingles(simp, "zh")
        assert exact_key(trad, raw) != exact_key(simp, raw)
        a, b = shingles(trad, "zh", raw), shingles(simp, "zh", raw)
        assert len(a & b) / len(a | b) < CFG.threshold
    sketch = Sketcher(CFG)
    assert sketch(drcd_paragraphs[0], "zh") == sketch(t2s.convert(drcd_paragraphs[0]), "zh")


def test_planted_edits_are_near_duplicates_under_the_default_shingles(planted):
    """The measured reason for 2-grams (docs/dedup.md): light edits stay above 0.8."""
    light = [(a, b) for a, b, rate in planted if rate < 0.04]
    above = 0
    for a, b in light:
        sa, sb = shingles(a["text"], a["lang"], CFG), shingles(b["text"], b["lang"], CFG)
        above += len(sa & sb) / len(sa | sb) >= CFG.threshold
    assert light and above / len(light) >= 0.9, (above, len(light))


def test_random_corpus_pairs_are_not_near_duplicates(dedup_corpus):
    rng = random.Random(5)
    long_docs = [d for d in dedup_corpus if len(d["text"]) > 300]
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
    # Cluster rep <- copy: the new doc matches only the copy, and is linked to the copy's
    # representative (the copy never enters the graph); cluster `other` does not match.
    cands = [(copy, rep, base, False), (rep, rep, near(60), False), (other, other, near(60), False)]
    assert list(prior_pair_edges(new, base, cands, 0.8)) == [(new, rep, True)]
    # It matches the representative too: one edge, to the representative.
    cands = [(copy, rep, base, False), (rep, rep, near(5), False)]
    assert list(prior_pair_edges(new, base, cands, 0.8)) == [(new, rep, True)]
    # An exact copy needs no comparison; a missing signature is an unverified edge.
    assert list(prior_pair_edges(new, None, [(other, other, None, True)], 0.8)) == [(new, other, True)]
    assert list(prior_pair_edges(new, None, [(other, other, base, False)], 0.8)) == [(new, other, False)]


def test_known_bands_rows_are_datasketchs_choice():
    """The precomputed (bands, rows) of common settings are what datasketch's optimizer picks."""
    from datasketch.lsh import _optimal_param

    from pipelines.dedup.config import KNOWN_BANDS_ROWS

    for args, bands_rows in KNOWN_BANDS_ROWS.items():
        assert _optimal_param(*args) == bands_rows, args
    assert DedupConfig().bands_rows == (16, 8)
