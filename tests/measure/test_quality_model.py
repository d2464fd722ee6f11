"""Quality classifier (EvalWeb-style): trained with fasttext-new (roots_measure), scored with the
pipeline's fasttext-predict (pipelines.quality_model), judged on sources it never saw."""
import json
import random

import pytest

from pipelines import quality_model as qm
from roots_measure import quality_model as train
from roots_measure.cli import main as measure_main
from roots_measure.data import clean_sources
from roots_measure.junk import MODEL_FAMILIES, synthetic_junk


def test_roc_auc_known_values():
    assert train.roc_auc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert train.roc_auc([0.1, 0.2], [0.9, 0.8]) == 0.0
    assert train.roc_auc([0.5, 0.5], [0.5, 0.5]) == 0.5
    assert train.roc_auc([0.9, 0.4], [0.5, 0.1]) == 0.75


def test_prepare_segments_chinese_and_folds_digits_and_script():
    zh = qm.prepare("理想固网2017年营收540万元。")
    tokens = zh.split()
    assert tokens[0] == "理想" and tokens[-2:] == ["万元", "。"]  # jieba words, punctuation kept
    assert "0000" in tokens and "000" in tokens and not any(c in zh for c in "123456789")
    # Traditional and Simplified copies give the model the same tokens.
    assert qm.prepare("聯絡電話與發電方式") == qm.prepare("联络电话与发电方式")
    assert qm.prepare("Hello, World 42\nagain") == "hello , world 00 again"


def test_junk_families_are_reproducible():
    texts = ["深度学习模型在图像识别任务中取得了显著的进展，研究者提出了新的方法。",
             "The committee approved the budget after a long debate on Tuesday."]
    a = synthetic_junk(texts, 3, seed=5)
    assert a == synthetic_junk(texts, 3, seed=5)
    assert a != synthetic_junk(texts, 3, seed=6)
    assert set(MODEL_FAMILIES) < set(a) and all(len(v) == 3 for v in a.values())
    # The filter evaluation's recipe: one language at a time, one random stream across them.
    zh = ["深度学习模型在图像识别任务中取得了显著的进展。研究者提出了新的方法和更大的数据集。" * 3] * 4
    en = ["The committee approved the budget after a long debate on Tuesday evening in the city hall. "
          "Members said the new parks and libraries would open next spring across several districts."] * 4
    rng = random.Random(13)
    b = [synthetic_junk(t, 2, rng, recipe="filters", lang=lang) for t, lang in ((zh, "zh"), (en, "en"))]
    rng = random.Random(13)
    assert b == [synthetic_junk(t, 2, rng, recipe="filters", lang=lang) for t, lang in ((zh, "zh"), (en, "en"))]
    assert set(b[0]) == {"phrase_spam", "keyword_stuffing", "number_dump", "templated", "char_salad"}
    assert b[0] == synthetic_junk(zh, 2, 13, recipe="filters", lang="zh")  # a given generator is used as is
    assert b[1] != synthetic_junk(en, 2, 13, recipe="filters", lang="en")  # en continues zh's stream
    with pytest.raises(ValueError, match="recipe"):
        synthetic_junk(texts, 1, recipe="other")


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("qm") / "quality.bin"
    pos, neg = train.default_training_data(per_source=150, seed=0)
    info = train.train_quality_model(pos, neg, str(path))
    assert info["positives"] == len(pos) and info["negatives"] == len(neg)
    return path


@pytest.mark.slow
def test_heldout_sources_auc_and_accuracy(small_model):
    """Sources the model never saw: zh Wikipedia, DRCD (Traditional), WMT22 human translations,
    AG News against held-out boilerplate pages and junk made from those sources."""
    pos, neg = train.heldout_data(per_group=80)
    train_pos, _ = train.default_training_data(per_source=150, seed=0)
    assert not set(train_pos) & {t for ts in pos.values() for t in ts}
    rep = train.evaluate_quality(qm.QualityScorer(str(small_model)), pos, neg, threshold=0.5)
    print(train.format_report(rep, "held out"))
    assert rep["auc"] >= 0.93
    assert rep["accuracy"] >= 0.85
    assert rep["kept"]["qa_drcd (Traditional)"] >= 0.9
    assert rep["dropped"]["number_dump"] >= 0.9 and rep["dropped"]["char_salad"] >= 0.85


@pytest.mark.slow
def test_step_scores_and_thresholds_and_langid_still_works(small_model):
    step = qm.ScoreQuality(str(small_model), threshold=0.5)
    step.setup()
    assert step.scorer is qm.shared_scorer(str(small_model))  # one model per process
    clean = {"text": "北京大学是中国近代第一所国立综合性大学，其成立标志着中国近代高等教育的开端。学校位于北京市海淀区。",
             "lang": "zh"}
    junk = {"text": " | ".join(["2019-03-01", "12.5%", "3,400", "880.21"] * 12), "lang": "zh"}
    assert step(clean) is None and 0.5 <= clean["quality_score"] <= 1.0
    assert step(junk) == "quality_score" and 0.0 <= junk["quality_score"] < 0.5
    scorer_only = qm.ScoreQuality.from_config({"model": str(small_model)})
    doc = dict(junk)
    assert scorer_only(doc) is None and doc["quality_score"] == junk["quality_score"]  # no threshold: never drops
    assert qm.ScoreQuality.from_config({}) is None
    with pytest.raises(ValueError, match="threshold"):
        qm.ScoreQuality(str(small_model), threshold=1.5)
    # Training and scoring in this process left language ID (the same `fasttext` module) intact.
    from pipelines.langid import LanguageIdentifier

    assert [l for l, _ in LanguageIdentifier().predict(["这是一个中文句子。", "This is English text here."])] == ["zh", "en"]


def test_language_id_model_is_not_a_quality_model():
    from pipelines.langid import bundled_model_path

    with pytest.raises(ValueError, match="not a quality model"):
        qm.QualityScorer(bundled_model_path())


@pytest.mark.slow
def test_train_main_with_named_files(tmp_path, capsys):
    pos = tmp_path / "clean.jsonl"
    neg = tmp_path / "junk.txt"
    clean = clean_sources("train")["zh-paper-abstracts"][:120] + clean_sources("train")["wiki-en"][:120]
    pos.write_text("\n".join(json.dumps({"text": t}, ensure_ascii=False) for t in clean), encoding="utf-8")
    junk = synthetic_junk(clean, 60, seed=2)
    neg.write_text("\n".join(t.replace("\n", " ") for f in MODEL_FAMILIES for t in junk[f]), encoding="utf-8")
    out = tmp_path / "m.bin"
    assert measure_main(["train-quality", "--positive", str(tmp_path / "clean*.jsonl"), "--negative", str(neg),
                         "--output", str(out), "--no-eval"]) == 0
    assert "240 clean, 240 junk texts" in capsys.readouterr().out
    assert 0.0 <= qm.QualityScorer(str(out)).score("自然语言处理是人工智能的一个重要方向。") <= 1.0
    with pytest.raises(SystemExit, match="both --positive and --negative"):
        measure_main(["train-quality", "--positive", str(pos), "--output", str(out)])
    with pytest.raises(FileNotFoundError, match="no file matches"):
        train.read_texts([str(tmp_path / "nothing*.jsonl")])
