"""Web crawls: WARC (.warc) and WET (.wet), plain or gzipped, a document per record (framing and
HTTP parsing in pipelines/web/warc.py and http.py). A plain file, or a gzipped one written a
member per record (as Common Crawl does), splits into byte ranges."""
from __future__ import annotations

from ..records import FileRange, byte_ranges
from ..web import warc
from . import Reader, register


@register
class Warc(Reader):
    name = "warc"
    suffixes = (".warc",)
    refused = {
        # Neither WARC library reads every ARC fixture, and Common Crawl has written WARC since 2013.
        ".arc": "{path}: ARC files are not read (convert them to WARC first)",
        ".wat": "{path!r} is a WAT file (metadata about pages, not their text): read the .warc or .wet file",
    }
    web = True

    def plan(self, path, size, step, spec):
        return byte_ranges(path, size, step) if warc.can_enter(path) else [FileRange(path, 0, -1)]

    def read(self, raw, rng, spec, state):
        return warc.read_warc(raw, rng, spec.max_body_bytes, state)


@register
class Wet(Warc):
    """WET files are WARC files of `conversion` records (extracted text, no HTML)."""

    name = "wet"
    suffixes = (".wet",)
    refused = {}
