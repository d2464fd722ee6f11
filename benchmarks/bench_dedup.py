"""Benchmark: ROOTS Beam dedup vs datasketch in-memory MinHashLSH vs datatrove MinHash dedup.

One corpus (corpus_web_mixed + planted near-duplicates), one ground truth (exact Jaccard of
the ROOTS shingles >= threshold, by brute force), each method in a fresh subprocess so peak
memory is its own. Prints documents/s per core, peak RSS, pairwise precision and recall.

    nice python benchmarks/bench_dedup.py [--planted 1000] [--methods roots,datasketch,datatrove]

datatrove is the optional `bench` extra: pip install datatrove==0.10.1
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pipelines.datadir import dataset_path  # noqa: E402
from pipelines.dedup import DedupConfig  # noqa: E402
from pipelines.dedup.quality import (  # noqa: E402
    build_sample,
    clusters_from_dropped,
    load_corpus,
    precision_recall,
    predicted_pairs,
    true_pairs,
)

CFG = DedupConfig()


def _peak_mb() -> float:
    """This process's high-water mark (VmHWM restarts at exec, unlike ru_maxrss, which a
    forked child inherits from the parent holding the corpus) and its worker processes'."""
    hwm_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(hwm_kb, child_kb) / 1024


def run_roots(docs_path: Path, work: Path, workers: int) -> tuple[dict[str, str], int]:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.dedup import Deduplicate

    args = ["--runner=DirectRunner"]
    if workers > 1:
        args += [f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"]
    with beam.Pipeline(options=PipelineOptions(args)) as p:
        result = p | beam.io.ReadFromText(str(docs_path)) | beam.Map(json.loads) | Deduplicate(CFG)
        result.dropped | "DJ" >> beam.Map(json.dumps) | "DW" >> beam.io.WriteToText(str(work / "dropped"))
        result.kept | "KI" >> beam.Map(lambda d: d["id"]) | "KW" >> beam.io.WriteToText(str(work / "kept"))
    ids = [line.strip() for f in work.glob("kept*") for line in open(f)]
    dropped = [json.loads(line) for f in work.glob("dropped*") for line in open(f)]
    return clusters_from_dropped(ids + [d["id"] for d in dropped], dropped), workers


def run_datasketch(docs_path: Path, work: Path) -> tuple[dict[str, str], int]:
    """The textbook single-process way: one MinHashLSH(threshold) in memory, query every
    document, union the results."""
    from datasketch import LeanMinHash, MinHashLSH

    from pipelines.dedup import MinHasher, shingles

    docs = [json.loads(line) for line in open(docs_path)]
    hasher = MinHasher(CFG)
    lsh = MinHashLSH(threshold=CFG.threshold, num_perm=CFG.num_perm)
    sketches = {}
    with lsh.insertion_session() as session:
        for d in docs:
            s = shingles(d["text"], d["lang"], CFG)
            if s:
                m = LeanMinHash(seed=CFG.seed, hashvalues=hasher.signature(s), scheme="affine32")
                sketches[d["id"]] = m
                session.insert(d["id"], m)
    parent = {d["id"]: d["id"] for d in docs}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for doc_id, m in sketches.items():
        for other in lsh.query(m):
            a, b = find(doc_id), find(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return {i: find(i) for i in parent}, 1


def run_datatrove(docs_path: Path, work: Path) -> tuple[dict[str, str], int]:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashing import HashConfig
    from datatrove.utils.word_tokenizers import WordTokenizer

    import datatrove.utils.hashes.xxhash as dt_xxhash
    import xxhash

    from pipelines.dedup.quality import guess_lang
    from pipelines.text.segment import words

    # datatrove 0.10.1 hands str to xxhash, which xxhash 4.x (pinned by ROOTS) refuses;
    # encode first so it keeps its fast hash instead of falling back to sha1.
    dt_xxhash.xxhash32 = lambda data: xxhash.xxh32_intdigest(data.encode() if isinstance(data, str) else data)
    dt_xxhash.xxhash64 = lambda data: xxhash.xxh64_intdigest(data.encode() if isinstance(data, str) else data)

    class RootsTokenizer(WordTokenizer):
        """Same units as ROOTS: words for English, characters for Chinese."""

        def word_tokenize(self, text):
            if guess_lang(text) == "zh":
                return [ch for ch in text if ch.isalnum()]
            return words(text, "en")

        def sent_tokenize(self, text):
            return [text]

        def span_tokenize(self, text):
            return [(0, len(text))]

    bands, rows = CFG.bands_rows
    cfg = MinhashConfig(n_grams=CFG.word_ngram, num_buckets=bands, hashes_per_bucket=rows, hash_config=HashConfig(precision=64))
    reader = JsonlReader(str(docs_path.parent), glob_pattern=docs_path.name)
    sig, buckets, clusters = work / "sigs", work / "buckets", work / "clusters"
    stages = [
        [reader, MinhashDedupSignature(output_folder=str(sig), config=cfg, language=RootsTokenizer())],
        [MinhashDedupBuckets(input_folder=str(sig), output_folder=str(buckets), config=cfg)],
        [MinhashDedupCluster(input_folder=str(buckets), output_folder=str(clusters), config=cfg, save_cluster_id=True)],
        [
            JsonlReader(str(docs_path.parent), glob_pattern=docs_path.name),
            MinhashDedupFilter(
                input_folder=str(clusters),
                exclusion_writer=JsonlWriter(str(work / "removed")),
                load_cluster_ids=True,
            ),
            JsonlWriter(str(work / "kept")),
        ],
    ]
    for i, pipeline in enumerate(stages):
        tasks = bands if i == 1 else 1
        LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=1, logging_dir=str(work / f"logs{i}")).run()
    import gzip

    rep, by_cluster = {}, {}
    for folder in ("kept", "removed"):
        for f in (work / folder).glob("*.jsonl*"):
            opener = gzip.open if f.suffix == ".gz" else open
            for line in opener(f, "rt"):
                d = json.loads(line)
                cid = d["metadata"].get("minhash_cluster_id", -1)
                rep[d["id"]] = d["id"]
                if cid != -1:
                    by_cluster.setdefault(cid, []).append(d["id"])
    for members in by_cluster.values():
        for m in members:
            rep[m] = min(members)
    return rep, 1


METHODS = {"roots": run_roots, "roots2": lambda p, w: run_roots(p, w, 2), "datasketch": run_datasketch, "datatrove": run_datatrove}


def child(method: str, docs_path: Path, out: Path):
    with tempfile.TemporaryDirectory() as work:
        fn = METHODS[method] if method != "roots" else (lambda p, w: run_roots(p, w, 1))
        start = time.perf_counter()
        rep, cores = fn(docs_path, Path(work))
        seconds = time.perf_counter() - start
    out.write_text(json.dumps({"rep": rep, "seconds": seconds, "cores": cores, "peak_mb": _peak_mb()}))


def components_run(n_docs: int, seed: int = 3) -> None:
    """Connected components on the duplicate graph of a planted n-document corpus: clusters of
    2-50 copies linked the way buckets link them (random spanning trees), long chains of
    near-copies (the worst case for star contraction: 20,000 nodes) and singletons. Ground
    truth: breadth-first search over the planted edges, here, not the code under test."""
    import random
    from collections import defaultdict, deque

    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.dedup.components import ConnectedComponents

    rng = random.Random(seed)
    ids = [f"1:{i:07d}" for i in range(n_docs)]
    rng.shuffle(ids)
    edges, i = [], 0
    for chain in (20_000, 5_000, 1_000):
        nodes = ids[i:i + chain]
        i += chain
        edges += [(max(a, b), min(a, b)) for a, b in zip(nodes, nodes[1:])]
    while i < n_docs:
        size = 1 if rng.random() < 0.5 else rng.randint(2, 50)
        nodes = ids[i:i + size]
        i += size
        for k in range(1, len(nodes)):
            a, b = nodes[k], nodes[rng.randrange(k)]
            edges.append((max(a, b), min(a, b)))
    adj = defaultdict(list)
    for a, b in edges:
        adj[a].append(b)
        adj[b].append(a)
    truth, seen = {}, set()
    for start in adj:
        if start in seen:
            continue
        comp, todo = [], deque([start])
        seen.add(start)
        while todo:
            x = todo.popleft()
            comp.append(x)
            for y in adj[x]:
                if y not in seen:
                    seen.add(y)
                    todo.append(y)
        root = min(comp)
        truth.update({x: root for x in comp if x != root})
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        p = beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner", "--direct_num_workers=1"]))
        (p | beam.Create(edges) | ConnectedComponents(CFG.cc_max_rounds, CFG.cc_max_residual_nodes)
           | beam.Map(json.dumps) | beam.io.WriteToText(f"{tmp}/labels"))
        result = p.run()
        result.wait_until_finish()
        wall = time.perf_counter() - started
        labels = dict(json.loads(line) for f in Path(tmp).glob("labels*") for line in f.open())
        residual = sum(c.committed or 0 for c in result.metrics().query()["counters"]
                       if c.key.metric.name == "cc_residual_nodes")
    wrong = sum(labels.get(x) != r for x, r in truth.items()) + len(set(labels) - set(truth))
    print(f"components: {n_docs:,} documents, {len(edges):,} edges, {len(truth):,} non-root nodes, longest chain 20,000; "
          f"{CFG.cc_max_rounds} rounds + union-find on {residual:,} residual nodes; {wall:.1f} s, peak {_peak_mb():.0f} MB; "
          f"labels wrong: {wrong}")
    if wrong:
        sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--planted", type=int, default=1000)
    ap.add_argument("--components", type=int, default=0,
                    help="only run connected components on a planted corpus of this many documents (e.g. 200000)")
    ap.add_argument("--methods", default="roots,roots2,datasketch,datatrove")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--docs", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(a.child, Path(a.docs), Path(a.out))
    if a.components:
        return components_run(a.components)

    corpus = load_corpus(dataset_path("corpus_web_mixed"))
    docs, planted = build_sample(corpus, n_random=len(corpus), n_planted=a.planted, seed=7)
    print(f"corpus: {len(docs)} documents ({len(planted)} planted near-duplicates, 1-10% of words edited)")
    start = time.perf_counter()
    truth, _ = true_pairs(docs, CFG)
    print(f"ground truth: {len(truth)} pairs with exact Jaccard >= {CFG.threshold} ({time.perf_counter() - start:.0f} s brute force)")
    bands, rows = CFG.bands_rows
    print(f"settings: num_perm={CFG.num_perm} bands={bands} rows={rows} word {CFG.word_ngram}-grams (en), char {CFG.cjk_ngram}-grams (zh)")
    with tempfile.TemporaryDirectory() as tmp:
        docs_path = Path(tmp) / "docs.jsonl"
        with docs_path.open("w", encoding="utf-8") as f:
            f.writelines(json.dumps(d, ensure_ascii=False) + "\n" for d in docs)
        print(f"{'method':<34}{'docs/s/core':>12}{'wall s':>9}{'peak MB':>9}{'precision':>11}{'recall':>8}{'planted R':>11}")
        for method in a.methods.split(","):
            out = Path(tmp) / f"{method}.json"
            proc = subprocess.run([sys.executable, __file__, "--child", method, "--docs", str(docs_path), "--out", str(out)], capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"{method:<34} FAILED: {proc.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(out.read_text())
            rep = r["rep"]
            p, rc = precision_recall(predicted_pairs(rep), truth)
            planted_r = sum(rep.get(x) == rep.get(y) for x, y, _ in planted) / max(1, len(planted))
            label = {"roots": "roots Beam (DirectRunner, 1 worker)", "roots2": "roots Beam (DirectRunner, 2 procs)",
                     "datasketch": "datasketch MinHashLSH (in memory)", "datatrove": "datatrove 0.10.1 MinHash (1 task)"}[method]
            print(f"{label:<34}{len(docs) / r['seconds'] / r['cores']:>12.0f}{r['seconds']:>9.1f}{r['peak_mb']:>9.0f}{p:>11.3f}{rc:>8.3f}{planted_r:>11.3f}")


if __name__ == "__main__":
    main()
