"""Checking a pipeline configuration before any work starts.

A mistake in a YAML override (`min: abc`, a misspelt filter or signal, min > max, a language
code that is not one of `languages`) would otherwise surface deep inside a running Beam job
as `TypeError: '>=' not supported ...`. Every problem is reported as one line naming the file
the value came from and its key path, e.g.
`config my.yaml: filters.word_count.zh.min: expected a number or null, got 'abc'`.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any

from ..document import SIGNAL_NAMES
from ..errors import ConfigError
from ..text.segment import BACKENDS

DEFAULT_FILE = "pipelines/config/default.yaml"
_TOP_LEVEL = ("languages", "read", "langid", "chinese", "segment", "pii", "quality_model", "boilerplate", "filters",
              "signals", "dedup", "web")
# Sections whose every setting is one of a few words: section -> setting -> choices.
_CHOICES = {
    "chinese": {"output_script": ("original", "simplified")},
    "segment": {"backend": BACKENDS},
}
_LANG_RE = re.compile(r"^[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")


class _Checker:
    def __init__(self, raw: dict, user: dict | None, user_path: str | None):
        self.raw, self.user, self.user_path = raw, user or {}, user_path

    def origin(self, keys: tuple) -> str:
        """The file a key came from: the user's when it (or, for a missing key, its parent) is there."""
        return self._origin(keys) if self._origin(keys) != DEFAULT_FILE or len(keys) < 2 else self._origin(keys[:-1])

    def _origin(self, keys: tuple) -> str:
        node = self.user
        for k in keys:
            if isinstance(node, list) and isinstance(k, int) and k < len(node):
                node = node[k]
            elif isinstance(node, dict) and k in node:
                node = node[k]
            else:
                return DEFAULT_FILE
        return self.user_path or DEFAULT_FILE

    def from_user(self, keys: tuple) -> bool:
        return self.user_path is not None and self._origin(keys) == self.user_path

    def fail(self, keys: tuple, message: str):
        raise ConfigError(f"config {self.origin(keys)}: {'.'.join(map(str, keys))}: {message}")

    def mapping(self, value, keys) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(keys, f"expected a mapping, got {value!r}")
        return value

    def number(self, value, keys, *, allow_none=False, lo=None, hi=None, integer=False):
        if value is None and allow_none:
            return
        ok = isinstance(value, int) if integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok:
            kind = "an integer" if integer else "a number"
            self.fail(keys, f"expected {kind}{' or null' if allow_none else ''}, got {value!r}")
        if lo is not None and value < lo or hi is not None and value > hi:
            self.fail(keys, f"{value!r} is outside [{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]")

    def check_type(self, value, keys, kind, label):
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.fail(keys, f"expected {label}, got {value!r}")

    def lang_key(self, lang, keys, languages):
        if lang != "default" and lang not in languages and self.from_user(keys):
            self.fail(keys, f"unknown language {lang!r}: not one of languages {languages} (or `default`)")


def validate(raw: dict[str, Any], user: dict | None = None, user_path: str | None = None) -> None:
    """Raise ConfigError on the first problem in the merged config `raw`; `user` is the
    override file's own content, `user_path` its name (to say where a bad value came from)."""
    c = _Checker(raw, user, user_path)
    for key in raw:
        if key not in _TOP_LEVEL:
            c.fail((key,), f"unknown section (known: {', '.join(_TOP_LEVEL)})")

    languages = raw.get("languages")
    if not isinstance(languages, list) or not languages:
        c.fail(("languages",), "must list at least one language to keep")
    for i, lang in enumerate(languages):
        if not isinstance(lang, str) or not _LANG_RE.match(lang):
            c.fail(("languages", i), f"{lang!r} is not a language code (ISO 639, e.g. zh, en, yue)")

    read = c.mapping(raw.get("read"), ("read",))
    known = {"text_field": str, "id_field": str, "text_unit": str, "max_doc_chars": int, "split_mb": (int, float),
             "shard_mb": (int, float)}
    for key, value in read.items():
        if key not in known:
            c.fail(("read", key), f"unknown setting (known: {', '.join(known)})")
    for key in ("text_field", "id_field"):
        if key in read:
            c.check_type(read[key], ("read", key), str, "a field name")
    if read.get("text_unit", "file") not in ("file", "line"):
        c.fail(("read", "text_unit"), f"expected file or line, got {read['text_unit']!r}")
    if "max_doc_chars" in read:
        c.number(read["max_doc_chars"], ("read", "max_doc_chars"), lo=1, integer=True)
    if "split_mb" in read:
        c.number(read["split_mb"], ("read", "split_mb"), lo=0.001)
    if "shard_mb" in read:
        c.number(read["shard_mb"], ("read", "shard_mb"), lo=0)

    langid = c.mapping(raw.get("langid"), ("langid",))
    for key in langid:
        if key not in ("model", "max_chars", "script_rules", "min_score"):
            c.fail(("langid", key), "unknown setting (known: model, max_chars, script_rules, min_score)")
    if "model" in langid:
        c.check_type(langid["model"], ("langid", "model"), str, "'bundled' or a fastText model path")
    if "max_chars" in langid:
        c.number(langid["max_chars"], ("langid", "max_chars"), lo=1, integer=True)
    if "script_rules" in langid:
        c.check_type(langid["script_rules"], ("langid", "script_rules"), bool, "true or false")
    for lang, score in c.mapping(langid.get("min_score"), ("langid", "min_score")).items():
        c.lang_key(lang, ("langid", "min_score", lang), languages)
        c.number(score, ("langid", "min_score", lang), lo=0, hi=1)

    for section, settings in _CHOICES.items():
        for key, value in c.mapping(raw.get(section), (section,)).items():
            if key not in settings:
                c.fail((section, key), f"unknown setting (known: {', '.join(settings)})")
            if value not in settings[key]:
                c.fail((section, key), f"expected one of {', '.join(settings[key])}, got {value!r}")
    for section, build in (("pii", _pii_step), ("quality_model", _quality_step)):
        try:
            build(c.mapping(raw.get(section), (section,)))
        except (TypeError, ValueError) as e:
            c.fail((section,), str(e))
    _check_boilerplate(c, raw)
    _check_filters(c, raw, languages)
    signals = c.mapping(raw.get("signals"), ("signals",))
    for key, table in signals.items():
        if key not in ("char_ngram", "word_ngram"):
            c.fail(("signals", key), "unknown setting (known: char_ngram, word_ngram)")
        for lang, n in c.mapping(table, ("signals", key)).items():
            c.lang_key(lang, ("signals", key, lang), languages)
            c.number(n, ("signals", key, lang), lo=1, integer=True)
    _check_dedup(c, raw)
    _check_web(c, raw)


def _check_web(c: _Checker, raw: dict) -> None:
    from ..web.config import WebConfig
    from ..web.extract.base import backend_names

    try:
        web = WebConfig.from_dict(c.mapping(raw.get("web"), ("web",)))
    except ValueError as e:
        where, _, message = str(e).partition(": ")
        c.fail(("web", *where.split(".")), message)
    if web.extractor not in backend_names():
        c.fail(("web", "extractor"), f"unknown extractor {web.extractor!r} (known: {', '.join(backend_names())})")


def _pii_step(section: dict):
    from ..text.pii import RedactPII

    return RedactPII.from_config(section)


def _quality_step(section: dict):
    """Checks the settings only: the model itself is loaded by the workers."""
    from ..quality_model import ScoreQuality

    threshold = section.get("threshold")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))):
        raise ValueError(f"threshold: expected a number or null, got {threshold!r}")
    return ScoreQuality.from_config(section)


def _check_boilerplate(c: _Checker, raw: dict) -> None:
    from ..text.boilerplate import BoilerplateConfig

    section = c.mapping(raw.get("boilerplate"), ("boilerplate",))
    fields = {f.name: f for f in dataclasses.fields(BoilerplateConfig)}
    for key, value in section.items():
        keys = ("boilerplate", key)
        if key not in fields:
            c.fail(keys, f"unknown setting (known: {', '.join(fields)})")
        if key == "enabled":
            c.check_type(value, keys, bool, "true or false")
        elif key == "phrases":
            if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
                c.fail(keys, "expected a list of regular expressions")
            for i, p in enumerate(value):
                try:
                    re.compile(p)
                except re.error as e:
                    c.fail((*keys, i), f"not a regular expression ({e})")
        elif key == "max_phrase_share":
            c.number(value, keys, lo=0, hi=1)
        elif key == "matcher":
            from ..text.phrases import BACKENDS

            if value not in BACKENDS:
                c.fail(keys, f"expected one of {', '.join(BACKENDS)}")
        else:
            c.number(value, keys, lo=0, integer=True)


def _check_filters(c: _Checker, raw: dict, languages: list) -> None:
    filters = c.mapping(raw.get("filters"), ("filters",))
    for name, spec in filters.items():
        spec = c.mapping(spec, ("filters", name))
        if "signal" not in spec:
            c.fail(("filters", name, "signal"), "missing: name the quality signal this filter bounds "
                   f"(a misspelt filter? known: {', '.join(filters)})")
        if spec["signal"] not in SIGNAL_NAMES:
            c.fail(("filters", name, "signal"), f"unknown signal {spec['signal']!r} (known: {', '.join(SIGNAL_NAMES)})")
        for lang, bounds in spec.items():
            if lang == "signal":
                continue
            keys = ("filters", name, lang)
            c.lang_key(lang, keys, languages)
            bounds = c.mapping(bounds, keys)
            for k, v in bounds.items():
                if k not in ("min", "max"):
                    c.fail((*keys, k), "unknown keys: use min/max")
                c.number(v, (*keys, k), allow_none=True)
            lo, hi = bounds.get("min"), bounds.get("max")
            if lo is not None and hi is not None and lo > hi:
                c.fail(keys, f"min {lo} > max {hi}: no document could pass")


def _check_dedup(c: _Checker, raw: dict) -> None:
    from ..dedup.config import DedupConfig

    section = c.mapping(raw.get("dedup"), ("dedup",))
    fields = {f.name: f for f in dataclasses.fields(DedupConfig)}
    for key, value in section.items():
        keys = ("dedup", key)
        if key not in fields:
            c.fail(keys, f"unknown setting (known: {', '.join(fields)})")
        default = fields[key].default
        if isinstance(default, bool):
            c.check_type(value, keys, bool, "true or false")
        elif isinstance(default, int):
            c.number(value, keys, integer=True)
        elif isinstance(default, float) or key == "verify_threshold":
            c.number(value, keys, allow_none=key == "verify_threshold")
        elif key in ("methods", "lsh_weights", "lsh_params") and value is not None and not isinstance(value, list):
            c.fail(keys, f"expected a list, got {value!r}")
    try:
        DedupConfig.from_dict(section)
    except (TypeError, ValueError) as e:
        c.fail(("dedup",), str(e))
