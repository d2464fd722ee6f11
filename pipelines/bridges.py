"""Settling the bridges of a sharded local run, so that it keeps what one run over everything keeps.

Each shard deduplicates against the index of the shards before it, where clusters are already
settled. A later document that resembles members of two clusters an earlier shard kept apart
joins them (a bridge): in one run over everything they would be one cluster, with one
representative (the smallest key). The shard's job cannot change the earlier shards' output,
so it writes its bridges (prior representative's key, the smaller representative's key and id:
`_NewNodesOnly`) and, for each kept document, the fields its kept row lacks (`kept_extras`).
After the last shard, `settle_bridges`:

1. merges every shard's bridges by union-find; the smallest key of each merged cluster is its
   final representative (bridges chain: a cluster bridged in shard 3 may be bridged again in
   shard 7);
2. moves each other representative from its shard's kept data to that shard's dropped records
   (`duplicate_near`, `duplicate_of` the final representative) and its counts from kept to
   `duplicate_near` in the shard's stats;
3. points every dropped record that names a former representative at the final one;
4. gives the index rows of former representatives and their members the final root, so a
   later refresh sees one cluster.

Every rewritten file is written under a temporary name and renamed over the old one; a file
with nothing to change is not touched. What is held in memory is the bridged keys (a few
percent of the documents at most) and one file at a time.
"""
from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from . import stats as stats_lib
from . import storage
from .dedup.buckets import cluster_id
from .dedup.index import repoint_index
from .dedup.transforms import REASON_NEAR

BRIDGES, KEPT_EXTRAS = "bridges", "kept_extras"
_BRIDGED_FILE = "part-bridged.jsonl.gz"


def _json_lines(folder: str):
    for path in storage.list_files(folder):
        for line in storage.read_bytes(path).decode("utf-8").splitlines():
            if line:
                yield json.loads(line)


def settle(bridges) -> dict[str, tuple[str, str]]:
    """(key, root key, root id) bridges -> {key: (final key, final id)} for every key that is
    not its merged cluster's smallest. A bridge always names a smaller root, so the smallest
    key of a merged cluster is some bridge's root, and its id is known."""
    parent: dict[str, str] = {}
    ids: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while x != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    for key, root_key, root_id in bridges:
        ids[root_key] = root_id
        a, b = find(key), find(root_key)
        if a != b:
            parent[max(a, b)] = min(a, b)
    final = {}
    for key in parent:
        top = find(key)
        if top != key:
            final[key] = (top, ids[top])
    return final


def _repoint(record: dict, final_of: dict) -> bool:
    target = final_of.get(record.get("duplicate_of_key"))
    if target is None:
        return False
    record["duplicate_of_key"], record["duplicate_of"] = target
    record["cluster_id"] = cluster_id(target[0])
    return True


def _gz_lines(path: str) -> list[bytes]:
    return gzip.decompress(storage.read_bytes(path)).splitlines()


def _write_gz_lines(path: str, lines) -> None:
    storage.replace_file(path, gzip.compress(b"".join(line + b"\n" for line in lines)))


def _take_kept(data_dir: str, keys: pa.Array, wanted: set) -> list[dict]:
    """Remove the documents with a key in `keys` from the kept files of `data_dir`; their rows."""
    taken = []
    for path in storage.list_files(data_dir):
        if path.endswith(".parquet"):
            with FileSystems.open(path) as f:
                table = pq.read_table(f)
            mask = pc.is_in(table["key"], value_set=keys)
            if not pc.any(mask).as_py():
                continue
            taken += table.filter(mask).to_pylist()
            buf = pa.BufferOutputStream()
            pq.write_table(table.filter(pc.invert(mask)), buf)
            storage.replace_file(path, buf.getvalue().to_pybytes())
        else:
            keep, moved = [], []
            for line in _gz_lines(path):
                row = json.loads(line)
                if row["key"] in wanted:
                    moved.append(row)
                else:
                    keep.append(line)
            if moved:
                taken += moved
                _write_gz_lines(path, keep)
    return taken


def _repoint_dropped(dropped_dir: str, final_of: dict) -> int:
    changed = 0
    for path in storage.list_files(dropped_dir):
        lines, n = _gz_lines(path), 0
        for i, line in enumerate(lines):
            if b'"duplicate_of_key"' not in line:  # dropped by a filter, not by dedup
                continue
            record = json.loads(line)
            if _repoint(record, final_of):
                lines[i] = json.dumps(record, ensure_ascii=False).encode("utf-8")
                n += 1
        if n:
            _write_gz_lines(path, lines)
            changed += n
    return changed


def settle_bridges(shard_dirs: list[str], shard_stats: list[dict], index_dir: str, write_dropped: bool) -> dict:
    """Settle the bridges every shard of a sharded run found (module docstring), rewriting the
    shards' outputs in place and `shard_stats` (each shard's stats.json object). Returns what
    it did, for stats.json's `sharding`."""
    bridges = [tuple(b) for d in shard_dirs for b in _json_lines(storage.join(d, BRIDGES))]
    final_of = settle(bridges)
    report = {"bridges": len(bridges), "representatives_dropped": 0, "dropped_repointed": 0, "index_rows_repointed": 0}
    if not final_of:
        return report
    keys = pa.array(sorted(final_of), pa.string())
    moved_total = 0
    for shard_dir, stats in zip(shard_dirs, shard_stats):
        # Repointed first: the records moved below are written with their final root already.
        report["dropped_repointed"] += _repoint_dropped(storage.join(shard_dir, "dropped"), final_of)
        rows = _take_kept(storage.join(shard_dir, "data"), keys, set(final_of))
        if not rows:
            continue
        extras = {key: (raw, pii) for key, raw, pii in _json_lines(storage.join(shard_dir, KEPT_EXTRAS))
                  if key in final_of}
        records = []
        for row in rows:
            raw, pii = extras[row["key"]]
            record = dict(row, raw_bytes=raw, **({"pii": pii} if pii is not None else {}), reason=REASON_NEAR,
                          duplicate_of_key=row["key"])
            _repoint(record, final_of)  # its own key -> the final representative
            stats_lib.rebook_kept_as_dropped(stats, record, REASON_NEAR)
            records.append(json.dumps(record, ensure_ascii=False).encode("utf-8"))
        if write_dropped:
            _write_gz_lines(storage.join(shard_dir, "dropped", _BRIDGED_FILE), records)
        moved_total += len(rows)
    if moved_total != len(final_of):
        # Every former representative was kept by exactly one shard: anything else is a bug.
        raise RuntimeError(f"settling bridges: {len(final_of)} representatives to drop, {moved_total} found kept")
    report["representatives_dropped"] = moved_total
    report["index_rows_repointed"] = repoint_index(index_dir, final_of)
    return report

