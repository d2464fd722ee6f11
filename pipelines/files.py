"""Local files: the one atomic write and the one JSON Lines reader and writer of every package
(pipelines, roots_model, roots_eval, roots_measure). Standard library only, so tokenizer workers
and CLIs import it for nothing; `pipelines.storage.replace_file` adds gs:// on top of it.

- `atomic_write(path, data)`: `path` holds the old bytes or the new ones, never a torn file,
  whatever kills the writer (the data goes to a temporary name in the same folder first).
- `sha256_hex(f)`: the SHA-256 (hex) of a binary file object's bytes, streamed (a local file's
  digest; `pipelines.storage.file_sha256` opens gs:// paths too).
- `read_jsonl(path)`: the JSON values of a file's lines, blank lines skipped, `.gz` read
  decompressed. `jsonl_line(obj)` / `write_jsonl(path, rows)`: one UTF-8 line per value,
  non-ASCII characters as themselves (`ensure_ascii=False`).
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path
from typing import Callable, Iterable, Iterator


TMP_PREFIX = ".tmp-"  # of a file being written; a folder's readers skip such names


def sha256_hex(f) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: f.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


def atomic_write(path, data: str | bytes | Callable) -> Path:
    """Replace the file `path` with `data`: bytes, str (UTF-8) or a function that writes to the
    binary file object it is given. The folder is made when missing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{TMP_PREFIX}{os.getpid()}-{path.name}")  # per process: two writers never share one
    try:
        if callable(data):
            with open(tmp, "wb") as f:
                data(f)
        else:
            tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def read_jsonl(path, limit: int | None = None) -> Iterator:
    """The values of a JSONL file (`.gz`: decompressed), the first `limit` only when given; a
    line that is not JSON raises ValueError naming the file and line."""
    opener = gzip.open if str(path).endswith(".gz") else open
    count = 0
    with opener(path, "rt", encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if limit is not None and count >= limit:
                return
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{line_no}: not JSON ({e})") from None
            count += 1


def jsonl_line(obj) -> str:
    return json.dumps(obj, ensure_ascii=False) + "\n"


def write_jsonl(path, rows: Iterable) -> Path:
    """`rows` as a JSONL file, written atomically."""
    return atomic_write(path, "".join(jsonl_line(row) for row in rows))
