"""`roots_model.documents.guess_lang` (the tokenizer's per-language report) counts Han the way
the pipeline does (`pipelines.text.script.HAN_RE`), supplementary-plane ideographs included."""
import pytest

from roots_model.documents import guess_lang

# Cantonese written with CJK Extension B characters (U+20000 and up) beside BMP ones: 8 of its
# 16 Han characters lie outside U+4E00-U+9FFF / U+3400-U+4DBF
CANTONESE = "\U00020bb6個\U000282e2壞咗，\U000200c1仔\U00020d71家喺度\U00021533緊，\U00020547\U00022cb4\U0002a6a5"


@pytest.mark.parametrize("text, lang", [
    ("北京是中华人民共和国的首都，也是全国的政治中心。", "zh"),
    (CANTONESE, "zh"),
    ("The quick brown fox jumps over the lazy dog near the river bank.", "en"),
    ("東京は日本の首都です。ひらがなとカタカナも使います。", "other"),  # kana: Japanese, not Chinese
    ("서울은 대한민국의 수도입니다. 한국어 문장입니다.", "other"),
    ("Москва является столицей России и крупнейшим городом.", "other"),
])
def test_guess_lang_from_script_mix(text, lang):
    assert guess_lang({"text": text}) == lang


def test_a_lang_field_wins():
    assert guess_lang({"text": "北京是中国的首都" * 3, "lang": "en-US"}) == "en"
