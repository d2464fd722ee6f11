"""The extraction interface and the backend registry (`pipelines.web.extract` re-exports it)."""
from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Union


@dataclass(frozen=True)
class Extracted:
    title: str | None
    text: str


class Extractor(Protocol):
    name: str

    def extract(self, html: str, url: str | None = None) -> Extracted: ...


class ExtractError(Exception):
    """One page could not be extracted; `reason` is "timeout", "memory", "crash" or "error"."""

    reason = "error"

    def __init__(self, message: str = "", reason: str | None = None):
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class ExtractTimeout(ExtractError):
    reason = "timeout"


class ExtractMemory(ExtractError):
    reason = "memory"


_SPACE = re.compile(r"\s+")  # str patterns: \s covers U+3000 and U+00A0, both common in zh pages


def as_lines(text: str) -> str:
    """One block per line, whitespace runs inside a line collapsed to one space, no empty lines."""
    lines = (_SPACE.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


# name -> (factory, default options). A factory is a callable or "module:attr", imported on use
# so a backend whose library is missing only fails when asked for.
Factory = Union[str, Callable[..., Any]]
_REGISTRY: dict[str, tuple[Factory, dict]] = {
    "trafilatura": ("pipelines.web.extract.peers:TrafilaturaExtractor", {}),
    "trafilatura_precision": ("pipelines.web.extract.peers:TrafilaturaExtractor", {"favor_precision": True}),
    "resiliparse": ("pipelines.web.extract.peers:ResiliparseExtractor", {}),
    "readability": ("pipelines.web.extract.peers:ReadabilityExtractor", {}),
    "alltext": ("pipelines.web.extract.peers:AllTextExtractor", {}),
    "roots": ("pipelines.web.extract.roots:RootsExtractor", {}),
}

# The backend the pipeline uses unless configured otherwise: the best measured quality at a speed
# the pipeline can afford (benchmarks/extraction_eval.py, all 470 pages: roots F1 0.954 on the
# Chinese pages and 0.949 English at ~140 pages/s; trafilatura favor_precision 0.883 / 0.967 at
# ~24 pages/s; readability-lxml 0.908 / 0.950 at ~15 pages/s).
DEFAULT = "roots"


def register_backend(name: str, factory: Factory, **defaults) -> None:
    """Add a backend. A callable factory must be importable by reference (module-level) when the
    backend is to run under GuardedExtractor, whose child process rebuilds it from the pickle."""
    _REGISTRY[name] = (factory, defaults)


def backend_names() -> list[str]:
    return list(_REGISTRY)


def resolve(name: str, **options) -> tuple[Factory, dict]:
    """The factory and merged options for `name` (what a guard's child needs to rebuild it)."""
    try:
        factory, defaults = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown extractor {name!r}; known: {', '.join(_REGISTRY)}") from None
    return factory, {**defaults, **options}


def build(name: str, factory: Factory, options: dict) -> Extractor:
    if isinstance(factory, str):
        module, _, attr = factory.partition(":")
        factory = getattr(importlib.import_module(module), attr)
    if _takes_name(factory):
        return factory(name=name, **options)
    backend = factory(**options)  # a class without a `name` argument (helper-written, third-party)
    try:
        backend.name = name
    except AttributeError:  # frozen or slotted: it keeps its own name
        pass
    return backend


def _takes_name(factory: Callable) -> bool:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "name" or p.kind is p.VAR_KEYWORD for p in params)


def get_extractor(name: str = DEFAULT, **options) -> Extractor:
    """An in-process backend by registry name; options override the registered defaults."""
    factory, merged = resolve(name, **options)
    return build(name, factory, merged)
