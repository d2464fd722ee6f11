"""Connected components of the duplicate graph, computed inside Beam, always to convergence.

Alternating large-star / small-star (Kiveris et al., "Connected Components in MapReduce and
Beyond", SoCC 2014): each round is two GroupByKeys over the edges only. Beam has no loops, so
`max_rounds` rounds are unrolled; they turn almost every component into a star (every node's
single parent is a root). Whatever is not a star yet (a long chain needs O(log^2 n) rounds)
is finished exactly: the edges touching an unconverged node are gathered and solved by
union-find on one worker, and every other node's parent is mapped through that result. The
residual is small (the chain's unfinished part, not the graph), and bounded by
`max_residual_nodes`, beyond which the run fails asking for more rounds rather than
exhausting a worker.

Edges are (child, parent) with parent < child; the output is (node, root) for every node that
is not the smallest of its component, and the root is always that smallest node.

With `max_rounds=0` the whole graph goes to union-find at once: for a graph known to fit one
worker (a local run's shard), where the rounds' 2 x max_rounds shuffles of every edge would
cost far more than solving it.
"""
from __future__ import annotations

import logging

import apache_beam as beam
from apache_beam.metrics import Metrics

_log = logging.getLogger(__name__)
RESIDUAL = "residual"


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


def _roles(edge):
    child, parent = edge
    yield child, ("parent", parent)
    yield parent, ("child", child)


class _SplitConverged(beam.DoFn):
    """(node, roles) -> (node, parent) when the node hangs off a root as a leaf (converged),
    else every edge touching it to RESIDUAL."""

    def process(self, item):
        node, roles = item
        parents = {p for kind, p in roles if kind == "parent"}
        children = {c for kind, c in roles if kind == "child"}
        if len(parents) > 1 or (parents and children):
            for p in parents:
                yield beam.pvalue.TaggedOutput(RESIDUAL, (node, p))
            for c in children:
                yield beam.pvalue.TaggedOutput(RESIDUAL, (c, node))
        elif parents:
            yield node, next(iter(parents))


def find(parent: dict, x):
    """The root of `x` in a union-find forest `parent` (path halving); a new node is its own."""
    parent.setdefault(x, x)
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


def union(parent: dict, a, b) -> None:
    """Join the sets of `a` and `b`; the root of a set is its smallest node."""
    ra, rb = find(parent, a), find(parent, b)
    if ra != rb:
        parent[max(ra, rb)] = min(ra, rb)


class _SolveResidual(beam.CombineFn):
    """Residual edges -> {node: component minimum} by union-find."""

    def __init__(self, max_nodes: int):
        self.max_nodes = max_nodes

    def create_accumulator(self):
        return {}

    def _union(self, parent, a, b):
        union(parent, a, b)
        if len(parent) > self.max_nodes:
            raise RuntimeError(
                f"connected components: more than {self.max_nodes:,} nodes left unconverged after the unrolled "
                "rounds; raise DedupConfig.cc_max_rounds (or cc_max_residual_nodes)")

    def add_input(self, parent, edge):
        self._union(parent, *edge)
        return parent

    def merge_accumulators(self, accs):
        accs = list(accs)
        out = accs[0]
        for acc in accs[1:]:
            for node, p in acc.items():
                self._union(out, node, p)
        return out

    def extract_output(self, parent):
        return {node: find(parent, node) for node in list(parent)}


class _Finish(beam.DoFn):
    """(node, parent) of a converged node -> (node, root), the root looked up in the
    residual's solution (a parent that is the root of an unconverged part moves down)."""

    def process(self, edge, solved):
        node, parent = edge
        if node not in solved:
            yield node, solved.get(parent, parent)


class ConnectedComponents(beam.PTransform):
    def __init__(self, max_rounds: int = 6, max_residual_nodes: int = 5_000_000):
        super().__init__()
        self.max_rounds = max_rounds
        self.max_residual_nodes = max_residual_nodes

    def expand(self, edges):
        if self.max_rounds < 0:
            raise ValueError("ConnectedComponents needs max_rounds >= 0")
        if self.max_rounds == 0:
            # The whole graph fits one worker (a local run's shard): union-find at once
            # instead of 2 x rounds shuffles of every edge.
            solved = edges | "SolveAll" >> beam.CombineGlobally(_SolveResidual(self.max_residual_nodes))
            return solved | "Labels" >> beam.FlatMap(_residual_labels)
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
        split = (
            edges
            | "Roles" >> beam.FlatMap(_roles)
            | "GroupRoles" >> beam.GroupByKey()
            | "SplitConverged" >> beam.ParDo(_SplitConverged()).with_outputs(RESIDUAL, main="converged")
        )
        solved = split[RESIDUAL] | "SolveResidual" >> beam.CombineGlobally(_SolveResidual(self.max_residual_nodes))
        residual_labels = solved | "ResidualLabels" >> beam.FlatMap(_residual_labels)
        converged_labels = split.converged | "Finish" >> beam.ParDo(_Finish(), beam.pvalue.AsSingleton(solved))
        return (converged_labels, residual_labels) | "AllLabels" >> beam.Flatten()


def _residual_labels(solved: dict):
    counter = Metrics.counter("dedup", "cc_residual_nodes")
    counter.inc(len(solved))
    if solved:
        _log.info("dedup: %d nodes finished by union-find after the unrolled rounds", len(solved))
    for node, root in solved.items():
        if node != root:
            yield node, root
