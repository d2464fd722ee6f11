"""Pure dedup core: normalized-text keys, shingles, MinHash signatures and LSH band keys.

No Beam here, so the same code runs in a unit test, in the benchmark and in a DoFn.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import xxhash
from datasketch import LeanMinHash, MinHash

from pipelines.dedup.config import DedupConfig
from pipelines.text.normalize import fold_for_comparison
from pipelines.text.script import is_chinese
from pipelines.text.segment import words

# Languages written without spaces between words besides Chinese: a regex "word" there is a
# whole clause, so they are shingled on characters like Chinese.
_UNSEGMENTED = {"ja", "th", "lo", "km", "my", "bo"}
_SCHEME = "affine32"


def exact_key(text: str) -> bytes:
    """128-bit hash of the normalized text: 64 bits would give a ~3% chance of one false
    merge at 1e9 documents, and an exact merge is never verified."""
    return xxhash.xxh3_128_digest(fold_for_comparison(text).encode("utf-8"))


def uses_char_shingles(lang: str | None, cfg: DedupConfig) -> bool:
    base = (lang or "").split("-")[0].lower()
    if is_chinese(base):
        return cfg.cjk_unit == "char"
    return base in _UNSEGMENTED


def _ngrams(units: Sequence[str], n: int, sep: str) -> set[bytes]:
    if not units:
        return set()
    if len(units) <= n:
        # Shorter than one shingle: the whole text is its only shingle, so two short texts
        # match only when equal instead of never (no shingles) or always (empty sketch).
        return {sep.join(units).encode("utf-8")}
    if n == 1:
        return {u.encode("utf-8") for u in units}
    return {sep.join(gram).encode("utf-8") for gram in zip(*(units[i:] for i in range(n)))}


def shingles(text: str, lang: str | None, cfg: DedupConfig) -> set[bytes]:
    """The shingle set of one document (empty when it has no word characters)."""
    if uses_char_shingles(lang, cfg):
        return _ngrams(fold_for_comparison(text), cfg.cjk_ngram, "")
    n = cfg.cjk_ngram if is_chinese(lang) else cfg.word_ngram
    return _ngrams(words(text.casefold(), lang), n, " ")


class MinHasher:
    """Computes signatures for many documents from one set of permutations.

    Building a MinHash draws its permutations (the slow part for short documents), so the
    template is made once per worker and copied per document, as MinHash.bulk does.
    """

    def __init__(self, cfg: DedupConfig):
        self.num_perm = cfg.num_perm
        self.seed = cfg.seed
        self._template = MinHash(num_perm=cfg.num_perm, seed=cfg.seed, hashfunc=xxhash.xxh32_intdigest, scheme=_SCHEME)

    def signature(self, shingle_set: Iterable[bytes]) -> np.ndarray:
        m = self._template.copy()
        m.update_batch(shingle_set)
        return m.hashvalues

    def signatures(self, shingle_sets: Iterable[Iterable[bytes]]) -> np.ndarray:
        rows = [self.signature(s) for s in shingle_sets]
        if not rows:
            return np.empty((0, self.num_perm), dtype=np.uint32)
        return np.vstack(rows)

    def to_bytes(self, signature: np.ndarray) -> bytes:
        """LeanMinHash bytes: they carry seed and scheme, so an index built with other
        permutations fails on load instead of silently matching nothing."""
        lean = LeanMinHash(seed=self.seed, hashvalues=signature, scheme=_SCHEME)
        buf = bytearray(lean.bytesize(byteorder="<"))
        lean.serialize(buf, byteorder="<")
        return bytes(buf)


def signatures(shingle_sets: Iterable[Iterable[bytes]], cfg: DedupConfig) -> np.ndarray:
    """(n_docs, num_perm) uint32 MinHash values; an empty set gives all-max values, which
    collide with every other empty set, so callers leave shingle-less documents out of LSH."""
    return MinHasher(cfg).signatures(shingle_sets)


_checked_headers: set[bytes] = set()


def signature_from_bytes(buf: bytes, cfg: DedupConfig) -> np.ndarray:
    """Hash values of LeanMinHash bytes. The header (seed, scheme, length) is validated once
    per distinct header; after that only the values are read, which is ~10x faster."""
    header = buf[: len(buf) - 4 * cfg.num_perm]
    if header in _checked_headers:
        return np.frombuffer(buf, dtype="<u4", offset=len(header))
    lean = LeanMinHash.deserialize(buf, byteorder="<")
    if lean.seed != cfg.seed or len(lean.hashvalues) != cfg.num_perm or lean.scheme != _SCHEME:
        raise ValueError(
            f"signature made with seed={lean.seed}, num_perm={len(lean.hashvalues)}, scheme={lean.scheme}; "
            f"this run uses seed={cfg.seed}, num_perm={cfg.num_perm}, scheme={_SCHEME}"
        )
    _checked_headers.add(header)
    return lean.hashvalues


def band_keys(signature: np.ndarray, bands: int, rows: int) -> list[bytes]:
    """One 8-byte key per band. Band hash collisions only add candidates, which verification
    (or the next band) sorts out; the band number keeps bands apart in the shuffle key."""
    values = np.ascontiguousarray(signature[: bands * rows], dtype="<u4").reshape(bands, rows)
    return [xxhash.xxh3_64_digest(row.tobytes()) for row in values]


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.count_nonzero(a == b)) / len(a)
