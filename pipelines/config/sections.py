"""The config's sections: name -> schema (a dataclass of `schema.setting`s), in the order of
default.yaml. Each core section is declared next to the code that uses it; the small ones
without a module of their own are here. A new step adds its section with `register_section`
(next to the step), and `PipelineConfig` builds, checks, documents and dumps it like these."""
from __future__ import annotations

from dataclasses import dataclass

from .schema import PerLang, Section, setting

# The preamble of default.yaml (and of docs/config.md).
PREAMBLE = """ROOTS corpus pipeline defaults. Thresholds per language; `default` applies to every kept
language without its own entry. Signals follow BigScience ROOTS (repetition, special
characters, stopwords, flagged words), Gopher (mean word length, ellipsis and bullet lines)
and C4 (lorem ipsum, lines that end a sentence); the zh and en bounds are measured (below)."""
LANGUAGES = ["zh", "en"]
LANGUAGES_DOC = "languages kept; everything else is dropped as `language`"


@dataclass(frozen=True)
class ReadConfig(Section):
    text_field: str = setting("text", label="a field name")
    id_field: str = setting("id", label="a field name")
    text_unit: str = setting("file", "plain-text inputs: one document per `file` or per `line`",
                             choices=("file", "line"))
    max_doc_chars: int = setting(1_000_000, "longer documents are dropped as `doc_too_long` (a 50 MB page is not text)",
                                 lo=1)
    split_mb: float = setting(64, "uncompressed JSONL/text files and Parquet row groups are read in ranges of this "
                                  "size", lo=0.001)
    shard_mb: float = setting(32, "local runs: inputs above this are processed in successive shards of this size "
                                  "(0: never)", lo=0)

    @property
    def split_bytes(self) -> int:
        return int(float(self.split_mb) * (1 << 20))

    @property
    def shard_bytes(self) -> int:
        return int(float(self.shard_mb) * (1 << 20))


@dataclass(frozen=True)
class ChineseConfig(Section):
    output_script: str = setting("original", "original | simplified (Traditional kept text written in Simplified)",
                                 choices=("original", "simplified"))


@dataclass(frozen=True)
class SignalsConfig(Section):
    char_ngram: PerLang[int] = setting(factory=lambda: PerLang(zh=3, en=10, default=10),
                                       doc="ROOTS character_repetition_length", lo=1)
    word_ngram: PerLang[int] = setting(factory=lambda: PerLang(zh=5, en=5, default=5),
                                       doc="ROOTS word_repetition_length", lo=1)


def core_sections() -> dict[str, type]:
    """name -> schema of the built-in sections, in default.yaml's order (imported here, on
    first use, so that `pipelines.config` stays cheap to import)."""
    from ..dedup.config import DedupConfig
    from ..langid import LangIdConfig
    from ..quality_model import QualityModelConfig
    from ..text.boilerplate import BoilerplateConfig
    from ..text.filters import Filters
    from ..text.pii import PiiConfig
    from ..text.segment import SegmentConfig
    from ..web.config import WebConfig

    return {"read": ReadConfig, "langid": LangIdConfig, "segment": SegmentConfig, "chinese": ChineseConfig,
            "pii": PiiConfig, "quality_model": QualityModelConfig, "boilerplate": BoilerplateConfig,
            "filters": Filters, "signals": SignalsConfig, "dedup": DedupConfig, "web": WebConfig}


_EXTRA: dict[str, type] = {}


def register_section(name: str, schema: type) -> type:
    """Add a step's section `name` (a dataclass of settings) after the built-in ones."""
    if name in _EXTRA and _EXTRA[name] is not schema or name in core_sections() or name == "languages":
        raise ValueError(f"config section {name!r} is already declared")
    _EXTRA[name] = schema
    return schema


def unregister_section(name: str) -> None:
    _EXTRA.pop(name, None)


def all_sections() -> dict[str, type]:
    from .. import extra_steps

    extra_steps.load()  # their sections register as they are imported
    return {**core_sections(), **_EXTRA}
