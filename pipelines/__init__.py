"""ROOTS corpus pipelines: clean, identify language, segment, filter and deduplicate raw text with Apache Beam.

    from pipelines import RunOptions, run
    stats = run(RunOptions(inputs=["raw/*.jsonl.gz"], output="out/"))

The names resolve on first use (pipelines/lazy.py): importing the package imports no Beam.
"""
from .lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {"run": "pipelines.api", "RunOptions": "pipelines.api", "UsageError": "pipelines.api"}
__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
