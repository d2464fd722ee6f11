"""Thin Beam wrappers around the pure core (io.iter_records, process.DocumentProcessor).

Counting lives here, not in the steps: each DoFn increments Beam metrics by outcome.
"""
from __future__ import annotations

import json
import time
from collections import Counter

import apache_beam as beam
import orjson
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindows

from .config import PipelineConfig
from .io import ReadSpec, match_pattern, plan_ranges, read_range
from .runtime import ProgressFile

MALFORMED = "malformed"
DROPPED = "dropped"
NAMESPACE = "roots"
FIRST_DOCUMENT_MS, DOCUMENTS_DONE_MS = "first_document_unix_ms", "documents_done_unix_ms"


READ_COUNTS = "read_counts"
IDS = "ids"
ALL_ID_COUNTS = "all_id_counts"


class MatchInputs(beam.DoFn):
    """Input pattern -> (path, size) of each file it matches, listed by the job itself (on
    Dataflow, by a worker: nothing is listed on the launching machine or embedded in the
    graph). A pattern that matches nothing fails the job with the pattern named."""

    def process(self, pattern):
        yield from match_pattern(pattern)


class SplitFiles(beam.DoFn):
    """(path, size) -> the FileRanges it is read in, so one large file spreads over workers."""

    def __init__(self, spec: ReadSpec):
        self.spec = spec

    def process(self, item):
        path, size = item
        yield from plan_ranges(path, size, self.spec)


class ReadRanges(beam.DoFn):
    """FileRange -> documents (main output), dead-letter records (MALFORMED), and
    (input file, records read) (READ_COUNTS): the independent read count that the
    conservation check compares with kept + dropped + malformed, file by file.

    With `id_buckets`, also the ids the range read, counted and cut into that many buckets
    by a stable hash of the id (IDS: (bucket, {id: records})): repeated ids are found by
    grouping a few such elements per range, not one element per document."""

    def __init__(self, spec: ReadSpec, id_buckets: int = 0):
        self.spec = spec
        self.id_buckets = id_buckets

    def setup(self):
        self.read = Metrics.counter(NAMESPACE, "read")
        self.malformed = Metrics.counter(NAMESPACE, "malformed")

    def process(self, rng):
        n = 0
        ids = [] if self.id_buckets else None
        for kind, record in read_range(rng, self.spec):
            n += 1
            if kind == "doc":
                if ids is not None:
                    ids.append(record["id"])
                yield record
            else:
                self.malformed.inc()
                yield beam.pvalue.TaggedOutput(MALFORMED, record)
        self.read.inc(n)
        yield beam.pvalue.TaggedOutput(READ_COUNTS, (rng.path, n))
        if ids:
            for bucket, counts in id_buckets(ids, self.id_buckets).items():
                yield beam.pvalue.TaggedOutput(IDS, (bucket, counts))


def id_buckets(ids, n_buckets: int) -> dict[int, dict[str, int]]:
    """{bucket: {id: records}}: the same id lands in the same bucket in every process."""
    import xxhash

    hash_id = xxhash.xxh3_64_intdigest
    out: dict[int, dict[str, int]] = {}
    for doc_id, n in Counter(ids).items():
        out.setdefault(hash_id(doc_id.encode("utf-8", "surrogatepass")) % n_buckets, {})[doc_id] = n
    return out


class CountIds(beam.DoFn):
    """(bucket, [{id: records} per range]) -> (id, records) of every id read more than once
    (main output); with `all_counts`, every id's count too (ALL_ID_COUNTS)."""

    def __init__(self, all_counts: bool = False):
        self.all_counts = all_counts

    def process(self, item):
        _, parts = item
        counts: Counter = Counter()
        for part in parts:
            counts.update(part)
        for doc_id, n in counts.items():
            if n > 1:
                yield doc_id, n
            if self.all_counts:
                yield beam.pvalue.TaggedOutput(ALL_ID_COUNTS, (doc_id, n))


class ReadInputs(beam.PTransform):
    """Input patterns -> DoOutputsTuple(docs, MALFORMED, READ_COUNTS, IDS). With `ranges` (a
    local run, planned by the launcher, which lists the inputs anyway), exactly those ranges
    are read: no matching, grouping or splitting stages in the job.

    The documents are not reshuffled: reading and processing are one fused stage, and the
    ranges are what spreads the work (a local run plans several per worker; on a remote
    runner a range is `read.split_mb`)."""

    def __init__(self, patterns: list[str], spec: ReadSpec, ranges=None, id_buckets: int = 0):
        super().__init__()
        self.patterns = list(patterns)
        self.spec = spec
        self.ranges = None if ranges is None else list(ranges)
        self.id_buckets = id_buckets

    def expand(self, pbegin):
        read = ReadRanges(self.spec, self.id_buckets)
        if self.ranges is not None:
            # reshuffle=False: SpreadRanges is the one fusion break the ranges need.
            ranges = pbegin | "Ranges" >> beam.Create(self.ranges, reshuffle=False)
        else:
            ranges = (
                pbegin
                | "Patterns" >> beam.Create(self.patterns)
                | "MatchFiles" >> beam.ParDo(MatchInputs())
                # Overlapping patterns name a file twice: read it once.
                | "OneEntryPerFile" >> beam.CombinePerKey(max)
                | "SplitFiles" >> beam.ParDo(SplitFiles(self.spec))
            )
        return (
            ranges
            | "SpreadRanges" >> beam.Reshuffle()
            | "ReadRanges" >> beam.ParDo(read).with_outputs(MALFORMED, READ_COUNTS, IDS, main="docs")
        )


class ProcessDocuments(beam.DoFn):
    """Document -> kept (main output) or dropped with `reason` (DROPPED).

    The documents are processed in batches (`process.Batches`, processed a step at a time by
    `DocumentProcessor.process_batch`, which keeps each step's tables in the CPU cache); what
    a bundle holds at its end is processed there. Outputs keep the order of the inputs. The
    pipeline reads bounded files into the global window and never windows them, so what is
    output at the end of a bundle goes to the global window (as Beam's BatchElements does)."""

    def __init__(self, config: PipelineConfig, progress_dir: str | None = None, pages: bool = False):
        self.config = config
        self.progress_dir = progress_dir
        # pages: the web chain (`process.PageProcessor`: records -> main text), whose
        # documents go on to a second ProcessDocuments; only the latter reports progress.
        self.pages = pages

    def setup(self):
        # Imported here, not at the top: the launcher builds the graph with this module but
        # processes nothing, and the processing modules cost ~70 ms to import (ftfy, the
        # signal tables), on the path to the first document of a multi-worker run, where
        # the worker pool imports them at the same time.
        from .process import DocumentProcessor, PageProcessor

        self.processor = (PageProcessor if self.pages else DocumentProcessor)(self.config)
        self.processor.setup()  # fastText model and jieba dictionary: once per worker
        self.progress = ProgressFile(None if self.pages else self.progress_dir)

    def teardown(self):
        processor = getattr(self, "processor", None)
        if processor is not None:
            processor.teardown()  # the extractor's child process

    def start_bundle(self):
        self.outcomes: dict[str | None, int] = {}  # drop reason (None: kept) -> documents
        self.first_ms = None
        from .process import Batches  # loaded by setup: a lookup

        # Per bundle: a bundle that failed half-way leaves nothing for the next one.
        self.batches = Batches()

    def process(self, doc):
        if self.first_ms is None:
            self.first_ms = _unix_ms()
        batch = self.batches.add(doc)
        if batch:
            yield from self._outputs(batch)

    def finish_bundle(self):
        yield from map(_in_global_window, self._outputs(self.batches.drain()))
        # The counters once a bundle, not once a document (stats.json counts from the events).
        for reason, n in self.outcomes.items():
            if reason is not None or not self.pages:  # a page's text goes on: kept is counted once, at the end
                Metrics.counter(NAMESPACE, "kept" if reason is None else f"dropped_{reason}").inc(n)
        if self.first_ms is not None:
            # When the bundle's first document came and when its last was done: the launcher
            # takes the earliest start and the latest end of all bundles, and so splits the
            # run's wall time into start-up, processing and wind-down (stats.json "run").
            Metrics.distribution(NAMESPACE, FIRST_DOCUMENT_MS).update(self.first_ms)
            Metrics.distribution(NAMESPACE, DOCUMENTS_DONE_MS).update(_unix_ms())
        self.progress.flush()

    def _outputs(self, docs: list[dict]):
        if not docs:
            return
        reasons = self.processor.process_batch(docs)
        self.progress.add(len(docs))
        for doc, reason in zip(docs, reasons):
            self.outcomes[reason] = self.outcomes.get(reason, 0) + 1
            doc.pop("html", None)  # a web record's body: never written (the text is what goes on)
            if reason is None:
                yield doc
            else:
                doc["reason"] = reason
                yield beam.pvalue.TaggedOutput(DROPPED, doc)


def _in_global_window(out):
    if isinstance(out, beam.pvalue.TaggedOutput):
        return beam.pvalue.TaggedOutput(out.tag, GlobalWindows.windowed_value(out.value))
    return GlobalWindows.windowed_value(out)


def _unix_ms() -> int:
    return int(time.time() * 1000)


def to_json_line(record) -> str:
    """One JSON line that encodes to UTF-8: orjson (its C encoder), or json where orjson
    refuses the record (a lone surrogate in a text read from a `\\ud800` escape, an int beyond
    64 bits, a non-string key). orjson writes a non-finite float as null where json would
    write NaN, which is not JSON. A lone surrogate has no UTF-8 form: such a record is
    written with escapes (`\\ud800`, and every other non-ASCII character), as JSON allows,
    and reads back the same."""
    try:
        return orjson.dumps(record).decode("utf-8")
    except (TypeError, orjson.JSONEncodeError):
        line = json.dumps(record, ensure_ascii=False)
        try:
            line.encode("utf-8")
        except UnicodeEncodeError:
            line = json.dumps(record)
        return line
