"""Segmentation backends (rjieba, the default, against the jieba reference) on real text,
and the ftfy gate of the cleaning step that feeds them."""
import pickle

import ftfy
import pytest

from pipelines.config import PipelineConfig
from pipelines.text import normalize as norm
from pipelines.text import segment
from pipelines.text.script import HAN_RE, is_chinese
from roots_measure.segment import decision_differences, run_processor, word_agreement

# Both backends load jieba's default dictionary; the whole point of rjieba is speed.
BACKENDS = ("jieba", "rjieba")


@pytest.fixture(scope="module")
def zh_texts(corpus_docs):
    """Real Chinese text of every kind the corpus has: reviews, titles, abstracts, exam
    passages, Wikipedia paragraphs, WMT human/machine translations (mixed with Latin)."""
    by_source = {}
    for d in corpus_docs.values():
        if d["source"].startswith(("zh-", "wmt22-")) and HAN_RE.search(d["text"]):
            by_source.setdefault(d["source"], []).append(d["text"])
    return [t for texts in by_source.values() for t in texts[:80]]


def test_backends_give_the_same_words_on_real_chinese(zh_texts):
    # rjieba.cut defaults to hmm=True, which differs from jieba HMM=False on ~13% of
    # documents; a backend in the wrong mode fails here.
    a = word_agreement(zh_texts, "zh", "jieba", "rjieba")
    assert a["texts"] >= 500
    assert a["identical_share"] >= 0.99, a
    assert a["token_recall"] >= 0.999 and a["token_precision"] >= 0.999, a


def test_backends_drop_punctuation_and_whitespace_identically(zh_texts):
    jieba = segment.load_jieba()
    noisy = [t for t in zh_texts if any(c in t for c in "，。！？、；：“”（）《》 \n\t")][:300]
    assert len(noisy) >= 100
    dropped = {"jieba": []}
    for text in noisy:
        words = {b: segment.words(text, "zh", backend=b) for b in BACKENDS}
        assert words["rjieba"] == words["jieba"]
        kept = set(words["jieba"])
        dropped["jieba"] += [t for t in jieba.lcut(text, HMM=False) if t not in kept]
        for w in words["rjieba"]:
            assert not w.isspace() and segment._HAS_WORD_CHAR.search(w), w
    # What was dropped is punctuation and whitespace, and there was plenty of it.
    assert len(dropped["jieba"]) > 1000
    assert all(not segment._HAS_WORD_CHAR.search(t) or t.isspace() for t in dropped["jieba"])


def test_non_chinese_text_is_split_by_the_word_regex_whatever_the_backend(corpus_docs):
    text = next(d["text"] for d in corpus_docs.values() if d["source"] == "c4-en")
    assert segment.words(text, "en", backend="jieba") == segment.words(text, "en", backend="rjieba")
    assert segment.words("don't e-mail, 3.14!", "en") == ["don't", "e-mail", "3", "14"]


def test_backend_choice_config_and_pickling():
    assert segment.DEFAULT_BACKEND == "rjieba"
    assert PipelineConfig.load().segment.backend == "rjieba"
    assert PipelineConfig.load().with_overrides({"segment": {"backend": "jieba"}}).segment.backend == "jieba"
    with pytest.raises(ValueError, match="segment.backend: expected one of"):
        PipelineConfig.load().with_overrides({"segment": {"backend": "pkuseg"}})
    with pytest.raises(ValueError):
        segment.Segmenter("hmm")
    seg = pickle.loads(pickle.dumps(segment.Segmenter("jieba").load()))
    assert seg.backend == "jieba" and seg.words("今天天气不错。", "zh") == ["今天天气", "不错"]


class _FixedCuts(segment.Segmenter):
    """Cuts every Chinese text into the same two words: shows which segmenter was asked."""

    def words(self, text, lang):
        return ["甲乙", "丙"] if is_chinese(lang) else super().words(text, lang)


def test_dedup_shingles_use_the_segmenter_they_are_given_not_a_process_setting():
    from pipelines.dedup.config import DedupConfig
    from pipelines.dedup.sketch import Sketcher, shingles

    cfg = DedupConfig(cjk_unit="word", cjk_ngram=1, methods=("minhash",))
    assert shingles("今天天气不错", "zh", cfg, _FixedCuts()) == {"甲乙", "丙"}
    assert shingles("今天天气不错", "zh", cfg, segment.Segmenter("jieba")) == {"今天天气", "不错"}
    fixed, default = Sketcher(cfg, _FixedCuts()), Sketcher(cfg)
    assert fixed("今天天气不错", "zh")[2] == Sketcher(cfg, _FixedCuts())("甲乙丙丁", "zh")[2]  # same shingles
    assert fixed("今天天气不错", "zh")[2] != default("今天天气不错", "zh")[2]
    assert not hasattr(segment, "configure")  # no process-wide backend for a step to depend on


def test_quality_filter_decisions_within_half_a_percent(corpus_docs):
    """DocumentProcessor on a slice of the real corpus with each backend: every drop reason
    and every filter's own verdict within 0.5% of the jieba run."""
    docs = list(corpus_docs.values())[:2500]
    cfg = PipelineConfig.load()
    ref, cand = run_processor(cfg, docs, "jieba"), run_processor(cfg, docs, "rjieba")
    assert len(ref.zh_texts) > 1000  # the slice exercises the Chinese path
    diff = decision_differences(ref, cand)
    assert diff["documents"] == len(docs)
    for reason, s in diff["by_reason"].items():
        assert s["changed_share"] <= 0.005, (reason, s)
    assert set(diff["by_filter"]) == {f.name for f in cfg.filters}
    for name, s in diff["by_filter"].items():
        assert s["judged"] > 2000 and s["flipped_share"] <= 0.005, (name, s)


# -- the ftfy gate of normalize(): real mojibake from the corpus is repaired, and skipping
# ftfy where the gate says no changes nothing.

def _always_ftfy(text, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(norm, "_may_need_ftfy", lambda t: True)
        return norm.normalize(text)


@pytest.mark.parametrize("doc_id, broken, fixed", [
    ("c4-en-0220", "don\x92t", "don’t"),                      # cp1252 quote left as a C1 control
    ("c4-en-0818", "\x93Fuel Economy\x94", "“Fuel Economy”"),
    ("web-traf-0135", "MÃ¤scot", "Mäscot"),                   # UTF-8 read as Latin-1
    ("c4-en-0615", "exposÃ©", "exposé"),
    ("web-traf-0200", "ﬂexible", "flexible"),                 # ligature
    ("web-traf-0081", "Daten \u2028und", "Daten\nund"),        # Unicode line separator
])
def test_real_mojibake_is_repaired(corpus_docs, monkeypatch, doc_id, broken, fixed):
    text = corpus_docs[doc_id]["text"]
    assert broken in text
    assert norm._may_need_ftfy(text)
    out = norm.normalize(text)
    assert fixed in out and broken not in out
    assert out == _always_ftfy(text, monkeypatch)


def test_mojibake_of_real_chinese_and_cyrillic_is_repaired(corpus_docs):
    zh = next(d["text"] for d in corpus_docs.values() if d["source"] == "zh-wiki-paragraphs")
    ru = next(d["text"] for d in corpus_docs.values()
              if d["source"] == "wmt22-source-doc" and sum("а" <= c <= "я" for c in d["text"]) > 200)
    for original, wrong in [(zh, "sloppy-windows-1252"), (zh, "latin-1"), (ru, "sloppy-windows-1251"), (ru, "sloppy-windows-1252")]:
        garbled = original.encode("utf-8").decode(wrong)
        assert norm._may_need_ftfy(garbled), wrong
        assert norm.normalize(garbled) == norm.normalize(original), wrong


def test_gate_finds_an_entity_after_a_harmless_pair_on_the_same_line(monkeypatch):
    # "é—" is a lead + continuation pair whose line ftfy leaves alone; the entity after it
    # on the same line must still send the text to ftfy.
    line = "Le café—bien sûr"
    assert not norm._may_need_ftfy(line)
    text = "Titre\n" + line + " &amp; le thé"
    assert norm._may_need_ftfy(text)
    assert norm.normalize(text) == _always_ftfy(text, monkeypatch) == "Titre\nLe café—bien sûr & le thé"


def test_gate_skips_clean_text_and_changes_no_output(corpus_docs, monkeypatch):
    # A slice rich in accented Latin text, which the old gate sent to ftfy whole.
    docs = [d["text"] for d in corpus_docs.values() if d["source"].startswith(("web-", "wmt22-source", "c4-"))][:700]
    docs += [d["text"] for d in corpus_docs.values() if d["source"].startswith("zh-")][:300]
    skipped = [t for t in docs if not norm._may_need_ftfy(t)]
    latin1 = [t for t in skipped if any("\x80" <= c <= "\u02ff" for c in t)]
    assert len(latin1) > 100  # accented letters alone no longer wake ftfy
    for text in docs:
        assert norm.normalize(text) == _always_ftfy(text, monkeypatch)
    assert ftfy.fix_text("plain café", norm._FTFY_CONFIG) == "plain café"


def test_has_words_agrees_with_counting_the_words(corpus_docs):
    from pipelines.text.segment import has_words

    texts = [d["text"] for d in list(corpus_docs.values())[:3000]] + ["", "one", "don't e-mail me"]
    for n in (0, 1, 3, 20, 50):
        assert [has_words(t, n) for t in texts] == [len(segment.words(t, None)) >= n for t in texts], n
