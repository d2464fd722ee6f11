"""Steps beyond the built-in ones, a file each: every module of this package is imported the
first time the step registry is read (`pipelines.steps.registered`, pkgutil), on the launcher
and on every worker alike, so a new filter step is one file here -- its `@register_step` class
and its `register_section` settings (docs/pipeline.md shows one) -- and nothing else changes:
the chain, the funnel order, the config checks and docs/config.md follow from the registry.
Empty in this release: the built-in steps live beside the code they wrap (process.py, web/steps.py).
"""
from __future__ import annotations

import importlib
import pkgutil

_loaded = False


def load() -> None:
    """Import every module of this package once (they register their steps and sections).
    Called by the config's section list (pipelines/config/sections.py), which is read before any step is built."""
    global _loaded
    if not _loaded:
        _loaded = True
        for found in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{found.name}")
