"""Parquet (.parquet, .pq): a row per document, its text in the configured column. A file with
several row groups splits into ranges of whole row groups (FileRange.row_groups)."""
from __future__ import annotations

import io

from ..records import FileRange
from . import Reader, register, rows


@register
class Parquet(Reader):
    name = "parquet"
    suffixes = (".parquet", ".pq")

    def plan(self, path, size, step, spec):
        import pyarrow.parquet as pq
        from apache_beam.io.filesystem import CompressionTypes
        from apache_beam.io.filesystems import FileSystems

        try:
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
                meta = pq.ParquetFile(f).metadata
        except Exception:  # noqa: BLE001 - not Parquet: one range, whose reader dead-letters it
            return [FileRange(path, 0, -1, row_groups=True)]
        ranges, first, acc = [], 0, 0
        for i in range(meta.num_row_groups):
            acc += meta.row_group(i).total_byte_size
            if acc >= step:
                ranges.append(FileRange(path, first, i + 1, row_groups=True))
                first, acc = i + 1, 0
        if first < meta.num_row_groups or not ranges:
            ranges.append(FileRange(path, first, -1, row_groups=True))
        return ranges

    def read(self, raw, rng, spec, state):
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(io.BufferedReader(raw, 1 << 20))
        meta = pf.metadata
        groups = list(range(rng.start, meta.num_row_groups if rng.end < 0 else min(rng.end, meta.num_row_groups)))
        row = sum(meta.row_group(i).num_rows for i in range(rng.start))
        if not groups:
            return
        for batch in pf.iter_batches(batch_size=1024, row_groups=groups):
            for record in batch.to_pylist():
                state["offset"] = row + 1
                state["emitted"] += 1
                yield rows.document(record, rng.path, row, spec)
                row += 1
