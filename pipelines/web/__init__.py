"""Web crawls in: WARC / WET / HTML files to main text.

    WARC record ─http─▶ status, media type, body (chunked, gzip/deflate/br, size-capped)
               ─steps─▶ not_a_page · http_status · not_html · url_blocklist      (dropped, counted)
               ─decode─▶ BOM → HTTP charset → <meta> charset → detection (each verified)
               ─extract─▶ main text, paragraphs as lines, title (a guarded child process)
               ─templates─▶ lines repeated across a domain's pages removed (a Beam stage)
               ─▶ the usual document steps (normalize, boilerplate, language, filters, web spam)

Modules: `warc` and `http` read records (the registered readers in `pipelines/readers/`
call them), `decode` picks the encoding, `extract` holds the
main-text backends behind one interface, `steps` wraps them as pipeline steps, `templates`
is the per-domain stage, `spam` and `urlfilter` the web-only filters, `config` the `web:`
section of the pipeline config. `docs/web.md` explains the path.
"""
from __future__ import annotations

# Media types whose bodies are pages (a missing Content-Type is left to decoding and extraction).
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})

