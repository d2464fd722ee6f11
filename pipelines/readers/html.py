"""HTML pages (.html, .htm; plain or gzipped): one web document per file, its URL the path."""
from __future__ import annotations

from ..web import warc
from . import Reader, register


@register
class Html(Reader):
    name = "html"
    suffixes = (".html", ".htm")
    web = True

    def read(self, raw, rng, spec, state):
        return warc.read_html(raw, rng, spec.max_body_bytes, state)
