"""Graph nodes, and turning buckets into candidate pairs and edges without ever
enumerating n^2 pairs.

A node is "0:<key>\x1f<id>" for a document a prior run kept, "0~<key>\x1f<id>" for one a
prior run dropped as a near duplicate (indexed so that later copies of it still find its
cluster; a match with it becomes an edge to its kept representative), "1:<key>\x1f<id>" for a new one. The key is unique per input record (the id need not be), so two documents never share
a node; the id rides along so `duplicate_of` can name the representative. Plain string
order puts every prior kept document before every prior dropped one and those before every
new one, so "keep the smallest node" keeps the released copy and otherwise the smallest key
(the first record in input order).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import xxhash

PRIOR, PRIOR_DROPPED, NEW = "0:", "0~", "1:"
EXACT_BAND = -1  # the bucket "band" of the exact (normalized-text) key
# In place of a prior candidate's signature: the pair was verified where that signature was read.
PRE_VERIFIED = True


_SEP = "\x1f"  # below every printable character: "a" sorts before "a-b" as keys do


def new_node(key: str, doc_id: str) -> str:
    return NEW + key + _SEP + doc_id


def prior_node(key: str, doc_id: str) -> str:
    return PRIOR + key + _SEP + doc_id


def prior_dropped_node(key: str, doc_id: str) -> str:
    return PRIOR_DROPPED + key + _SEP + doc_id


def is_prior_kept(node: str) -> bool:
    return node.startswith(PRIOR)


def node_key(node: str) -> str:
    return node[2:].split(_SEP, 1)[0]


def node_id(node: str) -> str:
    return node[2:].split(_SEP, 1)[-1]


def is_new(node: str) -> bool:
    return node.startswith(NEW)


def cluster_id(root_key: str) -> str:
    """The `cluster_id` of dropped documents: a hash of the representative's key, not of its
    node, so the copies a later shard or refresh adds (where the representative is a prior
    node) carry the same id as those dropped with it."""
    return xxhash.xxh3_64_hexdigest(root_key.encode("utf-8"))


def star_edges(nodes: Iterable[str]) -> Iterator[tuple[str, str]]:
    """Every new node to the bucket's smallest node: n-1 edges. `nodes` is iterated twice
    (a Beam group is re-iterable), so a 1e7-member bucket is never held in memory."""
    center, has_new = None, False
    for node in nodes:
        if center is None or node < center:
            center = node
        has_new = has_new or is_new(node)
    if not has_new:
        return
    for node in nodes:
        if node != center and is_new(node):
            yield node, center


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity estimated from two signatures of stored values (`sketch.signature_from_bytes`)
    or full ones: the share of equal values, less the share that b-bit values (b: the dtype's
    width) have in common by chance, 2^-b of those that differ (Li & König 2010)."""
    chance = 2.0 ** -(8 * a.dtype.itemsize)
    return (float(np.count_nonzero(a == b)) / len(a) - chance) / (1.0 - chance)


def agrees(a: np.ndarray, b: np.ndarray, min_estimate: float) -> bool:
    """Whether two signatures' estimated Jaccard (`estimated_jaccard`: the share of equal
    values, less what b-bit values share by chance) is at least `min_estimate`: the verified
    near-duplicate test, for a pair of one run and for a pair against a prior release alike."""
    return estimated_jaccard(a, b) >= min_estimate


def candidate_pairs(nodes: list[str], all_pairs_max: int) -> Iterator[tuple[str, str]]:
    """(child, parent) candidate pairs, parent < child, of one LSH bucket's nodes: all pairs up
    to `all_pairs_max` members, else (boilerplate) each member with the smallest node only,
    so a page repeated 1e5 times costs n pairs, not n^2/2. Members unlike the smallest can
    still meet through other bands."""
    if len(nodes) <= all_pairs_max:
        ordered = sorted(nodes)
        for j in range(1, len(ordered)):
            for i in range(j):
                yield ordered[j], ordered[i]
        return
    yield from star_edges(nodes)


def match_prior(new_of: dict, prior_of: dict, all_pairs_max: int,
                per_cluster: int = 0) -> tuple[dict[tuple[str, str], bool], int]:
    """({(prior doc_key, new node): exact}, prior members the `per_cluster` bound left out) for the buckets that hold
    new and prior documents: `new_of` maps a bucket (band, hash) to its new nodes, `prior_of`
    to its prior (doc_key, cluster root key). `exact` when they share the exact-text bucket (a
    duplicate without comparison). A bucket with more than `all_pairs_max` members
    (boilerplate) pairs each new member with its smallest prior document only, as
    `candidate_pairs` pairs a large bucket of one run with its smallest node only (prior nodes
    sort before new ones).

    `per_cluster` (0: all) bounds the members of one prior cluster an LSH bucket pairs with:
    its representative when the bucket holds it, then the smallest keys. A cluster that many
    successive parts of a corpus added copies to (a sharded run's 16th shard meets ~12
    members of each cluster it touches) otherwise gives every new document a candidate pair
    per member, and a later part more pairs than an earlier one, where one verified pair per
    cluster decides (`prior_pair_edges`); a member left out may be the only one a new
    document resembles, so the bound can miss duplicates. The exact-text bucket is never
    bounded (its pairs need no comparison)."""
    pairs: dict[tuple[str, str], bool] = {}
    left_out = 0
    for bucket, prior in prior_of.items():
        new = new_of[bucket]
        exact = bucket[0] == EXACT_BAND
        if exact:
            chosen = [doc_key for doc_key, _ in prior]
        elif len(new) + len(prior) > all_pairs_max:
            chosen = [min(prior)[0]]
        else:
            chosen = _per_cluster(prior, per_cluster)
            left_out += len(prior) - len(chosen)
        for doc_key in chosen:
            for node in new:
                pairs[(doc_key, node)] = pairs.get((doc_key, node), False) or exact
    return pairs, left_out


def _per_cluster(prior: list[tuple[str, str]], per_cluster: int) -> list[str]:
    """The doc keys of `prior` (doc_key, root) with at most `per_cluster` per root (0: all),
    the root itself first, then the smallest keys."""
    if not per_cluster:
        return [doc_key for doc_key, _ in prior]
    members: dict[str, list[str]] = {}
    for doc_key, root in prior:
        members.setdefault(root, []).append(doc_key)
    if all(len(m) <= per_cluster for m in members.values()):
        return [doc_key for m in members.values() for doc_key in m]
    return [doc_key for root, m in members.items()
            for doc_key in sorted(m, key=lambda k: (k != root, k))[:per_cluster]]


def prior_pair_edges(
    node: str, sig, candidates: Iterable[tuple], min_estimate: float, decode=None,
) -> Iterator[tuple[str, str, bool]]:
    """Edges (node, prior representative, verified) between a new document and the prior
    clusters it shares a bucket with: `candidates` are (prior node, its representative,
    signature or None, exact), `exact` when they share the exact-text key (a duplicate
    without comparison).

    A prior cluster is already settled, so one edge to its representative gives the same
    components as edges to all of its members, and the members themselves (near-dropped
    copies, indexed so that a document resembling only a copy still finds the cluster) never
    enter the graph: a cluster's exact copies are tried first, then its representative, then
    the copies, and the rest are skipped once one matches. Without a signature on either side
    the pair is merged unverified, as in a bucket.
    """
    decode = decode or (lambda s: s)
    by_cluster: dict[str, list] = {}
    for prior, root, prior_sig, exact in candidates:
        by_cluster.setdefault(root, []).append((not exact, prior != root, prior, prior_sig))
    mine = None if sig is None else decode(sig)
    for root in sorted(by_cluster):
        for inexact, _, prior, prior_sig in sorted(by_cluster[root], key=lambda c: c[:3]):
            if not inexact or prior_sig is PRE_VERIFIED:
                yield node, root, True
                break
            if mine is None or prior_sig is None:
                yield node, root, False
                break
            if agrees(mine, decode(prior_sig), min_estimate):
                yield node, root, True
                break
