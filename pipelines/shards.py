"""Sharded local runs: one machine, a corpus many times its memory.

Beam's local runner holds whole PCollections in memory, so one local job over a large corpus
needs memory in proportion to it. A local `run` over more than `read.shard_mb` of input
is therefore cut into shards of about that size and run as successive sub-jobs, the way a
chain of refreshes works: sub-job k reads only its shard and deduplicates against the dedup
index that sub-jobs 0..k-1 wrote (kept documents and near-duplicate copies, the latter under
their representative), then adds its own part to that index. Memory is bounded by the
shard, not the corpus.

Shards follow key order (input files by file key, then offset), and the dedup representative
of a cluster is its smallest key, so the first shard holding a member of a cluster holds
its representative. A later document can join two clusters an earlier shard settled apart (a
bridge); the shards' jobs report their bridges, and after the last shard
`bridges.settle_bridges` merges those clusters in the shards' outputs, index and stats: the
sharded run keeps the same documents as one run over everything (`sharding.bridges` in
stats.json says how many it settled).

At the end the shards' outputs are moved into the usual layout (OUT/data/, dropped/,
dead_letter/, dedup_index/) and their RunStats summed into one stats.json, repeated ids counted
across shards by a streamed merge of each shard's sorted id counts.
"""
from __future__ import annotations

import dataclasses
import heapq
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator

from . import stats as stats_lib
from . import storage
from .io import FileRange, ReadSpec, file_key, plan_ranges
from .run_stats import repeated_ids

SHARDS_DIR = "_shards"
_MOVED_PARTS = ("data", "dropped", "dead_letter")


def _range_bytes(rng: FileRange, size: int, n_ranges: int) -> int:
    if rng.row_groups:
        return size // max(n_ranges, 1)
    end = size if rng.end < 0 else rng.end
    return max(end - rng.start, 0)


def plan_shards(files: list[tuple[str, int]], spec: ReadSpec, shard_bytes: int) -> list[list[FileRange]]:
    """Input files (path, size) -> shards of FileRanges of about `shard_bytes` each, in key
    order (file key, then position). A range is never cut further than `plan_ranges` allows:
    a gzip file is one range, so it is one shard however large it is."""
    spec = dataclasses.replace(spec, split_bytes=min(spec.split_bytes, shard_bytes))
    shards: list[list[FileRange]] = [[]]
    filled = 0
    for path, size in sorted(files, key=lambda f: file_key(f[0])):
        ranges = plan_ranges(path, size, spec)
        for rng in ranges:
            n = _range_bytes(rng, size, len(ranges))
            if shards[-1] and filled + n > shard_bytes:
                shards.append([])
                filled = 0
            shards[-1].append(rng)
            filled += n
    return [s for s in shards if s]


def local_split_bytes(total: int, split_bytes: int) -> int:
    """The range size of a local run (or of each shard): about 16 ranges (the runner hands each
    worker every n-th range, so equal small ranges balance the workers without reshuffling
    the documents), at least 1 MB, at most `read.split_mb`. Not a function of the worker
    count: shards, and so a sharded run's output, are the same with any number of workers."""
    return int(max(min(split_bytes, total // 16), 1 << 20))


def plan_local(inputs: list[str], spec, config, workers: int) -> list[list[FileRange]]:
    """The read ranges of a local run, in shards: one shard for an ordinary single job. The
    launcher lists a local run's inputs anyway, so the job gets its ranges ready made (no
    matching or splitting stages), and counts repeated ids in a few buckets (a shard's ids fit
    in memory). Sets `spec`'s range size and id buckets."""
    from apache_beam.io.filesystems import FileSystems

    files = sorted({(m.path, m.size_in_bytes) for r in FileSystems.match(inputs) for m in r.metadata_list
                    if not m.path.endswith("/")})
    total = sum(size for _, size in files)
    shard_bytes = config.shard_bytes if config.shard_bytes and total > config.shard_bytes else total + 1
    spec.read = dataclasses.replace(spec.read, split_bytes=local_split_bytes(min(shard_bytes, total),
                                                                            spec.read.split_bytes))
    spec.id_buckets = 4 * max(workers, 1)
    return plan_shards(files, spec.read, shard_bytes)


def _shard_dir(output: str, k: int) -> str:
    return storage.join(output, SHARDS_DIR, f"shard-{k:05d}")


def _move_files(src: str, dst: str, prefix: str = "") -> None:
    """Every file under `src` into `dst`, each name prefixed (shards' part files would clash)."""
    for path in storage.list_files(src):
        rel = os.path.relpath(path, src) if not storage.is_remote(src) else path[len(src.rstrip("/")) + 1:]
        head, name = os.path.split(rel)
        target = storage.join(dst, head, prefix + name) if head else storage.join(dst, prefix + name)
        if storage.is_remote(src):
            from apache_beam.io.filesystems import FileSystems

            FileSystems.rename([path], [target])
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.replace(path, target)


class ShardedRun:
    """Runs the shards of one local run in turn and merges them into one output.

    `run_shard(spec, k, n)` runs one Beam job for a RunSpec and returns its checked RunStats,
    the value of the `dedup/prior_clusters_joined` counter and its process's peak memory
    (MiB). `call(run_shard, *args)` runs it and returns its result: the runtime's
    (pipelines/runtime: in a fresh fork of a warm process that has the models loaded and has
    processed nothing, shared by all shards, so that each job's memory goes back to the
    system when it ends), or in this process."""

    def __init__(self, spec, shards: list[list[FileRange]], run_shard: Callable, call: Callable):
        self.spec = spec
        self.shards = shards
        self.run_shard = run_shard
        self.call = call

    def _sub_spec(self, k: int):
        spec = self.spec
        prior = list(spec.prior_indexes)
        if k and spec.dedup:
            prior.append(storage.join(spec.output, "dedup_index"))
        return dataclasses.replace(spec, output=_shard_dir(spec.output, k), ranges=self.shards[k],
                                   prior_indexes=tuple(prior), index_part=f".p{k:05d}", write_id_counts=True,
                                   write_bridges=bool(spec.dedup))

    def run(self) -> dict:
        """The shards' jobs, then their outputs moved into one, and the stats.json object (the
        launcher adds `run` and writes it)."""
        spec = self.spec
        parts, joined, seconds, peaks = [], 0, [], []
        with tempfile.TemporaryDirectory(prefix="roots-ids-") as ids_tmp:
            id_files = []
            for k in range(len(self.shards)):
                sub = self._sub_spec(k)
                # A crashed earlier run may have left files here; they must not join this shard's.
                storage.delete_folder(sub.output)
                started = time.perf_counter()
                stats, bridges, peak = self.call(self.run_shard, sub, k, len(self.shards))
                seconds.append(round(time.perf_counter() - started, 2))
                parts.append(stats)
                peaks.append(peak)
                joined += bridges
                if spec.dedup:
                    # The next shard deduplicates against this one: its index part joins the index.
                    _move_files(storage.join(sub.output, "dedup_index"), storage.join(spec.output, "dedup_index"))
                # Sorted per shard (a shard's ids fit in memory), merged as a stream at the end.
                id_path = os.path.join(ids_tmp, f"{k:05d}.jsonl")
                with open(id_path, "w", encoding="utf-8") as f:
                    for item in sorted(map(tuple, storage.json_lines(storage.join(sub.output, "ids")))):
                        f.write(json.dumps(item, ensure_ascii=False) + "\n")
                id_files.append(id_path)
            duplicate_ids = repeated_ids(heapq.merge(*map(_read_pairs, id_files)))
        settled = None
        if spec.dedup:
            from .bridges import settle_bridges

            started = time.perf_counter()
            settled = settle_bridges([_shard_dir(spec.output, k) for k in range(len(self.shards))], parts,
                                     storage.join(spec.output, "dedup_index"), spec.write_dropped)
            settled["seconds"] = round(time.perf_counter() - started, 2)
        for k in range(len(self.shards)):
            for part in _MOVED_PARTS:
                _move_files(storage.join(_shard_dir(spec.output, k), part), storage.join(spec.output, part),
                            prefix=f"s{k:05d}-")
        storage.delete_folder(storage.join(spec.output, SHARDS_DIR))
        total = sum(parts)
        # A shard counts only the ids it saw: repeated ids are the ones counted across shards.
        total.dup = duplicate_ids
        moved = settled["representatives_dropped"] if settled else 0
        if moved and total.dedup and "kept" in total.dedup:
            # The representatives settling dropped: the shards' jobs counted them kept.
            total.dedup["kept"] -= moved
            total.dedup["duplicates_near"] = total.dedup.get("duplicates_near", 0) + moved
        stats = total.summary(spec.config.drop_reasons())
        # Per shard, so a run whose later shards slow down (a growing prior index) shows it.
        stats["sharding"] = {"shards": len(self.shards), "prior_clusters_joined": joined, "bridges": settled,
                             "shard_read": [p.read for p in parts], "shard_seconds": seconds,
                             "shard_dedup": [dict(sorted((p.dedup or {}).items())) for p in parts],
                             "shard_peak_rss_mib": peaks}
        stats_lib.check_conservation(stats)
        return stats


def _read_pairs(path: str) -> Iterator[tuple[str, int]]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            doc_id, n = json.loads(line)
            yield doc_id, n
