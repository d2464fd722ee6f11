"""A SQLite cache of model outputs, so an interrupted run resumes where it stopped.

Keys hash the model's cache identity (checkpoint hash, backend, a digest of the scoring code,
BOS, dtype, device kind, library versions: `EvalModel.cache_identity`) with the full request,
so a changed checkpoint, scoring fix, precision, prompt or generation setting never reuses a
stale output. The batch size is not in the key: it does not change the numbers (tested).
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

from tqdm import tqdm

from roots_eval.models.base import EvalModel, GenerationRequest, LoglikelihoodRequest


class OutputCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path))
        self._db.execute("CREATE TABLE IF NOT EXISTS outputs (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._db.commit()

    def get_many(self, keys: list[str]) -> dict[str, object]:
        found = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            rows = self._db.execute(
                f"SELECT key, value FROM outputs WHERE key IN ({','.join('?' * len(chunk))})", chunk
            ).fetchall()
            found.update((k, json.loads(v)) for k, v in rows)
        return found

    def put_many(self, items: dict[str, object]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO outputs (key, value) VALUES (?, ?)",
            [(k, json.dumps(v, ensure_ascii=False)) for k, v in items.items()],
        )
        self._db.commit()

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM outputs").fetchone()[0]

    def close(self) -> None:
        self._db.close()


class CachedModel(EvalModel):
    """Answers from the cache what it can; sends the rest to the model in chunks, saving each."""

    def __init__(self, model: EvalModel, cache: OutputCache, chunk_size: int = 64, show_progress: bool = True):
        self.model, self.cache, self.chunk_size = model, cache, chunk_size
        self.show_progress = show_progress
        self.model_id, self.kind = model.model_id, model.kind
        self.hits = self.misses = 0
        self._identity = None

    def fingerprint(self):
        return self.model.fingerprint()

    def metadata(self):
        return self.model.metadata()

    def cache_identity(self):
        return self.model.cache_identity()

    @property
    def is_classifier(self):
        return self.model.is_classifier

    def class_labels(self):
        return self.model.class_labels()

    def _key(self, kind: str, payload) -> str:
        if self._identity is None:  # fixed once the model is loaded; hashing it per request is waste
            self._identity = json.dumps(self.model.cache_identity(), sort_keys=True, ensure_ascii=False)
        raw = json.dumps([self._identity, kind, payload], ensure_ascii=False)
        return hashlib.sha256(raw.encode()).hexdigest()

    def _chunk_size(self) -> int:
        """Requests per model call (and per save): at least one model batch, so that
        --batch-size auto is not capped by the save interval."""
        batch = getattr(self.model, "batch_size", None)
        if isinstance(batch, int) and batch > self.chunk_size:
            return batch
        return self.chunk_size

    def _cached(self, kind, requests, payloads, compute, desc):
        keys = [self._key(kind, p) for p in payloads]
        found = self.cache.get_many(list(set(keys)))
        todo = sorted({k: i for i, k in enumerate(keys) if k not in found}.values(), key=lambda i: -len(str(payloads[i])))
        self.hits += len(keys) - len(todo)
        self.misses += len(todo)
        bar = tqdm(total=len(todo), desc=desc, unit="req", disable=not self.show_progress or not todo)
        start = 0
        while start < len(todo):
            # re-read per chunk: the first model call resolves batch_size="auto" to a number
            chunk = todo[start : start + self._chunk_size()]
            start += len(chunk)
            outputs = compute([requests[i] for i in chunk])
            fresh = {keys[i]: out for i, out in zip(chunk, outputs)}
            self.cache.put_many(fresh)
            found.update(fresh)
            bar.update(len(chunk))
        bar.close()
        return [found[k] for k in keys]

    def loglikelihood(self, requests: list[LoglikelihoodRequest]):
        values = self._cached("loglikelihood", requests, [[r.context, r.continuation] for r in requests],
                              self.model.loglikelihood, "loglikelihood")
        return [(float(v[0]), bool(v[1])) for v in values]

    def generate(self, requests: list[GenerationRequest]):
        return self._cached("generate", requests, [[r.context, list(r.until), r.max_new_tokens] for r in requests],
                            self.model.generate, "generate")

    def loglikelihood_rolling(self, texts: list[str]):
        values = self._cached("loglikelihood_rolling", texts, texts, self.model.loglikelihood_rolling,
                              "loglikelihood_rolling")
        return [(float(v[0]), int(v[1])) for v in values]

    def classify(self, texts):
        return self._cached("classify", texts, texts, self.model.classify, "classify")
