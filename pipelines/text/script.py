"""Scripts and Chinese language codes: the one definition every pipeline module imports.

- `HAN_RE`: Han ideographs (CJK Unified Ideographs, Extension A, compatibility ideographs
  and the supplementary planes' extensions B-G).
- `KANA_HANGUL_RE`: Japanese kana (incl. half-width) and Korean hangul, which tell Japanese
  and Korean text apart from Chinese.
- `CJK_RE`: either of them; a CJK character counts as roughly half a word when sizing lines.
- `CHINESE_CODES`: language codes / fastText labels that name Chinese or one of its varieties.
"""
from __future__ import annotations

import re

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_KANA_HANGUL = "\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"

HAN_RE = re.compile(f"[{_HAN}]")
KANA_HANGUL_RE = re.compile(f"[{_KANA_HANGUL}]")
CJK_RE = re.compile(f"[{_HAN}{_KANA_HANGUL}]")
LETTER_RE = re.compile(r"[^\W\d_]", re.UNICODE)
_HAN_RUN_RE = re.compile(f"[{_HAN}]+")
_KANA_HANGUL_RUN_RE = re.compile(f"[{_KANA_HANGUL}]+")
_CJK_RUN_RE = re.compile(f"[{_HAN}{_KANA_HANGUL}]+")
# Character classes of the quality signals (pipelines/text/signals.py, fast_signals.py):
# letters, ideographs and digits are text ("non-special"); digits and whitespace counted apart.
NON_SPECIAL_RE = re.compile(r"[^\W_]", re.UNICODE)
DIGIT_RE = re.compile(r"\d", re.UNICODE)
SPACE_RE = re.compile(r"\s", re.UNICODE)

# fastText labels and ISO codes that name a Chinese language or variety: all map to "zh".
CHINESE_CODES = frozenset({"zh", "wuu", "yue", "gan", "lzh", "zh-classical", "cmn", "hak", "nan", "cdo"})


# Counting characters of a class by the lengths of its runs, not len(findall()),
# which makes a string of every character.
def count_han(text: str) -> int:
    return sum(map(len, _HAN_RUN_RE.findall(text)))


def count_kana_hangul(text: str) -> int:
    return sum(map(len, _KANA_HANGUL_RUN_RE.findall(text)))


def count_cjk(text: str) -> int:
    return sum(map(len, _CJK_RUN_RE.findall(text)))


def is_han_char(ch: str) -> bool:
    return bool(HAN_RE.match(ch))


def is_chinese(lang: str | None) -> bool:
    """True for "zh", "zh-Hant", "yue", "wuu", ... (the base code is a Chinese one)."""
    return bool(lang) and (lang in CHINESE_CODES or lang.replace("_", "-").split("-")[0].lower() in CHINESE_CODES)


def han_share(text: str) -> float:
    """Han ideographs among the letters of `text` (0 when it has no letters)."""
    letters = len(LETTER_RE.findall(text))
    return count_han(text) / letters if letters else 0.0


# A run of letters that are neither Han nor kana/hangul: one Latin (Cyrillic, ...) word. One
# negated class (not a non-letter, digit, _, Han or kana) does in one test what a lookahead per letter did in two.
_OTHER_WORD_RE = re.compile(f"[^\\W\\d_{_HAN}{_KANA_HANGUL}]+")
# Kana/hangul above this share of the CJK characters make a text Japanese or Korean. Chinese
# prose quotes the odd Japanese name (ン, ス in CMRC and C3 passages) and writes foreign names
# with the katakana middle dot (・), so a mere presence decides nothing.
KANA_HANGUL_MAX_SHARE = 0.1
# Han at this share of a text's word units makes it Chinese: language ID's script rule. The
# quality model's fallback (han_share >= 0.3), the tokenizer report's guess_lang and the dedup
# benchmark's shingling choice (han_share > 0.2) still ask their own rules: moving them to this one
# changes 3,097 tokenizer-report, 211 dedup-benchmark and 16 quality-model decisions on
# corpus_web_mixed, and the README figures made with them (left for issue #28's continuation).
ZH_MIN_HAN_SHARE = 0.5


def han_dominance(text: str) -> tuple[float, bool]:
    """(share of Han among the text's word units, has enough kana/hangul to be Japanese or
    Korean). A Han character is one unit and so is a whole Latin word: a Chinese abstract
    that names twenty species in Latin is still Han-dominant, which a share of letters
    (each Latin letter one unit) would deny."""
    han = count_han(text)
    kana = count_kana_hangul(text) - text.count("・")
    units = han + len(_OTHER_WORD_RE.findall(text)) if han else 0  # no Han: the share is 0 anyway
    cjk_foreign = kana > KANA_HANGUL_MAX_SHARE * (han + kana) if kana else False
    return (han / units if units else 0.0), cjk_foreign


def looks_chinese(text: str) -> bool:
    """Chinese by its script (for text with no language code; `is_chinese` reads a code): Han
    is at least ZH_MIN_HAN_SHARE of its word units and kana/hangul do not make it Japanese or Korean."""
    share, japanese_or_korean = han_dominance(text)
    return share >= ZH_MIN_HAN_SHARE and not japanese_or_korean
