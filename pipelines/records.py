"""What every reader shares: a file range, record keys, dead-letter records and the store's file
object (the readers in `pipelines.readers` and the WARC framing in `pipelines.web.warc` use them)."""
from __future__ import annotations

import functools
import io
import os
from dataclasses import dataclass

import xxhash
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

CORRUPT = "corrupt"  # prefix of the dead-letter error of a damaged stream


@dataclass(frozen=True)
class FileRange:
    path: str
    start: int       # bytes, or the first row group of a Parquet file
    end: int         # exclusive; -1: to the end of the file
    row_groups: bool = False


def byte_ranges(path: str, size: int, step: int) -> list[FileRange]:
    """[0, step), [step, 2 step), ... the last one open-ended: the ranges of a file that can be
    entered at any byte (its reader skips to the first record boundary at or after `start`)."""
    return [FileRange(path, s, s + step if s + step < size else -1) for s in range(0, size, step)]


def canonical(path: str) -> str:
    """The name a file goes by in keys and manifests: absolute for local files."""
    return path if "://" in path else os.path.abspath(path)


def file_key(path: str) -> str:
    # Asked once per record: cached per (path, working directory), since a relative path's
    # canonical name depends on the latter. Saves ~40% of the reading time.
    return _file_key(path, "" if "://" in path else os.getcwd())


@functools.lru_cache(maxsize=4096)
def _file_key(path: str, cwd: str) -> str:
    return xxhash.xxh3_64_hexdigest(canonical(path).encode("utf-8"))


def record_key(path: str, offset: int) -> str:
    """Unique per input record: two files whose ids both start at 0 still give distinct keys.
    Fixed width, so string order is (file, offset) order."""
    return f"{file_key(path)}:{offset:013d}"


def key_offset(key: str) -> int:
    """The record offset a `record_key` holds."""
    return int(key.rsplit(":", 1)[1])


def dead_letter(path: str, offset: int | None, error: str, raw: bytes | str | None = None, **extra) -> dict:
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="backslashreplace")  # lossless for inspection: bad bytes as \xNN
    return {"input_file": path, "offset": offset, "error": error, "raw": raw, **extra}


class _RawFile(io.RawIOBase):
    """The store's file object, remembering whether a read of it failed: an exception that
    comes from here is an I/O failure (retry), anything else while decoding is damage."""

    def __init__(self, f):
        self.f = f
        self.failure: BaseException | None = None

    def readable(self):
        return True

    def seekable(self):
        return True

    def readinto(self, buf):
        try:
            data = self.f.read(len(buf))
        except Exception as e:
            self.failure = e
            raise
        buf[: len(data)] = data
        return len(data)

    def seek(self, pos, whence=io.SEEK_SET):
        try:
            return self.f.seek(pos, whence)
        except Exception as e:
            self.failure = e
            raise

    def tell(self):
        return self.f.tell()

    def close(self):
        try:
            self.f.close()
        finally:
            super().close()


def _open(path: str) -> _RawFile:
    return _RawFile(FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED))
