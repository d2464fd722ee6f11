"""Dedup settings: the `dedup:` section of the pipeline config (`DedupConfig.from_dict` builds one from a mapping)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property

from ..config.schema import Section, setting
from ..steps import register_reasons

METHODS = ("exact", "minhash")
# MinHash implementations (pipelines.dedup.sketch.MinHasher): "rensa" (Rust, the default),
# "datasketch" (the reference; the only one earlier index formats were written with).
MINHASH_IMPLS = ("rensa", "datasketch")
# Script folding before exact keys and shingles: "t2s" turns Traditional Han characters into
# Simplified (OpenCC), so the two scripts' copies of a text are duplicates; "none" keeps the
# text's script (what index formats before 4 did).
SCRIPT_FOLDS = ("t2s", "none")
INDEX_FORMAT = 5
# Bits kept of each MinHash value in the stored and shuffled signature (b-bit minwise hashing,
# Li & König 2010): the bands hash the full 32-bit values, verification compares the low bits.
SIGNATURE_BITS = (8, 16, 32)
# datasketch's `_optimal_param` for the default settings (and 512 values): it integrates the
# S-curve numerically for every (bands, rows), 0.4 s that every run and every shard's job
# would pay at graph construction. tests/pipelines/test_dedup_core.py checks these against datasketch.
KNOWN_BANDS_ROWS = {
    (0.8, 128, 0.05, 0.95): (16, 8),
    (0.8, 512, 0.05, 0.95): (42, 12),
}


def minhash_scheme(impl: str) -> str:
    """What the index records about how signatures were made: the implementation and, for
    rensa, its algorithm version (a new version may draw other permutations)."""
    if impl == "rensa":
        import rensa

        return f"rensa-rminhash-v{rensa.RMinHash.ALGORITHM_VERSION}"
    return "datasketch-affine32-xxh32"


@dataclass(frozen=True)
class DedupConfig(Section):
    """Exact and MinHash-LSH near-duplicate removal (pipelines/dedup, docs/dedup.md); any
    setting can be set in the config. `--dedup none` skips both."""
    section_name = "dedup"
    methods: tuple[str, ...] = setting(METHODS, choices=METHODS)
    threshold: float = setting(0.8, "Jaccard similarity (of shingle sets) at or above which two documents are "
                                    "duplicates")
    num_perm: int = setting(512, "Signature length. The bands use at most the first `lsh_num_perm` values (what sets"
                                 " the shuffle and index size per band); all of them verify candidates, where the "
                                 "estimate's noise decides pairs near the threshold: standard error 0.035 at J = 0.8"
                                 " with 128 values, 0.018 with 512. What a signature weighs in the index, the side "
                                 "input of a local run and the pair join of a remote one is num_perm * "
                                 "signature_bits / 8 bytes: 512 values of 8 bits weigh what 128 of 32 bits did (512 "
                                 "bytes) and verify within 0.0025 precision of 512 full values (bench_dedup.py --sweep-num-perm, "
                                 "reference truth: the table in docs/dedup.md, Signatures).")
    lsh_num_perm: int = setting(128, listed=False)
    signature_bits: int = setting(8, "Low bits of each value kept for verification (8, 16 or 32). Two values that "
                                     "differ agree on their low b bits by chance 1 time in 2^b; the estimate takes "
                                     "that out (`buckets.estimate`). 32 reads indexes written before format 5.",
                                  choices=SIGNATURE_BITS)
    seed: int = setting(1, listed=False)
    minhash_impl: str = setting("rensa", "Who computes the signatures. Each implementation draws its own "
                                         "permutations from `seed`, so signatures (and band hashes) of two "
                                         "implementations never match: the index records it and a prior index of "
                                         "another one is refused.", choices=MINHASH_IMPLS, listed=False)
    script_fold: str = setting("t2s", choices=SCRIPT_FOLDS, listed=False)
    lsh_weights: tuple[float, float] = setting((0.05, 0.95), "Weights given to datasketch's optimizer (false "
                                                             "positive, false negative). Candidates are verified on "
                                                             "the signature estimate afterwards, so a false positive"
                                                             " only costs a comparison while a false negative is "
                                                             "lost for good: (0.5, 0.5) finds 40% of pairs at J=0.8.",
                                                      listed=False)
    lsh_params: tuple[int, int] | None = setting(None, "Explicit (bands, rows) to bypass the optimizer, e.g. to "
                                                       "match an older index.", listed=False)
    verify: bool = setting(True, "Check each LSH candidate pair on the signature estimate (signatures are joined to "
                                 "the candidate pairs, and stored in the persisted index). Without it every bucket "
                                 "is merged whole.", listed=False)
    verify_threshold: float | None = setting(None, "Minimum estimated Jaccard to accept a candidate; None means "
                                                   "`threshold - verify_slack`.", listed=False)
    verify_slack: float = setting(0.0, "Candidates are accepted at an estimated Jaccard >= threshold - slack. The "
                                       "estimate of a pair at exactly J = threshold falls below the threshold half "
                                       "the time, so verifying at the threshold itself loses true pairs at and just "
                                       "above it; a slack trades precision for that recall (bench_dedup.py --sweep-slack, reference "
                                       "truth: docs/dedup.md); with 512 x 8 bits the estimate is exact enough to "
                                       "verify at the threshold itself.")
    word_ngram: int = setting(2, "Shingling: word n-grams for space-delimited languages, character n-grams for "
                                 "Chinese and other unsegmented scripts (see docs/dedup.md for the measurements "
                                 "behind the defaults).", listed=False)
    cjk_ngram: int = setting(2, listed=False)
    cjk_unit: str = setting("char", "char or word (jieba words; cjk_ngram then counts words)",
                            choices=("char", "word"), listed=False)
    all_pairs_max_bucket: int = setting(64, "Buckets up to this size give all their pairs as candidates; larger ones"
                                            " a star around the smallest node, so a boilerplate page repeated 1e5 "
                                            "times costs n comparisons, not n^2/2.", listed=False)
    prior_members_per_cluster: int = setting(0, "Members of one prior cluster (a released or earlier-shard document "
                                                "and the near copies indexed under it) that a bucket pairs a new "
                                                "document with: the representative first, then the smallest keys (0:"
                                                " all, exactly what one run over everything compares). A cluster "
                                                "that every shard of a sharded run adds copies to gives later shards"
                                                " more candidate pairs; a bound trades some of them for missed "
                                                "duplicates (docs/dedup.md).", listed=False)
    cc_max_rounds: int = setting(6, "Unrolled large-star/small-star rounds of the connected-components step; they "
                                    "shrink every component to (nearly) a star. Whatever is still unconverged after "
                                    "them (a long chain) is finished exactly by union-find over the residual edges, "
                                    "so the result always converges.", listed=False)
    cc_max_residual_nodes: int = setting(5_000_000, "The residual must fit one worker's memory: more nodes than this"
                                                    " fail the run with a request to raise cc_max_rounds (it is a "
                                                    "few dozen bytes per node).", listed=False)
    index_shards: int = setting(64, "The persisted index is split into this many files per kind (docs/dedup.md). A "
                                    "refresh reads one shard file of each prior release per worker, so at scale pick"
                                    " it to keep a shard file to a few hundred MB (~40 bytes per document and band)."
                                    " Part of the index fingerprint: every release of a chain must use the same "
                                    "value.", listed=False)
    bucket_shards: int = setting(0, "Groups of this run's bucket keys (a multiple of index_shards; 0: index_shards)."
                                    " One worker holds one group's keys and node ids in memory, ~100 bytes per "
                                    "document and band divided by the group count: raise it with the corpus (group g"
                                    " reads prior shard g % index_shards, so a refresh reads each prior shard file "
                                    "bucket_shards/index_shards times).", listed=False)

    def __post_init__(self):
        unknown = set(self.methods) - set(METHODS)
        if unknown or not self.methods:
            raise ValueError(f"methods must be a non-empty subset of {METHODS}, got {self.methods}")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")
        if not 0.0 <= self.verify_slack < self.threshold:
            raise ValueError(f"verify_slack must be in [0, threshold), got {self.verify_slack}")
        if self.minhash_impl not in MINHASH_IMPLS:
            raise ValueError(f"minhash_impl must be one of {MINHASH_IMPLS}, got {self.minhash_impl!r}")
        if self.script_fold not in SCRIPT_FOLDS:
            raise ValueError(f"script_fold must be one of {SCRIPT_FOLDS}, got {self.script_fold!r}")
        if self.cjk_unit not in ("char", "word"):
            raise ValueError(f"cjk_unit must be 'char' or 'word', got {self.cjk_unit!r}")
        if self.word_ngram < 1 or self.cjk_ngram < 1:
            raise ValueError("n-gram sizes must be >= 1")
        if self.index_shards < 1:
            raise ValueError(f"index_shards must be >= 1, got {self.index_shards}")
        if self.bucket_shards < 0 or self.bucket_shards % self.index_shards:
            raise ValueError(f"bucket_shards must be 0 or a multiple of index_shards ({self.index_shards}), "
                             f"got {self.bucket_shards}")
        if self.prior_members_per_cluster < 0:
            raise ValueError(f"prior_members_per_cluster must be >= 0, got {self.prior_members_per_cluster}")
        if self.cc_max_residual_nodes < 0:
            raise ValueError(f"cc_max_residual_nodes must be >= 0, got {self.cc_max_residual_nodes}")
        if self.cc_max_rounds < 1:
            raise ValueError(f"cc_max_rounds must be >= 1, got {self.cc_max_rounds}")
        if self.signature_bits not in SIGNATURE_BITS:
            raise ValueError(f"signature_bits must be one of {SIGNATURE_BITS}, got {self.signature_bits}")
        if self.lsh_num_perm < 1:
            raise ValueError(f"lsh_num_perm must be >= 1, got {self.lsh_num_perm}")
        if self.lsh_params is not None:
            bands, rows = self.lsh_params
            if bands * rows > self.num_perm:
                raise ValueError(f"lsh_params {self.lsh_params} need more than num_perm={self.num_perm} values")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @cached_property
    def bands_rows(self) -> tuple[int, int]:
        if self.lsh_params is not None:
            return tuple(self.lsh_params)
        # A shorter signature than lsh_num_perm bands over all of it.
        args = (self.threshold, min(self.lsh_num_perm, self.num_perm), *self.lsh_weights)
        if args in KNOWN_BANDS_ROWS:
            return KNOWN_BANDS_ROWS[args]
        from datasketch.lsh import _optimal_param

        return _optimal_param(*args)

    @property
    def num_bucket_shards(self) -> int:
        return self.bucket_shards or self.index_shards

    @property
    def min_estimate(self) -> float:
        return self.threshold - self.verify_slack if self.verify_threshold is None else self.verify_threshold

    def index_fingerprint(self) -> dict:
        """Everything that must match for two runs' band hashes to be comparable."""
        bands, rows = self.bands_rows
        return {
            # 3: rows keyed by the unique document key, ids in the docs table; 4: the MinHash
            # implementation and the script folding recorded, signatures stored as raw values;
            # 5: the bits kept of each value recorded.
            "format": INDEX_FORMAT,
            "num_perm": self.num_perm,
            "signature_bits": self.signature_bits,
            "seed": self.seed,
            "minhash": minhash_scheme(self.minhash_impl),
            "script_fold": self.script_fold,
            "bands": bands,
            "rows": rows,
            "word_ngram": self.word_ngram,
            "cjk_ngram": self.cjk_ngram,
            "cjk_unit": self.cjk_unit,
            "index_shards": self.index_shards,
        }


# The dedup stage's drop reasons, last in the funnel (pipelines/steps.py): exact copies first.
REASON_EXACT = "duplicate_exact"
REASON_NEAR = "duplicate_near"
register_reasons("dedup", chain="dedup", order=10, reasons=(REASON_EXACT, REASON_NEAR))
