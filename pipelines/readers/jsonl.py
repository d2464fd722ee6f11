"""JSON Lines (.jsonl, .json, .ndjson; plain or compressed): an object per line, its text in
the configured field. An uncompressed file splits into byte ranges."""
from __future__ import annotations

import json
import re

import orjson

from ..records import dead_letter
from . import Reader, register, rows


def _fast_record(line: bytes, spec) -> dict | None:
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


def _decode_line(path: str, offset: int, line: bytes, spec) -> tuple[str, dict] | None:
    if not line.strip():
        return None
    record = _fast_record(line, spec)
    if record is not None:
        return rows.document(record, path, offset, spec)
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
    return rows.document(record, path, offset, spec)


@register
class JsonLines(Reader):
    name = "jsonl"
    suffixes = (".jsonl", ".json", ".ndjson")

    def plan(self, path, size, step, spec):
        return rows.line_ranges(path, size, step)

    def read(self, raw, rng, spec, state):
        units = rows.lines(rows.decompressed(raw, rng.path), rng.start, rng.end)
        return rows.read_units(units, rng.path, spec, state, _decode_line)
