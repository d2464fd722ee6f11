"""Quality filters: each one a named bound on one quality signal, per language.

A filter is data (signal, min, max per language); `first_failure` returns the name of the
first filter a document fails, which becomes its drop reason.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field


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
    doc: str = field(default="", compare=False)  # why the filter exists (the config docs)

    def bounds_for(self, lang: str) -> Bounds:
        return self.bounds.get(lang) or self.bounds.get("default") or Bounds()

    def _with_doc(self, doc: str) -> "QualityFilter":
        return QualityFilter(self.name, self.signal, self.bounds, doc)

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


def _f(signal: str, doc: str = "", **langs) -> dict:
    """A filter's default entry: its signal, and language -> bounds or (bounds, why)."""
    entry = {"signal": signal}
    notes = {}
    for lang, spec in langs.items():
        entry[lang], why = spec if isinstance(spec, tuple) else (spec, "")
        if why:
            notes[lang] = why
    return {"entry": entry, "doc": doc, "notes": notes}


# The zh and en bounds were re-derived from data (issue 13), not copied: on the `tune` half of
# benchmarks/quality_eval.py, clean prose against junk families made from real text. Each note
# gives the clean tail the bound sits beyond and the junk it catches (FILTERS_DOC).
DEFAULT_FILTERS = {
    "too_short": _f("n_words", "also checked before language ID for text that is not Han-dominant",
                    zh=({"min": 5}, "shortest clean zh text: 6 words (a C3 dialogue line)"),
                    en=({"min": 20}, "1% of clean en is shorter (Wikipedia disambiguation stubs); lone boilerplate "
                                     "lines (cookie notices, newsletter prompts, captions) run 10-22 words"),
                    default={"min": 10}),
    "word_count": _f("n_words", zh={"max": 1000000}, en={"max": 100000}, default={"max": 100000}),
    "mean_word_length": _f("mean_word_length",
                           en=({"min": 3, "max": 10}, "clean en 3.74-6.24 (Gopher's 3-10 holds)"),
                           zh=({"min": 1.14}, "clean zh >= 1.15; character salad (jieba finds no words) 1.00-1.12"),
                           default={"min": None, "max": None}),
    "char_repetition": _f("char_repetition",
                          zh=({"max": 0.35}, "clean zh max 0.31 (terms recur in abstracts; ROOTS' 0.2 dropped 11% of "
                                             "CSL); stuffing 0.20-0.46"),
                          en=({"max": 0.21}, "clean en max 0.207 (ROOTS' 0.106 dropped 5% of SQuAD contexts)"),
                          default={"max": 0.2}),
    "word_repetition": _f("word_repetition",
                          zh=({"max": 0.25}, "clean zh 99.8% 0.21; phrase spam 1.0, templated pages 0.27-0.62"),
                          en=({"max": 0.27}, "clean en max 0.26; phrase spam 1.0, templated 0.17-0.64"),
                          default={"max": 0.3}),
    "word_diversity": _f("word_diversity",
                         zh=({"min": 0.45}, "clean zh min 0.47; keyword stuffing <= 0.13"),
                         en=({"min": 0.5}, "clean en min 0.57; keyword stuffing <= 0.12"),
                         default={"min": None}),
    "special_characters": _f("special_char_ratio",
                             zh=({"max": 0.3}, "digits are not special; clean zh 99.8% 0.27 (full-width punctuation "
                                               "counts)"),
                             en=({"max": 0.12}, "clean en max 0.096"),
                             default={"max": 0.4}),
    "digit_ratio": _f("digit_ratio",
                      zh=({"max": 0.4}, "clean zh max 0.27 (figures in abstracts and headlines are text)"),
                      en=({"max": 0.4}, "clean en max 0.16"),
                      default={"max": 0.5}),
    "stopwords": _f("stopword_ratio",
                    zh=({"min": 0.1}, "on Simplified characters; clean zh 0.2% 0.12 (ROOTS' 0.169 dropped 1%)"),
                    en=({"min": 0.2}, "clean en 0.2% 0.27"),
                    default={"min": 0.1}),
    "flagged_words": _f("flagged_word_ratio",
                        zh=({"max": 0.005}, "no junk family measures it: just above the clean zh maximum (0.004)"),
                        en=({"max": 0.01}, "ROOTS; clean en max 0.002"),
                        default={"max": 0.1}),
    "ellipsis_lines": _f("ellipsis_line_ratio",
                         zh=({"max": 0.5}, "Chinese dialogue ends lines with …… (clean zh C3 dialogues reach 0.4)"),
                         default=({"max": 0.3}, "Gopher; texts under 3 lines score 0 (a review may trail off)")),
    "sentence_lines": _f("sentence_line_ratio",
                         zh=({"min": 0.5}, "clean zh 0.2% 0.64; boilerplate-only pages mostly < 0.5"),
                         en=({"min": 0.75}, "clean en min 0.71, 0.5% 0.79; menus and teaser lists below"),
                         default={"min": None}),
    "bullet_lines": _f("bullet_line_ratio", default={"max": 0.9}),
    "lorem_ipsum": _f("lorem_ipsum", default={"max": 0}),
}
FILTERS_DOC = """Filters run in this order; a document is dropped by the first one it fails, and that
filter's name is its drop reason. `min`/`max` bound the signal; null disables a bound.

The zh and en bounds were re-derived from data (issue 13), not copied: on the `tune` half
of benchmarks/quality_eval.py, clean prose (CSL abstracts, WMT22 zh references, zh/en
Wikipedia, C3, CMRC/DRCD/SQuAD contexts, C4 pages a reader judged clean) against junk
families made from real text (boilerplate-only pages and lines, phrase spam, keyword
stuffing, character salad, number dumps, templated pages). Each comment gives the clean
tail the bound sits beyond and the junk it catches; `python benchmarks/quality_eval.py
--half check` is the measurement on the half that was not looked at. Other languages keep
the ROOTS/Gopher values under `default`."""


class Filters(tuple):
    """The `filters:` section, typed: its QualityFilters in order (name -> signal and bounds
    per language in the YAML). Calling it gives the list (callers written when it was a method)."""
    section_name = "filters"
    section_doc = FILTERS_DOC
    mapping: dict = {}  # the YAML form it was built from (what a release records)

    def __new__(cls, filters=(), raw: dict | None = None):
        self = super().__new__(cls, filters)
        self.mapping = raw if raw is not None else {}
        return self

    def __init__(self, *args, **kwargs):
        super().__init__()

    def __reduce__(self):
        return (Filters, (tuple(self), self.mapping))

    def by_name(self, name: str) -> QualityFilter | None:
        return next((f for f in self if f.name == name), None)

    @classmethod
    def defaults(cls) -> "Filters":
        return cls(tuple(QualityFilter.from_dict(name, d["entry"])._with_doc(d["doc"])
                         for name, d in DEFAULT_FILTERS.items()),
                   {name: d["entry"] for name, d in DEFAULT_FILTERS.items()})

    @staticmethod
    def schema_dump(value: "Filters") -> dict:
        import copy

        return copy.deepcopy(value.mapping)

    @classmethod
    def schema_build(cls, value, keys: tuple, ctx) -> "Filters":
        """Each filter names one of the quality signals (pipelines/document.py SIGNAL_NAMES) and
        bounds it per language; a filter that is no default's and has no `signal` is a misspelt
        one."""
        from ..document import SIGNAL_NAMES

        table = ctx.mapping(value, keys)
        filters = []
        for name, spec in table.items():
            spec = ctx.mapping(spec, (*keys, name))
            if "signal" not in spec:
                ctx.fail((*keys, name, "signal"), "missing: name the quality signal this filter bounds "
                         f"(a misspelt filter? known: {', '.join(table)})")
            if spec["signal"] not in SIGNAL_NAMES:
                ctx.fail((*keys, name, "signal"),
                         f"unknown signal {spec['signal']!r} (known: {', '.join(SIGNAL_NAMES)})")
            for lang, bounds in spec.items():
                if lang == "signal":
                    continue
                where = (*keys, name, lang)
                ctx.lang_key(lang, where)
                bounds = ctx.mapping(bounds, where)
                for k, v in bounds.items():
                    if k not in ("min", "max"):
                        ctx.fail((*where, k), "unknown keys: use min/max")
                    ctx.number(v, (*where, k), optional=True)
                lo, hi = bounds.get("min"), bounds.get("max")
                if lo is not None and hi is not None and lo > hi:
                    ctx.fail(where, f"min {lo} > max {hi}: no document could pass")
            doc = DEFAULT_FILTERS[name]["doc"] if name in DEFAULT_FILTERS else ""
            filters.append(QualityFilter.from_dict(name, spec)._with_doc(doc))
        return cls(filters, table)


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
