"""The config is declared once (pipelines/config/schema.py + the section dataclasses): defaults,
checks and docs derive from it; steps and their drop reasons register themselves."""
from dataclasses import dataclass

import pytest
import yaml

from pipelines.config import ConfigError, PipelineConfig, docs, register_section, unregister_section
from pipelines.config.schema import PerLang, Section, setting
from pipelines.process import DocumentProcessor, Step
from pipelines.steps import register_step, unregister_step


def test_generated_files_are_current():
    # The checked-in default.yaml and docs/config.md are what the schema writes (regenerate
    # with `python -m pipelines.config.docs`).
    assert docs.DEFAULT_YAML.read_text(encoding="utf-8") == docs.default_yaml()
    assert docs.CONFIG_MD.read_text(encoding="utf-8") == docs.config_md()


def test_defaults_keep_their_values():
    cfg = PipelineConfig.load()
    # Values written here by hand (the default.yaml before the schema), not read from the schema.
    assert cfg.languages == ["zh", "en"]
    assert (cfg.read.text_field, cfg.read.max_doc_chars, cfg.split_bytes) == ("text", 1_000_000, 64 << 20)
    assert cfg.langid.min_score == {"zh": 0.85, "en": 0.80, "default": 0.80}
    assert (cfg.segment.backend, cfg.chinese.output_script, cfg.pii.kinds[0]) == ("rjieba", "original", "email")
    assert cfg.dedup.num_perm == 512 and cfg.dedup.signature_bits == 8 and cfg.web.spam.min_score == 6
    assert cfg.filters.by_name("word_repetition").bounds_for("en").max == 0.27
    assert [f.name for f in cfg.filters][:3] == ["too_short", "word_count", "mean_word_length"]
    assert cfg.to_dict()["dedup"] == {"methods": ["exact", "minhash"], "threshold": 0.8, "num_perm": 512,
                                      "signature_bits": 8, "verify_slack": 0.0}
    assert cfg.to_dict() == yaml.safe_load(docs.DEFAULT_YAML.read_text(encoding="utf-8"))


def test_per_language_tables_fall_back_to_default():
    table = PerLang(zh=3, default=10)
    assert (table.for_lang("zh"), table.for_lang("de")) == (3, 10)
    cfg = PipelineConfig.load()
    assert cfg.ngram_sizes("zh") == (3, 5) and cfg.ngram_sizes("de") == (10, 5)
    assert cfg.min_lang_score("fr") == 0.80


def test_user_file_overlays_the_defaults(tmp_path):
    path = tmp_path / "my.yaml"
    path.write_text("filters: {word_count: {zh: {min: 5}}}\ndedup: {lsh_num_perm: 64}\n"
                    "web: {url_blocklists: [a.txt]}\n")
    cfg = PipelineConfig.load(str(path))
    resolved = cfg.to_dict()
    # Merged, not replaced: the default max stays; a setting not in default.yaml appears once set.
    assert resolved["filters"]["word_count"]["zh"] == {"max": 1000000, "min": 5}
    assert resolved["dedup"]["lsh_num_perm"] == 64 and cfg.dedup.lsh_num_perm == 64
    assert cfg.web.url_blocklists == ("a.txt",) and resolved["web"]["url_blocklists"] == ["a.txt"]
    assert PipelineConfig(resolved).to_dict() == resolved


def test_funnel_and_chain_order():
    # The order stats.json has always listed (the literal list drop_reasons() held before the registry).
    page = ["not_a_page", "http_status", "not_html", "url_blocklist", "undecodable", "extract_timeout",
            "extract_memory", "extract_error"]
    filters = ["word_count", "mean_word_length", "char_repetition", "word_repetition", "word_diversity",
               "special_characters", "digit_ratio", "stopwords", "flagged_words", "ellipsis_lines", "sentence_lines",
               "bullet_lines", "lorem_ipsum"]
    spam = ["soft_404", "web_spam_gambling", "web_spam_porn", "web_spam_obfuscated"]
    cfg = PipelineConfig.load()
    assert cfg.drop_reasons() == [*page, "empty", "doc_too_long", "boilerplate_page", "too_short", "language",
                                  "language_score", *filters, *spam, "duplicate_exact", "duplicate_near"]
    scored = PipelineConfig(cfg.to_dict() | {"quality_model": {"model": "m.bin", "threshold": 0.5}})
    assert scored.drop_reasons().index("quality_score") == scored.drop_reasons().index("lorem_ipsum") + 1
    assert [s.name for s in DocumentProcessor(scored).steps] == [
        "doc_too_long", "normalize", "boilerplate", "empty", "pii", "language", "signals", "quality", "quality_score",
        "web_spam"]


# ---------------------------------------------------------------- a step of this test's own
@dataclass(frozen=True)
class ShoutingConfig(Section):
    """Texts that shout dropped (a step declared in a test)."""
    enabled: bool = setting(True)
    max_exclamations: int = setting(5, "more exclamation marks than this and a text is dropped", lo=0)


class RejectShouting(Step):
    name = "shouting"

    def __init__(self, max_share: float):
        self.max_share = max_share

    @classmethod
    def from_config(cls, config):
        section = config.section("shouting")
        return cls(section.max_exclamations) if section.enabled else None

    def __call__(self, doc):
        if doc["text"].count("!") > self.max_share:
            return self.name


@pytest.fixture
def shouting_step():
    register_section("shouting", ShoutingConfig)
    # After the quality filters (80), before the web spam rules (100).
    register_step(order=85, reasons=("shouting",))(RejectShouting)
    yield
    unregister_step("shouting")
    unregister_section("shouting")


EN = ("The committee met on Tuesday to review the budget for the coming year, and after a long "
      "discussion about schools, roads and the new library it agreed to publish a report in May.")


def test_a_new_step_is_one_file_plus_its_config_section(shouting_step, tmp_path):
    path = tmp_path / "my.yaml"
    path.write_text("shouting: {max_exclamations: 2}\n")
    cfg = PipelineConfig.load(str(path))
    assert cfg.section("shouting") == ShoutingConfig(max_exclamations=2)
    reasons = cfg.drop_reasons()
    assert reasons.index("lorem_ipsum") < reasons.index("shouting") < reasons.index("soft_404")
    processor = DocumentProcessor(cfg)
    names = [s.name for s in processor.steps]
    assert names[names.index("quality") + 1:names.index("web_spam")] == ["shouting"]
    quiet, loud = {"id": "a", "text": EN}, {"id": "b", "text": EN.replace(".", "!!!")}
    assert processor.process_batch([quiet, loud]) == [None, "shouting"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("shouting: {max_exclamations: lots}\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: shouting.max_exclamations: expected an integer"):
        PipelineConfig.load(str(bad))
    off = tmp_path / "off.yaml"
    off.write_text("shouting: {enabled: false}\n")
    assert "shouting" not in [s.name for s in DocumentProcessor(PipelineConfig.load(str(off))).steps]
    assert "## shouting" in docs.config_md() and "max_exclamations: 5" in docs.default_yaml()


def test_unregistered_step_leaves_no_trace():
    cfg = PipelineConfig.load()
    assert "shouting" not in cfg.drop_reasons() and "shouting" not in cfg.to_dict()
    with pytest.raises(ConfigError, match="shouting: unknown section"):
        PipelineConfig({**cfg.to_dict(), "shouting": {}})


STEP_FILE = '''
from dataclasses import dataclass

from pipelines.config.schema import Section, setting
from pipelines.config.sections import register_section
from pipelines.process import Step
from pipelines.steps import register_step


@dataclass(frozen=True)
class YellingConfig(Section):
    max_exclamations: int = setting(5, "more exclamation marks than this and a text is dropped", lo=0)


register_section("yelling", YellingConfig)


@register_step(order=85, reasons=("yelling",))
class RejectYelling(Step):
    name = "yelling"

    def __init__(self, most):
        self.most = most

    @classmethod
    def from_config(cls, config):
        return cls(config.section("yelling").max_exclamations)

    def __call__(self, doc):
        return self.name if doc["text"].count("!") > self.most else None
'''


@pytest.fixture
def extra_step_file(tmp_path, monkeypatch):
    """A step file dropped into pipelines/extra_steps/ (here: a folder added to the package's
    path, the repository stays untouched), found by discovery with no other file changed."""
    import sys

    from pipelines import extra_steps, steps

    folder = tmp_path / "extra"
    folder.mkdir()
    (folder / "yelling_step.py").write_text(STEP_FILE)
    monkeypatch.setattr(extra_steps, "__path__", [*extra_steps.__path__, str(folder)])
    monkeypatch.setattr(extra_steps, "_loaded", False)
    monkeypatch.setattr(steps, "_loaded", False)  # the built-in steps are imported again: no harm
    yield
    unregister_step("yelling")
    unregister_section("yelling")
    sys.modules.pop("pipelines.extra_steps.yelling_step", None)


def test_a_step_file_in_extra_steps_is_found_by_the_config_and_the_registry(extra_step_file, tmp_path):
    path = tmp_path / "my.yaml"
    path.write_text("yelling: {max_exclamations: 1}\n")
    cfg = PipelineConfig.load(str(path))  # the section is known before any step is built
    reasons = cfg.drop_reasons()
    assert reasons.index("lorem_ipsum") < reasons.index("yelling") < reasons.index("soft_404")
    processor = DocumentProcessor(cfg)
    assert processor.process_batch([{"id": "a", "text": EN}, {"id": "b", "text": EN + "!!"}]) == [None, "yelling"]
