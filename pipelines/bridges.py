"""Settling the bridges of a sharded local run, so that it keeps what one run over everything keeps.

Each shard deduplicates against the index of the shards before it, where clusters are already
settled. A later document that resembles members of two clusters an earlier shard kept apart
joins them (a bridge): in one run over everything they would be one cluster, with one
representative (the smallest key). The shard's job cannot change the earlier shards' output,
so it writes its bridges (key and id of the prior representative and of the smaller one its
cluster joined: `_NewNodesOnly`) and, for each kept document, the fields its kept row lacks
(`kept_extras`). After the last shard, `settle_bridges`:

1. merges every shard's bridges by union-find; the smallest key of each merged cluster is its
   final representative (bridges chain: a cluster bridged in shard 3 may be bridged again in
   shard 7), except in a sharded refresh, where a document of an earlier release wins (`settle`);
2. moves each other representative from its shard's kept data to that shard's dropped records
   (`duplicate_near`, `duplicate_of` the final representative) and its counts from kept to
   `duplicate_near` in the shard's stats;
3. points every dropped record that names a former representative at the final one;
4. gives the index rows of former representatives and their members the final root, so a
   later refresh sees one cluster.

Every rewritten file is written under a temporary name and renamed over the old one (a file
with nothing to change is not touched), so no file is ever torn; the settling as a whole is not
atomic, but it runs before the run's stats.json is written, and an output without stats.json is
unfinished (a `run` redone with --overwrite, a refresh's staging folder discarded). What is held
in memory is the bridges and the bridged documents' keys (a few percent of the documents at
most) and one row group or line at a time.
"""
from __future__ import annotations

import gzip
import json
import re

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from . import stats as stats_lib
from . import storage
from .document import from_kept_row
from .dedup.buckets import cluster_id
from .dedup.components import find, union
from .dedup.index import repoint_index
from .dedup.transforms import REASON_NEAR

BRIDGES, KEPT_EXTRAS = "bridges", "kept_extras"
_BRIDGED_FILE = "part-bridged.jsonl.gz"


# `"key":"` as orjson writes it (transforms.to_json_line), `"key": "` as json.dumps wrote it.
_KEY_FIELD_RE = re.compile(rb'"key": ?"')


def _line_key(line: bytes) -> str:
    """The `key` of a kept JSONL row without parsing the row: the field's bytes are unique in
    the line (a quote inside a string value is escaped) and keys need no escaping."""
    start = _KEY_FIELD_RE.search(line).end()
    return line[start:line.index(b'"', start)].decode("ascii")


def settle(bridges, released=frozenset()) -> dict[str, tuple[str, str]]:
    """(key, id, root key, root id) bridges -> {key: (final key, final id)} for every key that is
    not its merged cluster's final representative.

    The final representative is the smallest key of the merged cluster, unless the cluster
    holds `released` documents (of releases before this run: a sharded refresh deduplicates
    against them too): then the smallest of those, since a released document wins over new
    ones, as in one refresh over everything. The other released keys are in the result too,
    so that this run's records naming them follow the merge; their releases stay as published
    (the caller moves only its own documents)."""
    parent: dict[str, str] = {}
    ids: dict[str, str] = {}
    for key, key_id, root_key, root_id in bridges:
        ids[key], ids[root_key] = key_id, root_id
        union(parent, key, root_key)
    members: dict[str, list[str]] = {}
    for key in ids:
        members.setdefault(find(parent, key), []).append(key)
    final = {}
    for group in members.values():
        top = min([k for k in group if k in released] or group)
        final.update({k: (top, ids[top]) for k in group if k != top})
    return final


def _repoint(record: dict, final_of: dict) -> bool:
    target = final_of.get(record.get("duplicate_of_key"))
    if target is None:
        return False
    record["duplicate_of_key"], record["duplicate_of"] = target
    record["cluster_id"] = cluster_id(target[0])
    return True


def _gz_lines(path: str):
    """The lines of a gzip file, streamed (a shard's dropped records can be hundreds of MB)."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as raw, \
            gzip.GzipFile(fileobj=raw) as f:
        for line in f:
            yield line.rstrip(b"\n")


def _rewrite_gz(path: str, edit) -> tuple[int, list[bytes]]:
    """Stream the gzip file `path` through `edit(line)` (a new line, None: unchanged, or b"":
    removed) and replace it when a line changes: (lines changed, the lines removed). Read twice,
    once to find out (most files have nothing to change), once while writing; `edit` is pure."""
    if all(edit(line) is None for line in _gz_lines(path)):
        return 0, []
    changed, removed = 0, []

    def write(f):
        nonlocal changed
        # No name or time in the header: a rerun writes the same bytes.
        with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0) as out:
            for line in _gz_lines(path):
                new = edit(line)
                if new is None:
                    out.write(line + b"\n")
                    continue
                changed += 1
                if new:
                    out.write(new + b"\n")
                else:
                    removed.append(line)

    storage.replace_file(path, write)
    return changed, removed


def _take_kept(data_dir: str, keys: pa.Array, wanted: set) -> list[dict]:
    """Remove the documents with a key in `keys` from the kept files of `data_dir` (streamed: row
    group by row group, line by line); their rows."""
    taken = []
    for path in storage.list_files(data_dir):
        if not path.endswith(".parquet"):
            _, removed = _rewrite_gz(path, lambda line: b"" if _line_key(line) in wanted else None)
            taken += [json.loads(line) for line in removed]
            continue
        with FileSystems.open(path) as f:
            pf = pq.ParquetFile(f)
            if not any(pc.any(pc.is_in(pf.read_row_group(i, columns=["key"])["key"], value_set=keys)).as_py()
                       for i in range(pf.metadata.num_row_groups)):
                continue

        def write(out, path=path):
            with FileSystems.open(path) as f:
                pf = pq.ParquetFile(f)
                with pq.ParquetWriter(out, pf.schema_arrow) as writer:
                    for i in range(pf.metadata.num_row_groups):
                        group = pf.read_row_group(i)
                        mask = pc.is_in(group["key"], value_set=keys)
                        taken.extend(group.filter(mask).to_pylist())
                        writer.write_table(group.filter(pc.invert(mask)))

        storage.replace_file(path, write)
    return taken


def _repoint_dropped(dropped_dir: str, final_of: dict) -> int:
    def edit(line: bytes):
        if b'"duplicate_of_key"' not in line:  # dropped by a filter, not by dedup
            return None
        record = json.loads(line)
        return json.dumps(record, ensure_ascii=False).encode("utf-8") if _repoint(record, final_of) else None

    return sum(_rewrite_gz(path, edit)[0] for path in storage.list_files(dropped_dir))


def settle_bridges(shard_dirs: list[str], shard_stats: list, index_dir: str, write_dropped: bool) -> dict:
    """Settle the bridges every shard of a sharded run found (module docstring), rewriting the
    shards' outputs in place and `shard_stats` (each shard's RunStats). Returns what it did,
    for stats.json's `sharding`."""
    bridges = [tuple(b) for d in shard_dirs for b in storage.json_lines(storage.join(d, BRIDGES))]
    named = {k for b in bridges for k in (b[0], b[2])}
    # This run's kept documents that bridges name, by shard, with what their kept rows lack;
    # a named document no shard kept was released before this run.
    extras: list[dict] = [
        {key: (raw, pii) for key, raw, pii in storage.json_lines(storage.join(d, KEPT_EXTRAS)) if key in named}
        for d in shard_dirs]
    ours = {key for e in extras for key in e}
    final_of = settle(bridges, released=named - ours)
    moving = {key for key in final_of if key in ours}
    report = {"bridges": len(bridges), "representatives_dropped": 0, "dropped_repointed": 0, "index_rows_repointed": 0,
              # Released representatives whose clusters a bridge joined to a smaller released one:
              # their releases stay as published, only this run's records follow the merge.
              "released_representatives_joined": len(set(final_of) - ours)}
    if not final_of:
        return report
    moved_total = 0
    for shard_dir, stats, mine in zip(shard_dirs, shard_stats, extras):
        # Repointed first: the records moved below are written with their final root already.
        report["dropped_repointed"] += _repoint_dropped(storage.join(shard_dir, "dropped"), final_of)
        wanted = moving & set(mine)
        if not wanted:
            continue
        records = []
        for row in _take_kept(storage.join(shard_dir, "data"), pa.array(sorted(wanted), pa.string()), wanted):
            raw, pii = mine[row["key"]]
            record = dict(from_kept_row(row), raw_bytes=raw, **({"pii": pii} if pii is not None else {}), reason=REASON_NEAR,
                          duplicate_of_key=row["key"])
            _repoint(record, final_of)  # its own key -> the final representative
            stats.rebook(stats_lib.kept_event(record), REASON_NEAR)
            records.append(json.dumps(record, ensure_ascii=False).encode("utf-8"))
        if write_dropped:
            storage.write_bytes(storage.join(shard_dir, "dropped", _BRIDGED_FILE),
                                gzip.compress(b"".join(r + b"\n" for r in records), mtime=0))
        moved_total += len(records)
    if moved_total != len(moving):
        # Every former representative of this run was kept by exactly one shard: anything else is a bug.
        raise RuntimeError(f"settling bridges: {len(moving)} representatives to drop, {moved_total} found kept")
    report["representatives_dropped"] = moved_total
    report["index_rows_repointed"] = repoint_index(index_dir, final_of)
    return report
