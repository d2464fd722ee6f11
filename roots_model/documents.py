"""Documents on disk, read the same way by the tokenizer trainer and the token shard
writer: the pipeline's OUT/data/ (Parquet or JSONL.gz), or any folder of *.parquet,
*.jsonl.gz, *.jsonl files. Also the two per-document choices both of them make: which
documents are held out (stable across runs) and which language a document is in.

No torch and no tokenizer here: tokenizer workers import it and start quickly.
"""
from __future__ import annotations

import gzip
import json
import os
import zlib
from pathlib import Path
from typing import Iterable, Iterator

from pipelines.text.script import count_cjk, count_han, looks_chinese  # plain regexes: cheap for tokenizer workers


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
    """The document's `lang` field, else from the script of its start: 'zh' by the pipeline's
    one "is this Chinese" rule (`pipelines.text.script.looks_chinese`), 'en' when ASCII
    letters outnumber Han and nearly all its letters are ASCII (a question of its own: the
    pipeline has no script rule for English), else 'other'."""
    lang = doc.get("lang")
    if lang:
        return str(lang).split("-")[0].lower()
    sample = doc["text"][:1000]
    if looks_chinese(sample):
        return "zh"
    latin = sum(1 for ch in sample if ch.isascii() and ch.isalpha())
    other_letters = sum(1 for ch in sample if ch.isalpha() and not ch.isascii()) - count_cjk(sample)
    if latin > max(count_han(sample), 10) and other_letters < latin / 20:
        return "en"  # ASCII letters only: mostly English in our corpora
    return "other"
