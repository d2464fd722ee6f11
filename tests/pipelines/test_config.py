"""Configuration is validated before any work starts: one line naming the file and the key."""
import pytest

from pipelines.config import ConfigError, PipelineConfig


@pytest.mark.parametrize("yaml_text, key, message", [
    ("filters: {word_count: {zh: {min: abc}}}", "filters.word_count.zh.min", "expected a number or null, got 'abc'"),
    ("filters: {word_count: {en: {min: 50, max: 20}}}", "filters.word_count.en", "min 50 > max 20"),
    ("filters: {my_filter: {signal: n_wrods, en: {min: 1}}}", "filters.my_filter.signal", "unknown signal 'n_wrods'"),
    ("filters: {word_cuont: {en: {min: 1}}}", "filters.word_cuont.signal", "missing"),
    ("filters: {word_count: {zh-cn: {min: 1}}}", "filters.word_count.zh-cn", "unknown language 'zh-cn'"),
    ("langid: {min_score: {en: 1.5}}", "langid.min_score.en", "outside [0, 1]"),
    ("languages: [zh, English]", "languages.1", "not a language code"),
    ("read: {max_doc_chars: lots}", "read.max_doc_chars", "expected an integer"),
    ("dedup: {threshold: high}", "dedup.threshold", "expected a number"),
    ("dedup: {thresold: 0.7}", "dedup.thresold", "unknown setting"),
    ("boilerplate: {min_run: [4]}", "boilerplate.min_run", "expected an integer"),
    ("boilerplate: {matcher: pcre}", "boilerplate.matcher", "expected one of re2, re"),
    ("signals: {char_ngram: {en: 0}}", "signals.char_ngram.en", "outside [1"),
    ("filter: {}", "filter", "unknown section"),
    ("pii: {kinds: [passport]}", "pii.kinds", "expected a list of email, phone"),
    ("quality_model: {threshold: 2}", "quality_model.threshold", "outside [0, 1]"),
    ("dedup: {threshold: 1.5}", "dedup", "threshold must be in (0, 1]"),
    ("web: {url_blocklists: a.txt}", "web.url_blocklists", "expected a list of paths"),
    ("read: {text_unit: page}", "read.text_unit", "expected one of file, line, got 'page'"),
    ("boilerplate: {phrases: ['(']}", "boilerplate.phrases", "not a regular expression"),
])
def test_bad_values_are_named_by_file_and_key(tmp_path, yaml_text, key, message):
    path = tmp_path / "my.yaml"
    path.write_text(yaml_text + "\n")
    with pytest.raises(ConfigError) as err:
        PipelineConfig.load(str(path))
    assert str(err.value).startswith(f"config {path}: {key}: ") and message in str(err.value), str(err.value)


def test_valid_overrides_load(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("languages: [zh]\nfilters: {word_count: {zh: {min: 5, max: null}}}\nread: {split_mb: 8}\n"
                    "dedup: {threshold: 0.7, verify_threshold: null}\n")
    cfg = PipelineConfig.load(str(path))
    assert cfg.languages == ["zh"] and cfg.split_bytes == 8 << 20
    PipelineConfig.load()  # the packaged defaults are valid
