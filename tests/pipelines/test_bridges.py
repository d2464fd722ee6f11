"""Merging a sharded run's bridges (pipelines/bridges.py): the final representative of every
merged cluster, against a breadth-first search over the same bridges (written here, not
the union-find under test). The end-to-end check against one run over everything is in
tests/pipelines/test_shards.py."""
from __future__ import annotations

import random
from collections import deque

from pipelines.bridges import settle


def _components(edges):
    graph: dict[str, set] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set()).add(a)
    seen, out = set(), []
    for start in sorted(graph):
        if start in seen:
            continue
        todo, comp = deque([start]), []
        seen.add(start)
        while todo:
            node = todo.popleft()
            comp.append(node)
            for nxt in graph[node] - seen:
                seen.add(nxt)
                todo.append(nxt)
        out.append(comp)
    return out


def test_chained_bridges_end_at_the_smallest_key():
    # Shard 3 bridged k4 to k2, shard 7 bridged k2 to k0: k4's final representative is k0.
    bridges = [("k4", "id4", "k2", "id2"), ("k2", "id2", "k0", "id0"), ("k9", "id9", "k7", "id7")]
    assert settle(bridges) == {"k4": ("k0", "id0"), "k2": ("k0", "id0"), "k9": ("k7", "id7")}
    assert settle(list(reversed(bridges))) == settle(bridges)
    assert settle([]) == {}


def test_a_released_document_wins_and_stays_released():
    """A sharded refresh: r5 and r7 were released before this run, k1 and k3 are this run's.
    One refresh over everything would drop both new documents as copies of the released one,
    whatever the keys' order; the caller moves only its own documents, so a released one in
    the result only re-points this run's records that name it."""
    bridges = [("r5", "rid5", "k1", "id1"), ("k3", "id3", "k1", "id1")]
    assert settle(bridges, released={"r5"}) == {"k1": ("r5", "rid5"), "k3": ("r5", "rid5")}
    # Two released clusters joined: the smaller wins, and this run's copies of the other follow.
    bridges.append(("r7", "rid7", "r5", "rid5"))
    assert settle(bridges, released={"r5", "r7"}) == {"k1": ("r5", "rid5"), "k3": ("r5", "rid5"),
                                                      "r7": ("r5", "rid5")}


def test_random_bridges_agree_with_a_graph_search():
    rng = random.Random(3)
    keys = [f"{i:05d}" for i in range(400)]
    released = set(rng.sample(keys, 40))
    bridges = []
    for _ in range(300):
        a, b = sorted(rng.sample(keys, 2))
        bridges.append((b, f"id-{b}", a, f"id-{a}"))  # a bridge always names a smaller root
    final = settle(bridges, released=released)
    expected = {}
    for comp in _components([(k, r) for k, _, r, _ in bridges]):
        top = min([k for k in comp if k in released] or comp)
        expected.update({k: (top, f"id-{top}") for k in comp if k != top})
    assert final == expected and len(expected) > 200
    assert any(v[0] in released for v in final.values()) and any(v[0] not in released for v in final.values())
