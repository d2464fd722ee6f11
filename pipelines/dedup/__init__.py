"""Exact and MinHash-LSH near-duplicate removal as Beam transforms (see docs/dedup.md).

    from pipelines.dedup import DedupConfig, Deduplicate
    result = docs | "Dedup" >> Deduplicate(DedupConfig(threshold=0.8), index_output=..., prior_indexes=[...])
    result.kept, result.dropped

The names below are imported from their submodules on first use: every run validates its
config with `DedupConfig`, and a run without dedup would otherwise import the shingling and
the Beam transforms too (~35 ms, ftfy and the MinHash libraries among them) before its first
document.
"""
import importlib

_SUBMODULE = {
    "DedupConfig": "config",
    "MinHasher": "sketch", "Sketcher": "sketch", "band_keys": "sketch", "estimated_jaccard": "buckets",
    "exact_key": "sketch", "shingles": "sketch", "signature_from_bytes": "sketch", "signatures": "sketch",
    "REASON_EXACT": "config", "REASON_NEAR": "config", "DedupResult": "transforms",
    "Deduplicate": "transforms",
}
__all__ = sorted(_SUBMODULE)


def __getattr__(name: str):
    submodule = _SUBMODULE.get(name)
    if submodule is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{submodule}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SUBMODULE))
