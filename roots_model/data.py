"""From the pipeline's documents to packed training sequences.

1. `iter_documents` reads a folder of *.parquet, *.jsonl.gz or *.jsonl documents (the
   pipeline writes OUT/data/; a raw corpus folder works too).
2. `prepare_tokens` tokenizes every input file into flat token shards (`train-NNNNN.bin`,
   `val-NNNNN.bin`: uint16 when the vocabulary fits, else uint32) and records each finished
   file in `manifest.json`, so an interrupted run picks up where it stopped. Each document
   is written as `<|endoftext|>` + its tokens; the held-out split is chosen per document
   by a hash of its id, so it never changes between runs.
3. `PackedSequences` cuts the memory-mapped shards into windows of seq_len + 1 tokens and
   serves them in a seeded order. A batch is named by the global sample index it starts
   at, which is the whole data position a checkpoint has to remember.

This module does not import torch at the top so that tokenizer workers start quickly.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import zlib
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
from tqdm import tqdm

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


class DataError(ValueError):
    pass


def find_data_files(data: str | os.PathLike) -> list[Path]:
    """The document files under `data` (its data/ subfolder when there is one)."""
    root = Path(data)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise DataError(f"data path {root} does not exist")
    if (root / "data").is_dir():
        root = root / "data"
    files = sorted(p for pattern in ("*.parquet", "*.jsonl.gz", "*.jsonl") for p in root.glob(pattern))
    if not files:
        raise DataError(f"no *.parquet, *.jsonl.gz or *.jsonl files in {root}")
    return files


def iter_file_documents(path: Path) -> Iterator[dict]:
    """Documents of one file as dicts with at least `text` (and `id`, `lang` when present)."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(path)
        columns = [c for c in ("id", "text", "lang") if c in parquet.schema_arrow.names]
        if "text" not in columns:
            raise DataError(f"{path} has no `text` column")
        for batch in parquet.iter_batches(columns=columns, batch_size=2048):
            yield from batch.to_pylist()
        return
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{line_no}: not a JSON object ({e})") from None
            yield doc


def iter_documents(data: str | os.PathLike | Iterable[Path]) -> Iterator[dict]:
    files = find_data_files(data) if isinstance(data, (str, os.PathLike)) else list(data)
    for path in files:
        for doc in iter_file_documents(path):
            if isinstance(doc.get("text"), str) and doc["text"].strip():
                yield doc


def is_heldout(doc: dict, fraction: float) -> bool:
    """Stable per-document split: the same document is held out in every run."""
    key = doc.get("id") or doc["text"][:200]
    return zlib.crc32(str(key).encode("utf-8")) % 100_000 < fraction * 100_000


def guess_lang(doc: dict) -> str:
    """The document's `lang` field, else 'zh' / 'en' / 'other' from its script mix."""
    lang = doc.get("lang")
    if lang:
        return str(lang).split("-")[0].lower()
    sample = doc["text"][:1000]
    han = sum(1 for ch in sample if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf")
    kana = sum(1 for ch in sample if "\u3040" <= ch <= "\u30ff")
    latin = sum(1 for ch in sample if ch.isascii() and ch.isalpha())
    other_letters = sum(1 for ch in sample if ch.isalpha() and not ch.isascii()) - han - kana
    if han > max(latin, 10) and kana < han / 10:
        return "zh"
    if latin > max(han, 10) and other_letters < latin / 20:
        return "en"  # ASCII letters only: mostly English in our corpora
    return "other"


def file_fingerprint(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{int(st.st_mtime)}"


def token_dtype(vocab_size: int):
    return np.uint16 if vocab_size <= 2**16 else np.uint32


def _tokenize_file(job: dict) -> dict:
    """Worker: one input file -> one train and one val shard. Returns the manifest entry."""
    from roots_model.tokenizer import eos_id, load_tokenizer

    tokenizer = load_tokenizer(job["tokenizer"])
    eos = eos_id(tokenizer)
    dtype = np.dtype(job["dtype"])
    out = Path(job["output"])
    entry = {"source": job["source"], "fingerprint": job["fingerprint"], "shards": {}}
    buffers: dict[str, list[np.ndarray]] = {"train": [], "val": []}
    counts = {"train": 0, "val": 0}

    def flush(texts: list[str], split: str):
        for enc in tokenizer.encode_batch(texts, add_special_tokens=False):
            buffers[split].append(np.array([eos] + enc.ids, dtype=dtype))
        texts.clear()

    pending: dict[str, list[str]] = {"train": [], "val": []}
    for doc in iter_documents([Path(job["source"])]):
        split = "val" if is_heldout(doc, job["val_fraction"]) else "train"
        pending[split].append(doc["text"])
        counts[split] += 1
        if len(pending[split]) >= 1024:
            flush(pending[split], split)
    for split in pending:
        flush(pending[split], split)
    for split, parts in buffers.items():
        tokens = np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)
        name = f"{split}-{job['index']:05d}.bin"
        tmp = out / f".{name}.tmp"
        tokens.tofile(tmp)
        os.replace(tmp, out / name)
        entry["shards"][split] = {"file": name, "tokens": int(tokens.size), "documents": counts[split]}
    return entry


def prepare_tokens(data, tokenizer_path, output, val_fraction: float = 0.01, workers: int | None = None) -> dict:
    """Tokenize the documents under `data` into shards in `output`; returns the manifest.

    Resumable: files already listed in the manifest (same tokenizer, same input size and
    mtime) are skipped.
    """
    from roots_model.tokenizer import load_tokenizer, tokenizer_file

    files = find_data_files(data)
    tok_file = tokenizer_file(tokenizer_path)
    tokenizer = load_tokenizer(tok_file)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    tok_hash = hashlib.sha256(tok_file.read_bytes()).hexdigest()
    manifest = {"version": MANIFEST_VERSION, "tokenizer_sha256": tok_hash,
                "dtype": np.dtype(token_dtype(tokenizer.get_vocab_size())).name,
                "val_fraction": val_fraction, "files": {}}
    old = _read_manifest(out)
    if old and old.get("tokenizer_sha256") == tok_hash and old.get("val_fraction") == val_fraction:
        manifest["files"] = {k: v for k, v in old["files"].items() if _entry_intact(out, v)}
    jobs = []
    for index, path in enumerate(files):
        done = manifest["files"].get(str(path))
        if done and done["fingerprint"] == file_fingerprint(path):
            continue
        jobs.append({"source": str(path), "fingerprint": file_fingerprint(path), "index": index,
                     "tokenizer": str(tok_file), "dtype": manifest["dtype"], "output": str(out),
                     "val_fraction": val_fraction})
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    bar = tqdm(total=len(jobs), desc="tokenize", unit="file", disable=not jobs)
    if workers == 1:
        results = map(_tokenize_file, jobs)
    else:
        pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
        results = pool.map(_tokenize_file, jobs)
    for entry in results:
        manifest["files"][entry["source"]] = entry
        _write_manifest(out, manifest)  # after every file: this is what makes it resumable
        bar.update(1)
    bar.close()
    if workers > 1:
        pool.shutdown()
    _write_manifest(out, manifest)
    train = sum(e["shards"]["train"]["tokens"] for e in manifest["files"].values())
    if train == 0:
        raise DataError(f"the documents under {data} produced no training tokens (empty corpus?)")
    return manifest


def _read_manifest(out: Path) -> dict | None:
    try:
        return json.loads((out / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _write_manifest(out: Path, manifest: dict):
    tmp = out / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, out / MANIFEST)


def _entry_intact(out: Path, entry: dict) -> bool:
    for shard in entry["shards"].values():
        path = out / shard["file"]
        if not path.exists():
            return False
    return True


class PackedSequences:
    """Windows of seq_len + 1 tokens over the shards of one split.

    Windows do not cross shard ends (a shard's last partial window is dropped). Training
    reads them in a fresh seeded permutation each epoch; `sequential=True` (validation)
    reads them in order.
    """

    def __init__(self, token_dir, split: str, seq_len: int, seed: int = 0, sequential: bool = False):
        token_dir = Path(token_dir)
        manifest = _read_manifest(token_dir)
        if manifest is None:
            raise DataError(f"{token_dir} holds no token manifest; run `roots-train prepare` first")
        dtype = np.dtype(manifest["dtype"])
        self.seq_len, self.seed, self.sequential = seq_len, seed, sequential
        self.shards = []
        for entry in sorted(manifest["files"].values(), key=lambda e: e["shards"][split]["file"]):
            shard = entry["shards"][split]
            if shard["tokens"] > seq_len:
                path = token_dir / shard["file"]
                expected = shard["tokens"] * dtype.itemsize
                if path.stat().st_size != expected:
                    raise DataError(f"{path} is {path.stat().st_size} bytes, expected {expected}")
                self.shards.append(np.memmap(path, dtype=dtype, mode="r"))
        counts = [(len(s) - 1) // seq_len for s in self.shards]
        self.cumulative = np.cumsum([0] + counts)
        self.num_windows = int(self.cumulative[-1])
        self.num_tokens = sum(len(s) for s in self.shards)
        if self.num_windows == 0:
            total = sum(e["shards"][split]["tokens"] for e in manifest["files"].values())
            raise DataError(
                f"the {split} split has {total} tokens: not one sequence of {seq_len + 1} tokens "
                f"(corpus too small; use more data, a shorter --seq-len or a larger --val-fraction)")
        self._epoch, self._order = -1, None

    def window(self, sample: int) -> np.ndarray:
        epoch, i = divmod(sample, self.num_windows)
        if not self.sequential:
            if epoch != self._epoch:
                self._order = np.random.default_rng([self.seed, epoch]).permutation(self.num_windows)
                self._epoch = epoch
            i = int(self._order[i])
        shard = int(np.searchsorted(self.cumulative, i, side="right") - 1)
        start = (i - int(self.cumulative[shard])) * self.seq_len
        return np.asarray(self.shards[shard][start:start + self.seq_len + 1], dtype=np.int64)

    def batch(self, first_sample: int, batch_size: int):
        """(inputs, targets) LongTensors [batch_size, seq_len] for samples first.. first+B-1."""
        import torch

        rows = np.stack([self.window(first_sample + j) for j in range(batch_size)])
        data = torch.from_numpy(rows)
        return data[:, :-1], data[:, 1:]
