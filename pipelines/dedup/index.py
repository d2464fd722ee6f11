"""The persisted dedup index: what a later snapshot needs to dedup against this release.

An index directory holds `index.json` (the settings that make hashes comparable, checked
before a run starts, since mismatched permutations would match nothing and fail silently)
and Parquet files partitioned into `index_shards` shards:

- `buckets-SSSSS-of-NNNNN.parquet`: (band int32, hash binary, doc_key string, root_key
  string or null), one row per indexed document and band; band -1 is the exact
  (normalized-text) key; root_key as in the docs table (files written before it was added
  lack the column and are read as if every row were a kept document). The shard is a hash
  of the bucket key, so all prior rows of a bucket sit in one file per release.
- `docs-SSSSS-of-NNNNN.parquet`: (doc_key, doc_id, signature binary or null, root_key,
  root_id), one row per indexed document (the signature when candidates are verified); the
  shard is a hash of the document key. Keys are unique per input record; ids are data and
  may repeat. Indexed are the documents a run kept (root null) and those it dropped as
  near duplicates (root = the kept representative): a later document that resembles only
  the dropped copy still joins its cluster, so deduplicating in successive parts (a sharded
  local run, a chain of refreshes) keeps what one run over everything keeps. Exact copies
  are not indexed: their representative has the same text.

A file name may carry a part, `buckets-SSSSS-of-NNNNN.pKKKKK.parquet`: a sharded run adds
one part per sub-job to the same index, and readers take every part of a shard.

A later run (a refresh) finds its candidates without shuffling prior rows: the worker that
holds one group of this run's bucket keys (`bucket_shards`, a multiple of `index_shards`)
reads the matching shard file of each prior release and keeps the rows whose bucket holds a
new key (an Arrow `is_in` filter, `read_prior_buckets`), giving candidate pairs (prior doc,
new doc). Signatures, stored once per document instead of once per band, are read only for
prior documents in a candidate pair and travel once per pair (`PriorCandidates`). Shards
without rows have no file. A shard file is read as a stream of row groups, filtered as it
goes: a refresh never holds a whole prior shard in memory.

Format 5 records the bits kept of each signature value (`signature_bits`) and stores the
signatures as those low bits, little-endian; format 4 recorded the MinHash implementation
(`minhash`) and the script folding (`script_fold`) and stored raw uint32 values. A format-4
index is read exactly by a run with `signature_bits: 32` and its `num_perm`; a format-3 index
(datasketch `affine32` signatures as LeanMinHash bytes, no folding) by a run that also sets
`minhash_impl: datasketch, script_fold: none`. Other runs refuse them with that advice.
"""
from __future__ import annotations

import json
import uuid
import zlib
from collections import defaultdict

import apache_beam as beam
import pyarrow as pa
from apache_beam.metrics import Metrics
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pipelines import storage
from pipelines.dedup.buckets import PRE_VERIFIED, EXACT_BAND, agrees, node_id, node_key, prior_dropped_node, prior_node
from pipelines.dedup.config import INDEX_FORMAT, DedupConfig, minhash_scheme
from pipelines.dedup.sketch import signature_from_bytes

_ROW_GROUP = 64 * 1024  # rows per Parquet row group: bounds what a refresh holds of one prior shard
BUCKETS, DOCS = "buckets", "docs"
SETTINGS_FILE = "index.json"
_SCHEMAS = {
    BUCKETS: pa.schema([("band", pa.int32()), ("hash", pa.binary()), ("doc_key", pa.string()),
                        ("root_key", pa.string())]),
    DOCS: pa.schema([("doc_key", pa.string()), ("doc_id", pa.string()), ("signature", pa.binary()),
                     ("root_key", pa.string()), ("root_id", pa.string())]),
}


def bucket_shard(band: int, h: bytes, num_shards: int) -> int:
    return (zlib.crc32(h) + (band + 1) * 1_000_003) % num_shards


def doc_shard(doc_key: str, num_shards: int) -> int:
    return zlib.crc32(doc_key.encode("utf-8")) % num_shards


def shard_path(index_dir: str, kind: str, shard: int, num_shards: int, part: str = "") -> str:
    return FileSystems.join(index_dir, f"{kind}-{shard:05d}-of-{num_shards:05d}{part}.parquet")


def index_listing(index_dir: str, num_shards: int) -> dict[tuple[str, int], list[str]]:
    """{(kind, shard): the paths of every part of that shard} of an index, from one listing.
    A reader lists each prior index once (a DoFn in setup) rather than matching each of its
    2 x index_shards files: a sharded run's index has a part per shard, and one match per
    file listed the whole folder each time (1.7 s per job at 16x)."""
    found: dict[tuple[str, int], list[str]] = defaultdict(list)
    suffix = f"-of-{num_shards:05d}"
    for m in FileSystems.match([FileSystems.join(index_dir, "*.parquet")])[0].metadata_list:
        name = m.path.rsplit("/", 1)[-1]
        kind, _, rest = name.partition("-")
        if kind in (BUCKETS, DOCS) and rest[5:5 + len(suffix)] == suffix:
            found[(kind, int(rest[:5]))].append(m.path)
    return {k: sorted(v) for k, v in found.items()}


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
    found = _as_current_format(meta)
    expected = cfg.index_fingerprint()
    diff = {k: (found.get(k), v) for k, v in expected.items() if found.get(k) != v}
    if diff:
        hint = ""
        if meta.get("format") == 3:
            hint = ("; an index of format 3 was written by the datasketch MinHash without script folding: "
                    "to extend it set the dedup settings minhash_impl: datasketch, script_fold: none, "
                    "signature_bits: 32 and the num_perm it records, or rebuild it")
        elif meta.get("format") == 4:
            hint = ("; an index of format 4 holds 32-bit signature values: to extend it set the dedup settings "
                    "signature_bits: 32 and the num_perm it records, or rebuild it")
        raise ValueError(f"dedup index {index_dir} was built with other settings (index, this run): {diff}{hint}")
    if cfg.verify and not meta.get("signatures"):
        raise ValueError(f"dedup index {index_dir} has no signatures; set verify=False to use it")
    return meta


def _as_current_format(meta: dict) -> dict:
    """The settings of an index in the current format's terms. Formats 3 and 4 differ only in
    what they record: their signatures hold full 32-bit values, and format 3's are datasketch
    `affine32` ones (stored as LeanMinHash bytes, which `signature_from_bytes` reads) of keys
    and shingles without script folding. A run with those settings reads them exactly; any
    other run is refused by the comparison."""
    if meta.get("format") == 4:
        return dict(meta, format=INDEX_FORMAT, signature_bits=32)
    if meta.get("format") != 3 or meta.get("scheme") != "affine32":
        return meta
    return dict(meta, format=INDEX_FORMAT, minhash=minhash_scheme("datasketch"), script_fold="none",
                signature_bits=32)


def _group_lists(label: str):
    """(key, value) -> (key, [values]). A lifted combine: each bundle sends one list per key
    to the shuffle instead of one element per value (a release has ~18 index rows per doc)."""
    return label >> beam.CombinePerKey(beam.combiners.ToListCombineFn())


def _index_rows(item, cfg: DedupConfig):
    """(node, (exact key, band hashes, signature), root node or None) of a kept or near-dropped
    doc -> ((kind, shard), row)."""
    node, (key, hashes, sig_bytes), root = item
    doc_key, n = node_key(node), cfg.index_shards
    root_key = None if root is None else node_key(root)
    if key is not None:
        yield (BUCKETS, bucket_shard(EXACT_BAND, key, n)), (EXACT_BAND, key, doc_key, root_key)
    for band, h in enumerate(hashes):
        yield (BUCKETS, bucket_shard(band, h, n)), (band, h, doc_key, root_key)
    yield (DOCS, doc_shard(doc_key, n)), (doc_key, node_id(node), sig_bytes, root_key,
                                          None if root is None else node_id(root))


class _WriteShard(beam.DoFn):
    """((kind, shard), [rows]) -> one Parquet file, written under a temporary name and renamed
    (which replaces an earlier attempt's file), so a retried bundle never leaves a torn file."""

    def __init__(self, index_dir: str, num_shards: int, part: str = ""):
        self.index_dir = index_dir
        self.num_shards = num_shards
        self.part = part

    def process(self, item):
        (kind, shard), rows = item
        schema = _SCHEMAS[kind]
        table = pa.Table.from_arrays([pa.array(col, f.type) for col, f in zip(zip(*rows), schema)], schema=schema)
        final = shard_path(self.index_dir, kind, shard, self.num_shards, self.part)
        tmp = FileSystems.join(self.index_dir, f".tmp-{uuid.uuid4().hex}.parquet")
        with FileSystems.create(tmp) as f:
            pq.write_table(table, f, row_group_size=_ROW_GROUP)  # a refresh reads it group by group
        FileSystems.rename([tmp], [final])
        yield final


def _write_settings(settings: dict, index_dir: str):
    with FileSystems.create(FileSystems.join(index_dir, SETTINGS_FILE)) as f:
        f.write(json.dumps(settings, sort_keys=True, indent=1).encode("utf-8"))


class WriteIndex(beam.PTransform):
    """(node, sketch, root or None) of each kept or near-dropped document -> the index files of
    INDEX_DIR (with `part`, files named as one part of a larger index)."""

    def __init__(self, index_dir: str, cfg: DedupConfig, part: str = ""):
        super().__init__()
        self.index_dir = index_dir
        self.cfg = cfg
        self.part = part

    def expand(self, sketches):
        cfg = self.cfg
        (sketches.pipeline
         | "IndexSettings" >> beam.Create([index_settings(cfg)])
         | "WriteIndexSettings" >> beam.Map(_write_settings, self.index_dir))
        return (
            sketches
            | "IndexRows" >> beam.FlatMap(_index_rows, cfg)
            | _group_lists("GroupIndexShards")
            | "WriteIndexShards" >> beam.ParDo(_WriteShard(self.index_dir, cfg.index_shards, self.part))
        )


def _read_shard(listing: dict, kind: str, shard: int, column: str, values: pa.Array):
    """Rows of one shard (every part of it, from an `index_listing`) whose `column` is in
    `values`, one row group at a time (none when the shard has no file)."""
    for path in listing.get((kind, shard), ()):
        with FileSystems.open(path) as f:
            pf = pq.ParquetFile(f)
            for i in range(pf.metadata.num_row_groups):
                table = pf.read_row_group(i)
                yield table.filter(pc.is_in(table[column], value_set=values))


def read_prior_buckets(listings: list[dict], shard: int, buckets) -> dict[tuple, list[tuple[str, str]]]:
    """{(band, hash): [(prior doc_key, its cluster's root key)]} for the given buckets (this
    run's keys of index shard `shard`), read from that shard's files of each prior index
    (`index_listing`s) as a stream of row groups. A kept document is its own root."""
    hashes = pa.array(sorted({h for _, h in buckets}), pa.binary())
    prior_of = defaultdict(list)
    for listing in listings:
        for rows in _read_shard(listing, BUCKETS, shard, "hash", hashes):
            doc_keys = rows["doc_key"].to_pylist()
            roots = rows["root_key"].to_pylist() if "root_key" in rows.column_names else [None] * len(doc_keys)
            for band, h, doc_key, root in zip(rows["band"].to_pylist(), rows["hash"].to_pylist(), doc_keys, roots):
                if (band, h) in buckets:
                    prior_of[(band, h)].append((doc_key, root or doc_key))
    return prior_of


class AttachPriorSignatures(beam.DoFn):
    """(doc shard, [[(prior doc_key, [(new node, exact)])]]) -> (new node, (prior node, its
    representative's node, signature or None, exact)) once per candidate pair. A prior node
    carries the released document's id; its representative's becomes `duplicate_of` of the
    new copies.

    With `new_signatures` (a side input {new node: (signature, exact key)}), each pair is
    verified here, where the prior signature is read: only pairs that agree travel on, with
    PRE_VERIFIED in place of the signature, so the join by new node carries no signatures."""

    def __init__(self, index_dirs: list[str], num_shards: int, with_signatures: bool, cfg: DedupConfig | None = None):
        self.index_dirs = list(index_dirs)
        self.num_shards = num_shards
        self.with_signatures = with_signatures
        self.cfg = cfg
        self.pairs = Metrics.counter("dedup", "prior_candidate_pairs")
        self.rejected = Metrics.counter("dedup", "prior_pairs_rejected_early")

    def setup(self):
        self.listings = [index_listing(d, self.num_shards) for d in self.index_dirs]

    def process(self, item, new_signatures=None):
        shard, lists = item
        new_of = defaultdict(dict)
        for pairs in lists:
            for doc_key, nodes in pairs:
                mine = new_of[doc_key]
                for node, exact in nodes:
                    mine[node] = mine.get(node, False) or exact
        wanted = pa.array(sorted(new_of), pa.string())
        for listing in self.listings:
            for rows in _read_shard(listing, DOCS, shard, "doc_key", wanted):
                n = rows.num_rows
                # Indexes written before roots were recorded have no root columns: all kept.
                root_keys = rows["root_key"].to_pylist() if "root_key" in rows.column_names else [None] * n
                root_ids = rows["root_id"].to_pylist() if "root_id" in rows.column_names else [None] * n
                for doc_key, doc_id, sig, root_key, root_id in zip(
                        rows["doc_key"].to_pylist(), rows["doc_id"].to_pylist(), rows["signature"].to_pylist(),
                        root_keys, root_ids):
                    # No stored signature (an index built with verify=False): merged unverified.
                    sig = sig if self.with_signatures else None
                    new_nodes = new_of.pop(doc_key, ())
                    if not new_nodes:
                        continue
                    if root_key is None:
                        node = root = prior_node(doc_key, doc_id)
                    else:
                        node, root = prior_dropped_node(doc_key, doc_id), prior_node(root_key, root_id)
                    self.pairs.inc(len(new_nodes))
                    prior_sig = None if sig is None or new_signatures is None else signature_from_bytes(sig, self.cfg)
                    for new, exact in sorted(new_nodes.items()):
                        if prior_sig is None or exact:
                            yield new, (node, root, sig, exact)
                            continue
                        mine = new_signatures.get(new, (None,))[0]
                        if mine is None:  # no signature of its own: merged unverified, as in a bucket
                            yield new, (node, root, None, exact)
                        elif agrees(signature_from_bytes(mine, self.cfg), prior_sig, self.cfg.min_estimate):
                            yield new, (node, root, PRE_VERIFIED, exact)
                        else:
                            self.rejected.inc()
        if new_of:
            raise ValueError(f"dedup index {self.index_dirs}: {len(new_of)} bucket row(s) name a document "
                             f"missing from the docs table, e.g. {next(iter(new_of))!r}; the index is damaged")


class PriorCandidates(beam.PTransform):
    """Candidate pairs as (prior docs shard, [(prior doc_key, [(new node, exact)])]), found by
    bucket keys alone (see `read_prior_buckets`) -> (new node, (prior node, prior representative, signature, exact))
    once per pair. Signatures are read for the pairs found, once per pair; with
    `new_signatures` (this run's (node, (signature, key)), small enough to be a side input:
    a local run's shard) pairs are verified where the prior signature is read and only
    agreeing ones go on, without signatures (AttachPriorSignatures). A new document that
    matches a prior near-dropped copy is linked to that copy's representative directly
    (`prior_pair_edges`), so prior copies never enter the graph."""

    def __init__(self, index_dirs: list[str], cfg: DedupConfig, new_signatures=None):
        super().__init__()
        self.index_dirs = list(index_dirs)
        self.cfg = cfg
        self.new_signatures = new_signatures

    def expand(self, prior_pairs):
        n = self.cfg.index_shards
        side = {} if self.new_signatures is None else {"new_signatures": beam.pvalue.AsDict(self.new_signatures)}
        return (
            prior_pairs
            | "GroupPairs" >> beam.GroupByKey()
            | "AttachSignatures" >> beam.ParDo(
                AttachPriorSignatures(self.index_dirs, n, self.cfg.verify, self.cfg), **side)
        )


def repoint_index(index_dir: str, final_of: dict[str, tuple[str, str]]) -> int:
    """Rewrite the rows of an index whose cluster a sharded run merged after they were written
    (pipelines/bridges.py): `final_of` maps the key of each representative that is one no
    longer to (key, id) of its cluster's final one. That document, and every member indexed
    under it, gets the final root, in the docs table and in the bucket rows; files without
    such a row are left alone. Each file is replaced whole (temporary name, then rename).
    Returns the rows changed."""
    keys = pa.array(sorted(final_of), pa.string())
    final_keys = pa.array([final_of[k][0] for k in keys.to_pylist()], pa.string())
    final_ids = pa.array([final_of[k][1] for k in keys.to_pylist()], pa.string())
    changed = 0
    for path in FileSystems.match([FileSystems.join(index_dir, "*.parquet")])[0].metadata_list:
        kind = path.path.rsplit("/", 1)[-1].partition("-")[0]
        if kind not in _SCHEMAS:
            continue
        with FileSystems.open(path.path) as f:
            table = pq.read_table(f)
        if "root_key" not in table.column_names:  # written before roots were recorded: none of ours
            continue
        # The document itself when it is a bridged representative, else the root it names.
        named = pc.if_else(pc.is_in(table["doc_key"], value_set=keys), table["doc_key"], table["root_key"])
        where = pc.index_in(named, value_set=keys)
        n = len(where) - where.null_count
        if not n:
            continue
        changed += n
        table = table.set_column(table.schema.get_field_index("root_key"), "root_key",
                                 pc.coalesce(pc.take(final_keys, where), table["root_key"]))
        if kind == DOCS:
            table = table.set_column(table.schema.get_field_index("root_id"), "root_id",
                                     pc.coalesce(pc.take(final_ids, where), table["root_id"]))
        storage.replace_file(path.path, lambda f, table=table: pq.write_table(table, f, row_group_size=_ROW_GROUP))
    return changed
