"""Beam shell around the pure dedup core: one entry point, `Deduplicate`.

Buckets are found from keys and nodes alone: each bundle sends its bucket keys as one list
per bucket shard, and a worker per shard turns its buckets into candidate pairs. Signatures
are then joined to the candidate pairs only (one record per document, not one per band).
The documents themselves are shuffled once, in the final join by node that routes them to
kept / dropped.
Documents are told apart by `key` (unique per input record; the reader sets it), never by
`id`: two files whose ids both start at 0 must not lose a unique text.
"""
from __future__ import annotations

from collections import defaultdict
from typing import NamedTuple

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from pipelines.dedup.buckets import (EXACT_BAND, agrees, candidate_pairs, cluster_id, is_new, is_prior_kept, match_prior,
                                     new_node, node_id, node_key, prior_pair_edges, star_edges)
from pipelines.dedup.components import ConnectedComponents
from pipelines.dedup.config import REASON_EXACT, REASON_NEAR, DedupConfig
from pipelines.dedup.index import (PriorCandidates, WriteIndex, bucket_shard, check_index, doc_shard, index_listing,
                                   read_prior_buckets)
from pipelines.dedup.sketch import Sketcher, signature_from_bytes
from pipelines.text.segment import Segmenter


class DedupResult(NamedTuple):
    kept: pvalue.PCollection
    dropped: pvalue.PCollection
    # (prior kept key and id, key and id of the smaller prior representative its cluster
    # joined): see _NewNodesOnly.
    bridges: pvalue.PCollection | None = None


SIG, SKETCH, ENTRIES, EXACT, ENDS, PRIOR_PAIRS, UNVERIFIED, SIDES, BRIDGES = (
    "sig", "sketch", "entries", "exact", "ends", "prior_pairs", "unverified", "sides", "bridges")
# Bucket entries a SketchDocs instance buffers before it sends them on: bounds its memory
# when a runner makes the whole input one bundle (the DirectRunner does).
_FLUSH_ENTRIES = 200_000
# Distinct candidate pairs with prior documents a BucketShard instance collects before it sends
# them on (~150 bytes each while held).
_FLUSH_PRIOR_PAIRS = 1_000_000


class SketchDocs(beam.DoFn):
    """doc -> (node, doc); per bundle, this run's bucket keys as ENTRIES (bucket shard,
    [(band, hash, node)]): keys and nodes only, one list per shard and bundle rather than one
    element per band; SIG (node, (signature bytes, exact key)) of each document in LSH; and
    with an index to write, SKETCH (node, (exact key, band hashes, signature or None))."""

    def __init__(self, cfg: DedupConfig, with_index: bool, segmenter: Segmenter):
        self.cfg, self.segmenter = cfg, segmenter
        self.with_index = with_index
        self.no_shingles = Metrics.counter("dedup", "docs_without_shingles")

    def setup(self):
        self.sketcher = Sketcher(self.cfg, self.segmenter)
        self.shards = self.cfg.num_bucket_shards

    def start_bundle(self):
        self.entries, self.buffered = defaultdict(list), 0

    def process(self, doc):
        node = doc_node(doc)
        key, hashes, sig = self.sketcher(doc.get("text") or "", doc.get("lang"))
        yield node, doc
        if key is not None:
            self.entries[bucket_shard(EXACT_BAND, key, self.shards)].append((EXACT_BAND, key, node))
        if self.sketcher.minhash and not hashes:
            self.no_shingles.inc()
        for band, h in enumerate(hashes):
            self.entries[bucket_shard(band, h, self.shards)].append((band, h, node))
        self.buffered += len(hashes) + 1
        if not self.cfg.verify:
            sig = None
        if hashes and sig is not None:
            yield pvalue.TaggedOutput(SIG, (node, (sig, key)))
        if self.with_index:
            yield pvalue.TaggedOutput(SKETCH, (node, (key, hashes, sig)))
        if self.buffered >= _FLUSH_ENTRIES:
            yield from self._flush(lambda item: pvalue.TaggedOutput(ENTRIES, item))

    def finish_bundle(self):
        # Outside `process` an output names its window itself: the global one, as the input's.
        yield from self._flush(lambda item: pvalue.TaggedOutput(
            ENTRIES, WindowedValue(item, MIN_TIMESTAMP, [GlobalWindow()])))

    def _flush(self, wrap):
        entries, self.entries, self.buffered = self.entries, defaultdict(list), 0
        for shard, rows in entries.items():
            yield wrap((shard, rows))


def doc_node(doc: dict) -> str:
    """The document's graph node: its unique `key` (the id when a caller has no keys)."""
    return new_node(doc.get("key") or doc["id"], doc["id"])


class BucketShard(beam.DoFn):
    """(bucket shard, [[(band, hash, node)]]) -> what this run's buckets of the shard say:
    - exact buckets: a star around the smallest node, as edges (main) and EXACT children;
    - LSH buckets: candidate pairs, each pair once per shard, sent as ENDS (node, other node)
      to fetch both signatures by a join (signatures never travel with the buckets); without
      verification, a star per bucket as UNVERIFIED edges;
    - with prior indexes: PRIOR_PAIRS (prior docs shard, [(prior doc_key, [(new node, exact)])])
      for the prior documents sharing a bucket with a new one (`match_prior`: all of them, but
      for boilerplate buckets and the `prior_members_per_cluster` bound), read from the prior
      index's shard `shard % index_shards`, collected over the bundle. A bucket without a new
      document cannot change this run's output: its release already deduplicated it."""

    def __init__(self, cfg: DedupConfig, index_dirs: list[str]):
        self.cfg = cfg
        self.index_dirs = list(index_dirs)
        self.oversized = Metrics.counter("dedup", "oversized_buckets")
        self.candidates = Metrics.counter("dedup", "lsh_candidates")
        self.exact_pairs = Metrics.counter("dedup", "lsh_pairs_exact")
        self.left_out = Metrics.counter("dedup", "prior_members_left_out")

    def setup(self):
        self.listings = [index_listing(d, self.cfg.index_shards) for d in self.index_dirs]

    def start_bundle(self):
        self.pairs, self.exact_group = set(), {}
        self.prior, self.prior_count = defaultdict(dict), 0

    def process(self, item):
        shard, lists = item
        buckets = defaultdict(list)
        for rows in lists:
            for band, h, node in rows:
                buckets[(band, h)].append(node)
        proposed, limit = 0, self.cfg.all_pairs_max_bucket
        for bucket, nodes in buckets.items():
            if len(nodes) < 2:
                continue
            if bucket[0] == EXACT_BAND:
                for child, parent in star_edges(nodes):
                    yield child, parent
                    yield pvalue.TaggedOutput(EXACT, child)
                    self.exact_group[child] = self.exact_group[parent] = parent
            elif not self.cfg.verify:
                for edge in star_edges(nodes):
                    yield pvalue.TaggedOutput(UNVERIFIED, edge)
            else:
                if len(nodes) > limit:
                    self.oversized.inc()
                for pair in candidate_pairs(nodes, limit):
                    proposed += 1
                    self.pairs.add(pair)
        self.candidates.inc(proposed)
        if self.index_dirs:
            n = self.cfg.index_shards
            prior_of = read_prior_buckets(self.listings, shard % n, buckets)
            pairs, left_out = match_prior(buckets, prior_of, limit, self.cfg.prior_members_per_cluster)
            self.left_out.inc(left_out)
            for (doc_key, node), exact in pairs.items():
                nodes = self.prior[doc_key]
                if node not in nodes:
                    self.prior_count += 1
                nodes[node] = nodes.get(node, False) or exact
            if self.prior_count >= _FLUSH_PRIOR_PAIRS:
                yield from self._flush_prior(lambda item: item)
        if len(self.pairs) + len(self.exact_group) >= _FLUSH_ENTRIES:
            yield from self._flush(lambda item: item)

    def finish_bundle(self):
        wrap = lambda item: WindowedValue(item, MIN_TIMESTAMP, [GlobalWindow()])  # noqa: E731
        yield from self._flush(wrap)
        yield from self._flush_prior(wrap)

    def _flush_prior(self, wrap):
        """The bundle's candidate pairs with prior documents, each once, as one list per prior
        docs shard of (prior doc_key, [(new node, exact)]). A pair shares several buckets, in
        different bucket shards (a late shard of a 16x sharded run: 1.6M bucket matches, 441k
        distinct pairs), and the runner holds what goes to the next stage, encoded, two or
        three times over: sent per bucket shard, that was 150 MB, most of the shard's peak."""
        prior, self.prior, self.prior_count = self.prior, defaultdict(dict), 0
        n = self.cfg.index_shards
        by_doc_shard = defaultdict(list)
        for doc_key, nodes in prior.items():
            by_doc_shard[doc_shard(doc_key, n)].append((doc_key, list(nodes.items())))
        for item in by_doc_shard.items():
            yield pvalue.TaggedOutput(PRIOR_PAIRS, wrap(item))

    def _flush(self, wrap):
        """The bundle's candidate pairs, each once: a pair shares ~bands x J^rows buckets
        (13 on average for the benchmark's pairs), spread over shards, and the join that
        fetches signatures costs per element. A pair of exact copies (one exact star holds
        both) needs no LSH edge; its exact star may be in another bundle, so VerifyPairs
        checks the keys again."""
        pairs, self.pairs = self.pairs, set()
        group, self.exact_group = self.exact_group, {}
        for child, parent in pairs:
            if group.get(child, child) == group.get(parent, parent) and child in group:
                self.exact_pairs.inc()
                continue
            yield pvalue.TaggedOutput(ENDS, wrap((child, parent)))
            yield pvalue.TaggedOutput(ENDS, wrap((parent, child)))


class SignPairEnds(beam.DoFn):
    """(node, {sig: [(signature, exact key)], ends: [other node], prior: [candidate]}) ->
    SIDES ((smaller, larger node), (node, signature, key)) once per distinct pair, and the
    verified edges to prior documents (at most one per prior cluster, `prior_pair_edges`),
    with the node as EXACT when it is an exact copy of a prior text."""

    def __init__(self, cfg: DedupConfig):
        self.cfg = cfg
        self.lsh_edges = Metrics.counter("dedup", "lsh_edges")
        self.unverified = Metrics.counter("dedup", "lsh_edges_unverified")

    def process(self, item):
        node, joined = item
        signed = next(iter(joined[SIG]), (None, None))
        others = set(joined[ENDS])  # a pair proposed by buckets in several shards comes once
        for other in others:
            pair = (node, other) if node < other else (other, node)
            yield pvalue.TaggedOutput(SIDES, (pair, (node, *signed)))
        candidates = list(joined.get(PRIOR_PAIRS, ()))
        if not candidates:
            return
        if any(c[3] for c in candidates):
            # An exact copy of a released text: dropped as duplicate_exact, as in one run.
            yield pvalue.TaggedOutput(EXACT, node)
        count = 0
        for child, parent, verified in prior_pair_edges(
                node, signed[0], candidates, self.cfg.min_estimate,
                decode=lambda s: signature_from_bytes(s, self.cfg)):
            count += 1
            if not verified:
                self.unverified.inc()
            yield child, parent
        self.lsh_edges.inc(count)


class VerifyPairs(beam.DoFn):
    """((a, b), [(node, signature, exact key)] of both ends) -> the edge (b, a) when the
    signatures agree. A pair with one exact key needs no edge: its exact bucket's star already
    connects both, and skipping it keeps each pair's edge single."""

    def __init__(self, cfg: DedupConfig):
        self.cfg = cfg
        self.lsh_edges = Metrics.counter("dedup", "lsh_edges")
        self.unverified = Metrics.counter("dedup", "lsh_edges_unverified")
        self.exact_pairs = Metrics.counter("dedup", "lsh_pairs_exact")

    def process(self, item):
        (parent, child), sides = item
        sides = {node: (sig, key) for node, sig, key in sides}
        (sig_a, key_a), (sig_b, key_b) = sides.get(parent, (None, None)), sides.get(child, (None, None))
        if key_a is not None and key_a == key_b:
            self.exact_pairs.inc()
            return
        if sig_a is None or sig_b is None:
            self.unverified.inc()
        elif not agrees(signature_from_bytes(sig_a, self.cfg), signature_from_bytes(sig_b, self.cfg),
                        self.cfg.min_estimate):
            return
        self.lsh_edges.inc()
        yield child, parent


class RouteDocs(beam.DoFn):
    """Joined (node, {doc, root, exact, sketch}) -> kept docs, 'dropped' docs, and the
    (node, sketch, root) of each kept (root None) or near-dropped doc as 'index'."""

    def __init__(self, with_index: bool):
        self.with_index = with_index
        self.kept = Metrics.counter("dedup", "kept")
        self.counters = {
            REASON_EXACT: Metrics.counter("dedup", "duplicates_exact"),
            REASON_NEAR: Metrics.counter("dedup", "duplicates_near"),
        }

    def process(self, item):
        node, joined = item
        roots = list(joined["root"])
        docs = list(joined["doc"])
        if len(docs) > 1:
            # Two documents under one key would share one fate: fail rather than lose one.
            raise ValueError(f"{len(docs)} documents share the key {node_key(node)!r} (id {node_id(node)!r}); "
                             "Deduplicate needs a unique `key` per document")
        root, exact = (roots[0] if roots else None), bool(list(joined["exact"]))
        for doc in docs:
            yield from self.route(node, doc, root, exact)
            if self.with_index and not (root and exact):
                # Kept documents, and near-dropped ones: a later document may resemble such a
                # copy and not its representative. Exact copies add nothing.
                for sketch in joined["sketch"]:
                    yield pvalue.TaggedOutput("index", (node, sketch, root))

    def route(self, node, doc, root, exact):
        if root is None:
            self.kept.inc()
            yield doc
            return
        reason = REASON_EXACT if exact else REASON_NEAR
        self.counters[reason].inc()
        yield pvalue.TaggedOutput(
            "dropped",
            dict(doc, reason=reason, duplicate_of=node_id(root), duplicate_of_key=node_key(root),
                 cluster_id=cluster_id(node_key(root))),
        )


class RouteByDecision(RouteDocs):
    """(node, doc) -> kept / 'dropped', this run's decisions as side inputs ({node: root} of
    every non-root node, {node: True} of exact copies): the documents are not shuffled. For
    a run whose decisions fit a worker's memory (a local run's shard)."""

    def __init__(self):
        super().__init__(with_index=False)

    def process(self, item, roots, exact):
        node, doc = item
        yield from self.route(node, doc, roots.get(node), node in exact)


def _index_entry(item, roots, exact):
    """(node, sketch) -> (node, sketch, root or None) for a kept or near-dropped document."""
    node, sketch = item
    root = roots.get(node)
    if root is None or node not in exact:
        yield node, sketch, root


class _CountEdges(beam.DoFn):
    """Counts the edges that enter connected components (`dedup/cc_edges`): one per
    duplicate pair, however many buckets the pair shares."""

    def __init__(self):
        self.edges = Metrics.counter("dedup", "cc_edges")

    def process(self, edge):
        self.edges.inc()
        yield edge


class _NewNodesOnly(beam.DoFn):
    """(node, root) labels -> those of new documents. A prior *kept* document that gets a
    smaller root was kept by an earlier run although this run's documents now join its
    cluster to another one (a bridge): counted as `dedup/prior_clusters_joined` and sent to
    BRIDGES as (its key, its id, the root's key, the root's id). This run cannot change the earlier
    output; a sharded run settles its shards' bridges at the end (pipelines/bridges.py), a
    refresh leaves released documents as released."""

    def __init__(self):
        self.joined = Metrics.counter("dedup", "prior_clusters_joined")

    def process(self, label):
        node, root = label
        if is_new(node):
            yield label
        elif is_prior_kept(node) and root != node:
            self.joined.inc()
            yield pvalue.TaggedOutput(BRIDGES, (node_key(node), node_id(node), node_key(root), node_id(root)))


class Deduplicate(beam.PTransform):
    """docs -> DedupResult(kept, dropped).

    Dropped docs gain `reason` (duplicate_exact / duplicate_near), `duplicate_of` and
    `duplicate_of_key` (id and key of the kept or previously released representative: the
    smallest key of the cluster, released documents first) and `cluster_id` (opaque, shared
    by the whole cluster). Documents are told apart by `key`, falling back to `id`.
    `index_output`: directory to write this run's index of kept docs to;
    `prior_indexes`: indexes of earlier releases whose documents win over new ones;
    `in_memory`: this run's signatures, duplicate graph and decisions fit one worker's memory
    (a local run's shard, ~0.5 KB per document): candidate pairs with prior documents are
    verified where the prior signature is read (no signature travels per pair: a 16x sharded
    run's later shards have ~500k such pairs), components are found by union-find in one step,
    and documents are routed with the decisions as side inputs instead of a join that
    shuffles them. The same decisions as the distributed form (tests/pipelines/test_dedup_beam.py).
    """

    def __init__(self, cfg: DedupConfig | dict | None = None, index_output: str | None = None, prior_indexes=(),
                 index_part: str = "", in_memory: bool = False, segmenter: Segmenter | None = None):
        super().__init__()
        self.in_memory = in_memory
        # cuts Chinese words for cjk_unit "word" shingles: the pipeline's configured backend
        self.segmenter = segmenter or Segmenter()
        self.cfg = cfg if isinstance(cfg, DedupConfig) else DedupConfig.from_dict(cfg)
        self.index_output = index_output
        self.prior_indexes = list(prior_indexes or ())
        self.index_part = index_part

    def expand(self, docs):
        cfg = self.cfg
        for path in self.prior_indexes:
            check_index(path, cfg)
        with_index = bool(self.index_output)
        sketched = docs | "Sketch" >> beam.ParDo(SketchDocs(cfg, with_index, self.segmenter)).with_outputs(
            ENTRIES, SIG, SKETCH, main="docs")
        buckets = (
            sketched[ENTRIES]
            | "GroupBucketShards" >> beam.GroupByKey()
            | "BucketShards" >> beam.ParDo(BucketShard(cfg, self.prior_indexes)).with_outputs(
                EXACT, ENDS, PRIOR_PAIRS, UNVERIFIED, main="edges")
        )
        edges, exact = [buckets.edges], [buckets[EXACT]]
        if not cfg.verify:
            # A pair shares up to `bands` buckets, each proposing it: one edge is enough.
            edges.append(buckets[UNVERIFIED] | "DistinctUnverified" >> beam.Distinct())
        joined = {SIG: sketched[SIG], ENDS: buckets[ENDS]}
        if self.prior_indexes:
            new_signatures = sketched[SIG] if self.in_memory and cfg.verify else None
            joined[PRIOR_PAIRS] = buckets[PRIOR_PAIRS] | "PriorCandidates" >> PriorCandidates(
                self.prior_indexes, cfg, new_signatures=new_signatures)
        signed = (
            joined
            | "JoinSignatures" >> beam.CoGroupByKey()
            | "SignPairEnds" >> beam.ParDo(SignPairEnds(cfg)).with_outputs(SIDES, EXACT, main="edges")
        )
        edges.append(signed.edges)
        exact.append(signed[EXACT])
        edges.append(
            signed[SIDES]
            | "GroupPairSides" >> beam.GroupByKey()
            | "VerifyPairs" >> beam.ParDo(VerifyPairs(cfg))
        )
        labels = (
            edges
            # Each pair arrives once: buckets' pairs are made distinct per node in SignPairEnds
            # and an exact pair's LSH edge is left to its exact star; no Distinct shuffle.
            | "AllEdges" >> beam.Flatten()
            | "CountEdges" >> beam.ParDo(_CountEdges())
            | "Components" >> ConnectedComponents(0 if self.in_memory else cfg.cc_max_rounds, cfg.cc_max_residual_nodes)
            | "NewNodesOnly" >> beam.ParDo(_NewNodesOnly()).with_outputs(BRIDGES, main="roots")
        )
        roots, bridges = labels.roots, labels[BRIDGES]
        exact_nodes = exact | "AllExact" >> beam.Flatten() | "ExactByNode" >> beam.Map(lambda node: (node, True))
        if self.in_memory:
            root_of, exact_of = beam.pvalue.AsDict(roots), beam.pvalue.AsDict(exact_nodes)
            routed = sketched.docs | "Route" >> beam.ParDo(RouteByDecision(), root_of, exact_of).with_outputs(
                "dropped", main="kept")
            if with_index:
                (sketched[SKETCH] | "IndexEntries" >> beam.FlatMap(_index_entry, root_of, exact_of)
                                  | "WriteIndex" >> WriteIndex(self.index_output, cfg, self.index_part))
            return DedupResult(kept=routed.kept, dropped=routed.dropped, bridges=bridges)
        to_route = {"doc": sketched.docs, "root": roots, "exact": exact_nodes}
        if with_index:
            to_route["sketch"] = sketched[SKETCH]
        routed = (
            to_route
            | "JoinByNode" >> beam.CoGroupByKey()
            | "Route" >> beam.ParDo(RouteDocs(with_index)).with_outputs("dropped", "index", main="kept")
        )
        if with_index:
            routed.index | "WriteIndex" >> WriteIndex(self.index_output, cfg, self.index_part)
        return DedupResult(kept=routed.kept, dropped=routed.dropped, bridges=bridges)
