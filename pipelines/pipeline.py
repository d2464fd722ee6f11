"""The corpus pipeline graph: read -> process -> (dedup) -> write, plus stats.json.

    patterns ─ReadInputs─┬─ docs ─ProcessDocuments─┬─ kept ─[Deduplicate]─┬─ kept ──▶ OUT/data/
    (matched, split and  │                         └─ dropped ─────────────┴─ dropped ▶ OUT/dropped/
     read in the job)    ├─ malformed ────────────────────────────────────────────────▶ OUT/dead_letter/
                         ├─ records read per file (independent count)
                         └─ ids per range, in hash buckets ─GroupByKey─▶ repeated ids
    every outcome + read counts + repeated ids ─▶ CombineGlobally ─▶ OUT/stats.json

Stages are few on purpose: reading, processing, writing and the stats pre-combine are one fused
stage (documents are never reshuffled: the read ranges spread the work), and repeated ids are
found from a few id-count dictionaries per range rather than one shuffled element per document.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import apache_beam as beam

from . import stats as stats_lib
from .config import PipelineConfig
from .document import KEPT_SCHEMA, to_kept_row
from .io import ReadSpec
from .transforms import (ALL_ID_COUNTS, DROPPED, IDS, MALFORMED, READ_COUNTS, CountIds, KeptTables, ProcessDocuments,
                         ReadInputs, to_json_line)


@dataclass
class RunSpec:
    inputs: list[str]                 # input files or glob patterns, matched inside the job
    output: str                       # OUT directory (local or gs://)
    config: PipelineConfig
    read: ReadSpec = field(default_factory=ReadSpec)
    output_format: str = "parquet"    # parquet | jsonl
    write_dropped: bool = True
    dedup: tuple[str, ...] = ()       # subset of ("exact", "minhash")
    prior_indexes: tuple[str, ...] = ()
    num_shards: int = 0               # 0: let the runner choose
    progress_dir: str | None = None
    # One shard of a sharded local run (pipelines/shards.py): the FileRanges to read instead
    # of the patterns, the name of this run's part of the dedup index, whether to write
    # the per-id record counts (OUT/ids/) so repeated ids can be counted across shards, and
    # whether to write what settling bridges at the end needs (pipelines/bridges.py): the
    # bridges (OUT/bridges/) and each kept document's fields that its kept row lacks
    # (OUT/kept_extras/: key, raw bytes, PII redactions).
    ranges: list | None = None
    index_part: str = ""
    write_id_counts: bool = False
    write_bridges: bool = False
    # Repeated ids are counted in this many hash buckets of ids (each bucket's ids are held
    # together in one worker's memory): many for a remote corpus, a few for a local run.
    id_buckets: int = 1024


def join(base: str, *parts: str) -> str:
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.join(base, *parts)


def build(p: beam.Pipeline, spec: RunSpec):
    read = p | "Read" >> ReadInputs(spec.inputs, spec.read, spec.ranges, spec.id_buckets)
    processed = read.docs | "Process" >> beam.ParDo(ProcessDocuments(spec.config, spec.progress_dir)).with_outputs(
        DROPPED, main="kept")
    kept, dropped = processed.kept, processed[DROPPED]
    if spec.dedup:
        from .dedup import DedupConfig, Deduplicate

        dedup_cfg = DedupConfig.from_dict({**(spec.config.raw.get("dedup") or {}), "methods": tuple(spec.dedup)})
        deduped = kept | "Dedup" >> Deduplicate(
            dedup_cfg, index_output=join(spec.output, "dedup_index"), prior_indexes=list(spec.prior_indexes),
            index_part=spec.index_part,
            # Ranges are planned for local runs only, at most read.shard_mb each: their
            # signatures and decisions fit in memory. A remote job's input has no such bound.
            in_memory=spec.ranges is not None)
        kept = deduped.kept
        dropped = (dropped, deduped.dropped) | "AllDropped" >> beam.Flatten()
        if spec.write_bridges:
            (deduped.bridges | "BridgeJson" >> beam.Map(to_json_line)
                             | "WriteBridges" >> beam.io.WriteToText(join(spec.output, "bridges", "part"),
                                                                     file_name_suffix=".jsonl"))
            (kept | "KeptExtras" >> beam.Map(lambda d: to_json_line([d["key"], d.get("raw_bytes", 0), d.get("pii")]))
                  | "WriteKeptExtras" >> beam.io.WriteToText(join(spec.output, "kept_extras", "part"),
                                                             file_name_suffix=".jsonl"))

    shards = {"num_shards": spec.num_shards} if spec.num_shards else {}
    if spec.output_format == "parquet":
        (kept | "KeptTables" >> beam.ParDo(KeptTables())
              | "WriteKept" >> beam.io.WriteToParquetBatched(join(spec.output, "data", "part"), KEPT_SCHEMA,
                                                             file_name_suffix=".parquet", **shards))
    else:
        (kept | "KeptRows" >> beam.Map(to_kept_row) | "KeptJson" >> beam.Map(to_json_line)
              | "WriteKept" >> beam.io.WriteToText(join(spec.output, "data", "part"), file_name_suffix=".jsonl.gz", **shards))
    if spec.write_dropped:
        (dropped | "DroppedJson" >> beam.Map(to_json_line)
                 | "WriteDropped" >> beam.io.WriteToText(join(spec.output, "dropped", "part"), file_name_suffix=".jsonl.gz", **shards))
    (read[MALFORMED] | "DeadJson" >> beam.Map(to_json_line)
                     | "WriteDeadLetter" >> beam.io.WriteToText(join(spec.output, "dead_letter", "part"), file_name_suffix=".jsonl.gz"))

    reasons = spec.config.drop_reasons()
    stats_path = join(spec.output, "stats.json")
    repeated = (read[IDS] | "GroupIdBuckets" >> beam.GroupByKey()
                          | "CountIds" >> beam.ParDo(CountIds(spec.write_id_counts)).with_outputs(ALL_ID_COUNTS,
                                                                                                  main="repeated"))
    if spec.write_id_counts:
        (repeated[ALL_ID_COUNTS]
         | "IdCountJson" >> beam.Map(lambda kv: json.dumps(kv, ensure_ascii=False))
         | "WriteIdCounts" >> beam.io.WriteToText(join(spec.output, "ids", "part"), file_name_suffix=".jsonl"))
    events = (
        kept | "KeptEvents" >> beam.Map(stats_lib.kept_event),
        dropped | "DroppedEvents" >> beam.Map(stats_lib.dropped_event),
        read[MALFORMED] | "MalformedEvents" >> beam.Map(stats_lib.malformed_event),
        read[READ_COUNTS] | "ReadCountEvents" >> beam.Map(stats_lib.read_count_event),
        repeated.repeated | "RepeatedIdEvents" >> beam.Map(stats_lib.duplicate_id_event),
    )
    (events | "AllEvents" >> beam.Flatten()
            | "CountEvents" >> beam.CombineGlobally(stats_lib.StatsCombineFn())
            | "Summarize" >> beam.Map(stats_lib.summarize, reasons)
            | "WriteStats" >> beam.Map(stats_lib.write_json, stats_path))
    return kept, dropped, read[MALFORMED]
