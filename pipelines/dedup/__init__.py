"""Exact and MinHash-LSH near-duplicate removal as Beam transforms (see docs/dedup.md).

    from pipelines.dedup import DedupConfig, Deduplicate
    result = docs | "Dedup" >> Deduplicate(DedupConfig(threshold=0.8), index_output=..., prior_indexes=[...])
    result.kept, result.dropped
"""
from pipelines.dedup.config import DedupConfig
from pipelines.dedup.sketch import (
    MinHasher,
    Sketcher,
    band_keys,
    estimated_jaccard,
    exact_key,
    shingles,
    signature_from_bytes,
    signatures,
)
from pipelines.dedup.transforms import REASON_EXACT, REASON_NEAR, DedupResult, Deduplicate

__all__ = [
    "DedupConfig",
    "Deduplicate",
    "DedupResult",
    "REASON_EXACT",
    "REASON_NEAR",
    "MinHasher",
    "Sketcher",
    "band_keys",
    "estimated_jaccard",
    "exact_key",
    "shingles",
    "signature_from_bytes",
    "signatures",
]
