"""Pure text functions on real zh/en snippets: normalization, segmentation, signals, filters."""
import pytest

from pipelines.config import PipelineConfig
from pipelines.text.boilerplate import BoilerplateRemover
from pipelines.text.filters import QualityFilter, first_failure
from pipelines.text.normalize import normalize
from pipelines.text.segment import words
from pipelines.text.signals import compute_signals, repetition_ratio


def _first_doc(corpus_docs, source, min_chars=200):
    return next(d for d in corpus_docs.values() if d["source"] == source and len(d["text"]) >= min_chars)


# --- normalization -----------------------------------------------------------------------
def test_normalize_keeps_chinese_punctuation_and_folds_fullwidth_alphanumerics():
    assert normalize("ＵＳＢ３．０接口，速度很快！（推荐）") == "USB3．0接口，速度很快！（推荐）"
    assert normalize("价格：９９元　包邮") == "价格：99元 包邮"


def test_normalize_repairs_mojibake_and_controls():
    # UTF-8 read as cp1252: the classic "cafÃ©"; a zero-width space and a NUL inside a word.
    assert normalize("cafÃ© au lait") == "café au lait"
    assert normalize("foo\u200bbar\x00baz") == "foobarbaz"
    assert normalize("a  \t b\r\n\r\n\r\n\r\nc") == "a b\n\nc"


def test_normalize_is_idempotent_on_real_documents(corpus_docs):
    for source in ("zh-paper-abstracts", "c4-en", "web-trafilatura-eval", "wmt22-source-doc"):
        text = _first_doc(corpus_docs, source)["text"]
        once = normalize(text)
        assert once and normalize(once) == once


# --- segmentation ------------------------------------------------------------------------
def test_chinese_words_come_from_jieba_not_whitespace(corpus_docs):
    text = _first_doc(corpus_docs, "zh-paper-abstracts")["text"]
    zh_words = words(text, "zh")
    assert len(text.split()) < 5  # Chinese has no spaces
    assert len(zh_words) > 100
    assert "含水层" in zh_words and all(w.strip() for w in zh_words)
    assert not any(w in "，。、；：" for w in zh_words)


def test_english_words_drop_punctuation():
    assert words("Don't panic: it's 3.5 km, e-mail me!", "en") == ["Don't", "panic", "it's", "3", "5", "km", "e-mail", "me"]


# --- signals ----------------------------------------------------------------------------
def test_repetition_ratio_counts_only_repeated_ngrams():
    assert repetition_ratio("abcdefghijklmnop", 3, top_sqrt=True) == 0.0
    assert repetition_ratio(list("ababababab"), 2, top_sqrt=False) == 1.0
    assert repetition_ratio(["x"] * 3, 5, top_sqrt=False) == 0.0  # shorter than n


def _signals(text, lang):
    cfg = PipelineConfig.load()
    c, w = cfg.ngram_sizes(lang)
    return compute_signals(text, words(text, lang), lang, c, w)


def test_signals_on_real_english_and_chinese(corpus_docs):
    en = _signals(normalize(_first_doc(corpus_docs, "c4-en", 1000)["text"]), "en")
    zh = _signals(normalize(_first_doc(corpus_docs, "zh-paper-abstracts")["text"]), "zh")
    assert en["stopword_ratio"] > 0.3 and 3 < en["mean_word_length"] < 8
    assert 0.1 < zh["stopword_ratio"] < 0.8
    assert zh["special_char_ratio"] < 0.3 and en["special_char_ratio"] < 0.4
    assert en["flagged_word_ratio"] == 0.0


# --- filters: each one drops a real document made bad in its own way ----------------------
@pytest.fixture(scope="module")
def filters():
    return PipelineConfig.load().filters()


def _reason(filters, text, lang):
    return first_failure(filters, _signals(normalize(text), lang), lang)


def test_good_real_documents_pass_every_filter(filters, corpus_docs):
    assert _reason(filters, _first_doc(corpus_docs, "c4-en", 1000)["text"], "en") is None
    assert _reason(filters, _first_doc(corpus_docs, "zh-paper-abstracts")["text"], "zh") is None


@pytest.mark.parametrize("lang,source", [("en", "c4-en"), ("zh", "zh-paper-abstracts")])
def test_repeated_text_fails_a_repetition_filter(filters, corpus_docs, lang, source):
    sentence = _first_doc(corpus_docs, source, 300)["text"][:120]
    assert _reason(filters, "\n".join([sentence] * 8), lang) in {"char_repetition", "word_repetition"}


def test_short_english_fails_too_short(filters, corpus_docs):
    assert _reason(filters, "Great product, would buy again.", "en") == "too_short"


def test_symbol_soup_fails_special_characters(filters):
    soup = "价格 ### 优惠 $$$ 包邮 @@@ 正品 %%% 特价 *** 热卖 +++ 新款 === 限时 ||| 抢购 ~~~ ￥99 ^^^ ★★★"
    assert _reason(filters, soup, "zh") == "special_characters"


def test_chinese_without_function_words_fails_stopwords(filters):
    # A keyword-stuffed product title: no 的/了/是... at all.
    assert _reason(filters, "华为手机 苹果手机 小米手机 充电器 数据线 耳机 蓝牙音箱 平板电脑 笔记本电脑 显示器", "zh") == "stopwords"


def test_flagged_words_are_counted(filters, corpus_docs):
    text = _first_doc(corpus_docs, "c4-en", 1000)["text"]
    assert _reason(filters, text + " porn xxx porn xxx porn xxx porn xxx porn xxx porn xxx", "en") == "flagged_words"


def test_ellipsis_and_bullet_lines(filters, corpus_docs):
    base = [s.replace("\n", " ") for s in _first_doc(corpus_docs, "c4-en", 1000)["text"].split(". ")]
    ellipsis = "\n".join(s[:200] + "..." for s in base[:10])
    assert _reason(filters, ellipsis, "en") == "ellipsis_lines"
    bullets = "\n".join("• " + s[:200] + "." for s in base[:10])
    assert _reason(filters, bullets, "en") == "bullet_lines"


def test_filter_config_errors_are_clear():
    with pytest.raises(ValueError, match="missing 'signal'"):
        QualityFilter.from_dict("x", {"en": {"min": 1}})
    with pytest.raises(ValueError, match="unknown keys"):
        QualityFilter.from_dict("x", {"signal": "n_words", "en": {"minimum": 1}})


def test_user_yaml_overrides_thresholds(tmp_path):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("languages: [en]\nfilters:\n  word_count:\n    en: {min: 500}\n")
    cfg = PipelineConfig.load(str(cfg_file))
    assert cfg.languages == ["en"]
    wc = next(f for f in cfg.filters() if f.name == "word_count")
    assert wc.bounds_for("en").min == 500 and wc.bounds_for("en").max == 100000  # merged, not replaced
    assert wc.bounds_for("zh").max == 1000000


# --- boilerplate lines ---------------------------------------------------------------------
def test_boilerplate_filter_quality_on_labeled_pages():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from boilerplate_eval import evaluate

    r = evaluate()
    assert r["main_total"] > 500 and r["boiler_total"] > 500
    assert r["main_snippet_retention"] >= 0.94
    assert r["boilerplate_snippet_removal"] >= 0.40
    assert r["gold_line_retention"] >= 0.90
    assert r["non_gold_line_removal"] >= 0.70


def test_boilerplate_leaves_short_documents_alone():
    remover = BoilerplateRemover()
    review = "手机很好用\n物流很快"
    assert remover(review) == (review, 0)
