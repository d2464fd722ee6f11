"""Input formats, one file each: a format is a `Reader` subclass in this package under `@register`.

A reader says its name (the `--input_format` value), the file-name endings that mean it (after
any compression suffix: `x.jsonl.gz` is JSONL), whether its records are web pages, how a file
larger than one range splits (`plan`) and how a range becomes records (`read`). `pipelines.io`
asks this registry and keeps what every format shares: listing files, one range for a small
file, opening the store, and the dead letter of a corrupt stream.

Adding a format is adding a file here. Every module of this package is imported the first time
the registry is asked (pkgutil), so no list has to name it; a helper module that registers
nothing (`rows`) is imported too, harmlessly. A reader registered from elsewhere (a test, a
notebook) joins the registry of that process only: a worker that imports the package afresh
(Dataflow) knows the files here, not it.
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Iterator

from ..records import FileRange

# Stripped from a name before its format is told; which one a file has is `compression(path)`.
COMPRESSIONS = (".gz", ".bz2", ".zst", ".deflate", ".xz")


class Reader:
    """One input format. Stateless: one instance serves every range in a process."""

    name: str = ""                  # the --input_format value
    suffixes: tuple[str, ...] = ()  # lower-case name endings (compression suffix removed) that mean this format
    # Endings of this format's family that are known and refused: ending -> the ValueError's
    # message ({path} / {path!r}), raised when a run's inputs are listed, before any work starts.
    refused: dict[str, str] = {}
    web = False                     # records are web pages: the run extracts their main text first

    def plan(self, path: str, size: int, step: int, spec) -> list[FileRange]:
        """The ranges a file of `size` > `step` bytes is read in (`spec`: pipelines.io.ReadSpec).
        One range, the whole file, unless the format can be entered in the middle."""
        return [FileRange(path, 0, -1)]

    def read(self, raw, rng: FileRange, spec, state: dict) -> Iterator[tuple[str, dict]]:
        """("doc", document) or ("malformed", dead letter) for every record starting in `rng`,
        from `raw` (records._RawFile, positioned nowhere in particular). Keep state["offset"] at
        the record being read and state["emitted"] at the records given: an exception that is
        not the store's ends the range with one `corrupt` dead letter saying both."""
        raise NotImplementedError


_READERS: dict[str, Reader] = {}
_discovered = False


def register(cls: type[Reader]) -> type[Reader]:
    """Class decorator: `cls` reads the format `cls.name`. A name or ending that another reader
    already claims is an error (which one a file means would depend on import order)."""
    reader = cls()
    if not reader.name:
        raise ValueError(f"{cls.__name__} names no format")
    if reader.name in _READERS:
        raise ValueError(f"input format {reader.name!r} is registered twice")
    claimed = {e: r.name for r in _READERS.values() for e in (*r.suffixes, *r.refused)}
    for ending in (*reader.suffixes, *reader.refused):
        if ending in claimed:
            raise ValueError(f"{cls.__name__}: {ending!r} already means {claimed[ending]!r}")
    _READERS[reader.name] = reader
    return cls


def unregister(name: str) -> None:
    """Forget the format `name` (a test's reader, once the test is done)."""
    del _READERS[name]


def _discover() -> None:
    global _discovered
    if not _discovered:
        _discovered = True
        for module in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{module.name}")


def names(web: bool | None = None) -> tuple[str, ...]:
    """The registered format names in alphabetical order (all, or only the web ones / the others)."""
    _discover()
    return tuple(sorted(n for n, r in _READERS.items() if web is None or r.web == web))


def get(name: str) -> Reader:
    _discover()
    try:
        return _READERS[name]
    except KeyError:
        raise ValueError(f"unknown input format {name!r}; expected one of {'|'.join(names())}") from None


def compression(path: str) -> str | None:
    name = path.lower()
    return next((s for s in COMPRESSIONS if name.endswith(s)), None)


def detect(path: str) -> str:
    """The format `path`'s name says: the reader whose ending is the longest match."""
    _discover()
    name = path.lower()
    for suffix in COMPRESSIONS:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    best, fmt, refusal = "", None, None
    for reader in _READERS.values():
        for ending in reader.suffixes:
            if len(ending) > len(best) and name.endswith(ending):
                best, fmt, refusal = ending, reader.name, None
        for ending, why in reader.refused.items():
            if len(ending) > len(best) and name.endswith(ending):
                best, fmt, refusal = ending, None, why
    if refusal is not None:
        raise ValueError(refusal.format(path=path))
    if fmt is None:
        raise ValueError(f"cannot tell the format of {path!r} from its name; pass --input_format {'|'.join(names())}")
    return fmt
