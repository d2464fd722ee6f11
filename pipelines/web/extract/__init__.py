"""Main-text extraction from HTML: the interface, the backend registry and the page guard.

A backend is any object with a `name` and `extract(html: str, url: str | None = None) ->
Extracted`; `text` holds one paragraph (block) per line, whitespace collapsed within a line and
no empty lines. `get_extractor(name, **options)` builds one; `GuardedExtractor` (guard.py) runs
one in a long-lived child process with a per-page time and memory cap. The numbers behind
DEFAULT: benchmarks/extraction_eval.py.
"""
from __future__ import annotations

from pipelines.web.extract.base import (DEFAULT, Extracted, ExtractError, Extractor, ExtractMemory, ExtractTimeout,
                                        as_lines, backend_names, build, get_extractor, register_backend, resolve)
from pipelines.web.extract.guard import GuardedExtractor

__all__ = [
    "DEFAULT", "Extracted", "ExtractError", "ExtractMemory", "ExtractTimeout", "Extractor",
    "GuardedExtractor", "as_lines", "backend_names", "build", "get_extractor", "register_backend", "resolve",
]
