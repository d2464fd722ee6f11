"""Turning one LSH bucket into duplicate edges, without ever enumerating n^2 pairs.

A node is "0:<key>\x1f<id>" for a document a prior run kept, "0~<key>\x1f<id>" for one a
prior run dropped as a near duplicate (indexed so that later copies of it still find its
cluster; it is always linked to its kept representative), "1:<key>\x1f<id>" for a new one. The key is unique per input record (the id need not be), so two documents never share
a node; the id rides along so `duplicate_of` can name the representative. Plain string
order puts every prior kept document before every prior dropped one and those before every
new one, so "keep the smallest node" keeps the released copy and otherwise the smallest key
(the first record in input order).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

PRIOR, PRIOR_DROPPED, NEW = "0:", "0~", "1:"

Member = tuple[str, "np.ndarray | None"]  # (node, signature or None)


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


def _local_components(matches: np.ndarray) -> np.ndarray:
    """Root index of each member under the verified-pair graph (members sorted by node)."""
    parent = list(range(len(matches)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(matches, k=1))):
        ri, rj = find(int(i)), find(int(j))
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    return np.array([find(i) for i in range(len(matches))])


def verified_edges(
    members: Iterable[Member], min_estimate: float, all_pairs_max: int, on_large=None, decode=None
) -> Iterator[tuple[str, str, bool]]:
    """Edges (node, parent, verified) between members whose signatures agree on at least
    `min_estimate` of their values.

    Small buckets: all pairs, then each member linked to its smallest verified neighbour's
    root, which keeps exactly the connectivity of the verified pairs in n-1 edges. Large
    buckets (boilerplate): members are checked against the smallest node only, a star of n
    comparisons; members unlike it can still meet through other bands. `verified` is False for
    the rare pair whose prior document has no stored signature. `decode` turns a stored
    signature into an array; it runs only for buckets with a pair, most buckets have none.
    """
    decode = decode or (lambda sig: sig)
    size, center, center_sig = 0, None, None
    has_new = False
    for node, sig in members:
        size += 1
        has_new = has_new or is_new(node)
        if center is None or node < center:
            center, center_sig = node, sig
    if size < 2 or not has_new:
        return
    if center_sig is not None:
        center_sig = decode(center_sig)
    if size <= all_pairs_max:
        ordered = sorted(((node, None if sig is None else decode(sig)) for node, sig in members), key=lambda m: m[0])
        if any(sig is None for _, sig in ordered):
            for node in (m[0] for m in ordered[1:]):
                if is_new(node):
                    yield node, ordered[0][0], False
            return
        sigs = np.vstack([sig for _, sig in ordered])
        agree = (sigs[:, None, :] == sigs[None, :, :]).mean(axis=2) >= min_estimate
        roots = _local_components(agree)
        for i, root in enumerate(roots):
            if root != i and (is_new(ordered[i][0])):
                yield ordered[i][0], ordered[root][0], True
        return
    if on_large is not None:
        on_large(size)
    for node, sig in members:
        if node == center or not is_new(node):
            continue
        if sig is None or center_sig is None:
            yield node, center, False
        elif np.count_nonzero(decode(sig) == center_sig) >= min_estimate * len(center_sig):
            yield node, center, True


def prior_pair_edges(
    node: str, sig, candidates: Iterable[tuple], min_estimate: float, decode=None,
) -> Iterator[tuple[str, str, bool]]:
    """Edges (node, prior node, verified) between a new document and the prior documents it
    shares a bucket with: `candidates` are (prior node, its representative, signature or None,
    exact), `exact` when they share the exact-text key (a duplicate without comparison).

    A prior cluster is already connected (each prior dropped copy is linked to its
    representative), so one edge into it gives the same components as all of them: a
    cluster's exact copies come first, then its representative, and the rest are skipped once
    one matches. Without a signature on either side the pair is merged unverified, as in a
    bucket.
    """
    decode = decode or (lambda s: s)
    by_cluster: dict[str, list] = {}
    for prior, root, prior_sig, exact in candidates:
        by_cluster.setdefault(root, []).append((not exact, prior != root, prior, prior_sig))
    mine = None if sig is None else decode(sig)
    for root in sorted(by_cluster):
        for inexact, _, prior, prior_sig in sorted(by_cluster[root], key=lambda c: c[:3]):
            if not inexact:
                yield node, prior, True
                break
            if mine is None or prior_sig is None:
                yield node, prior, False
                break
            if np.count_nonzero(mine == decode(prior_sig)) >= min_estimate * len(mine):
                yield node, prior, True
                break
