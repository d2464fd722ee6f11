"""Beam shell around the pure dedup core: one entry point, `Deduplicate`.

Only small records (nodes, keys, signatures) are shuffled to find duplicates; the documents
themselves are shuffled once, in the final join by node that routes them to kept / dropped.
Documents are told apart by `key` (unique per input record; the reader sets it), never by
`id`: two files whose ids both start at 0 must not lose a unique text.
"""
from __future__ import annotations

from typing import NamedTuple

import apache_beam as beam
import xxhash
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from pipelines.dedup.buckets import (is_new, is_prior_kept, new_node, node_id, node_key, prior_pair_edges, star_edges,
                                     verified_edges)
from pipelines.dedup.components import ConnectedComponents
from pipelines.dedup.config import DedupConfig
from pipelines.dedup.index import EXACT_BAND, LINKS, PriorCandidates, WriteIndex, check_index
from pipelines.dedup.sketch import MinHasher, band_keys, exact_key, shingles, signature_from_bytes

REASON_EXACT = "duplicate_exact"
REASON_NEAR = "duplicate_near"


class DedupResult(NamedTuple):
    kept: pvalue.PCollection
    dropped: pvalue.PCollection


class SketchDocs(beam.DoFn):
    """doc -> (node, (exact key or None, band hashes, signature bytes or None))."""

    def __init__(self, cfg: DedupConfig):
        self.cfg = cfg
        self.no_shingles = Metrics.counter("dedup", "docs_without_shingles")

    def setup(self):
        self.exact = "exact" in self.cfg.methods
        self.minhash = "minhash" in self.cfg.methods
        self.bands, self.rows = self.cfg.bands_rows
        self.hasher = MinHasher(self.cfg) if self.minhash else None

    def process(self, doc):
        text = doc.get("text") or ""
        key = exact_key(text) if self.exact else None
        hashes, sig_bytes = (), None
        if self.minhash:
            shingle_set = shingles(text, doc.get("lang"), self.cfg)
            if shingle_set:
                sig = self.hasher.signature(shingle_set)
                hashes = band_keys(sig, self.bands, self.rows)
                if self.cfg.verify:
                    sig_bytes = self.hasher.to_bytes(sig)
            else:
                self.no_shingles.inc()
        yield doc_node(doc), (key, hashes, sig_bytes)


def doc_node(doc: dict) -> str:
    """The document's graph node: its unique `key` (the id when a caller has no keys)."""
    return new_node(doc.get("key") or doc["id"], doc["id"])


def _bucket_entries(item):
    node, (key, hashes, sig_bytes) = item
    if key is not None:
        yield (EXACT_BAND, key), (node, None)
    for band, h in enumerate(hashes):
        yield (band, h), (node, sig_bytes)


class _Nodes:
    def __init__(self, members):
        self.members = members

    def __iter__(self):
        return (node for node, _ in self.members)


class BucketEdges(beam.DoFn):
    """((band, hash), members) -> (child, parent) edges; exact duplicates also to 'exact'."""

    def __init__(self, cfg: DedupConfig):
        self.cfg = cfg
        self.oversized = Metrics.counter("dedup", "oversized_buckets")
        self.lsh_edges = Metrics.counter("dedup", "lsh_edges")
        self.unverified = Metrics.counter("dedup", "lsh_edges_unverified")

    def process(self, item):
        (band, _), members = item
        if band == EXACT_BAND:
            for child, parent in star_edges(_Nodes(members)):
                yield child, parent
                yield pvalue.TaggedOutput("exact", child)
            return
        if not self.cfg.verify:
            edges = ((c, p, False) for c, p in star_edges(_Nodes(members)))
        else:
            edges = verified_edges(
                members,
                self.cfg.min_estimate,
                self.cfg.all_pairs_max_bucket,
                on_large=lambda size: self.oversized.inc(),
                decode=lambda sig: signature_from_bytes(sig, self.cfg),
            )
        count = 0
        for child, parent, verified in edges:
            count += 1
            if not verified:
                self.unverified.inc()
            yield child, parent
        self.lsh_edges.inc(count)


class VerifyPriorPairs(beam.DoFn):
    """(new node, {sig: [its signature], candidates: [(prior node, representative, signature,
    exact)]}) -> (new node, prior node) edges for the verified pairs (at most one per prior
    cluster), and the node as 'exact' when it is an exact copy of a prior text."""

    def __init__(self, cfg: DedupConfig):
        self.cfg = cfg
        self.lsh_edges = Metrics.counter("dedup", "lsh_edges")
        self.unverified = Metrics.counter("dedup", "lsh_edges_unverified")

    def process(self, item):
        node, joined = item
        candidates = list(joined["candidates"])
        if not candidates:
            return
        sigs = list(joined["sig"])
        sig = sigs[0] if sigs and self.cfg.verify else None
        if any(c[3] for c in candidates):
            # An exact copy of a released text: dropped as duplicate_exact, as in one run.
            yield pvalue.TaggedOutput("exact", node)
        count = 0
        for child, parent, verified in prior_pair_edges(
                node, sig, candidates, self.cfg.min_estimate,
                decode=lambda s: signature_from_bytes(s, self.cfg)):
            count += 1
            if not verified:
                self.unverified.inc()
            yield child, parent
        self.lsh_edges.inc(count)


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
        for doc in docs:
            if not roots:
                self.kept.inc()
                yield doc
                if self.with_index:
                    for sketch in joined["sketch"]:
                        yield pvalue.TaggedOutput("index", (node, sketch, None))
                continue
            root = roots[0]
            reason = REASON_EXACT if list(joined["exact"]) else REASON_NEAR
            self.counters[reason].inc()
            if self.with_index and reason == REASON_NEAR:
                # A later document may resemble this copy and not its representative.
                for sketch in joined["sketch"]:
                    yield pvalue.TaggedOutput("index", (node, sketch, root))
            yield pvalue.TaggedOutput(
                "dropped",
                dict(doc, reason=reason, duplicate_of=node_id(root), duplicate_of_key=node_key(root),
                     cluster_id=xxhash.xxh3_64_hexdigest(root.encode("utf-8"))),
            )


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
    cluster to another one (a bridge): counted as `dedup/prior_clusters_joined`, since the
    earlier output cannot be changed from here."""

    def __init__(self):
        self.joined = Metrics.counter("dedup", "prior_clusters_joined")

    def process(self, label):
        node, root = label
        if is_new(node):
            yield label
        elif is_prior_kept(node) and root != node:
            self.joined.inc()


class Deduplicate(beam.PTransform):
    """docs -> DedupResult(kept, dropped).

    Dropped docs gain `reason` (duplicate_exact / duplicate_near), `duplicate_of` and
    `duplicate_of_key` (id and key of the kept or previously released representative: the
    smallest key of the cluster, released documents first) and `cluster_id` (opaque, shared
    by the whole cluster). Documents are told apart by `key`, falling back to `id`.
    `index_output`: directory to write this run's index of kept docs to;
    `prior_indexes`: indexes of earlier releases whose documents win over new ones.
    """

    def __init__(self, cfg: DedupConfig | dict | None = None, index_output: str | None = None, prior_indexes=(),
                 index_part: str = ""):
        super().__init__()
        self.cfg = cfg if isinstance(cfg, DedupConfig) else DedupConfig.from_dict(cfg)
        self.index_output = index_output
        self.prior_indexes = list(prior_indexes or ())
        self.index_part = index_part

    def expand(self, docs):
        cfg = self.cfg
        for path in self.prior_indexes:
            check_index(path, cfg)
        sketches = docs | "Sketch" >> beam.ParDo(SketchDocs(cfg))
        new_entries = sketches | "BucketEntries" >> beam.FlatMap(_bucket_entries)
        buckets = (
            new_entries
            | "GroupBuckets" >> beam.GroupByKey()
            | "BucketEdges" >> beam.ParDo(BucketEdges(cfg)).with_outputs("exact", main="edges")
        )
        edges, exact = [buckets.edges], [buckets.exact]
        if self.prior_indexes:
            # Prior documents never enter the buckets: candidate pairs (new, prior) are found
            # from bucket keys alone, then verified against this run's signatures by a join.
            prior = new_entries | "PriorCandidates" >> PriorCandidates(self.prior_indexes, cfg)
            signatures = sketches | "SignatureByNode" >> beam.Map(lambda s: (s[0], s[1][2]))
            prior_edges = (
                {"sig": signatures, "candidates": prior.candidates}
                | "JoinPriorCandidates" >> beam.CoGroupByKey()
                | "VerifyPriorPairs" >> beam.ParDo(VerifyPriorPairs(cfg)).with_outputs("exact", main="edges")
            )
            edges += [prior_edges.edges, prior[LINKS]]
            exact.append(prior_edges.exact)
        roots = (
            edges
            | "AllEdges" >> beam.Flatten()
            # A pair of documents shares up to `bands` buckets: one edge is enough.
            | "DistinctEdges" >> beam.Distinct()
            | "CountEdges" >> beam.ParDo(_CountEdges())
            | "Components" >> ConnectedComponents(cfg.cc_max_rounds, cfg.cc_max_residual_nodes)
            | "NewNodesOnly" >> beam.ParDo(_NewNodesOnly())
        )
        exact_nodes = exact | "AllExact" >> beam.Flatten() | "ExactByNode" >> beam.Map(lambda node: (node, True))
        joined = {
            "doc": docs | "DocByNode" >> beam.Map(lambda d: (doc_node(d), d)),
            "root": roots,
            "exact": exact_nodes,
        }
        if self.index_output:
            joined["sketch"] = sketches
        routed = (
            joined
            | "JoinByNode" >> beam.CoGroupByKey()
            | "Route" >> beam.ParDo(RouteDocs(bool(self.index_output))).with_outputs("dropped", "index", main="kept")
        )
        if self.index_output:
            routed.index | "WriteIndex" >> WriteIndex(self.index_output, cfg, self.index_part)
        return DedupResult(kept=routed.kept, dropped=routed.dropped)
