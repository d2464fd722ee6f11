"""Pipeline configuration: the packaged default YAML, optionally overlaid by a user's YAML."""
from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from ..text.boilerplate import BoilerplateConfig
from ..text.filters import QualityFilter
from ..text.script import is_chinese
from .validate import ConfigError, validate  # noqa: F401 - ConfigError is part of this module's API


# libyaml's parser where PyYAML was built with it (the wheels are): the same documents, ~10x
# faster than the pure-Python one, and every run loads the config in two processes.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_yaml(text: str):
    return yaml.load(text, Loader=_SafeLoader)  # noqa: S506 - a safe loader


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


def _default_config() -> dict:
    return _load_yaml((resources.files("pipelines.config") / "default.yaml").read_text(encoding="utf-8"))


def load_raw_config(path: str | None = None) -> dict[str, Any]:
    """Default config merged with `path` (a YAML file, local or gs://)."""
    return _merge(_default_config(), _read_user_config(path)) if path else _default_config()


def _per_lang(table: dict, lang: str):
    return table.get(lang, table.get("default"))


@dataclass(frozen=True)
class PipelineConfig:
    raw: dict[str, Any]

    @classmethod
    def load(cls, path: str | None = None) -> "PipelineConfig":
        """The merged configuration, validated: a bad value is a ConfigError naming the file
        and key, raised here, before any work starts."""
        user = _read_user_config(path) if path else None
        cfg = cls(_merge(_default_config(), user) if user else _default_config())
        validate(cfg.raw, user, path)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        validate(self.raw)
        self.filters()
        BoilerplateConfig.from_dict(self.raw.get("boilerplate"))
        if not self.languages:
            raise ValueError("config: `languages` must name at least one language to keep")
        from ..dedup import DedupConfig

        DedupConfig.from_dict(self.raw.get("dedup"))

    @property
    def languages(self) -> list[str]:
        return list(self.raw.get("languages") or [])

    @property
    def read(self) -> dict:
        return self.raw.get("read", {})

    @property
    def split_bytes(self) -> int:
        return int(float(self.read.get("split_mb", 64)) * (1 << 20))

    @property
    def shard_bytes(self) -> int:
        """Local runs process inputs larger than this in successive shards (0: never)."""
        return int(float(self.read.get("shard_mb", 32)) * (1 << 20))

    @functools.cached_property
    def web(self):
        """The typed `web:` section (pipelines/web/config.py), built once per config."""
        from ..web.config import WebConfig

        return WebConfig.from_dict(self.raw.get("web"))

    @property
    def langid(self) -> dict:
        return self.raw.get("langid", {})

    def min_lang_score(self, lang: str) -> float:
        return float(_per_lang(self.langid.get("min_score", {}), lang) or 0.0)

    def min_words_any_script(self) -> int:
        """The fewest words a text that is not Han-dominant needs to be kept in any kept
        language: the smallest `too_short` minimum among the kept non-Chinese languages
        (0 when there is no such filter or only Chinese is kept)."""
        spec = (self.raw.get("filters") or {}).get("too_short") or {}
        mins = []
        for lang in self.languages:
            if is_chinese(lang):
                continue
            bounds = spec.get(lang) or spec.get("default") or {}
            mins.append(float(bounds.get("min") or 0))
        return int(min(mins)) if mins else 0

    def boilerplate(self) -> BoilerplateConfig:
        return BoilerplateConfig.from_dict(self.raw.get("boilerplate"))

    def filters(self) -> list[QualityFilter]:
        return [QualityFilter.from_dict(name, spec) for name, spec in (self.raw.get("filters") or {}).items()]

    def ngram_sizes(self, lang: str) -> tuple[int, int]:
        s = self.raw.get("signals", {})
        return int(_per_lang(s.get("char_ngram", {}), lang) or 10), int(_per_lang(s.get("word_ngram", {}), lang) or 5)

    def drop_reasons(self) -> list[str]:
        """Every reason a document can be dropped, in pipeline order (the funnel's rows)."""
        names = [f.name for f in self.filters()]
        # `too_short` is both a step before language ID and the filter on word counts.
        from ..web.steps import PAGE_REASONS, TEXT_REASONS

        return [*PAGE_REASONS, "empty", "doc_too_long", "boilerplate_page", "too_short", "language", "language_score",
                *[n for n in names if n != "too_short"],
                *(["quality_score"] if (self.raw.get("quality_model") or {}).get("threshold") is not None else []),
                *TEXT_REASONS,
                "duplicate_exact", "duplicate_near"]
