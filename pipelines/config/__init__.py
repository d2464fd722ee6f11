"""Pipeline configuration: the schema's defaults (`sections`; written out, with why each value
is what it is, in default.yaml and docs/config.md by `python -m pipelines.config.docs`),
optionally overlaid by a user's YAML, checked and typed once, here, before any work starts.

`PipelineConfig.load(path)` is the entry point; its sections are typed attributes
(`config.read.text_field`, `config.dedup`, `config.web.spam`, `config.filters`...), and
`to_dict()` is the resolved mapping a release records.
"""
from __future__ import annotations

import copy
from typing import Any

from ..errors import ConfigError  # noqa: F401 - part of this module's API
from .schema import LANG_RE, Context, build, defaults_of
from .sections import LANGUAGES, all_sections, register_section, unregister_section  # noqa: F401


def _load_yaml(text: str):
    import yaml

    # libyaml's parser where PyYAML was built with it (the wheels are): ~10x faster than the
    # pure-Python one, and every run loads the config in two processes.
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader


def _merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _read_user_config(path: str) -> dict:
    from apache_beam.io.filesystems import FileSystems

    try:
        with FileSystems.open(path) as f:
            user = _load_yaml(f.read().decode("utf-8")) or {}
    except Exception as e:  # noqa: BLE001 - re-raised with the file named
        raise ValueError(f"cannot read config {path}: {e}") from e
    if not isinstance(user, dict):
        raise ValueError(f"config {path}: expected a mapping at the top level")
    return user


def default_config() -> dict:
    """The defaults as a mapping (what default.yaml holds): the listed settings of every section."""
    return {"languages": list(LANGUAGES), **{name: defaults_of(schema) for name, schema in all_sections().items()}}


def load_raw_config(path: str | None = None) -> dict[str, Any]:
    """Default config merged with `path` (a YAML file, local or gs://)."""
    return _merge(default_config(), _read_user_config(path)) if path else default_config()


class PipelineConfig:
    """The typed configuration: `languages` and one attribute per section (its schema's type)."""

    languages: list[str]

    def __init__(self, raw: dict | None = None, *, user: dict | None = None, path: str | None = None):
        """From a merged mapping (None: the defaults); `user` and `path` are the user's file's own
        mapping and name, so that a bad value is reported against the file it is in."""
        raw = default_config() if raw is None else raw
        ctx = Context(user, path)
        sections = all_sections()
        for key in raw:
            if key != "languages" and key not in sections:
                ctx.fail((key,), f"unknown section (known: {', '.join(['languages', *sections])})")
        languages = raw.get("languages")
        if not isinstance(languages, list) or not languages:
            ctx.fail(("languages",), "must list at least one language to keep")
        for i, lang in enumerate(languages):
            if not isinstance(lang, str) or not LANG_RE.match(lang):
                ctx.fail(("languages", i), f"{lang!r} is not a language code (ISO 639, e.g. zh, en, yue)")
        ctx.languages = list(languages)
        self.languages = list(languages)
        self._sections = {name: _build_section(schema, raw.get(name), (name,), ctx)
                          for name, schema in sections.items()}
        self.__dict__.update(self._sections)
        self._raw = raw

    @classmethod
    def load(cls, path: str | None = None) -> "PipelineConfig":
        """The merged configuration, checked: a bad value is a ConfigError naming the file and
        key, raised here, before any work starts."""
        if not path:
            return cls()
        user = _read_user_config(path)
        return cls(_merge(default_config(), user), user=user, path=path)

    def with_overrides(self, overrides: dict, source: str = "overrides") -> "PipelineConfig":
        """This config with `overrides` (a mapping in the YAML's shape) merged over it, checked."""
        return type(self)(_merge(self.to_dict(), overrides), user=overrides, path=source)

    def section(self, name: str):
        """A section by name (a step's own section, registered next to it)."""
        return self._sections[name]

    def to_dict(self) -> dict[str, Any]:
        """The resolved configuration as a mapping (defaults + the user's file): what a release
        records, and what `PipelineConfig(mapping)` reads back."""
        return copy.deepcopy(self._raw)

    def __getstate__(self):
        return {"languages": self.languages, "_sections": self._sections, "_raw": self._raw}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.__dict__.update(self._sections)

    # ---------------------------------------------------------------- derived settings
    @property
    def split_bytes(self) -> int:
        return self.read.split_bytes

    @property
    def shard_bytes(self) -> int:
        """Local runs process inputs larger than this in successive shards (0: never)."""
        return self.read.shard_bytes

    def min_lang_score(self, lang: str) -> float:
        return float(self.langid.min_score.for_lang(lang) or 0.0)

    def min_words_any_script(self) -> int:
        """The fewest words a text that is not Han-dominant needs to be kept in any kept
        language: the smallest `too_short` minimum among the kept non-Chinese languages
        (0 when there is no such filter or only Chinese is kept)."""
        from ..text.script import is_chinese

        spec = self.filters.by_name("too_short")
        if spec is None:
            return 0
        mins = [float(spec.bounds_for(lang).min or 0) for lang in self.languages if not is_chinese(lang)]
        return int(min(mins)) if mins else 0

    def ngram_sizes(self, lang: str) -> tuple[int, int]:
        return int(self.signals.char_ngram.for_lang(lang)), int(self.signals.word_ngram.for_lang(lang))

    def drop_reasons(self) -> list[str]:
        """Every reason a document can be dropped, in pipeline order (the funnel's rows): the
        registered steps' reasons (pipelines/steps.py)."""
        from ..steps import drop_reasons

        return drop_reasons(self)


def _build_section(schema, value, keys, ctx):
    if hasattr(schema, "schema_build"):
        return schema.schema_build(value if value is not None else {}, keys, ctx)
    return build(schema, value, keys, ctx)

