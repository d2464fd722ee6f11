"""Reading raw records from JSONL(.gz), Parquet and plain text, local or gs://; web crawls
(WARC, WET, HTML files) are read by `pipelines.web.warc` behind the same two calls.

A file is read as one or more ranges (`plan_ranges`): byte ranges of an uncompressed JSONL or
line-per-document text file, row-group ranges of a Parquet file, the whole file otherwise
(a gzip stream cannot be entered in the middle). `read_range` yields ("doc", document) or
("malformed", dead-letter record) for every record whose start lies in the range:

- a bad record (invalid JSON, undecodable bytes, a missing or non-string text field) is one
  dead-letter record with its file and offset, and reading goes on;
- a corrupt stream (a truncated or damaged gzip, a file that is not Parquet) keeps every
  record before the damage and ends with one dead-letter record marked `corrupt`, which
  says how many records came before it;
- an I/O error of the underlying file (a transient GCS read error) is raised, so the runner
  retries the bundle instead of losing the rest of the file silently.

Every document gets `key`, unique per input record (the file and the record's offset),
which is what the pipeline groups and joins on; the input `id` is kept as data.
"""
from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import re
from dataclasses import dataclass
from typing import Iterator

import orjson
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from .document import new_document, stable_id
# FileRange, record keys and dead letters are shared with the web readers; imported from
# here by the rest of the package, as before they moved.
from .records import (CORRUPT, FileRange, _open, _RawFile, canonical, dead_letter, file_key,  # noqa: F401
                      key_offset, record_key)
from .web import WEB_FORMATS

FORMATS = ("jsonl", "parquet", "text", *WEB_FORMATS)
_COMPRESSED = (".gz", ".bz2", ".zst", ".deflate", ".xz")


@dataclass(frozen=True)
class ReadSpec:
    format: str = "auto"          # auto | jsonl | parquet | text
    text_field: str = "text"
    id_field: str = "id"
    text_unit: str = "file"       # text inputs: a document per file or per line
    split_bytes: int = 64 << 20   # ranges of this size spread one large file over workers
    max_body_bytes: int = 10 << 20  # web records: an HTTP body that inflates past this is dead-lettered


def detect_format(path: str) -> str:
    name = path.lower()
    for suffix in _COMPRESSED:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".txt", ".text")):
        return "text"
    if name.endswith(".wet"):
        return "wet"
    if name.endswith(".warc"):
        return "warc"
    if name.endswith(".arc"):
        # Neither WARC library reads every ARC fixture, and Common Crawl has written WARC since 2013.
        raise ValueError(f"{path}: ARC files are not read (convert them to WARC first)")
    if name.endswith((".html", ".htm")):
        return "html"
    if name.endswith(".wat"):
        raise ValueError(f"{path!r} is a WAT file (metadata about pages, not their text): read the .warc or .wet file")
    raise ValueError(f"cannot tell the format of {path!r} from its name; pass --input_format {'|'.join(FORMATS)}")


def _format(path: str, spec: ReadSpec) -> str:
    return detect_format(path) if spec.format == "auto" else spec.format


def _compression(path: str) -> str | None:
    name = path.lower()
    return next((s for s in _COMPRESSED if name.endswith(s)), None)


def _document(record: dict, path: str, offset: int, spec: ReadSpec) -> tuple[str, dict]:
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


def _decompressed(raw: _RawFile, path: str):
    buffered = io.BufferedReader(raw, 1 << 20)
    kind = _compression(path)
    if kind is None:
        return buffered
    if kind == ".gz":
        return gzip.GzipFile(fileobj=buffered, mode="rb")
    if kind == ".bz2":
        return bz2.BZ2File(buffered, mode="rb")
    if kind == ".xz":
        return lzma.LZMAFile(buffered, mode="rb")
    from apache_beam.io.filesystem import CompressedFile

    return CompressedFile(buffered, CompressionTypes.detect_compression_type(path))


def _lines(f, start: int, end: int) -> Iterator[tuple[int, bytes]]:
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


def _fast_record(line: bytes, spec: ReadSpec) -> dict | None:
    """The record of `line` parsed by orjson (~3x faster than json), when it is certainly
    the one json.loads gives and makes a document; None sends the line to json, which
    decides it exactly as before. orjson rejects what json accepts (lone surrogate escapes,
    NaN, Infinity, 1e400) and turns integers beyond 64 bits into floats (an id of
    123456789012345678901234567890 would lose digits): those lines, and every record that
    ends as a dead letter (whose message and raw text json's reading defines), go to json."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if type(record) is not dict or type(record.get(spec.text_field)) is not str:
        return None
    if float in (type(record.get(spec.id_field)), type(record.get("url")), type(record.get("source"))):
        return None  # a float here may have been a big integer in the file
    return record


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_lone_surrogates(value):
    """json reads a `\\ud800` escape with no partner as a lone surrogate, which no UTF-8
    output can hold and Beam's coders refuse (a run would stop at the first such record
    Beam samples): each becomes U+FFFD, as a decoder replaces an undecodable byte. Only
    json's path needs this: orjson rejects such lines, and the other readers decode UTF-8."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value) if _LONE_SURROGATE.search(value) else value
    if isinstance(value, dict):
        return {_without_lone_surrogates(k): _without_lone_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_lone_surrogates(v) for v in value]
    return value


def _decode_json_line(path: str, offset: int, line: bytes, spec: ReadSpec) -> tuple[str, dict] | None:
    if not line.strip():
        return None
    record = _fast_record(line, spec)
    if record is not None:
        return _document(record, path, offset, spec)
    try:
        decoded = line.decode("utf-8")
    except UnicodeDecodeError as e:
        return "malformed", dead_letter(path, offset, f"undecodable bytes (not UTF-8): {e}", line.rstrip(b"\n"))
    try:
        record = _without_lone_surrogates(json.loads(decoded))
    except json.JSONDecodeError as e:
        return "malformed", dead_letter(path, offset, f"invalid JSON: {e}", decoded.rstrip("\n"))
    if not isinstance(record, dict):
        return "malformed", dead_letter(path, offset, f"JSON value is {type(record).__name__}, not an object",
                                        decoded.rstrip("\n"))
    return _document(record, path, offset, spec)


def _decode_text_line(path: str, offset: int, raw: bytes, spec: ReadSpec) -> tuple[str, dict] | None:
    if spec.text_unit == "line" and not raw.strip():
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return "malformed", dead_letter(path, offset, f"undecodable bytes (not UTF-8): {e}", raw)
    return _document({spec.text_field: text.rstrip("\n") if spec.text_unit == "line" else text}, path, offset, spec)


def _read_lines(raw: _RawFile, rng: FileRange, spec: ReadSpec, fmt: str, state: dict):
    f = _decompressed(raw, rng.path)
    if fmt == "text" and spec.text_unit == "file":
        units = iter([(0, f.read())])
    else:
        units = _lines(f, rng.start, rng.end)
    decode = _decode_json_line if fmt == "jsonl" else _decode_text_line
    for offset, line in units:
        state["offset"] = offset + len(line)
        item = decode(rng.path, offset, line, spec)
        if item is not None:
            yield item


def _read_parquet(raw: _RawFile, rng: FileRange, spec: ReadSpec, fmt: str, state: dict):
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
            yield _document(record, rng.path, row, spec)
            row += 1


def read_range(rng: FileRange, spec: ReadSpec = ReadSpec()) -> Iterator[tuple[str, dict]]:
    """Every record starting in `rng`: documents and dead letters; raises on I/O failure."""
    fmt = _format(rng.path, spec)
    if fmt in WEB_FORMATS:
        from .web.warc import read_web_range

        yield from read_web_range(rng, fmt, spec.max_body_bytes)
        return
    raw = _open(rng.path)
    state = {"offset": rng.start if not rng.row_groups else 0}
    emitted = 0
    reader = _read_parquet if fmt == "parquet" else _read_lines
    try:
        for item in reader(raw, rng, spec, fmt, state):
            emitted += 1
            yield item
    except Exception as e:  # noqa: BLE001 - classified below
        if raw.failure is not None:
            raise  # the store failed, not the data: let the runner retry the bundle
        yield "malformed", dead_letter(
            rng.path, state["offset"],
            f"{CORRUPT} {fmt} file after {emitted} records in this range: {type(e).__name__}: {e}",
            records_before=emitted)
    finally:
        raw.close()


def plan_ranges(path: str, size: int, spec: ReadSpec = ReadSpec()) -> list[FileRange]:
    """The ranges one file is read in: several for a large uncompressed JSONL/line file or a
    Parquet file with several row groups, else one."""
    fmt = _format(path, spec)
    step = max(int(spec.split_bytes), 1)
    if fmt in WEB_FORMATS:
        from .web.warc import plan_web_ranges

        return plan_web_ranges(path, size, step, fmt)
    if size <= step:
        return [FileRange(path, 0, -1)]
    if fmt == "parquet":
        import pyarrow.parquet as pq

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
    if _compression(path) or (fmt == "text" and spec.text_unit == "file"):
        return [FileRange(path, 0, -1)]
    bounds = list(range(0, size, step))
    return [FileRange(path, s, s + step if s + step < size else -1) for s in bounds]


def iter_records(path: str, spec: ReadSpec = ReadSpec()) -> Iterator[tuple[str, dict]]:
    """Every record of one file, range by range (what the pipeline reads, in one process)."""
    size = FileSystems.match([path])[0].metadata_list[0].size_in_bytes
    for rng in plan_ranges(path, size, spec):
        yield from read_range(rng, spec)


def match_pattern(pattern: str) -> list[tuple[str, int]]:
    """(path, size) of every file matching `pattern`; a ValueError naming it when none does."""
    matches = FileSystems.match([pattern])[0].metadata_list
    found = sorted((m.path, m.size_in_bytes) for m in matches if not m.path.endswith("/"))
    if not found:
        raise ValueError(f"--input {pattern!r} matches no file")
    return found


def expand_inputs(patterns: list[str]) -> list[str]:
    """Every file matching the patterns; a ValueError naming the pattern that matched nothing."""
    return sorted({path for pattern in patterns for path, _ in match_pattern(pattern)})
