"""The "is this Chinese" rule for text without a language code (`pipelines.text.script.
looks_chinese`: Han at least half the word units, not Japanese or Korean by kana/hangul), and
language ID's script rule, which asks it. Expected answers by hand. (The quality model's, the
tokenizer report's and the dedup benchmark's fallbacks keep their own rules for now: see
pipelines/text/script.py.)"""
import pytest

from pipelines.langid import script_override
from pipelines.quality_model import is_zh
from pipelines.text.script import looks_chinese

CASES = [
    ("开机没几分钟就卡了", True),  # a short review: 9 Han, no other word
    ("北京是首都 Beijing", True),  # 5 Han units, 1 Latin word
    ("北京 ab cd", True),  # 2 of 4 units: exactly half
    ("北京 ab cd ef", False),  # 2 of 5
    ("北京 Beijing is the capital of China", False),
    ("東京は日本の首都です。ひらがなとカタカナも使います。", False),  # kana: Japanese
    ("서울은 대한민국의 수도입니다.", False),
    ("The quick brown fox jumps over the lazy dog.", False),
    ("", False),
]


@pytest.mark.parametrize("text, chinese", CASES)
def test_looks_chinese(text, chinese):
    assert looks_chinese(text) is chinese


@pytest.mark.parametrize("text, chinese", CASES)
def test_language_id_asks_the_rule(text, chinese):
    assert (script_override(text) is not None) is chinese  # language ID's script rule
    assert is_zh(text, "en") is False and is_zh(text, "zh-Hant") is True  # a code decides where there is one
