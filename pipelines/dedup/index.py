"""The persisted band index: what a later snapshot needs to dedup against this release.

Parquet rows (band, hash, doc_id, signature) for the documents a run kept. band -1 holds
the exact (normalized-text) key; bands 0..b-1 hold LSH band hashes. The signature
(LeanMinHash bytes) is stored only when candidates are verified. The settings that make
hashes comparable travel in the Parquet schema metadata and are checked before a run
starts, since mismatched permutations would match nothing and fail silently.
"""
from __future__ import annotations

import json
import zlib

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pipelines.dedup.config import DedupConfig

EXACT_BAND = -1
_META_KEY = b"roots_dedup"


def index_schema(cfg: DedupConfig) -> pa.Schema:
    meta = dict(cfg.index_fingerprint(), signatures=cfg.verify)
    return pa.schema(
        [
            ("band", pa.int32()),
            ("hash", pa.binary()),
            ("doc_id", pa.string()),
            ("signature", pa.binary()),
        ],
        metadata={_META_KEY: json.dumps(meta, sort_keys=True).encode()},
    )


def _pattern(index_dir: str) -> str:
    return FileSystems.join(index_dir, "*.parquet")


def check_index(index_dir: str, cfg: DedupConfig) -> dict:
    """The prior index's settings, or ValueError when its hashes can't match this run's."""
    matches = FileSystems.match([_pattern(index_dir)])[0].metadata_list
    if not matches:
        raise FileNotFoundError(f"no dedup index files in {index_dir} (expected *.parquet)")
    with FileSystems.open(matches[0].path) as f:
        raw = (pq.ParquetFile(f).schema_arrow.metadata or {}).get(_META_KEY)
    if raw is None:
        raise ValueError(f"{matches[0].path} is not a ROOTS dedup index (no {_META_KEY.decode()} metadata)")
    meta = json.loads(raw)
    expected = cfg.index_fingerprint()
    diff = {k: (meta.get(k), v) for k, v in expected.items() if meta.get(k) != v}
    if diff:
        raise ValueError(f"dedup index {index_dir} was built with other settings (index, this run): {diff}")
    if cfg.verify and not meta.get("signatures"):
        raise ValueError(f"dedup index {index_dir} has no signatures; set verify=False to use it")
    return meta


class WriteIndex(beam.PTransform):
    def __init__(self, index_dir: str, cfg: DedupConfig):
        super().__init__()
        self.index_dir = index_dir
        self.cfg = cfg

    def expand(self, rows):
        return rows | beam.io.WriteToParquet(
            FileSystems.join(self.index_dir, "part"),
            schema=index_schema(self.cfg),
            file_name_suffix=".parquet",
        )


def bucket_shard(band: int, h: bytes, num_shards: int) -> int:
    """Shard of a (band, hash) bucket key; new entries and prior rows must agree on it."""
    return (zlib.crc32(h) + (band + 1) * 1_000_003) % num_shards


class ReadPriorShards(beam.DoFn):
    """An index file -> (shard, [((band, hash), (doc_id, signature)), ...]) per record batch.

    Prior rows travel in per-shard batches, not one element each: a release indexes ~17 rows
    per kept document, and per-element cost, not bytes, is what made a 10% refresh cost half
    a full run. Memory stays bounded by one record batch.
    """

    def __init__(self, bands: frozenset[int], num_shards: int, batch_rows: int = 65536):
        self.bands = bands
        self.num_shards = num_shards
        self.batch_rows = batch_rows

    def process(self, path):
        with FileSystems.open(path) as f:
            for batch in pq.ParquetFile(f).iter_batches(batch_size=self.batch_rows):
                shards: dict[int, list] = {}
                cols = batch.to_pydict()
                for band, h, doc_id, sig in zip(cols["band"], cols["hash"], cols["doc_id"], cols["signature"]):
                    if band in self.bands:
                        shard = bucket_shard(band, h, self.num_shards)
                        shards.setdefault(shard, []).append(((band, h), (doc_id, sig)))
                yield from shards.items()


def index_files(index_dir: str) -> list[str]:
    return sorted(m.path for m in FileSystems.match([_pattern(index_dir)])[0].metadata_list)
