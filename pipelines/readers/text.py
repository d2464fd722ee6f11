"""Plain UTF-8 text (.txt, .text; plain or compressed): a document per file, or per non-blank
line with `read.text_unit: line` (then an uncompressed file splits into byte ranges)."""
from __future__ import annotations

from ..records import dead_letter
from . import Reader, register, rows


def _decode(path: str, offset: int, raw: bytes, spec) -> tuple[str, dict] | None:
    if spec.text_unit == "line" and not raw.strip():
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return "malformed", dead_letter(path, offset, f"undecodable bytes (not UTF-8): {e}", raw)
    return rows.document({spec.text_field: text.rstrip("\n") if spec.text_unit == "line" else text}, path, offset, spec)


@register
class Text(Reader):
    name = "text"
    suffixes = (".txt", ".text")

    def plan(self, path, size, step, spec):
        return super().plan(path, size, step, spec) if spec.text_unit == "file" else rows.line_ranges(path, size, step)

    def read(self, raw, rng, spec, state):
        f = rows.decompressed(raw, rng.path)
        units = _whole(f) if spec.text_unit == "file" else rows.lines(f, rng.start, rng.end)
        return rows.read_units(units, rng.path, spec, state, _decode)


def _whole(f):
    yield 0, f.read()
