"""Reading raw records from JSONL(.gz), Parquet and plain text, local or gs://.

`iter_records(path, ...)` yields ("doc", document) or ("malformed", dead-letter record) for
every record in one file, never raising on bad content: undecodable bytes, invalid JSON,
a missing or non-string text field, or a corrupt file become dead-letter records that say
what was wrong and keep the raw input.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterator

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from .document import new_document, stable_id

FORMATS = ("jsonl", "parquet", "text")


@dataclass(frozen=True)
class ReadSpec:
    format: str = "auto"          # auto | jsonl | parquet | text
    text_field: str = "text"
    id_field: str = "id"
    text_unit: str = "file"       # text inputs: a document per file or per line


def detect_format(path: str) -> str:
    name = path.lower()
    for suffix in (".gz", ".bz2", ".zst", ".deflate", ".xz"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".txt", ".text")):
        return "text"
    raise ValueError(f"cannot tell the format of {path!r} from its name; pass --input_format jsonl|parquet|text")


def dead_letter(path: str, index: int | None, error: str, raw: bytes | str | None = None) -> dict:
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="backslashreplace")  # lossless for inspection: bad bytes as \xNN
    return {"input_file": path, "index": index, "error": error, "raw": raw}


def _document(record: dict, path: str, index: int, spec: ReadSpec) -> tuple[str, dict]:
    if spec.text_field not in record:
        return "malformed", dead_letter(path, index, f"missing text field {spec.text_field!r}", json.dumps(record, ensure_ascii=False))
    text = record[spec.text_field]
    if text is None:
        text = ""
    if not isinstance(text, str):
        return "malformed", dead_letter(path, index, f"text field {spec.text_field!r} is {type(text).__name__}, not a string",
                                        json.dumps(record, ensure_ascii=False, default=str))
    rid = record.get(spec.id_field)
    doc_id = str(rid) if isinstance(rid, (str, int)) and str(rid) else stable_id(path, index, text)
    url = record.get("url")
    source = record.get("source")
    doc = new_document(id=doc_id, text=text, source=None if source is None else str(source),
                       url=None if url is None else str(url), input_file=path)
    doc["raw_bytes"] = len(text.encode("utf-8", "surrogatepass"))
    return "doc", doc


def _lines(f) -> Iterator[bytes]:
    # Beam's CompressedFile has readline() but is not iterable.
    while True:
        line = f.readline()
        if not line:
            return
        yield line


def _iter_jsonl(path: str, spec: ReadSpec) -> Iterator[tuple[str, dict]]:
    with FileSystems.open(path, compression_type=CompressionTypes.AUTO) as f:
        for index, line in enumerate(_lines(f)):
            if not line.strip():
                continue
            try:
                decoded = line.decode("utf-8")
            except UnicodeDecodeError as e:
                yield "malformed", dead_letter(path, index, f"undecodable bytes (not UTF-8): {e}", line.rstrip(b"\n"))
                continue
            try:
                record = json.loads(decoded)
            except json.JSONDecodeError as e:
                yield "malformed", dead_letter(path, index, f"invalid JSON: {e}", decoded.rstrip("\n"))
                continue
            if not isinstance(record, dict):
                yield "malformed", dead_letter(path, index, f"JSON value is {type(record).__name__}, not an object", decoded.rstrip("\n"))
                continue
            yield _document(record, path, index, spec)


def _iter_parquet(path: str, spec: ReadSpec) -> Iterator[tuple[str, dict]]:
    import pyarrow.parquet as pq

    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        index = 0
        for batch in pq.ParquetFile(f).iter_batches(batch_size=1024):
            for record in batch.to_pylist():
                yield _document(record, path, index, spec)
                index += 1


def _iter_text(path: str, spec: ReadSpec) -> Iterator[tuple[str, dict]]:
    with FileSystems.open(path, compression_type=CompressionTypes.AUTO) as f:
        if spec.text_unit == "line":
            units = enumerate(_lines(f))
        else:
            units = enumerate([f.read()])
        for index, raw in units:
            if spec.text_unit == "line" and not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                yield "malformed", dead_letter(path, index, f"undecodable bytes (not UTF-8): {e}", raw)
                continue
            yield _document({spec.text_field: text.rstrip("\n") if spec.text_unit == "line" else text}, path, index, spec)


_READERS = {"jsonl": _iter_jsonl, "parquet": _iter_parquet, "text": _iter_text}


def iter_records(path: str, spec: ReadSpec = ReadSpec()) -> Iterator[tuple[str, dict]]:
    fmt = detect_format(path) if spec.format == "auto" else spec.format
    emitted = 0
    try:
        for item in _READERS[fmt](path, spec):
            emitted += 1
            yield item
    except Exception as e:  # noqa: BLE001 - a corrupt file must not kill the run
        yield "malformed", dead_letter(path, None, f"unreadable {fmt} file after {emitted} records: {type(e).__name__}: {e}")


def expand_inputs(patterns: list[str]) -> list[str]:
    """Every file matching the patterns; a ValueError naming the pattern that matched nothing."""
    files: list[str] = []
    for pattern in patterns:
        matches = FileSystems.match([pattern])[0].metadata_list
        paths = sorted(m.path for m in matches if not m.path.endswith("/"))
        if not paths:
            raise ValueError(f"--input {pattern!r} matches no file")
        files.extend(paths)
    return sorted(set(files))


def total_size(paths: list[str]) -> int:
    return sum(m.size_in_bytes for p in paths for m in FileSystems.match([p])[0].metadata_list)
