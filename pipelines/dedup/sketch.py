"""Pure dedup core: normalized-text keys, shingles, MinHash signatures and LSH band keys.

No Beam here, so the same code runs in a unit test, in the benchmark and in a DoFn.

Signatures come from one interface, `MinHasher`, with two implementations (config
`minhash_impl`): `rensa` (Rust R-MinHash, the default: ~3x faster per document than
datasketch's vectorised `update_batch`, which is what matters once Beam's per-element cost
is gone) and `datasketch` (the reference, `affine32` permutations over xxh32 shingle hashes;
every index written before format 4 used it). datasketch also chooses bands and rows for both
(`DedupConfig.bands_rows`). Each draws its own permutations from `seed`, so the two never
produce comparable signatures: the index records which one wrote it.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import xxhash

from pipelines.dedup.config import DedupConfig
from pipelines.text.chinese import to_simplified
from pipelines.text.normalize import fold_for_comparison
from pipelines.text.script import is_chinese
from pipelines.text.segment import Segmenter

# Languages written without spaces between words besides Chinese: a regex "word" there is a
# whole clause, so they are shingled on characters like Chinese.
_UNSEGMENTED = {"ja", "th", "lo", "km", "my", "bo"}
_DEFAULT = DedupConfig()
_DEFAULT_SEGMENTER = Segmenter()  # the package default backend; a pipeline passes its configured one


def fold_script(text: str, cfg: DedupConfig = _DEFAULT) -> str:
    return to_simplified(text) if cfg.script_fold == "t2s" else text


def exact_key(text: str, cfg: DedupConfig = _DEFAULT) -> bytes:
    """128-bit hash of the normalized text: 64 bits would give a ~3% chance of one false
    merge at 1e9 documents, and an exact merge is never verified."""
    return _exact_key_of_folded(fold_for_comparison(fold_script(text, cfg)))


def _exact_key_of_folded(folded: str) -> bytes:
    return xxhash.xxh3_128_digest(folded.encode("utf-8"))


def uses_char_shingles(lang: str | None, cfg: DedupConfig) -> bool:
    base = (lang or "").split("-")[0].lower()
    if is_chinese(base):
        return cfg.cjk_unit == "char"
    return base in _UNSEGMENTED


def _ngrams(units: Sequence[str], n: int, sep: str) -> set[str]:
    # Shingles stay str: rensa hashes a str as its UTF-8 bytes, and skipping the encode of
    # each shingle is a fifth of the sketching time (datasketch's path encodes them itself).
    if not units:
        return set()
    if len(units) <= n:
        # Shorter than one shingle: the whole text is its only shingle, so two short texts
        # match only when equal instead of never (no shingles) or always (empty sketch).
        return {sep.join(units)}
    if n == 1:
        return set(units)
    if not sep:  # characters of a string: slices are cheaper than joining n one-char strings
        return {units[i:i + n] for i in range(len(units) - n + 1)}
    return {sep.join(gram) for gram in zip(*(units[i:] for i in range(n)))}


def _shingles_of_folded_script(text: str, lang: str | None, cfg: DedupConfig, segmenter: Segmenter,
                                folded: str | None = None) -> set[str]:
    if uses_char_shingles(lang, cfg):
        return _ngrams(fold_for_comparison(text) if folded is None else folded, cfg.cjk_ngram, "")
    n = cfg.cjk_ngram if is_chinese(lang) else cfg.word_ngram
    return _ngrams(segmenter.words(text.casefold(), lang), n, " ")


def shingles(text: str, lang: str | None, cfg: DedupConfig, segmenter: Segmenter = _DEFAULT_SEGMENTER) -> set[str]:
    """The shingle set of one document (empty when it has no word characters); `segmenter`
    cuts Chinese words when cfg.cjk_unit is "word"."""
    return _shingles_of_folded_script(fold_script(text, cfg), lang, cfg, segmenter)


class _RensaHasher:
    def __init__(self, cfg: DedupConfig):
        import rensa

        self._make = rensa.RMinHash
        self.num_perm, self.seed = cfg.num_perm, cfg.seed

    def values(self, shingle_set) -> list[int]:
        m = self._make(self.num_perm, self.seed)
        m.update(list(shingle_set))
        return m.digest()


class _DatasketchHasher:
    """Building a MinHash draws its permutations (the slow part for short documents), so the
    template is made once per worker and copied per document, as MinHash.bulk does."""

    def __init__(self, cfg: DedupConfig):
        from datasketch import MinHash

        self._template = MinHash(num_perm=cfg.num_perm, seed=cfg.seed, hashfunc=xxhash.xxh32_intdigest,
                                 scheme="affine32")

    def values(self, shingle_set) -> np.ndarray:
        m = self._template.copy()
        m.update_batch([s.encode("utf-8") for s in shingle_set])
        return m.hashvalues


class MinHasher:
    """Signatures of shingle sets with the configured implementation: (num_perm,) uint32."""

    def __init__(self, cfg: DedupConfig):
        self.num_perm = cfg.num_perm
        self.impl = cfg.minhash_impl
        self._hasher = _RensaHasher(cfg) if cfg.minhash_impl == "rensa" else _DatasketchHasher(cfg)

    def signature(self, shingle_set: Iterable[str]) -> np.ndarray:
        return np.asarray(self._hasher.values(shingle_set), dtype=np.uint32)

    def signatures(self, shingle_sets: Iterable[Iterable[str]]) -> np.ndarray:
        rows = [self.signature(s) for s in shingle_sets]
        if not rows:
            return np.empty((0, self.num_perm), dtype=np.uint32)
        return np.vstack(rows)


def signatures(shingle_sets: Iterable[Iterable[str]], cfg: DedupConfig) -> np.ndarray:
    """(n_docs, num_perm) uint32 MinHash values; an empty set gives all-max values, which
    collide with every other empty set, so callers leave shingle-less documents out of LSH."""
    return MinHasher(cfg).signatures(shingle_sets)


def _stored_dtype(cfg: DedupConfig) -> str:
    return {8: "u1", 16: "<u2", 32: "<u4"}[cfg.signature_bits]


def stored_signature(values: np.ndarray, cfg: DedupConfig) -> bytes:
    """The signature as stored and shuffled: the low `signature_bits` of each of the num_perm
    values, little-endian (the index records the implementation and the bits; the bytes carry
    no header)."""
    return np.asarray(values, dtype=np.uint32).astype(_stored_dtype(cfg)).tobytes()


def signature_from_bytes(buf: bytes, cfg: DedupConfig) -> np.ndarray:
    """The stored values of signature bytes: the last num_perm * signature_bits / 8 bytes,
    which also reads the LeanMinHash bytes of index format 3 (a 12-byte seed/length header
    before 32-bit values)."""
    dtype = np.dtype(_stored_dtype(cfg))
    size = dtype.itemsize * cfg.num_perm
    if len(buf) < size:
        raise ValueError(f"a stored signature of {len(buf)} bytes is shorter than num_perm={cfg.num_perm} values "
                         f"of {cfg.signature_bits} bits")
    return np.frombuffer(buf, dtype=dtype, count=cfg.num_perm, offset=len(buf) - size)


def band_keys(signature: np.ndarray | bytes, bands: int, rows: int) -> list[bytes]:
    """One 8-byte key per band: xxh3-64 of the band's little-endian uint32 values. Band hash
    collisions only add candidates, which verification (or the next band) sorts out; the band
    number keeps bands apart in the shuffle key."""
    raw = signature if isinstance(signature, bytes) else np.ascontiguousarray(signature, dtype="<u4").tobytes()
    step = 4 * rows
    return [xxhash.xxh3_64_digest(raw[i * step:(i + 1) * step]) for i in range(bands)]


class Sketcher:
    """One document -> (exact key or None, band keys, signature bytes or None), the script
    folded and the text normalized once for both the exact key and the character shingles."""

    def __init__(self, cfg: DedupConfig, segmenter: Segmenter = _DEFAULT_SEGMENTER):
        self.cfg, self.segmenter = cfg, segmenter
        self.exact = "exact" in cfg.methods
        self.minhash = "minhash" in cfg.methods
        self.bands, self.rows = cfg.bands_rows
        self.hasher = MinHasher(cfg) if self.minhash else None

    def __call__(self, text: str, lang: str | None) -> tuple[bytes | None, list[bytes], bytes | None]:
        cfg = self.cfg
        text = fold_script(text, cfg)
        folded = fold_for_comparison(text) if self.exact or (self.minhash and uses_char_shingles(lang, cfg)) else None
        key = _exact_key_of_folded(folded) if self.exact else None
        if not self.minhash:
            return key, [], None
        shingle_set = _shingles_of_folded_script(text, lang, cfg, self.segmenter, folded)
        if not shingle_set:
            return key, [], None
        values = self.hasher.signature(shingle_set)
        # Bands hash the full values; verification reads the stored low bits.
        return key, band_keys(values[:self.bands * self.rows], self.bands, self.rows), stored_signature(values, cfg)
