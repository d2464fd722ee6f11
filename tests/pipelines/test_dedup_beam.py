"""Deduplicate as a Beam pipeline on a real corpus sample (DirectRunner, 1 and 2 workers)."""
from __future__ import annotations

import glob
import json
import os

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.datadir import dataset_path
from pipelines.dedup import REASON_EXACT, REASON_NEAR, DedupConfig, Deduplicate
from pipelines.dedup.components import ConnectedComponents
from roots_measure.dedup import (
    build_sample,
    clusters_from_dropped,
    plant_near_duplicate,
    precision_recall,
    predicted_pairs,
    reference_pairs,
)

pytestmark = pytest.mark.slow
os.environ.setdefault("HF_HUB_OFFLINE", "1")
CFG = DedupConfig()
MULTI = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]


def run_dedup(docs, out_dir, cfg=CFG, extra_args=(), **kwargs):
    """(kept docs, dropped docs, counters) read back from files, which works in every mode.
    Input comes from a file too: beam.Create would pickle (and bz2) every document."""
    os.makedirs(out_dir, exist_ok=True)
    with open(f"{out_dir}/input.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(d, ensure_ascii=False) + "\n" for d in docs)
    opts = PipelineOptions(["--runner=DirectRunner", *extra_args])
    p = beam.Pipeline(options=opts)
    result = (
        p
        | "Read" >> beam.io.ReadFromText(f"{out_dir}/input.jsonl")
        | "Parse" >> beam.Map(json.loads)
        | "Dedup" >> Deduplicate(cfg, **kwargs)
    )
    for name, pcoll in (("kept", result.kept), ("dropped", result.dropped)):
        pcoll | f"Json{name}" >> beam.Map(json.dumps) | f"Write{name}" >> beam.io.WriteToText(f"{out_dir}/{name}")
    run = p.run()
    run.wait_until_finish()
    counters = {c.key.metric.name: c.committed for c in run.metrics().query()["counters"]}
    read = lambda name: [json.loads(line) for f in sorted(glob.glob(f"{out_dir}/{name}*")) for line in open(f)]
    return read("kept"), read("dropped"), counters


@pytest.fixture(scope="module")
def sample(dedup_corpus):
    return build_sample(dedup_corpus, n_random=1200, n_planted=200, seed=11)


@pytest.fixture(scope="module")
def one_worker(sample, tmp_path_factory):
    docs, _ = sample
    return run_dedup(docs, tmp_path_factory.mktemp("one"))


def test_every_document_is_kept_or_dropped_once(sample, one_worker):
    docs, _ = sample
    kept, dropped, counters = one_worker
    assert sorted(d["id"] for d in kept + dropped) == sorted(d["id"] for d in docs)
    kept_ids = {d["id"] for d in kept}
    by_id = {d["id"]: d for d in docs}
    for d in dropped:
        assert d["reason"] in (REASON_EXACT, REASON_NEAR)
        assert d["duplicate_of"] in kept_ids and d["duplicate_of"] < d["id"]
        original = by_id[d["id"]]
        assert {k: d[k] for k in original} == original  # other fields pass through
    assert counters["duplicates_exact"] == sum(d["reason"] == REASON_EXACT for d in dropped) > 0
    assert counters["duplicates_near"] == sum(d["reason"] == REASON_NEAR for d in dropped) > 0
    assert counters["kept"] == len(kept)


def test_precision_and_recall_against_brute_force_jaccard(sample, one_worker):
    docs, planted = sample
    kept, dropped, _ = one_worker
    truth, _ = reference_pairs(docs, CFG.threshold)  # shingled apart from the pipeline
    rep = clusters_from_dropped([d["id"] for d in docs], dropped)
    precision, recall = precision_recall(predicted_pairs(rep), truth)
    assert len(truth) > 300  # natural exact duplicates + planted near-duplicates
    assert precision >= 0.95 and recall >= 0.90, (precision, recall)
    # Lightly edited copies (< 3% of words) are found in both languages.
    for lang in ("zh", "en"):
        light = [(a, b) for a, b, rate in planted if rate < 0.03 and a.startswith("zh-") == (lang == "zh")]
        found = sum(rep[a] == rep[b] for a, b in light)
        assert light and found / len(light) >= 0.8, (lang, found, len(light))


def test_cluster_fields(sample, one_worker):
    kept, dropped, _ = one_worker
    clusters = {}
    for d in dropped:
        clusters.setdefault(d["cluster_id"], set()).add(d["duplicate_of"])
    assert all(len(reps) == 1 for reps in clusters.values())
    assert len(clusters) == len({d["duplicate_of"] for d in dropped})


def test_same_clusters_with_two_worker_processes(sample, one_worker, tmp_path):
    docs, _ = sample
    kept, dropped, _ = run_dedup(docs, tmp_path, extra_args=MULTI)
    _, dropped_one, _ = one_worker
    as_map = lambda ds: {d["id"]: (d["duplicate_of"], d["cluster_id"], d["reason"]) for d in ds}
    assert as_map(dropped) == as_map(dropped_one)


def test_oversized_bucket_and_short_documents(dedup_corpus, tmp_path):
    """3,000 variants of one templated page plus texts shorter than a shingle."""
    page = next(d for d in dedup_corpus if d["source"] == "c4-en" and 1500 < len(d["text"]) < 4000)
    docs = [dict(page, id=f"tpl-{i:05d}", text=f"{page['text']}\nPage {i} of 3000") for i in range(3000)]
    shorts = ["好", "好。", "很好", "ok", "OK!", "fine", "", "  "]
    docs += [{"id": f"short-{i}", "text": t, "lang": "zh" if i < 3 else "en"} for i, t in enumerate(shorts)]
    kept, dropped, counters = run_dedup(docs, tmp_path, cfg=DedupConfig(all_pairs_max_bucket=32))
    kept_ids = {d["id"] for d in kept}
    assert "tpl-00000" in kept_ids and not any(i.startswith("tpl-") and i != "tpl-00000" for i in kept_ids)
    assert counters["oversized_buckets"] > 0
    # Exact copies after normalization merge; different short texts never do.
    short_rep = {d["id"]: d["duplicate_of"] for d in dropped if d["id"].startswith("short-")}
    assert short_rep == {"short-1": "short-0", "short-4": "short-3", "short-7": "short-6"}


def test_index_round_trip_against_a_prior_release(sample, tmp_path):
    docs, _ = sample
    first, second = docs[: len(docs) // 2], docs[len(docs) // 2 :]
    index = str(tmp_path / "release1_index")
    kept1, _, _ = run_dedup(first, tmp_path / "r1", index_output=index)
    kept1_ids = {d["id"] for d in kept1}
    check_index_layout(index, kept1_ids, CFG)
    rng = __import__("random").Random(4)
    copies = [dict(d, id=f"new-copy-{i}") for i, d in enumerate(kept1[:40])]
    edited = [
        dict(d, id=f"new-edit-{i}", text=plant_near_duplicate(d["text"], d["lang"], 0.01, rng, ["x", "y"]))
        for i, d in enumerate(d for d in kept1 if len(d["text"]) > 800)
    ][:20]
    snapshot = second + copies + edited
    kept2, dropped2, _ = run_dedup(snapshot, tmp_path / "r2", prior_indexes=[index])
    assert sorted(d["id"] for d in kept2 + dropped2) == sorted(d["id"] for d in snapshot)
    assert not kept1_ids & {d["id"] for d in kept2 + dropped2}  # prior docs never re-emitted
    dup_of = {d["id"]: d for d in dropped2}
    for i, d in enumerate(copies):
        assert dup_of[d["id"]]["duplicate_of"] == kept1[i]["id"]
        assert dup_of[d["id"]]["reason"] == REASON_EXACT
    found = sum(dup_of.get(d["id"], {}).get("duplicate_of") in kept1_ids for d in edited)
    assert found >= 0.9 * len(edited), (found, len(edited))
    # The second half alone, deduplicated without the index, keeps more.
    kept_alone, _, _ = run_dedup(snapshot, tmp_path / "r3")
    assert len(kept_alone) > len(kept2)
    # Verifying prior pairs where the prior signature is read (this run's signatures as a side
    # input, as local runs do) decides exactly as the join by node does, and carries fewer pairs.
    kept_mem, dropped_mem, counters = run_dedup(snapshot, tmp_path / "r4", prior_indexes=[index],
                                                in_memory=True)
    assert _fates(kept_mem, dropped_mem) == _fates(kept2, dropped2)
    assert counters["prior_candidate_pairs"] > counters.get("prior_pairs_rejected_early", 0) > 0


def test_prior_pairs_sent_in_several_parts_decide_the_same(sample, tmp_path, monkeypatch):
    """Candidate pairs with prior documents are collected over a bundle and sent each once;
    a bundle that sends them in parts (here after every bucket shard, so a pair found in two
    shards is sent twice) decides the same: the receiving side merges repeats."""
    import pipelines.dedup.transforms as dedup_transforms

    docs, _ = sample
    index = str(tmp_path / "index")
    rng = __import__("random").Random(5)
    long_docs = [d for d in docs[:700] if len(d["text"]) > 600]
    release1 = docs[:700] + [dict(d, id=f"r1-edit-{i}", text=plant_near_duplicate(d["text"], d["lang"], 0.01, rng,
                                                                                 ["x", "y"]))
                             for i, d in enumerate(long_docs[:30])]
    kept1, dropped1, _ = run_dedup(release1, tmp_path / "r1", index_output=index)
    # Near-dropped documents are indexed under their representative, in bucket rows as in docs rows.
    rows = _index_rows(index)
    bucket_roots = {dict(r)["doc_key"]: dict(r)["root_key"] for r in rows["buckets"]}
    doc_roots = {dict(r)["doc_key"]: dict(r)["root_key"] for r in rows["docs"]}
    assert bucket_roots == doc_roots
    assert sum(root is not None for root in doc_roots.values()) == sum(d["reason"] == REASON_NEAR for d in dropped1) > 20
    edited = [dict(d, id=f"edit-{i}", text=plant_near_duplicate(d["text"], d["lang"], 0.01, rng, ["x", "y"]))
              for i, d in enumerate(d for d in kept1 if len(d["text"]) > 600)][10:50]
    copies = [dict(d, id=f"copy-{i}") for i, d in enumerate(kept1[:20])]  # exact copies of released texts
    snapshot = docs[700:900] + edited + copies
    whole = run_dedup(snapshot, tmp_path / "whole", prior_indexes=[index], in_memory=True)
    monkeypatch.setattr(dedup_transforms, "_FLUSH_PRIOR_PAIRS", 1)
    parts = run_dedup(snapshot, tmp_path / "parts", prior_indexes=[index], in_memory=True)
    assert _fates(*parts[:2]) == _fates(*whole[:2])
    reasons = {d["id"]: d["reason"] for d in whole[1]}
    assert sum(reasons.get(d["id"]) == REASON_NEAR for d in edited) >= 20
    assert all(reasons[d["id"]] == REASON_EXACT for d in copies)
    assert parts[2]["prior_candidate_pairs"] == whole[2]["prior_candidate_pairs"] > 0
    # With one member per prior cluster and bucket (the bucket rows name the clusters), fewer
    # pairs are compared.
    capped = run_dedup(snapshot, tmp_path / "capped", cfg=DedupConfig(prior_members_per_cluster=1),
                       prior_indexes=[index], in_memory=True)
    assert capped[2]["prior_members_left_out"] > 0
    assert capped[2]["prior_candidate_pairs"] < whole[2]["prior_candidate_pairs"]
    monkeypatch.undo()
    # Bucket files written before rows named their cluster (no root_key column), mixed with
    # newer ones in one index: read as one cluster per row, the same decisions.
    import pyarrow.parquet as pq

    for path in sorted(glob.glob(f"{index}/buckets-*.parquet"))[::2]:
        pq.write_table(pq.read_table(path).drop_columns(["root_key"]), path)
    mixed = run_dedup(snapshot, tmp_path / "mixed", prior_indexes=[index], in_memory=True)
    assert _fates(*mixed[:2]) == _fates(*whole[:2])


def _fates(kept, dropped):
    return sorted([(d["id"], "kept", None, None) for d in kept]
                  + [(d["id"], d["reason"], d["duplicate_of"], d["cluster_id"]) for d in dropped])


def _index_rows(index):
    import pyarrow.parquet as pq

    return {kind: sorted(tuple(sorted(r.items())) for p in sorted(glob.glob(f"{index}/{kind}-*.parquet"))
                         for r in pq.read_table(p).to_pylist()) for kind in ("buckets", "docs")}


def test_in_memory_form_decides_as_the_distributed_form(sample, tmp_path):
    """Local runs deduplicate `in_memory` (union-find in one step, documents routed by side
    inputs): the same fates and the same index as the shuffled form, with two workers too."""
    docs, _ = sample
    kept, dropped, _ = run_dedup(docs, tmp_path / "d", index_output=str(tmp_path / "d_index"))
    kept_m, dropped_m, counters = run_dedup(docs, tmp_path / "m", index_output=str(tmp_path / "m_index"),
                                            in_memory=True, extra_args=MULTI)
    assert len(dropped) > 50 and _fates(kept_m, dropped_m) == _fates(kept, dropped)
    assert _index_rows(tmp_path / "m_index") == _index_rows(tmp_path / "d_index")
    assert counters["cc_residual_nodes"] > 50  # every node went through the one-step union-find


def check_index_layout(index, kept_ids, cfg):
    """Bucket rows sit in the shard file of their key, b+1 per kept document; one docs row
    (key, id, signature) per kept document, in the shard file of its key. These documents have
    no `key`, so their key is their id."""
    import pyarrow.parquet as pq

    from pipelines.dedup.index import BUCKETS, DOCS, EXACT_BAND, bucket_shard, doc_shard, shard_path

    n = cfg.index_shards
    bands = cfg.bands_rows[0]
    per_doc, signed, rows_of, bucket_roots, doc_roots = {}, [], [], {}, {}
    for shard in range(n):
        path = shard_path(index, BUCKETS, shard, n)
        if os.path.exists(path):
            for row in pq.read_table(path).to_pylist():
                assert bucket_shard(row["band"], row["hash"], n) == shard
                assert EXACT_BAND <= row["band"] < bands
                per_doc.setdefault(row["doc_key"], set()).add(row["band"])
                bucket_roots.setdefault(row["doc_key"], set()).add(row["root_key"])
        path = shard_path(index, DOCS, shard, n)
        if os.path.exists(path):
            for row in pq.read_table(path).to_pylist():
                assert doc_shard(row["doc_key"], n) == shard and row["doc_id"] == row["doc_key"]
                rows_of.append(row["doc_key"])
                doc_roots[row["doc_key"]] = row["root_key"]
                if row["signature"] is not None:
                    assert len(row["signature"]) == cfg.signature_bits // 8 * cfg.num_perm
                    signed.append(row["doc_key"])
    assert set(per_doc) == kept_ids and sorted(rows_of) == sorted(kept_ids)
    # Every bucket row names its document's cluster as the docs table does (kept: none).
    assert bucket_roots == {key: {root} for key, root in doc_roots.items()}
    assert all(doc_roots[key] is None for key in kept_ids)
    assert all(b == set(range(EXACT_BAND, bands)) for doc_id, b in per_doc.items() if doc_id in signed)
    assert len(signed) == len(set(signed)) and kept_ids - set(signed) == {d for d, b in per_doc.items() if b == {EXACT_BAND}}
    assert len(signed) >= 0.95 * len(kept_ids)


def test_unverified_index_and_missing_index(sample, tmp_path):
    """verify=False writes no signatures and merges prior candidates whole; a directory
    that is not an index is refused before the run starts."""
    docs, _ = sample
    cfg = DedupConfig(verify=False)
    index = str(tmp_path / "idx")
    kept1, _, _ = run_dedup(docs[:300], tmp_path / "a", cfg=cfg, index_output=index)
    import pyarrow.parquet as pq

    docs_rows = [r for f in glob.glob(f"{index}/docs-*") for r in pq.read_table(f).to_pylist()]
    assert glob.glob(f"{index}/buckets-*") and docs_rows and all(r["signature"] is None for r in docs_rows)
    copies = [dict(d, id=f"copy-{i}") for i, d in enumerate(kept1[:10])]
    kept2, dropped2, _ = run_dedup(copies + docs[300:330], tmp_path / "b", cfg=cfg, prior_indexes=[index])
    dropped_copies = {d["id"]: d for d in dropped2 if d["id"].startswith("copy-")}
    assert set(dropped_copies) == {d["id"] for d in copies}
    kept1_ids = {d["id"] for d in kept1}
    assert all(d["duplicate_of"] in kept1_ids and d["reason"] == REASON_EXACT for d in dropped_copies.values())
    p = beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"]))
    with pytest.raises(ValueError, match="no signatures"):
        p | beam.Create(docs[:5]) | Deduplicate(CFG, prior_indexes=[index])
    with pytest.raises(FileNotFoundError, match="not a ROOTS dedup index"):
        p | "Other" >> beam.Create(docs[:5]) | "Dedup2" >> Deduplicate(CFG, prior_indexes=[str(tmp_path / "a")])


def test_prior_index_with_other_settings_is_refused(sample, tmp_path):
    docs, _ = sample
    index = str(tmp_path / "idx")
    run_dedup(docs[:50], tmp_path / "a", index_output=index)
    p = beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"]))
    with pytest.raises(ValueError, match="other settings"):
        p | beam.Create(docs[:5]) | Deduplicate(DedupConfig(num_perm=64), prior_indexes=[index])


def _components(edges, rounds, out_dir, **kwargs):
    opts = PipelineOptions(["--runner=DirectRunner"])
    with beam.Pipeline(options=opts) as p:
        out = p | beam.Create(edges) | ConnectedComponents(max_rounds=rounds, **kwargs)
        out | beam.Map(json.dumps) | beam.io.WriteToText(f"{out_dir}/labels")
    labels = [tuple(json.loads(line)) for f in glob.glob(f"{out_dir}/labels*") for line in open(f)]
    assert len(labels) == len({n for n, _ in labels})  # one label per node
    return dict(labels)


def _union_find_truth(edges):
    """Ground truth by plain union-find in the test: node -> smallest node of its component."""
    parent = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {n: find(n) for n in list(parent) if find(n) != n}


def test_connected_components_converge_on_a_20000_node_chain(tmp_path):
    """A chain in the worst order for min-label propagation: the unrolled rounds leave most of
    it unconverged; the residual is finished exactly. Plus shuffled chains, stars and a cycle."""
    import random

    n = 20_000
    names = [f"n{i:05d}" for i in range(n)]
    chain = [(names[i + 1], names[i]) for i in range(n - 1)]
    rng = random.Random(0)
    shuffled = [f"m{i:05d}" for i in range(3000)]
    rng.shuffle(shuffled)
    other = [(max(a, b), min(a, b)) for a, b in zip(shuffled, shuffled[1:])]
    star = [(f"s{i:03d}", "s000") for i in range(1, 50)]
    cycle = [("c1", "c0"), ("c2", "c1"), ("c2", "c0"), ("c3", "c2"), ("c3", "c0")]
    edges = chain + other + star + cycle + chain[:100]  # repeated edges too
    labels = _components(edges, 3, tmp_path / "chain")
    assert labels == _union_find_truth(edges)
    assert labels["n19999"] == "n00000" and len(labels) == (n - 1) + 2999 + 49 + 3


def test_connected_components_residual_limit_fails_loudly(tmp_path):
    chain = [(f"n{i + 1:04d}", f"n{i:04d}") for i in range(2000)]
    with pytest.raises(Exception, match="raise DedupConfig.cc_max_rounds"):
        _components(chain, 1, tmp_path / "one", max_residual_nodes=100)


def test_duplicate_of_always_points_at_a_kept_document(dedup_corpus, tmp_path):
    """Long chains of near-duplicates (each copy edits the previous one): every dropped
    document's representative is kept, whatever the depth."""
    import random

    rng = random.Random(7)
    bases = [d for d in dedup_corpus if d["source"] == "c4-en" and len(d["text"]) > 2000][:8]
    docs = []
    for b, base in enumerate(bases):
        text = base["text"]
        for step in range(25):
            docs.append({"id": f"chain{b}-{step:02d}", "text": text, "lang": "en"})
            text = plant_near_duplicate(text, "en", 0.01, rng, ["alpha", "beta", "gamma"])
    kept, dropped, _ = run_dedup(docs, tmp_path, cfg=DedupConfig(cc_max_rounds=1))
    kept_ids = {d["id"] for d in kept}
    assert dropped and all(d["duplicate_of"] in kept_ids for d in dropped)
    assert sorted(d["id"] for d in kept + dropped) == sorted(d["id"] for d in docs)


def test_edges_are_deduplicated_before_components(dedup_corpus, tmp_path):
    """Three identical documents share all `bands` LSH buckets; each bucket proposes the same
    3 pairs, but connected components must receive each pair once: 3 edges, not 3 x bands.
    With exact dedup on too, the exact bucket's star (2 edges) connects them and the LSH
    pairs add nothing."""
    page = next(d for d in dedup_corpus if d["source"] == "c4-en" and 1500 < len(d["text"]) < 4000)
    other = next(d for d in dedup_corpus if d["source"] == "c4-en" and d["text"] != page["text"] and len(d["text"]) > 1500)
    docs = [dict(page, id=f"same-{i}", lang="en") for i in range(3)] + [dict(other, id="other", lang="en")]
    cfg = DedupConfig(methods=("minhash",))
    bands = cfg.bands_rows[0]
    kept, dropped, counters = run_dedup(docs, tmp_path / "lsh", cfg=cfg)
    assert {d["id"] for d in kept} == {"same-0", "other"}
    assert counters["lsh_candidates"] == 3 * bands  # every band bucket proposes the pairs again
    assert counters["cc_edges"] == counters["lsh_edges"] == 3
    kept, dropped, counters = run_dedup(docs, tmp_path / "both", cfg=DedupConfig())
    assert {d["id"] for d in kept} == {"same-0", "other"}
    assert {d["reason"] for d in dropped} == {REASON_EXACT}
    assert counters["cc_edges"] == 2 and counters.get("lsh_edges", 0) == 0


def test_refresh_against_a_boilerplate_bucket(dedup_corpus, tmp_path):
    """A templated page released in 40 variants, refreshed with 20 more: the buckets hold more
    than all_pairs_max new and prior members, so each new variant is paired with the
    smallest prior document only (not with all 40), and every new variant still ends up
    a duplicate of the released representative."""
    page = next(d for d in dedup_corpus if d["source"] == "c4-en" and 1500 < len(d["text"]) < 4000)
    variant = lambda i: dict(page, id=f"tpl-{i:03d}", lang="en", text=f"{page['text']}\nPage {i} of the catalogue")
    cfg = DedupConfig(all_pairs_max_bucket=8)
    index = str(tmp_path / "index")
    kept1, dropped1, _ = run_dedup([variant(i) for i in range(40)], tmp_path / "r1", cfg=cfg, index_output=index)
    assert [d["id"] for d in kept1] == ["tpl-000"] and len(dropped1) == 39
    new = [variant(i) for i in range(40, 60)]
    kept2, dropped2, counters = run_dedup(new, tmp_path / "r2", cfg=cfg, prior_indexes=[index])
    assert not kept2 and {d["duplicate_of"] for d in dropped2} == {"tpl-000"} and len(dropped2) == 20
    assert counters["oversized_buckets"] > 0
    # One prior candidate per new document and bucket at most: 20 x 40 without the rule.
    assert counters["prior_candidate_pairs"] <= 2 * len(new), counters["prior_candidate_pairs"]


def test_traditional_and_simplified_copies_are_duplicates(tmp_path):
    """Real DRCD paragraphs (Traditional) and their Simplified conversions, real CMRC
    paragraphs (Simplified) and their Traditional conversions, by OpenCC here in the test:
    each copy is dropped as a duplicate of its original; a copy with a light edit as well,
    as a near duplicate. Without script folding none of them is found."""
    import random

    from opencc_pyo3 import OpenCC

    def contexts(name, n):
        seen = {}
        with open(dataset_path(name) / "dev.jsonl", encoding="utf-8") as f:
            for line in f:
                seen.setdefault(json.loads(line)["context"], None)
        return list(seen)[:n]

    rng = random.Random(2)
    t2s, s2t = OpenCC("t2s"), OpenCC("s2t")
    docs, copy_of = [], {}
    for name, convert in (("qa_drcd", t2s), ("qa_cmrc2018_dev", s2t)):
        for i, text in enumerate(contexts(name, 15)):
            orig = f"{name}-{i:02d}"
            docs.append({"id": orig, "text": text, "lang": "zh"})
            copy = convert.convert(text)
            assert copy != text
            docs.append({"id": f"{orig}~copy", "text": copy, "lang": "zh"})
            # s2t is one-to-many (干 -> 乾 or 幹), so a few copies do not return to the same
            # Simplified text: those are near, not exact, copies.
            same = t2s.convert(copy) == t2s.convert(text)
            copy_of[f"{orig}~copy"] = (orig, REASON_EXACT if same else REASON_NEAR)
            if i < 5:
                edited = plant_near_duplicate(copy, "zh", 0.02, rng, ["的", "我们", "研究"])
                docs.append({"id": f"{orig}~edit", "text": edited, "lang": "zh"})
                copy_of[f"{orig}~edit"] = (orig, REASON_NEAR)
    kept, dropped, _ = run_dedup(docs, tmp_path / "fold")
    assert {d["id"]: (d["duplicate_of"], d["reason"]) for d in dropped} == copy_of
    _, dropped_raw, _ = run_dedup(docs, tmp_path / "raw", cfg=DedupConfig(script_fold="none"))
    assert not {d["id"] for d in dropped_raw} & {c for c in copy_of if c.endswith("~copy")}


def _rewrite_as_format_3(index):
    """Turn an index written with datasketch signatures and no script folding into the
    files format 3 wrote: index.json without the implementation and fold fields (and
    `scheme: affine32`), signatures as datasketch LeanMinHash bytes."""
    import numpy as np
    import pyarrow.parquet as pq
    from datasketch import LeanMinHash

    meta = json.load(open(f"{index}/index.json"))
    meta = {k: v for k, v in meta.items() if k not in ("minhash", "script_fold", "signature_bits")}
    meta.update(format=3, scheme="affine32")
    json.dump(meta, open(f"{index}/index.json", "w"))
    for path in glob.glob(f"{index}/docs-*.parquet"):
        table = pq.read_table(path)
        lean = []
        for sig in table["signature"].to_pylist():
            m = LeanMinHash(seed=CFG.seed, hashvalues=np.frombuffer(sig, dtype="<u4"), scheme="affine32")
            buf = bytearray(m.bytesize(byteorder="<"))
            m.serialize(buf, byteorder="<")
            lean.append(bytes(buf))
        pq.write_table(table.set_column(table.schema.get_field_index("signature"), "signature",
                                        __import__("pyarrow").array(lean, __import__("pyarrow").binary())), path)


def _finds_copies_of_the_index(kept1, index, cfg, tmp_path, seed):
    """A run with `cfg` against the prior `index` (whose run kept `kept1`) drops exact copies of
    10 of its documents and 1%-edited copies of 20 more as duplicates of them."""
    rng = __import__("random").Random(seed)
    copies = [dict(d, id=f"copy-{i}") for i, d in enumerate(kept1[:10])]
    edited = [dict(d, id=f"edit-{i}", text=plant_near_duplicate(d["text"], d["lang"], 0.01, rng, ["x", "y"]))
              for i, d in enumerate(kept1[10:30])]
    _, dropped, _ = run_dedup(copies + edited, tmp_path / "r2", cfg=cfg, prior_indexes=[index])
    dup_of = {d["id"]: d["duplicate_of"] for d in dropped}
    assert all(dup_of.get(c["id"]) == kept1[i]["id"] for i, c in enumerate(copies))
    assert sum(dup_of.get(e["id"]) == kept1[10 + i]["id"] for i, e in enumerate(edited)) >= 18


def test_index_of_another_signature_scheme_is_refused_or_read(sample, tmp_path):
    """A format-3 index (datasketch signatures, no script folding): a run with those settings
    reads it and finds its copies and edited copies; a run with the default rensa signatures
    is refused, naming the settings to use. A rensa index is refused by a datasketch run."""
    docs, _ = sample
    legacy = DedupConfig(minhash_impl="datasketch", script_fold="none", num_perm=128, signature_bits=32)
    first = [d for d in docs if len(d["text"]) > 800][:60]
    index = str(tmp_path / "old")
    kept1, _, _ = run_dedup(first, tmp_path / "r1", cfg=legacy, index_output=index)
    _rewrite_as_format_3(index)
    _finds_copies_of_the_index(kept1, index, legacy, tmp_path, seed=8)
    p = beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"]))
    with pytest.raises(ValueError, match="format 3 was written by the datasketch MinHash"):
        p | beam.Create(docs[:5]) | Deduplicate(CFG, prior_indexes=[index])
    new_index = str(tmp_path / "new")
    run_dedup(first[:20], tmp_path / "r3", index_output=new_index)
    with pytest.raises(ValueError, match="other settings.*minhash"):
        p | "Other" >> beam.Create(docs[:5]) | "Dedup2" >> Deduplicate(legacy, prior_indexes=[new_index])


def test_an_index_of_full_32_bit_values_is_refused_or_read(sample, tmp_path):
    """A format-4 index (rensa, 128 full 32-bit values, before signatures kept their low bits):
    a run with `num_perm: 128, signature_bits: 32` reads it and finds its copies and edited
    copies; a run with the default signatures is refused, naming the settings to use."""
    docs, _ = sample
    full = DedupConfig(num_perm=128, signature_bits=32)
    first = [d for d in docs if len(d["text"]) > 800][:60]
    index = str(tmp_path / "old")
    kept1, _, _ = run_dedup(first, tmp_path / "r1", cfg=full, index_output=index)
    meta = json.load(open(f"{index}/index.json"))
    assert meta["signature_bits"] == 32
    del meta["signature_bits"]
    json.dump(dict(meta, format=4), open(f"{index}/index.json", "w"))
    _finds_copies_of_the_index(kept1, index, full, tmp_path, seed=9)
    p = beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"]))
    with pytest.raises(ValueError, match="format 4 holds 32-bit signature values.*signature_bits: 32"):
        p | beam.Create(docs[:5]) | Deduplicate(CFG, prior_indexes=[index])
