"""Benchmark: ROOTS Beam dedup vs datasketch MinHashLSH vs datatrove MinHash dedup, side by side.

One corpus (corpus_web_mixed + planted near-duplicates); each contender in a fresh subprocess
(peak memory its own), contenders in alternating order (forward, then reversed, ...) for
`--repeat` rounds (>= 3), medians reported. Each peer brings its own shingling:
- ROOTS: its pipeline (script folding, word 2-grams / Han character 2-grams, rensa MinHash,
  16 x 8 bands chosen by datasketch's optimizer, candidates verified on the signatures);
- datasketch 2.0: the textbook way, MinHash (sha1) of `str.split()` word 2-grams (Han text:
  character 2-grams of the raw text), one in-memory MinHashLSH(threshold) with its own
  bands/rows, every document queried, results unioned;
- datatrove 0.10.1: its MinHash pipeline (4 stages) with its own normalization
  (`simplify_text`) and word tokenizers (spaCy; jieba words for Chinese), one run per
  language group as multilingual datatrove pipelines do (zh with `zho_Hani`, the rest with
  `eng_Latn`); 2-grams and ROOTS's 16 x 8 bands so that both target the same similarity.
Ground truth: pairs whose Jaccard of `quality.reference_shingles` (a shingling written
apart from the pipeline's) is >= 0.8, by brute force. Also shown: precision / recall against
the exact Jaccard of the ROOTS shingles (the figure earlier versions reported).

Per core = documents / CPU seconds (user + system of the contender's process and its
children, from its first document read to its last decision): on a shared machine wall time
also counts other people's work. Wall seconds are printed too.

    nice python benchmarks/bench_dedup.py [--planted 1000] [--repeat 3] [--methods roots,datasketch,datatrove]

datatrove is the optional `bench` extra: pip install datatrove==0.10.1 spacy==3.8.18
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pipelines.datadir import dataset_path  # noqa: E402
from pipelines.dedup import DedupConfig  # noqa: E402
from roots_measure.dedup import (  # noqa: E402
    build_sample,
    clusters_from_dropped,
    load_corpus,
    precision_recall,
    predicted_pairs,
    reference_pairs,
    true_pairs,
)
from roots_measure.timing import cpu_seconds  # noqa: E402

CFG = DedupConfig()


def _peak_mb() -> float:
    """This process's high-water mark (VmHWM restarts at exec, unlike ru_maxrss, which a
    forked child inherits from the parent holding the corpus) and its worker processes'."""
    hwm_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(hwm_kb, child_kb) / 1024


def _is_han(lang: str) -> bool:
    return lang == "zh"


def _union_find(ids, pairs) -> dict[str, str]:
    parent = {i: i for i in ids}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {i: find(i) for i in parent}


def prepare(method: str) -> None:
    """Imports done before the clock starts, for every contender alike."""
    if method.startswith("roots"):
        import apache_beam  # noqa: F401

        import pipelines.dedup.transforms  # noqa: F401
    elif method == "datasketch":
        import datasketch  # noqa: F401
    elif method == "datatrove":
        import datatrove.pipeline.dedup.minhash  # noqa: F401


def run_roots(docs_path: Path, work: Path, workers: int) -> dict[str, str]:
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
    return clusters_from_dropped(ids + [d["id"] for d in dropped], dropped)


def run_datasketch(docs_path: Path, work: Path) -> dict[str, str]:
    """datasketch's documented usage: MinHash (default sha1 hash) over the shingles, one
    MinHashLSH(threshold) in memory with the bands/rows it picks, query every document."""
    from datasketch import MinHash, MinHashLSH

    docs = [json.loads(line) for line in open(docs_path)]
    lsh = MinHashLSH(threshold=CFG.threshold, num_perm=CFG.num_perm)
    template = MinHash(num_perm=CFG.num_perm, seed=CFG.seed)
    sketches = {}
    with lsh.insertion_session() as session:
        for d in docs:
            text = d["text"]
            if _is_han(d["lang"]):
                grams = {text[i:i + 2] for i in range(len(text) - 1)} or {text}
            else:
                tokens = text.split()
                grams = {" ".join(tokens[i:i + 2]) for i in range(len(tokens) - 1)} or set(tokens)
            if not grams:
                continue
            m = template.copy()
            m.update_batch([g.encode("utf-8") for g in grams])
            sketches[d["id"]] = m
            session.insert(d["id"], m)
    pairs = ((doc_id, other) for doc_id, m in sketches.items() for other in lsh.query(m))
    return _union_find([d["id"] for d in docs], pairs)


def run_datatrove(docs_path: Path, work: Path) -> dict[str, str]:
    import gzip

    import datatrove.utils.hashes.xxhash as dt_xxhash
    import xxhash
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

    # datatrove 0.10.1 hands str to xxhash, which xxhash 4.x (pinned by ROOTS) refuses;
    # encode first so it keeps its fast hash instead of falling back to sha1.
    dt_xxhash.xxhash32 = lambda data: xxhash.xxh32_intdigest(data.encode() if isinstance(data, str) else data)
    dt_xxhash.xxhash64 = lambda data: xxhash.xxh64_intdigest(data.encode() if isinstance(data, str) else data)

    bands, rows = CFG.bands_rows
    cfg = MinhashConfig(n_grams=2, num_buckets=bands, hashes_per_bucket=rows, hash_config=HashConfig(precision=64))
    rep: dict[str, str] = {}
    for group, language in (("zh", "zho_Hani"), ("other", "eng_Latn")):
        folder = docs_path.parent / f"lang_{group}"
        out = work / group
        sig, buckets, clusters = out / "sigs", out / "buckets", out / "clusters"
        stages = [
            [JsonlReader(str(folder)), MinhashDedupSignature(output_folder=str(sig), config=cfg, language=language)],
            [MinhashDedupBuckets(input_folder=str(sig), output_folder=str(buckets), config=cfg)],
            [MinhashDedupCluster(input_folder=str(buckets), output_folder=str(clusters), config=cfg, save_cluster_id=True)],
            [
                JsonlReader(str(folder)),
                MinhashDedupFilter(input_folder=str(clusters), exclusion_writer=JsonlWriter(str(out / "removed")),
                                   load_cluster_ids=True),
                JsonlWriter(str(out / "kept")),
            ],
        ]
        for i, pipeline in enumerate(stages):
            tasks = bands if i == 1 else 1
            LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=1, logging_dir=str(out / f"logs{i}")).run()
        by_cluster = {}
        for kind in ("kept", "removed"):
            for f in (out / kind).glob("*.jsonl*"):
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
    return rep


METHODS = {
    "roots": lambda p, w: run_roots(p, w, 1),
    "roots2": lambda p, w: run_roots(p, w, 2),
    "datasketch": run_datasketch,
    "datatrove": run_datatrove,
}
LABELS = {"roots": "roots Beam (DirectRunner, 1 worker)", "roots2": "roots Beam (DirectRunner, 2 procs)",
          "datasketch": "datasketch 2.0 MinHashLSH", "datatrove": "datatrove 0.10.1 MinHash"}


def child(method: str, docs_path: Path, out: Path):
    prepare(method)
    with tempfile.TemporaryDirectory() as work:
        cpu, start = cpu_seconds(), time.perf_counter()
        rep = METHODS[method](docs_path, Path(work))
        seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    out.write_text(json.dumps({"rep": rep, "seconds": seconds, "cpu": cpu, "peak_mb": _peak_mb()}))


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


def sweep(configs: list[DedupConfig], planted_n: int) -> None:
    """Precision / recall of the pipeline's decisions (same sketches, candidate pairs and
    verification, in memory instead of Beam) for several signature lengths or verification
    slacks, bands fixed by `lsh_num_perm`: the measurements behind the defaults num_perm and
    verify_slack (docs/dedup.md, Banding)."""
    from collections import defaultdict

    from pipelines.dedup.buckets import EXACT_BAND, agrees, candidate_pairs
    from pipelines.dedup.sketch import Sketcher, signature_from_bytes

    corpus = load_corpus(dataset_path("corpus_web_mixed"))
    docs, _ = build_sample(corpus, n_random=len(corpus), n_planted=planted_n, seed=7)
    truth, _ = reference_pairs(docs, CFG.threshold)
    ids = [d["id"] for d in docs]
    for cfg in configs:
        sketch = Sketcher(cfg)
        sketches = [sketch(d["text"], d["lang"]) for d in docs]
        buckets = defaultdict(list)
        for i, (key, hashes, _) in enumerate(sketches):
            if key is not None:
                buckets[(EXACT_BAND, key)].append(i)
            for band, h in enumerate(hashes):
                buckets[(band, h)].append(i)
        edges = set()
        for (band, _), members in buckets.items():
            if len(members) < 2:
                continue
            if band == EXACT_BAND:
                edges |= {(m, min(members)) for m in members if m != min(members)}
                continue
            for child, parent in candidate_pairs([f"{m:07d}" for m in members], cfg.all_pairs_max_bucket):
                a, b = int(child), int(parent)
                sa, sb = (signature_from_bytes(sketches[x][2], cfg) for x in (a, b))
                if agrees(sa, sb, cfg.min_estimate):
                    edges.add((a, b))
        rep = _union_find(ids, ((ids[a], ids[b]) for a, b in edges))
        p, r = precision_recall(predicted_pairs(rep), truth)
        print(f"num_perm={cfg.num_perm} x {cfg.signature_bits} bits = {cfg.num_perm * cfg.signature_bits // 8} B, "
              f"verify_slack={cfg.verify_slack} (accepts {cfg.min_estimate:.3f}) "
              f"bands/rows={cfg.bands_rows}: precision {p:.4f} recall {r:.4f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--planted", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3, help="rounds, contenders in alternating order (median shown)")
    ap.add_argument("--components", type=int, default=0,
                    help="only run connected components on a planted corpus of this many documents (e.g. 200000)")
    ap.add_argument("--methods", default="roots,datasketch,datatrove")
    ap.add_argument("--sweep-num-perm", default="",
                    help="only print precision/recall for these signature lengths, e.g. 128,256,384,512")
    ap.add_argument("--sweep-slack", default="",
                    help="only print precision/recall for these verify_slack values, e.g. 0,0.01,0.02 "
                         "(128 x 32-bit and 512 x 8-bit signatures)")
    ap.add_argument("--sweep-bits", default="32",
                    help="bits kept of each value in --sweep-num-perm, e.g. 8,16,32")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--docs", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(a.child, Path(a.docs), Path(a.out))
    if a.components:
        return components_run(a.components)
    if a.sweep_num_perm or a.sweep_slack:
        bits = [int(v) for v in a.sweep_bits.split(",")]
        configs = ([DedupConfig(num_perm=int(v), signature_bits=b) for v in a.sweep_num_perm.split(",") if v
                    for b in bits]
                   + [DedupConfig(verify_slack=float(v), num_perm=n, signature_bits=b)
                      for v in a.sweep_slack.split(",") if v for n, b in ((128, 32), (512, 8))])
        return sweep(configs, a.planted)

    corpus = load_corpus(dataset_path("corpus_web_mixed"))
    docs, planted = build_sample(corpus, n_random=len(corpus), n_planted=a.planted, seed=7)
    print(f"corpus: {len(docs)} documents ({len(planted)} planted near-duplicates, 1-10% of words edited)")
    start = time.perf_counter()
    truth, _ = reference_pairs(docs, CFG.threshold)
    own_truth, _ = true_pairs(docs, CFG)
    print(f"ground truth: {len(truth)} pairs with reference-shingle Jaccard >= {CFG.threshold} "
          f"({len(own_truth)} by ROOTS's own shingles; {time.perf_counter() - start:.0f} s brute force)")
    bands, rows = CFG.bands_rows
    print(f"ROOTS settings: {CFG.minhash_impl} MinHash, num_perm={CFG.num_perm} x {CFG.signature_bits} bits "
          f"bands={bands} rows={rows}, "
          f"word {CFG.word_ngram}-grams (en), char {CFG.cjk_ngram}-grams (zh), script fold {CFG.script_fold}")
    methods = a.methods.split(",")
    runs: dict[str, list[dict]] = {m: [] for m in methods}
    with tempfile.TemporaryDirectory() as tmp:
        docs_path = Path(tmp) / "docs.jsonl"
        with docs_path.open("w", encoding="utf-8") as f:
            f.writelines(json.dumps(d, ensure_ascii=False) + "\n" for d in docs)
        for group in ("zh", "other"):  # datatrove's per-language inputs, the same documents
            (Path(tmp) / f"lang_{group}").mkdir()
            with (Path(tmp) / f"lang_{group}" / "docs.jsonl").open("w", encoding="utf-8") as f:
                f.writelines(json.dumps(d, ensure_ascii=False) + "\n" for d in docs
                             if _is_han(d["lang"]) == (group == "zh"))
        for r in range(a.repeat):
            order = methods if r % 2 == 0 else methods[::-1]
            for method in order:
                out = Path(tmp) / f"{method}.json"
                proc = subprocess.run([sys.executable, __file__, "--child", method, "--docs", str(docs_path),
                                       "--out", str(out)], capture_output=True, text=True)
                if proc.returncode != 0:
                    print(f"{method}: FAILED: {proc.stderr.strip().splitlines()[-3:]}")
                    continue
                runs[method].append(json.loads(out.read_text()))
                print(f"  round {r + 1}: {method} {runs[method][-1]['seconds']:.1f} s wall, "
                      f"{runs[method][-1]['cpu']:.1f} s cpu", flush=True)
    print(f"{'method':<36}{'docs/s/core':>12}{'cpu s':>8}{'wall s':>8}{'peak MB':>9}{'precision':>11}{'recall':>8}"
          f"{'P own':>7}{'R own':>7}{'planted R':>11}")
    per_core = {}
    for method in methods:
        if not runs[method]:
            continue
        cpu = statistics.median(r["cpu"] for r in runs[method])
        wall = statistics.median(r["seconds"] for r in runs[method])
        peak = statistics.median(r["peak_mb"] for r in runs[method])
        rep = runs[method][-1]["rep"]
        predicted = predicted_pairs(rep)
        p, rc = precision_recall(predicted, truth)
        po, ro = precision_recall(predicted, own_truth)
        planted_r = sum(rep.get(x) == rep.get(y) for x, y, _ in planted) / max(1, len(planted))
        per_core[method] = len(docs) / cpu
        print(f"{LABELS[method]:<36}{per_core[method]:>12.0f}{cpu:>8.1f}{wall:>8.1f}{peak:>9.0f}{p:>11.3f}{rc:>8.3f}"
              f"{po:>7.3f}{ro:>7.3f}{planted_r:>11.3f}")
    print(f"medians of {a.repeat} rounds; docs/s/core = documents / CPU seconds")
    for peer in ("datatrove", "datasketch"):
        if "roots" in per_core and peer in per_core:
            print(f"roots / {peer} per core: {per_core['roots'] / per_core[peer]:.2f}x")


if __name__ == "__main__":
    main()
