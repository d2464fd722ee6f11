"""The persisted dedup index: what a later snapshot needs to dedup against this release.

An index directory holds `index.json` (the settings that make hashes comparable, checked
before a run starts, since mismatched permutations would match nothing and fail silently)
and Parquet files partitioned into `index_shards` shards:

- `buckets-SSSSS-of-NNNNN.parquet`: (band int32, hash binary, doc_id string), one row per
  kept document and band; band -1 is the exact (normalized-text) key. The shard is a hash of
  the bucket key, so all prior rows of a bucket sit in one file per release.
- `signatures-SSSSS-of-NNNNN.parquet`: (doc_id string, signature binary), one row per kept
  document when candidates are verified; the shard is a hash of the document id.

A refresh groups only its *new* bucket keys by shard; the worker holding a shard reads that
shard's file of each prior release and keeps the rows whose bucket holds a new key (an Arrow
`is_in` filter). Prior rows are never shuffled, and signatures, stored once per document
instead of once per band, are read only for prior documents that share a bucket with a new
one. Shards without rows have no file.
"""
from __future__ import annotations

import json
import uuid
import zlib
from collections import defaultdict

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pipelines.dedup.buckets import prior_node
from pipelines.dedup.config import DedupConfig

EXACT_BAND = -1
BUCKETS, SIGNATURES = "buckets", "signatures"
SETTINGS_FILE = "index.json"
_SCHEMAS = {
    BUCKETS: pa.schema([("band", pa.int32()), ("hash", pa.binary()), ("doc_id", pa.string())]),
    SIGNATURES: pa.schema([("doc_id", pa.string()), ("signature", pa.binary())]),
}


def bucket_shard(band: int, h: bytes, num_shards: int) -> int:
    return (zlib.crc32(h) + (band + 1) * 1_000_003) % num_shards


def doc_shard(doc_id: str, num_shards: int) -> int:
    return zlib.crc32(doc_id.encode("utf-8")) % num_shards


def shard_path(index_dir: str, kind: str, shard: int, num_shards: int) -> str:
    return FileSystems.join(index_dir, f"{kind}-{shard:05d}-of-{num_shards:05d}.parquet")


def index_settings(cfg: DedupConfig) -> dict:
    return dict(cfg.index_fingerprint(), signatures=cfg.verify)


def check_index(index_dir: str, cfg: DedupConfig) -> dict:
    """The prior index's settings, or ValueError when its hashes can't match this run's."""
    path = FileSystems.join(index_dir, SETTINGS_FILE)
    if not FileSystems.exists(path):
        raise FileNotFoundError(f"{index_dir} is not a ROOTS dedup index (no {SETTINGS_FILE}); "
                                "indexes written before index format 2 must be rebuilt")
    with FileSystems.open(path) as f:
        meta = json.loads(f.read().decode("utf-8"))
    expected = cfg.index_fingerprint()
    diff = {k: (meta.get(k), v) for k, v in expected.items() if meta.get(k) != v}
    if diff:
        raise ValueError(f"dedup index {index_dir} was built with other settings (index, this run): {diff}")
    if cfg.verify and not meta.get("signatures"):
        raise ValueError(f"dedup index {index_dir} has no signatures; set verify=False to use it")
    return meta


def _group_lists(label: str):
    """(key, value) -> (key, [values]). A lifted combine: each bundle sends one list per key
    to the shuffle instead of one element per value (a release has ~18 index rows per doc)."""
    return label >> beam.CombinePerKey(beam.combiners.ToListCombineFn())


def _index_rows(item, cfg: DedupConfig):
    """(doc_id, (exact key, band hashes, signature)) of a kept doc -> ((kind, shard), row)."""
    doc_id, (key, hashes, sig_bytes) = item
    n = cfg.index_shards
    if key is not None:
        yield (BUCKETS, bucket_shard(EXACT_BAND, key, n)), (EXACT_BAND, key, doc_id)
    for band, h in enumerate(hashes):
        yield (BUCKETS, bucket_shard(band, h, n)), (band, h, doc_id)
    if sig_bytes is not None:
        yield (SIGNATURES, doc_shard(doc_id, n)), (doc_id, sig_bytes)


class _WriteShard(beam.DoFn):
    """((kind, shard), [rows]) -> one Parquet file, written under a temporary name and renamed
    (which replaces an earlier attempt's file), so a retried bundle never leaves a torn file."""

    def __init__(self, index_dir: str, num_shards: int):
        self.index_dir = index_dir
        self.num_shards = num_shards

    def process(self, item):
        (kind, shard), rows = item
        schema = _SCHEMAS[kind]
        table = pa.Table.from_arrays([pa.array(col, f.type) for col, f in zip(zip(*rows), schema)], schema=schema)
        final = shard_path(self.index_dir, kind, shard, self.num_shards)
        tmp = FileSystems.join(self.index_dir, f".tmp-{uuid.uuid4().hex}.parquet")
        with FileSystems.create(tmp) as f:
            pq.write_table(table, f)
        FileSystems.rename([tmp], [final])
        yield final


def _write_settings(settings: dict, index_dir: str):
    with FileSystems.create(FileSystems.join(index_dir, SETTINGS_FILE)) as f:
        f.write(json.dumps(settings, sort_keys=True, indent=1).encode("utf-8"))


class WriteIndex(beam.PTransform):
    """(doc_id, sketch) of each kept document -> the index files of INDEX_DIR."""

    def __init__(self, index_dir: str, cfg: DedupConfig):
        super().__init__()
        self.index_dir = index_dir
        self.cfg = cfg

    def expand(self, sketches):
        cfg = self.cfg
        (sketches.pipeline
         | "IndexSettings" >> beam.Create([index_settings(cfg)])
         | "WriteIndexSettings" >> beam.Map(_write_settings, self.index_dir))
        return (
            sketches
            | "IndexRows" >> beam.FlatMap(_index_rows, cfg)
            | _group_lists("GroupIndexShards")
            | "WriteIndexShards" >> beam.ParDo(_WriteShard(self.index_dir, cfg.index_shards))
        )


def _read_shard(index_dir: str, kind: str, shard: int, num_shards: int, column: str, values: pa.Array):
    """Rows of one shard file whose `column` is in `values` (none when the file is absent)."""
    path = shard_path(index_dir, kind, shard, num_shards)
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path) as f:
        table = pq.read_table(f)
    return table.filter(pc.is_in(table[column], value_set=values))


class MatchPriorBuckets(beam.DoFn):
    """(shard, [new bucket keys]) -> (prior doc_id, bucket key) for each prior document in a
    bucket that also holds a new document. A bucket without a new document cannot change this
    run's output: its release already deduplicated it."""

    def __init__(self, index_dirs: list[str], num_shards: int):
        self.index_dirs = list(index_dirs)
        self.num_shards = num_shards

    def process(self, item):
        shard, keys = item
        wanted = set(keys)
        hashes = pa.array(sorted({h for _, h in wanted}), pa.binary())
        for index_dir in self.index_dirs:
            rows = _read_shard(index_dir, BUCKETS, shard, self.num_shards, "hash", hashes)
            if rows is None:
                continue
            for band, h, doc_id in zip(rows["band"].to_pylist(), rows["hash"].to_pylist(), rows["doc_id"].to_pylist()):
                if (band, h) in wanted:
                    yield doc_id, (band, h)


class AttachPriorSignatures(beam.DoFn):
    """(doc shard, [(prior doc_id, bucket key)]) -> bucket entries (key, (prior node,
    signature)) ready to join this run's buckets."""

    def __init__(self, index_dirs: list[str], num_shards: int, with_signatures: bool):
        self.index_dirs = list(index_dirs)
        self.num_shards = num_shards
        self.with_signatures = with_signatures

    def process(self, item):
        shard, matches = item
        keys_of = defaultdict(list)
        for doc_id, key in matches:
            keys_of[doc_id].append(key)
        if self.with_signatures:
            ids = pa.array(sorted(keys_of), pa.string())
            for index_dir in self.index_dirs:
                rows = _read_shard(index_dir, SIGNATURES, shard, self.num_shards, "doc_id", ids)
                if rows is None:
                    continue
                for doc_id, sig in zip(rows["doc_id"].to_pylist(), rows["signature"].to_pylist()):
                    for key in keys_of.pop(doc_id, ()):
                        yield key, (prior_node(doc_id), sig)
        # No stored signature (an index built with verify=False): the pair is merged unverified.
        for doc_id, keys in keys_of.items():
            for key in keys:
                yield key, (prior_node(doc_id), None)


class PriorEntries(beam.PTransform):
    """This run's bucket entries -> the prior releases' entries in the same buckets."""

    def __init__(self, index_dirs: list[str], cfg: DedupConfig):
        super().__init__()
        self.index_dirs = list(index_dirs)
        self.cfg = cfg

    def expand(self, new_entries):
        n = self.cfg.index_shards
        return (
            new_entries
            | "NewKeysByShard" >> beam.Map(lambda e: (bucket_shard(e[0][0], e[0][1], n), e[0]))
            | _group_lists("GroupNewKeys")
            | "MatchPriorBuckets" >> beam.ParDo(MatchPriorBuckets(self.index_dirs, n))
            | "MatchesByDocShard" >> beam.Map(lambda m: (doc_shard(m[0], n), m))
            | _group_lists("GroupMatches")
            | "AttachSignatures" >> beam.ParDo(AttachPriorSignatures(self.index_dirs, n, self.cfg.verify))
        )
