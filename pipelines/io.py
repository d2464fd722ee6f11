"""Reading raw records, local or gs://, in whatever input format the registry knows
(`pipelines/readers/`: JSONL, Parquet, text, WARC, WET, HTML, a file each) behind two calls.

A file is read as one or more ranges (`plan_ranges`): a file no larger than `split_bytes` is
one range; a larger one is cut as its format allows (byte ranges of an uncompressed JSONL,
line-per-document text or per-record WARC file, row-group ranges of a Parquet file, the whole
file otherwise: a compressed stream cannot be entered in the middle). `read_range` yields
("doc", document) or ("malformed", dead-letter record) for every record whose start lies in the
range:

- a bad record (invalid JSON, undecodable bytes, a missing or non-string text field) is one
  dead-letter record with its file and offset, and reading goes on;
- a corrupt stream (a truncated or damaged gzip, a file that is not Parquet) keeps every
  record before the damage and ends with one dead-letter record marked `corrupt`, which
  says how many records came before it;
- an I/O error of the underlying file (a transient GCS read error) is raised, so the runner
  retries the bundle instead of losing the rest of the file silently.

Every document gets `key`, unique per input record (the file and the record's offset),
which is what the pipeline groups and joins on; the input `id` is kept as data.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Iterator

from apache_beam.io.filesystems import FileSystems

from . import readers
# FileRange, record keys and dead letters are shared with the readers; imported from here by
# the rest of the package, as before they moved.
from .records import (CORRUPT, FileRange, _open, _RawFile, canonical, dead_letter, file_key,  # noqa: F401
                      key_offset, record_key)


class _FormatNames(Sequence):
    """The registered format names (all, or the web ones), asked anew at each use: a reader
    registered after this module was imported is in."""

    def __init__(self, web: bool | None):
        self.web = web

    def __getitem__(self, i):
        return readers.names(self.web)[i]

    def __len__(self):
        return len(readers.names(self.web))

    def __iter__(self):
        return iter(readers.names(self.web))

    def __contains__(self, name):
        return name in readers.names(self.web)

    def __repr__(self):
        return repr(readers.names(self.web))


FORMATS = _FormatNames(None)      # the --input_format choices (besides auto)
WEB_FORMATS = _FormatNames(True)  # formats whose records are web pages (the run extracts them first)


@dataclass(frozen=True)
class ReadSpec:
    format: str = "auto"          # auto | a registered format (FORMATS)
    text_field: str = "text"
    id_field: str = "id"
    text_unit: str = "file"       # text inputs: a document per file or per line
    split_bytes: int = 64 << 20   # ranges of this size spread one large file over workers
    max_body_bytes: int = 10 << 20  # web records: an HTTP body that inflates past this is dead-lettered


def detect_format(path: str) -> str:
    """The format `path`'s name says; a ValueError for a name that says none or a refused one."""
    return readers.detect(path)


def _format(path: str, spec: ReadSpec) -> str:
    return detect_format(path) if spec.format == "auto" else spec.format


def read_range(rng: FileRange, spec: ReadSpec = ReadSpec()) -> Iterator[tuple[str, dict]]:
    """Every record starting in `rng`: documents and dead letters; raises on I/O failure."""
    fmt = _format(rng.path, spec)
    reader = readers.get(fmt)
    raw = _open(rng.path)
    state = {"offset": rng.start if not rng.row_groups else 0, "emitted": 0}
    try:
        yield from reader.read(raw, rng, spec, state)
    except Exception as e:  # noqa: BLE001 - classified below
        if raw.failure is not None:
            raise  # the store failed, not the data: let the runner retry the bundle
        yield "malformed", dead_letter(
            rng.path, state["offset"],
            f"{CORRUPT} {fmt} file after {state['emitted']} records in this range: {type(e).__name__}: {e}",
            records_before=state["emitted"])
    finally:
        raw.close()


def plan_ranges(path: str, size: int, spec: ReadSpec = ReadSpec()) -> list[FileRange]:
    """The ranges one file is read in: one for a file of at most spec.split_bytes, else as
    many as its reader cuts it into."""
    reader = readers.get(_format(path, spec))  # a name that says no format fails here, at planning
    step = max(int(spec.split_bytes), 1)
    if size <= step:
        return [FileRange(path, 0, -1)]
    return reader.plan(path, size, step, spec)


def iter_records(path: str, spec: ReadSpec = ReadSpec()) -> Iterator[tuple[str, dict]]:
    """Every record of one file, range by range (what the pipeline reads, in one process)."""
    size = FileSystems.match([path])[0].metadata_list[0].size_in_bytes
    for rng in plan_ranges(path, size, spec):
        yield from read_range(rng, spec)


def match_pattern(pattern: str) -> list[tuple[str, int]]:
    """(path, size) of every file matching `pattern`; a ValueError naming it when none does."""
    matches = FileSystems.match([pattern])[0].metadata_list
    found = sorted((m.path, m.size_in_bytes) for m in matches if not m.path.endswith("/"))
    if not found:
        raise ValueError(f"--input {pattern!r} matches no file")
    return found


def expand_inputs(patterns: list[str]) -> list[str]:
    """Every file matching the patterns; a ValueError naming the pattern that matched nothing."""
    return sorted({path for pattern in patterns for path, _ in match_pattern(pattern)})
