"""Connected components of the duplicate graph, computed inside Beam.

Alternating large-star / small-star (Kiveris et al., "Connected Components in MapReduce and
Beyond", SoCC 2014): each round is two GroupByKeys over the edges only, and converges in
O(log^2 n) rounds, in practice a handful. Beam has no loops, so `max_rounds` rounds are
unrolled; the result is then checked to be a star forest (every node's single parent is a
root), which is exactly "converged". No step ever holds the graph on one worker.

Edges are (child, parent) with parent < child; the output is (node, root) for every node
that is not the smallest of its component.
"""
from __future__ import annotations

import logging

import apache_beam as beam
from apache_beam.metrics import Metrics

_log = logging.getLogger(__name__)


def _both_directions(edge):
    a, b = edge
    yield a, b
    yield b, a


def _large_star(item):
    """Link every larger neighbour of `node` to the smallest node of its neighbourhood.
    The edges come out oriented (larger, smaller): v > node >= smallest."""
    node, neighbours = item
    neighbours = set(neighbours)
    smallest = min(min(neighbours), node)
    for v in neighbours:
        if v > node:
            yield v, smallest


def _small_star(item):
    """Link `node` and all its smaller neighbours to the smallest of them."""
    node, smaller = item
    smaller = set(smaller)
    smallest = min(smaller)
    for v in smaller:
        if v != smallest:
            yield v, smallest
    yield node, smallest


def _small_star_undirected(item):
    """_small_star, its edges in both directions, ready for the next round's large star
    (one step instead of two: every step is a DoFn Beam inspects at graph construction)."""
    for edge in _small_star(item):
        yield edge
        yield edge[1], edge[0]


class _CheckStarForest(beam.DoFn):
    def __init__(self, fail_if_unconverged: bool):
        self.fail_if_unconverged = fail_if_unconverged
        self.unconverged = Metrics.counter("dedup", "cc_unconverged_nodes")

    def process(self, item):
        node, roles = item
        parents = {p for kind, p in roles if kind == "parent"}
        is_parent = any(kind == "child" for kind, _ in roles)
        if not parents:
            return
        if len(parents) > 1 or is_parent:
            self.unconverged.inc()
            if self.fail_if_unconverged:
                raise RuntimeError(
                    f"connected components did not converge (node {node!r} still has parents {sorted(parents)[:3]} "
                    "or children); raise DedupConfig.cc_max_rounds"
                )
            _log.warning("dedup: connected components not converged at %r", node)
        yield node, min(parents)


def _roles(edge):
    child, parent = edge
    yield child, ("parent", parent)
    yield parent, ("child", child)


class ConnectedComponents(beam.PTransform):
    def __init__(self, max_rounds: int = 10, fail_if_unconverged: bool = True):
        super().__init__()
        self.max_rounds = max_rounds
        self.fail_if_unconverged = fail_if_unconverged

    def expand(self, edges):
        if self.max_rounds < 1:
            raise ValueError("ConnectedComponents needs max_rounds >= 1")
        edges = edges | "Undirected" >> beam.FlatMap(_both_directions)
        for i in range(self.max_rounds):
            last = i == self.max_rounds - 1
            edges = (
                edges
                | f"GroupNeighbours{i}" >> beam.GroupByKey()
                | f"LargeStar{i}" >> beam.FlatMap(_large_star)
                | f"GroupSmaller{i}" >> beam.GroupByKey()
                | f"SmallStar{i}" >> beam.FlatMap(_small_star if last else _small_star_undirected)
            )
        return (
            edges
            | "Roles" >> beam.FlatMap(_roles)
            | "GroupRoles" >> beam.GroupByKey()
            | "CheckStarForest" >> beam.ParDo(_CheckStarForest(self.fail_if_unconverged))
        )
