"""Quality filters: each one a named bound on one quality signal, per language.

A filter is data (signal, min, max per language); `first_failure` returns the name of the
first filter a document fails, which becomes its drop reason.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Bounds:
    min: float | None = None
    max: float | None = None

    def admits(self, value: float) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


@dataclass(frozen=True)
class QualityFilter:
    name: str
    signal: str
    bounds: dict[str, Bounds]  # language -> bounds; "default" for the rest

    def bounds_for(self, lang: str) -> Bounds:
        return self.bounds.get(lang) or self.bounds.get("default") or Bounds()

    def passes(self, signals: dict[str, float], lang: str) -> bool:
        return self.bounds_for(lang).admits(signals[self.signal])

    @classmethod
    def from_dict(cls, name: str, spec: dict) -> "QualityFilter":
        if "signal" not in spec:
            raise ValueError(f"filter {name!r}: missing 'signal'")
        bounds = {}
        for lang, b in spec.items():
            if lang == "signal":
                continue
            b = b or {}
            unknown = set(b) - {"min", "max"}
            if unknown:
                raise ValueError(f"filter {name!r}, language {lang!r}: unknown keys {sorted(unknown)} (use min/max)")
            bounds[lang] = Bounds(b.get("min"), b.get("max"))
        return cls(name, spec["signal"], bounds)


def plan(filters: list[QualityFilter], lang: str) -> list[tuple[str, str, float, float]]:
    """The (name, signal, min, max) checks of `lang`, in order, for `failure`: the per-document
    loop then does one chained comparison a filter instead of three method calls. A filter
    without bounds for `lang` passes every value and is left out."""
    checks = []
    for f in filters:
        b = f.bounds_for(lang)
        if b.min is not None or b.max is not None:
            checks.append((f.name, f.signal, -math.inf if b.min is None else b.min,
                           math.inf if b.max is None else b.max))
    return checks


def failure(checks: list[tuple[str, str, float, float]], signals: dict[str, float]) -> str | None:
    """`first_failure` over a `plan` (NaN fails a bounded filter in both)."""
    for name, signal, lo, hi in checks:
        if not lo <= signals[signal] <= hi:
            return name
    return None


def first_failure(filters: list[QualityFilter], signals: dict[str, float], lang: str) -> str | None:
    for f in filters:
        if not f.passes(signals, lang):
            return f.name
    return None
