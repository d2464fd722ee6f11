"""Metrics are `evaluate` modules kept in this folder and loaded from their local path.

`evaluate.load("sacrebleu")` fetches a script from the Hugging Face Hub, which fails offline
(and silently succeeds where a shared cache happens to hold it). Loading the folder instead
is offline, pinned to this repository's code, and takes a few milliseconds.
"""
from __future__ import annotations

import functools
from pathlib import Path

METRICS_DIR = Path(__file__).resolve().parent


def available() -> list[str]:
    return sorted(p.name for p in METRICS_DIR.iterdir() if (p / f"{p.name}.py").is_file())


@functools.lru_cache(maxsize=None)
def load(name: str):
    """The `evaluate` module for metric `name` (a folder of this package)."""
    import evaluate

    if name not in available():
        raise KeyError(f"unknown metric {name!r}; available: {', '.join(available())}")
    return evaluate.load(str(METRICS_DIR / name))
