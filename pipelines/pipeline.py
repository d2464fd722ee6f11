"""The corpus pipeline graph: read -> process -> (dedup) -> write, plus stats.json.

    patterns ─ReadInputs─┬─ docs ─ProcessDocuments─┬─ kept ─[Deduplicate]─┬─ kept ──▶ OUT/data/ (a temporary
    (matched, split and  │                         └─ dropped ─────────────┴─ dropped ▶ OUT/dropped/  file per
     read in the job)    ├─ malformed ────────────────────────────────────────────────▶ OUT/dead_letter/ bundle)
                         ├─ records read per file (independent count)
                         └─ ids per range, in hash buckets ─GroupByKey─▶ repeated ids
    every outcome + read counts + repeated ids, folded per bundle  ┐
    each bundle's (output, temporary file)                         ┴─ Gather ─▶ Finish: files renamed, stats.json

Stages are few on purpose. Reading, processing, writing each bundle's files and folding the
stats are one fused stage (documents are never reshuffled: the read ranges spread the work);
repeated ids are found from a few id-count dictionaries per range rather than one shuffled
element per document; and one last step renames every output's files and writes stats.json
(`outputs.py`), where Beam's write transforms would add four stages per output. A local run
without dedup is five stages.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import apache_beam as beam

from . import stats as stats_lib
from .config import PipelineConfig
from .document import KEPT_SCHEMA, to_kept_row
from .io import ReadSpec
from .outputs import JsonLinesFiles, JsonLinesSink, KeptParquetFiles, Output, ParquetTablesSink, RunEndFn, finalize
from .transforms import (ALL_ID_COUNTS, DROPPED, IDS, MALFORMED, READ_COUNTS, CountIds, ProcessDocuments, ReadInputs,
                         to_json_line)


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
    # False where the launcher waits for the job and writes stats.json itself, once, with its
    # `run` section (pipelines/api.py): the job leaves its RunStats for it (`stats.hand_over`).
    write_stats: bool = True


def join(base: str, *parts: str) -> str:
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.join(base, *parts)


def kept_json_line(doc: dict) -> str:
    return to_json_line(to_kept_row(doc))


def kept_extra_line(doc: dict) -> str:
    return to_json_line([doc["key"], doc.get("raw_bytes", 0), doc.get("pii")])


def id_count_line(kv: tuple[str, int]) -> str:
    return json.dumps(kv, ensure_ascii=False)


@dataclass
class _Part:
    name: str                # the folder under OUT
    step: str                # the transform's name
    pcolls: tuple            # the records: one PCollection, or several written side by side
    suffix: str              # ".parquet" (kept rows), ".jsonl.gz" or ".jsonl"
    to_line: object = None   # record -> JSON line
    shardable: bool = False  # follows --num_shards


def _write_outputs(spec: RunSpec, parts: list[_Part]) -> tuple[list[Output], list]:
    """(the outputs, the PCollections of their (output, temporary file) pairs for
    `finish_run`). With a fixed shard count, the shardable parts use Beam's own write
    transforms, which finish by themselves."""
    outputs, written = [], []
    for part in parts:
        prefix = join(spec.output, part.name, "part")
        if spec.num_shards and part.shardable:
            pcoll = part.pcolls[0] if len(part.pcolls) == 1 else part.pcolls | f"All{part.step}" >> beam.Flatten()
            if part.suffix == ".parquet":
                pcoll | "KeptRows" >> beam.Map(to_kept_row) | part.step >> beam.io.WriteToParquet(
                    prefix, KEPT_SCHEMA, file_name_suffix=".parquet", num_shards=spec.num_shards)
            else:
                pcoll | f"{part.step}Json" >> beam.Map(part.to_line) | part.step >> beam.io.WriteToText(
                    prefix, file_name_suffix=part.suffix, num_shards=spec.num_shards)
            continue
        sink = (ParquetTablesSink(prefix, KEPT_SCHEMA) if part.suffix == ".parquet"
                else JsonLinesSink(prefix, part.suffix))
        out = Output.make(part.name, sink)
        outputs.append(out)
        # Several PCollections of one output each write their own files, renamed together at
        # the end: no Flatten, which Beam's local runner would materialize, documents and all.
        for i, pcoll in enumerate(part.pcolls):
            files = KeptParquetFiles(out) if part.suffix == ".parquet" else JsonLinesFiles(out, part.to_line)
            written.append(pcoll | (part.step if i == 0 else f"{part.step}{i + 1}") >> beam.ParDo(files))
    return outputs, written


def finish_run(gathered: tuple, outputs: list[Output], reasons: list[str], output: str, write_stats: bool) -> None:
    """(the run's RunStats, (output, temporary file) pairs) -> the outputs' final files, then
    stats.json, or the RunStats for the launcher that writes it (RunSpec.write_stats)."""
    stats, files = gathered
    finalize(outputs, files)
    if write_stats:
        stats_lib.write_json(stats.summary(reasons), join(output, "stats.json"))
    else:
        stats_lib.hand_over(stats, output)


def reads_web(spec: RunSpec) -> bool:
    """Whether the inputs may hold web records (WARC, WET, HTML): a forced web format, or a
    pattern whose name says web or says nothing (`crawl/*`: the job reads what it matches)."""
    from .io import detect_format
    from .io import WEB_FORMATS

    if spec.read.format != "auto":
        return spec.read.format in WEB_FORMATS
    names = [r.path for r in spec.ranges] if spec.ranges is not None else spec.inputs
    for name in names:
        try:
            if detect_format(name) in WEB_FORMATS:
                return True
        except ValueError:
            return True
    return False


def build(p: beam.Pipeline, spec: RunSpec):
    read = p | "Read" >> ReadInputs(spec.inputs, spec.read, spec.ranges, spec.id_buckets)
    docs, dropped = read.docs, ()
    if reads_web(spec):
        # Web records -> main text first; then a domain's template lines go, across its pages.
        pages = docs | "ExtractPages" >> beam.ParDo(ProcessDocuments(spec.config, pages=True)).with_outputs(
            DROPPED, main="kept")
        docs, dropped = pages.kept, (pages[DROPPED],)
        templates = spec.config.web.templates
        if templates.enabled:
            from .web.templates import RemoveSiteTemplates

            docs = docs | "SiteTemplates" >> RemoveSiteTemplates(templates)
    processed = docs | "Process" >> beam.ParDo(ProcessDocuments(spec.config, spec.progress_dir)).with_outputs(
        DROPPED, main="kept")
    kept, dropped = processed.kept, (*dropped, processed[DROPPED])
    parts: list[_Part] = []
    if spec.dedup:
        import dataclasses

        from .dedup import Deduplicate
        from .text.segment import Segmenter

        dedup_cfg = dataclasses.replace(spec.config.dedup, methods=tuple(spec.dedup))
        deduped = kept | "Dedup" >> Deduplicate(
            dedup_cfg, index_output=join(spec.output, "dedup_index"), prior_indexes=list(spec.prior_indexes),
            index_part=spec.index_part, segmenter=Segmenter(spec.config.segment.backend),
            # Ranges are planned for local runs only, at most read.shard_mb each: their
            # signatures and decisions fit in memory. A remote job's input has no such bound.
            in_memory=spec.ranges is not None)
        kept = deduped.kept
        dropped += (deduped.dropped,)
        if spec.write_bridges:
            parts += [_Part("bridges", "WriteBridges", (deduped.bridges,), ".jsonl", to_json_line),
                      _Part("kept_extras", "WriteKeptExtras", (kept,), ".jsonl", kept_extra_line)]
    parts += [_Part("data", "WriteKept", (kept,), ".parquet" if spec.output_format == "parquet" else ".jsonl.gz",
                    kept_json_line, shardable=True),
              _Part("dead_letter", "WriteDeadLetter", (read[MALFORMED],), ".jsonl.gz", to_json_line)]
    if spec.write_dropped:
        parts.append(_Part("dropped", "WriteDropped", dropped, ".jsonl.gz", to_json_line, shardable=True))

    reasons = spec.config.drop_reasons()
    repeated = (read[IDS] | "GroupIdBuckets" >> beam.GroupByKey()
                          | "CountIds" >> beam.ParDo(CountIds(spec.write_id_counts)).with_outputs(ALL_ID_COUNTS,
                                                                                                  main="repeated"))
    if spec.write_id_counts:
        parts.append(_Part("ids", "WriteIdCounts", (repeated[ALL_ID_COUNTS],), ".jsonl", id_count_line))
    outputs, written = _write_outputs(spec, parts)
    partials = (
        kept | "KeptStats" >> beam.ParDo(stats_lib.BundleStats(stats_lib.kept_event)),
        *(d | f"DroppedStats{i + 1 if i else ''}" >> beam.ParDo(stats_lib.BundleStats(stats_lib.dropped_event))
          for i, d in enumerate(dropped)),
        read[MALFORMED] | "MalformedStats" >> beam.ParDo(stats_lib.BundleStats(stats_lib.malformed_event)),
        read[READ_COUNTS] | "ReadCountStats" >> beam.ParDo(stats_lib.BundleStats(stats_lib.read_count_event)),
        repeated.repeated | "RepeatedIdStats" >> beam.ParDo(stats_lib.BundleStats(stats_lib.duplicate_id_event)),
    )
    # One last step for the whole run: the output files renamed into place, then stats.json,
    # which counts what they hold (with --num_shards, Beam's write transforms of data and
    # dropped finish on their own, in no order with this step). without_defaults: every range yields its read count, so
    # the gather always has an input and Beam's default-value stage is not needed.
    ((*partials, *written)
     | "RunEnd" >> beam.Flatten()
     | "Gather" >> beam.CombineGlobally(RunEndFn(stats_lib.StatsCombineFn())).without_defaults()
     | "Finish" >> beam.Map(finish_run, outputs, reasons, spec.output, spec.write_stats))
