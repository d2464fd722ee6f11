"""Thin Beam wrappers around the pure core (io.iter_records, process.DocumentProcessor).

Counting lives here, not in the steps: each DoFn increments Beam metrics by outcome.
"""
from __future__ import annotations

import json
import os
import time
import uuid

import apache_beam as beam
from apache_beam.metrics import Metrics

from .config import PipelineConfig
from .io import ReadSpec, iter_records
from .process import DocumentProcessor

MALFORMED = "malformed"
DROPPED = "dropped"
NAMESPACE = "roots"


class ReadRecords(beam.DoFn):
    """File path -> documents (main output) and dead-letter records (MALFORMED)."""

    def __init__(self, spec: ReadSpec):
        self.spec = spec

    def setup(self):
        self.read = Metrics.counter(NAMESPACE, "read")
        self.malformed = Metrics.counter(NAMESPACE, "malformed")

    def process(self, path):
        for kind, record in iter_records(path, self.spec):
            self.read.inc()
            if kind == "doc":
                yield record
            else:
                self.malformed.inc()
                yield beam.pvalue.TaggedOutput(MALFORMED, record)


class _ProgressFile:
    """Local runs: each worker rewrites a tiny file with its processed count; the launcher
    sums them for the progress bar (workers are separate processes)."""

    def __init__(self, directory: str | None):
        self.path = os.path.join(directory, uuid.uuid4().hex) if directory else None
        self.count = 0
        self._last = 0.0

    def add(self, n: int = 1):
        self.count += n
        if self.path and time.monotonic() - self._last > 0.5:
            self.flush()

    def flush(self):
        if not self.path:
            return
        self._last = time.monotonic()
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(self.count))
        os.replace(tmp, self.path)


class ProcessDocuments(beam.DoFn):
    """Document -> kept (main output) or dropped with `reason` (DROPPED)."""

    def __init__(self, config: PipelineConfig, progress_dir: str | None = None):
        self.config = config
        self.progress_dir = progress_dir

    def setup(self):
        self.processor = DocumentProcessor(self.config)
        self.processor.setup()  # fastText model and jieba dictionary: once per worker
        self.kept = Metrics.counter(NAMESPACE, "kept")
        self.dropped = {}
        self.progress = _ProgressFile(self.progress_dir)

    def process(self, doc):
        reason = self.processor(doc)
        self.progress.add()
        if reason is None:
            self.kept.inc()
            yield doc
        else:
            counter = self.dropped.get(reason)
            if counter is None:
                counter = self.dropped[reason] = Metrics.counter(NAMESPACE, f"dropped_{reason}")
            counter.inc()
            doc["reason"] = reason
            yield beam.pvalue.TaggedOutput(DROPPED, doc)

    def finish_bundle(self):
        self.progress.flush()


def to_json_line(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False)
