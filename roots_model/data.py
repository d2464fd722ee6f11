"""From the pipeline's documents to packed training sequences.

1. `roots_model.documents.iter_documents` reads a folder of *.parquet, *.jsonl.gz or *.jsonl
   documents (the pipeline writes OUT/data/; a raw corpus folder works too).
2. `prepare_tokens` tokenizes every input file into flat token shards (`train-KEY.bin`,
   `val-KEY.bin`, KEY from the input file's path; uint16 when the vocabulary fits, else
   uint32) and records each finished file in `manifest.json`, so an interrupted run picks
   up where it stopped, and a file added or removed later leaves the others' shards alone. Each document
   is written as `<|endoftext|>` + its tokens; the held-out split is chosen per document
   by a hash of its id, so it never changes between runs.
3. `PackedSequences` cuts the memory-mapped shards into windows of seq_len + 1 tokens and
   serves them in a seeded order. A batch is named by the global sample index it starts
   at, which is the whole data position a checkpoint has to remember.

This module does not import torch at the top so that tokenizer workers start quickly.
"""
from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pipelines.files import atomic_write
from roots_model.documents import DataError, find_data_files, is_heldout, iter_documents  # noqa: F401 (DataError: API)
from roots_model.tokenizer import eos_id, load_tokenizer, tokenizer_file

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


def file_fingerprint(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{int(st.st_mtime)}"


def shard_key(path: Path) -> str:
    """A shard's name part, from its input file's path: adding or removing another input
    file never renames (or overwrites) this file's shards, as a position in a list would."""
    return hashlib.sha256(str(path).encode("utf-8")).hexdigest()[:16]


def token_dtype(vocab_size: int):
    return np.uint16 if vocab_size <= 2**16 else np.uint32


def _tokenize_file(job: dict) -> dict:
    """Worker: one input file -> one train and one val shard. Returns the manifest entry."""
    tokenizer = load_tokenizer(job["tokenizer"])
    eos = eos_id(tokenizer)
    dtype = np.dtype(job["dtype"])
    out = Path(job["output"])
    entry = {"source": job["source"], "fingerprint": job["fingerprint"], "sha256": job["sha256"], "shards": {}}
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
        name = f"{split}-{job['key']}.bin"
        atomic_write(out / name, tokens.tofile)
        entry["shards"][split] = {"file": name, "tokens": int(tokens.size), "documents": counts[split],
                                  "sha256": hashlib.sha256(tokens.tobytes()).hexdigest()}
    return entry


def prepare_tokens(data, tokenizer_path, output, val_fraction: float = 0.01, workers: int | None = None,
                   corpus_release: str | None = None) -> dict:
    """Tokenize the documents under `data` into shards in `output`; returns the manifest.

    Resumable: files already listed in the manifest (same tokenizer, same input size and
    mtime) are skipped. The manifest names the corpus release the documents belong to (the
    release folder `data` is or is in, or `corpus_release`, e.g. the gs:// release a local
    copy came from) by its manifest's digest, after checking every file against it.
    """
    files = find_data_files(data)
    tok_file = tokenizer_file(tokenizer_path)
    tokenizer = load_tokenizer(tok_file)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    tok_hash = hashlib.sha256(tok_file.read_bytes()).hexdigest()
    corpus, digests = release_link(files, data, corpus_release)
    from pipelines.storage import file_sha256  # deferred, as in release_link
    manifest = {"version": MANIFEST_VERSION, "tokenizer_sha256": tok_hash, "tokenizer": str(tok_file.resolve()),
                "corpus": corpus, "dtype": np.dtype(token_dtype(tokenizer.get_vocab_size())).name,
                "val_fraction": val_fraction, "files": {}}
    old = _read_manifest(out)
    if old and old.get("tokenizer_sha256") == tok_hash and old.get("val_fraction") == val_fraction:
        itemsize = np.dtype(manifest["dtype"]).itemsize
        manifest["files"] = {k: v for k, v in old["files"].items() if _entry_intact(out, v, itemsize)}
    current = {str(path) for path in files}
    for gone in set(manifest["files"]) - current:  # an input file removed since the last run
        for shard in manifest["files"].pop(gone)["shards"].values():
            (out / shard["file"]).unlink(missing_ok=True)
    jobs = []
    for path in files:
        done = manifest["files"].get(str(path))
        if done and done["fingerprint"] == file_fingerprint(path):
            continue
        jobs.append({"source": str(path), "fingerprint": file_fingerprint(path), "key": shard_key(path),
                     "sha256": digests.get(path) or file_sha256(str(path)),
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


def release_link(files: list[Path], data, explicit: str | None) -> tuple[dict | None, dict[Path, str]]:
    """({"manifest": path, "sha256": digest} of the corpus release the files come from, or None
    when they come from no release; {file: sha256}). Each file must be the release's file of
    the same name (data/NAME) byte for byte: tokens of an edited corpus would otherwise be
    credited to the release."""
    # Deferred: pipelines.release brings Beam's file systems (~1 s), which tokenizer workers
    # and training never need.
    from pipelines import release
    from pipelines.storage import file_sha256

    if explicit:
        where = release.manifest_path(explicit if "://" in explicit else os.path.abspath(explicit))
    else:
        root = Path(data).resolve()
        folders = [root] if root.is_dir() else []
        folders += [files[0].parent.parent] if files[0].parent.name == "data" else []
        where = next((str(f / release.MANIFEST) for f in folders if (f / release.MANIFEST).is_file()), None)
        if where is None:
            return None, {}
    try:
        manifest, digest = release.read_manifest(where)
    except release.ReleaseError as e:
        if not explicit and "not a corpus release" in str(e):
            return None, {}  # a manifest.json of something else (a token folder)
        raise DataError(str(e)) from None
    digests = {}
    for path in files:
        expected = manifest.get("files", {}).get(f"data/{path.name}")
        if expected is None:
            raise DataError(f"{path} is not a data file of the corpus release {where}")
        digests[path] = file_sha256(str(path))
        if digests[path] != expected["sha256"]:
            raise DataError(f"{path} does not match the corpus release {where} (changed after the release?)")
    return {"manifest": where, "sha256": digest}, digests


def is_token_folder(path) -> bool:
    """Whether `path` holds prepared token shards: its manifest.json is a token manifest (a
    pipeline output folder has a manifest.json too: its corpus release manifest)."""
    manifest = _read_manifest(Path(path))
    return manifest is not None and "tokenizer_sha256" in manifest


def _read_manifest(out: Path) -> dict | None:
    try:
        return json.loads((out / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _write_manifest(out: Path, manifest: dict):
    atomic_write(out / MANIFEST, json.dumps(manifest, indent=1))


def _entry_intact(out: Path, entry: dict, itemsize: int) -> bool:
    for shard in entry["shards"].values():
        path = out / shard["file"]
        if not path.exists() or path.stat().st_size != shard["tokens"] * itemsize:
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
        for entry in sorted(manifest["files"].values(), key=lambda e: e["source"]):
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
        return self.rows(range(first_sample, first_sample + batch_size))

    def rows(self, samples):
        """(inputs, targets) LongTensors [len(samples), seq_len] for the given samples."""
        import torch

        data = torch.from_numpy(np.stack([self.window(s) for s in samples]))
        return data[:, :-1], data[:, 1:]
