"""Dedup settings, loadable from the pipeline's YAML (`DedupConfig.from_dict`)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property

METHODS = ("exact", "minhash")


@dataclass(frozen=True)
class DedupConfig:
    methods: tuple[str, ...] = METHODS
    # Jaccard similarity (of shingle sets) at or above which two documents are duplicates.
    threshold: float = 0.8
    num_perm: int = 128
    seed: int = 1
    # Weights given to datasketch's optimizer (false positive, false negative). Candidates are
    # verified on the signature estimate afterwards, so a false positive only costs a comparison
    # while a false negative is lost for good: (0.5, 0.5) finds 40% of pairs at J=0.8.
    lsh_weights: tuple[float, float] = (0.05, 0.95)
    # Explicit (bands, rows) to bypass the optimizer, e.g. to match an older index.
    lsh_params: tuple[int, int] | None = None
    # Check each LSH candidate pair on the signature estimate (needs signatures in the shuffle
    # and in the persisted index). Without it every bucket is merged whole.
    verify: bool = True
    # Minimum estimated Jaccard to accept a candidate; None means `threshold`.
    verify_threshold: float | None = None
    # Shingling: word n-grams for space-delimited languages, character n-grams for Chinese and
    # other unsegmented scripts (see docs/dedup.md for the measurements behind the defaults).
    word_ngram: int = 2
    cjk_ngram: int = 2
    cjk_unit: str = "char"  # "char" or "word" (jieba words; cjk_ngram then counts words)
    # Buckets up to this size are verified all-pairs; larger ones are a star around the
    # smallest id, so a boilerplate page repeated 1e5 times costs n comparisons, not n^2/2.
    all_pairs_max_bucket: int = 64
    # Unrolled large-star/small-star rounds of the connected-components step; they shrink every
    # component to (nearly) a star. Whatever is still unconverged after them (a long chain)
    # is finished exactly by union-find over the residual edges, so the result always converges.
    cc_max_rounds: int = 6
    # The residual must fit one worker's memory: more nodes than this fail the run with a
    # request to raise cc_max_rounds (it is a few dozen bytes per node).
    cc_max_residual_nodes: int = 5_000_000
    # The persisted index is split into this many files per kind (docs/dedup.md). A refresh
    # reads one shard file of each prior release per worker, so at scale pick it to keep a
    # shard file to a few hundred MB (~40 bytes per document and band). Part of the index
    # fingerprint: every release of a chain must use the same value.
    index_shards: int = 64

    def __post_init__(self):
        unknown = set(self.methods) - set(METHODS)
        if unknown or not self.methods:
            raise ValueError(f"methods must be a non-empty subset of {METHODS}, got {self.methods}")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")
        if self.cjk_unit not in ("char", "word"):
            raise ValueError(f"cjk_unit must be 'char' or 'word', got {self.cjk_unit!r}")
        if self.word_ngram < 1 or self.cjk_ngram < 1:
            raise ValueError("n-gram sizes must be >= 1")
        if self.index_shards < 1:
            raise ValueError(f"index_shards must be >= 1, got {self.index_shards}")
        if self.cc_max_residual_nodes < 0:
            raise ValueError(f"cc_max_residual_nodes must be >= 0, got {self.cc_max_residual_nodes}")
        if self.cc_max_rounds < 1:
            raise ValueError(f"cc_max_rounds must be >= 1, got {self.cc_max_rounds}")
        if self.lsh_params is not None:
            bands, rows = self.lsh_params
            if bands * rows > self.num_perm:
                raise ValueError(f"lsh_params {self.lsh_params} need more than num_perm={self.num_perm} values")

    @classmethod
    def from_dict(cls, values: dict | None) -> "DedupConfig":
        values = dict(values or {})
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown dedup settings: {sorted(unknown)}")
        for name in ("methods", "lsh_weights", "lsh_params"):
            if values.get(name) is not None:
                values[name] = tuple(values[name])
        return cls(**values)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @cached_property
    def bands_rows(self) -> tuple[int, int]:
        if self.lsh_params is not None:
            return tuple(self.lsh_params)
        from datasketch.lsh import _optimal_param

        return _optimal_param(self.threshold, self.num_perm, *self.lsh_weights)

    @property
    def min_estimate(self) -> float:
        return self.threshold if self.verify_threshold is None else self.verify_threshold

    def index_fingerprint(self) -> dict:
        """Everything that must match for two runs' band hashes to be comparable."""
        bands, rows = self.bands_rows
        return {
            "format": 3,  # 3: rows keyed by the unique document key, ids in the docs table
            "num_perm": self.num_perm,
            "seed": self.seed,
            "scheme": "affine32",
            "bands": bands,
            "rows": rows,
            "word_ngram": self.word_ngram,
            "cjk_ngram": self.cjk_ngram,
            "cjk_unit": self.cjk_unit,
            "index_shards": self.index_shards,
        }
