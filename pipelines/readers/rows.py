"""What the row formats share (JSONL, Parquet, text): a record's fields to a document, and the
lines of a (decompressed) byte stream. Registers no format."""
from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
from typing import Callable, Iterator

from ..document import new_document, stable_id
from ..records import FileRange, _RawFile, byte_ranges, dead_letter, record_key
from . import compression


def document(record: dict, path: str, offset: int, spec) -> tuple[str, dict]:
    """The document of one input record (its text in spec.text_field, its id in spec.id_field),
    or a dead letter when the text field is missing or not a string."""
    if spec.text_field not in record:
        return "malformed", dead_letter(path, offset, f"missing text field {spec.text_field!r}",
                                        json.dumps(record, ensure_ascii=False, default=str))
    text = record[spec.text_field]
    if text is None:
        text = ""
    if not isinstance(text, str):
        return "malformed", dead_letter(path, offset, f"text field {spec.text_field!r} is {type(text).__name__}, not a string",
                                        json.dumps(record, ensure_ascii=False, default=str))
    rid = record.get(spec.id_field)
    doc_id = str(rid) if isinstance(rid, (str, int)) and not isinstance(rid, bool) and str(rid) else stable_id(path, offset, text)
    url = record.get("url")
    source = record.get("source")
    doc = new_document(id=doc_id, key=record_key(path, offset), text=text, source=None if source is None else str(source),
                       url=None if url is None else str(url), input_file=path)
    doc["raw_bytes"] = len(text.encode("utf-8", "surrogatepass"))
    return "doc", doc


def line_ranges(path: str, size: int, step: int) -> list[FileRange]:
    """Byte ranges of a file with a record per line; a compressed one is read whole (a
    compressed stream cannot be entered in the middle)."""
    return [FileRange(path, 0, -1)] if compression(path) else byte_ranges(path, size, step)


def decompressed(raw: _RawFile, path: str):
    buffered = io.BufferedReader(raw, 1 << 20)
    kind = compression(path)
    if kind is None:
        return buffered
    if kind == ".gz":
        return gzip.GzipFile(fileobj=buffered, mode="rb")
    if kind == ".bz2":
        return bz2.BZ2File(buffered, mode="rb")
    if kind == ".xz":
        return lzma.LZMAFile(buffered, mode="rb")
    from apache_beam.io.filesystem import CompressedFile, CompressionTypes

    return CompressedFile(buffered, CompressionTypes.detect_compression_type(path))


def lines(f, start: int, end: int) -> Iterator[tuple[int, bytes]]:
    """(offset, line) for each line starting in [start, end) (end -1: no limit). A range that
    starts mid-line leaves that line to the range before it."""
    pos = start
    if start > 0:
        f.seek(start - 1)
        pos = start - 1 + len(f.readline())
    while end < 0 or pos < end:
        line = f.readline()
        if not line:
            return
        yield pos, line
        pos += len(line)


Decode = Callable[[str, int, bytes, object], "tuple[str, dict] | None"]


def read_units(units: Iterator[tuple[int, bytes]], path: str, spec, state: dict, decode: Decode):
    """decode(path, offset, unit, spec) of every (offset, unit); None (a blank line) gives nothing.
    The position and count reach `state` when reading stops (kept in locals: this is the per-record
    loop)."""
    at, emitted = state["offset"], state["emitted"]
    try:
        for offset, unit in units:
            at = offset + len(unit)
            item = decode(path, offset, unit, spec)
            if item is not None:
                emitted += 1
                yield item
    finally:
        state["offset"], state["emitted"] = at, emitted
