"""Language ID on the labeled sentences of ../shared/data/langid_eval (22 languages)."""
import json
import pickle

import pytest

from pipelines.datadir import dataset_path
from pipelines.langid import LanguageIdentifier, bundled_model_path, script_override
from roots_measure.langid import evaluate_langid


@pytest.fixture(scope="module")
def identifier():
    return LanguageIdentifier()


@pytest.fixture(scope="module")
def rows():
    path = dataset_path("langid_eval") / "langid.jsonl"
    return [json.loads(l) for l in path.open(encoding="utf-8")]


def test_zh_and_en_accuracy_is_perfect(identifier, rows):
    report = evaluate_langid(identifier.predict, rows)
    print("langid 3-way accuracy:", report["label3"])
    print("per-language accuracy:", report["lang"])
    assert report["n"] == len(rows) > 5000
    assert report["label3"]["zh"] == 1.0  # issue 13: the Han-script rule must not cost a zh sentence
    assert report["label3"]["en"] == 1.0
    assert report["label3"]["other"] >= 0.97


def test_traditional_chinese_is_zh(identifier, rows):
    hant = [r for r in rows if r["script"] == "Hant"]
    assert len(hant) >= 50
    assert sum(lang == "zh" for lang, _ in identifier.predict([r["text"] for r in hant])) / len(hant) >= 0.98


def test_script_rule_never_turns_japanese_into_chinese(identifier, rows):
    ja = [r["text"] for r in rows if r["lang"] == "ja"]
    assert all(script_override(t) is None for t in ja if any("\u3040" <= c <= "\u30ff" for c in t))
    assert sum(lang == "ja" for lang, _ in identifier.predict(ja)) / len(ja) >= 0.97


def test_predict_is_batched_and_scores_are_probabilities(identifier):
    out = identifier.predict(["这是一个中文句子，用来测试语言识别。", "This is an English sentence for testing.", ""])
    assert [lang for lang, _ in out] == ["zh", "en", "und"]
    assert all(0.0 <= s <= 1.0 for _, s in out)


def test_custom_model_path_and_clear_error(tmp_path):
    assert LanguageIdentifier(bundled_model_path()).predict_one("Hello world, how are you today?")[0] == "en"
    with pytest.raises(FileNotFoundError, match="model not found"):
        LanguageIdentifier(str(tmp_path / "missing.bin"))


def test_pickles_as_a_path_not_a_model(identifier):
    blob = pickle.dumps(identifier)
    assert len(blob) < 2000
    assert pickle.loads(blob).predict_one("Guten Morgen, wie geht es dir heute?")[0] == "de"
