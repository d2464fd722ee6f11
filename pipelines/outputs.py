"""A run's output files (OUT/data/, OUT/dropped/, OUT/dead_letter/) written with Beam's file
sinks, in fewer stages than Beam's write transforms.

Beam's WriteToText and WriteToParquetBatched each bring a graph of their own: a stage that
makes a temporary directory, the per-bundle writes, a GroupByKey of the written files, a
pre-finalize and a finalize stage, a dozen transforms in all. For a local run of seconds,
three outputs' worth of those stages (graph construction, one bundle per stage) are a
noticeable share (`benchmarks/bench_pipeline.py` measures the run; README, "Whole pipeline
vs datatrove"). Here each output keeps Beam's sink
machinery (`FileBasedSink`: a temporary file per bundle, the shard names, and
`finalize_write`, the batch rename that a retried finalize can run again), but
  * the temporary directory is named when the graph is built (a local file system makes it
    with the first file; object stores have no directories) instead of by a stage;
  * each bundle's file is written in the stage that makes its records (`BundleFiles`), and
    the (output, temporary file) pairs of every output go to the run's one last step,
    `finalize`, beside the stats.
The runner passes on only the outputs of bundles that completed, so files of a failed and
retried bundle are never renamed: Beam's WriteImpl relies on the same. `--num_shards` uses
Beam's own write transforms instead (a fixed shard count reshuffles the records).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash
from apache_beam.io.filebasedsink import FileBasedSink
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from . import storage
from .document import KEPT_SCHEMA, kept_batch


class JsonLinesSink(FileBasedSink):
    """Chunks of JSON lines (bytes) -> a file, gzip-compressed for a `.gz` suffix."""

    def __init__(self, file_path_prefix: str, file_name_suffix: str):
        super().__init__(file_path_prefix, coder=None, file_name_suffix=file_name_suffix,
                         mime_type="text/plain", compression_type=CompressionTypes.AUTO)

    def write_record(self, file_handle, chunk: bytes):
        file_handle.write(chunk)


class _ParquetFile:
    def __init__(self, handle, schema):
        self.handle = handle
        self.writer = pq.ParquetWriter(handle, schema, compression="none", use_compliant_nested_type=True)


class ParquetTablesSink(FileBasedSink):
    """pyarrow Tables -> a Parquet file, a row group per table; uncompressed, as Beam's
    WriteToParquetBatched writes by default."""

    def __init__(self, file_path_prefix: str, schema: pa.Schema, file_name_suffix: str = ".parquet"):
        super().__init__(file_path_prefix, coder=None, file_name_suffix=file_name_suffix,
                         mime_type="application/x-parquet", compression_type=CompressionTypes.UNCOMPRESSED)
        self.schema = schema

    def open(self, temp_path):
        return _ParquetFile(super().open(temp_path), self.schema)

    def write_record(self, file_handle: _ParquetFile, table: pa.Table):
        file_handle.writer.write_table(table)

    def close(self, file_handle: _ParquetFile):
        file_handle.writer.close()
        file_handle.handle.close()


@dataclass
class Output:
    """One output folder: its sink and the temporary directory of this run's files."""
    name: str
    sink: FileBasedSink
    temp_dir: str

    @classmethod
    def make(cls, name: str, sink: FileBasedSink) -> "Output":
        base, last = FileSystems.split(sink.file_path_prefix.get())
        # Beam's own naming for a sink's temporary directory (FileBasedSink._create_temp_dir).
        return cls(name, sink, FileSystems.join(base, f"beam-temp-{last}-{uuid.uuid1().hex}"))


class BundleFiles(beam.DoFn):
    """Records -> one temporary file of `output` per bundle; at the bundle's end,
    (output name, temporary file path). Records reach the file in chunks of `chunk`."""

    def __init__(self, output: Output, chunk: int = 1000):
        self.output = output
        self.chunk = chunk

    def start_bundle(self):
        self.writer = None
        self.pending = []
        self.first = None

    def process(self, record):
        if self.first is None:
            self.first = _sort_name(record)
        self.pending.append(record)
        if len(self.pending) >= self.chunk:
            self.flush()

    def finish_bundle(self):
        self.drain()
        if self.writer is not None:
            path, self.writer = self.writer.close(), None
            # Batch pipelines only (a local or Dataflow batch job): the global window.
            yield beam.transforms.window.GlobalWindows.windowed_value_at_end_of_window((self.output.name, path))

    def flush(self):
        """The pending records, to the file."""
        self.write(self.encode(self.pending))
        self.pending = []

    def drain(self):
        """Everything held, to the file (the bundle ends)."""
        if self.pending:
            self.flush()

    def write(self, chunk):
        if self.writer is None:
            # finalize numbers the files in the order of their names: named by the bundle's
            # first record, the same input gives the same part files on every run (a uuid
            # alone, as Beam names them, shuffles which bundle becomes part-00000). The uuid
            # keeps a retried bundle's file apart from the failed attempt's.
            self.writer = self.output.sink.open_writer(self.output.temp_dir, f"{self.first}-{uuid.uuid4().hex[:12]}")
        self.writer.write(chunk)

    def encode(self, records: list):
        raise NotImplementedError


def _sort_name(record) -> str:
    """A file-name-safe name that orders a bundle's file by its first record: a document's
    key (input file, offset) where it has one, else a hash of the record."""
    if isinstance(record, dict) and isinstance(record.get("key"), str):
        return record["key"].replace(":", "-").replace("/", "-")
    return xxhash.xxh3_64_hexdigest(repr(record).encode("utf-8", "surrogatepass"))


class JsonLinesFiles(BundleFiles):
    """Records -> JSON lines, `to_line(record)` each (passed in: this module imports no
    transforms)."""

    def __init__(self, output: Output, to_line, chunk: int = 1000):
        super().__init__(output, chunk)
        self.to_line = to_line

    def encode(self, records: list) -> bytes:
        return "".join([self.to_line(r) + "\n" for r in records]).encode("utf-8")


class KeptParquetFiles(BundleFiles):
    """Kept documents -> Parquet rows (`document.kept_batch`): a record batch per `chunk`
    documents, a row group per `table_bytes` of batches or per bundle."""

    def __init__(self, output: Output, chunk: int = 1000, table_bytes: int = 64 << 20):
        super().__init__(output, chunk)
        self.table_bytes = table_bytes

    def start_bundle(self):
        super().start_bundle()
        self.batches, self.size = [], 0

    def flush(self):
        batch = kept_batch(self.pending)
        self.pending = []
        self.batches.append(batch)
        self.size += batch.nbytes
        if self.size >= self.table_bytes:
            self._write_table()

    def drain(self):
        super().drain()
        if self.batches:
            self._write_table()

    def _write_table(self):
        self.write(pa.Table.from_batches(self.batches, schema=KEPT_SCHEMA))
        self.batches, self.size = [], 0


class RunEndFn(beam.CombineFn):
    """BundleStats accumulators (RunStats) and BundleFiles' (output, temporary file) pairs ->
    (the merged stats accumulator, every pair): the stats are merged as they come, so what
    reaches the last step stays small however many bundles the run had."""

    def __init__(self, stats_fn: beam.CombineFn):
        self.stats_fn = stats_fn

    def create_accumulator(self):
        return self.stats_fn.create_accumulator(), []

    def add_input(self, acc, item):
        stats, files = acc
        if not isinstance(item, (tuple, list)):  # a pair (a list once it crossed a coder), else stats
            return self.stats_fn.merge_accumulators([stats, item]), files
        files.append(tuple(item))
        return stats, files

    def merge_accumulators(self, accs):
        accs = list(accs)
        return (self.stats_fn.merge_accumulators([a[0] for a in accs]),
                [pair for a in accs for pair in a[1]])

    def extract_output(self, acc):
        return acc


def finalize(outputs: list[Output], files: list[tuple[str, str]]) -> list[str]:
    """Rename each output's temporary files to part-SSSSS-of-NNNNN names and remove its
    temporary directory (`FileBasedSink.finalize_write`); an output no bundle wrote gets one
    empty file, as Beam's writes give it. Run again after a failure part-way, it renames what
    is left. Beam's pre-finalize step, which deletes older files of the same shard count, is
    left out: a run starts with its output folders empty (the launcher refuses or clears
    them), and here it would run again on a retry and delete this run's renamed files."""
    final = []
    for out in outputs:
        results = sorted(path for name, path in files if name == out.name)
        if not results:
            results = [out.sink.open_writer(out.temp_dir, uuid.uuid4().hex).close()]
        final.extend(out.sink.finalize_write(out.temp_dir, results, None))
        # finalize_write deletes the temporary directory by its name, which on an object
        # store matches no object: a failed bundle's file would stay under the output.
        storage.delete_folder(out.temp_dir)
    return final
