"""The machinery of the config schema: a section is a frozen dataclass whose fields are
`setting(...)`s (default, explanation, allowed values, bounds); from it come the defaults
(`defaults_of`), the typed values with their checks (`build`: one ConfigError naming the file
and key path, e.g. `config my.yaml: filters.word_count.zh.min: expected a number or null, got
'abc'`) and the docs (`pipelines.config.docs`). The sections themselves are declared next to
the code that uses them and listed in `pipelines.config.sections`.

Types a field may have: bool, int, float (an int is accepted), str, `X | None`, tuple[...] (a
YAML list), a nested section (dataclass), `PerLang[T]` (language -> value, `default` for the
rest), or a class with `schema_build(value, keys, ctx)` and `schema_dump(value)` of its own.
"""
from __future__ import annotations

import dataclasses
import functools
import re
import types
import typing
from typing import Any, Callable

from ..errors import ConfigError

DEFAULT_FILE = "pipelines/config/default.yaml"
LANG_RE = re.compile(r"^[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")


def setting(default: Any = dataclasses.MISSING, doc: str = "", *, factory: Callable | None = None,
            choices: tuple | Callable[[], tuple] | None = None, lo: float | None = None, hi: float | None = None,
            positive: bool = False, label: str | None = None, check: Callable[[Any], str | None] | None = None,
            listed: bool = True) -> Any:
    """A config field. `doc` says what it does and why its default is what it is (measurements
    included); `choices` (or a function returning them, for registries filled on import) are
    the allowed values; `lo`/`hi` bound a number; `positive` asks for a number > 0; `label`
    names what a string or list holds in an error; `check(value)` returns an error message or
    None; `listed=False` keeps an expert setting out of default.yaml (and so out of the
    resolved config unless a user's file sets it): it is still documented and settable."""
    meta = {"doc": doc, "choices": choices, "lo": lo, "hi": hi, "positive": positive, "label": label,
            "check": check, "listed": listed}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


class PerLang(dict):
    """Language -> value, `default` for every kept language without its own entry. `notes`
    (language -> why) document a default table."""
    notes: dict = {}

    def __init__(self, values: dict | None = None, notes: dict | None = None, **langs):
        super().__init__(values or {}, **langs)
        if notes:
            self.notes = dict(notes)

    def for_lang(self, lang: str):
        return self.get(lang, self.get("default"))

    def __reduce__(self):
        return (PerLang, (dict(self),))


class Context:
    """Where the values being built came from: `user` is the user's file's own mapping and
    `path` its name, so a bad value is reported against the file it is in."""

    def __init__(self, user: dict | None = None, path: str | None = None, languages=(),
                 source: str | None = DEFAULT_FILE):
        self.user, self.path, self.languages, self.source = user or {}, path, list(languages), source

    def origin(self, keys: tuple) -> str | None:
        """The file a key came from: the user's when it (or, for a missing key, its parent) is there."""
        here = self._origin(keys)
        return here if here != self.source or len(keys) < 2 else self._origin(keys[:-1])

    def _origin(self, keys: tuple) -> str | None:
        node = self.user
        for k in keys:
            if isinstance(node, list) and isinstance(k, int) and k < len(node):
                node = node[k]
            elif isinstance(node, dict) and k in node:
                node = node[k]
            else:
                return self.source
        return self.path or self.source

    def from_user(self, keys: tuple) -> bool:
        return self.path is not None and self._origin(keys) == self.path

    def fail(self, keys: tuple, message: str):
        origin = self.origin(keys)
        where = ".".join(map(str, keys))
        raise ConfigError(f"config {origin}: {where}: {message}" if origin else f"{where}: {message}")

    def mapping(self, value, keys) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(keys, f"expected a mapping, got {value!r}")
        return value

    def lang_key(self, lang, keys):
        if lang != "default" and lang not in self.languages and self.from_user(keys):
            self.fail(keys, f"unknown language {lang!r}: not one of languages {self.languages} (or `default`)")

    def number(self, value, keys, *, optional=False, integer=False, lo=None, hi=None, positive=False):
        if value is None and optional:
            return None
        ok = isinstance(value, int) if integer else isinstance(value, (int, float))
        if positive and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
            self.fail(keys, f"expected a positive number, got {value!r}")
        if isinstance(value, bool) or not ok:
            kind = "an integer" if integer else "a number"
            self.fail(keys, f"expected {kind}{' or null' if optional else ''}, got {value!r}")
        if lo is not None and value < lo or hi is not None and value > hi:
            low, high = "-inf" if lo is None else lo, "inf" if hi is None else hi
            self.fail(keys, f"{value!r} is outside [{low}, {high}]")
        return value


@functools.lru_cache(maxsize=None)
def hints(cls) -> dict[str, Any]:
    """Field name -> resolved type of a section (annotations are strings under `from __future__`)."""
    return typing.get_type_hints(cls)


def _unwrap_optional(tp) -> tuple[Any, bool]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def choices_of(meta) -> tuple | None:
    choices = meta.get("choices")
    return tuple(choices()) if callable(choices) else choices


def build(cls, value, keys: tuple, ctx: Context):
    """An instance of section `cls` from its YAML mapping `value` (missing keys: the defaults),
    or a ConfigError naming the first bad key. A ValueError from the section's own
    `__post_init__` (settings that only go wrong together) is reported against the section."""
    value = ctx.mapping(value, keys)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    types_ = hints(cls)
    values = {}
    for key, item in value.items():
        if key not in fields:
            ctx.fail((*keys, key), f"unknown setting (known: {', '.join(fields)})")
        values[key] = build_value(types_[key], fields[key].metadata, item, (*keys, key), ctx)
    try:
        return cls(**values)
    except (TypeError, ValueError) as e:
        if isinstance(e, ConfigError):
            raise
        ctx.fail(keys, str(e))


def build_value(tp, meta, value, keys: tuple, ctx: Context):
    tp, optional = _unwrap_optional(tp)
    if value is None and optional:
        return None
    origin = typing.get_origin(tp) or tp
    if hasattr(origin, "schema_build"):
        return origin.schema_build(value, keys, ctx)
    if dataclasses.is_dataclass(origin):
        return build(origin, value, keys, ctx)
    if origin is PerLang:
        (item_type,) = typing.get_args(tp) or (Any,)
        table = PerLang()
        for lang, item in ctx.mapping(value, keys).items():
            ctx.lang_key(lang, (*keys, lang))
            table[lang] = build_value(item_type, meta, item, (*keys, lang), ctx)
        return table
    if tp is bool:
        if not isinstance(value, bool):
            ctx.fail(keys, f"expected true or false, got {value!r}")
    elif tp in (int, float):
        ctx.number(value, keys, optional=optional, integer=tp is int, lo=meta.get("lo"), hi=meta.get("hi"),
                   positive=meta.get("positive", False))
    elif origin is tuple:
        args = typing.get_args(tp)
        item_type = args[0] if args else Any
        if not isinstance(value, (list, tuple)) or (item_type is str and not all(isinstance(v, str) for v in value)):
            ctx.fail(keys, f"expected a list{' of ' + meta['label'] if meta.get('label') else ''}, got {value!r}")
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        if item_type in (int, float) and not numbers:
            ctx.fail(keys, f"expected a list of numbers, got {value!r}")
        value = tuple(value)
    elif tp is str:
        if not isinstance(value, str):
            ctx.fail(keys, f"expected {meta.get('label') or 'a name'}, got {value!r}")
    choices = choices_of(meta)
    if choices is not None and (value if origin is not tuple else None) is not None and value not in choices:
        ctx.fail(keys, f"expected one of {', '.join(map(str, choices))}, got {value!r}")
    if choices is not None and origin is tuple and not set(value) <= set(choices):
        ctx.fail(keys, f"expected a list of {', '.join(map(str, choices))}, got {list(value)!r}")
    check = meta.get("check")
    message = check(value) if check else None
    if message:
        ctx.fail(keys, message)
    return value


def dump(value):
    """The YAML form of a typed value (what a user writes and the resolved config records)."""
    if hasattr(type(value), "schema_dump"):
        return type(value).schema_dump(value)
    if dataclasses.is_dataclass(value):
        return {f.name: dump(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.metadata.get("listed", True)}
    if isinstance(value, dict):
        return {k: dump(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [dump(v) for v in value]
    return value


def defaults_of(cls) -> dict:
    """The listed settings of section `cls` at their defaults, in YAML form."""
    return dump(cls.defaults() if hasattr(cls, "defaults") else cls())


class Section:
    """Mixin of a section dataclass: built from a mapping outside a config file (a test, a
    benchmark) with the same checks."""

    @classmethod
    def from_dict(cls, values: dict | None, name: str | None = None):
        return build(cls, values or {}, (name or getattr(cls, "section_name", cls.__name__),), Context(source=None))

