"""The registry of processing steps and the drop reasons they give.

A step registers itself where it is defined:

    @register_step(order=85, reasons=("my_reason",))
    class MyFilter(Step):
        ...
        @classmethod
        def from_config(cls, config): return cls(config.section("my_filter")) or None to skip

(`register_section("my_filter", MyFilterConfig)` next to it declares its settings). The
chains (`process.PageProcessor`, `process.DocumentProcessor`) run the registered steps of their
`chain` in `order`; the funnel (`drop_reasons`, the rows of stats.json) lists every step's
reasons in chain order, then order. A new filter step is therefore one file plus its config
entry. A step's `reasons` are those it can give whether or not this config builds it (a
funnel's rows do not depend on which steps ran); a callable gives them per config.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable, Iterable

CHAINS = ("page", "document", "dedup")  # in the order a document meets them
# Modules that register the built-in steps: imported before the registry is read.
CORE_MODULES = ("pipelines.web.steps", "pipelines.process", "pipelines.dedup.config")


@dataclass(frozen=True)
class Registered:
    name: str
    chain: str
    order: float
    build: Callable | None                       # config -> step, or None when this config has none
    reasons: tuple[str, ...] | Callable          # or config -> reasons
    funnel: float                                # position among its chain's reasons (default: order)
    source: str = ""                             # where it is defined (a module imported twice registers once)

    def reasons_for(self, config) -> tuple[str, ...]:
        return tuple(self.reasons(config) if callable(self.reasons) else self.reasons)


_REGISTRY: dict[str, Registered] = {}


def register_step(name: str | None = None, *, order: float, chain: str = "document",
                  reasons: Iterable[str] | Callable = (), funnel: float | None = None):
    """Decorator of a step class (built by `from_config(config)` if it has one, else `cls()`) or
    of a factory function `(config) -> step | None`."""
    if chain not in CHAINS:
        raise ValueError(f"unknown chain {chain!r} (known: {', '.join(CHAINS)})")

    def add(obj):
        key = name or getattr(obj, "name", None) or obj.__name__
        build = getattr(obj, "from_config", None) or (obj if not isinstance(obj, type) else (lambda config: obj()))
        entry = Registered(key, chain, order, build, reasons if callable(reasons) else tuple(reasons),
                           order if funnel is None else funnel, f"{obj.__module__}.{obj.__qualname__}")
        if key in _REGISTRY and _REGISTRY[key].source != entry.source:
            raise ValueError(f"step {key!r} is already registered (by {_REGISTRY[key].source})")
        _REGISTRY[key] = entry
        return obj

    return add


def register_reasons(name: str, *, chain: str, order: float, reasons: Iterable[str]) -> None:
    """Drop reasons of a stage that is not a per-document step (dedup)."""
    register_step(name, order=order, chain=chain, reasons=reasons)(lambda config: None)


def unregister_step(name: str) -> None:
    _REGISTRY.pop(name, None)


_loaded = False


def registered(chain: str | None = None) -> list[Registered]:
    """The registered steps (of `chain`), in the order they run."""
    global _loaded
    if not _loaded:
        # (pipelines/extra_steps/ is imported by the config's section list, which every
        # caller has read before it asks for steps: a config is what steps are built from.)
        for module in CORE_MODULES:
            importlib.import_module(module)
        _loaded = True
    entries = [e for e in _REGISTRY.values() if chain is None or e.chain == chain]
    return sorted(entries, key=lambda e: (CHAINS.index(e.chain), e.order))


def build_steps(chain: str, config) -> list:
    """The steps of `chain` this config runs, in order."""
    steps = []
    for entry in registered(chain):
        step = entry.build(config) if entry.build else None
        if step is not None:
            steps.append(step)
    return steps


def drop_reasons(config) -> list[str]:
    """Every reason a document can be dropped, in funnel order (each reason once, where it is
    first given)."""
    entries = sorted(registered(), key=lambda e: (CHAINS.index(e.chain), e.funnel))
    out: dict[str, None] = {}
    for entry in entries:
        out.update(dict.fromkeys(entry.reasons_for(config)))
    return list(out)
