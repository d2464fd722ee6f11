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


# A run of letters that are neither Han nor kana/hangul: one Latin (Cyrillic, ...) word. One
# negated class (not a non-letter, digit, _, Han or kana) does in one test what a lookahead per letter did in two.
_OTHER_WORD_RE = re.compile(f"[^\\W\\d_{_HAN}{_KANA_HANGUL}]+")
# Kana/hangul above this share of the CJK characters make a text Japanese or Korean. Chinese
# prose quotes the odd Japanese name (ン, ス in CMRC and C3 passages) and writes foreign names
# with the katakana middle dot (・), so a mere presence decides nothing.
KANA_HANGUL_MAX_SHARE = 0.1
# Han at this share of a text's word units makes it Chinese. THE "is this Chinese" rule for text
# without a language code: language ID's script rule, the quality model's fallback, the
# tokenizer report's and the dedup benchmark's language guesses and the filter evaluation's
# boilerplate groups all ask `looks_chinese` (or `chinese_han_share`); tests/test_zh_rule.py
# fails on a rule of their own. (A question that is not "is this Chinese", such as "has it any
# Han character" or "which Han script", asks HAN_RE / count_han under its own name.)
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


def chinese_han_share(text: str) -> float | None:
    """The rule with its evidence: the Han share of `text`'s word units when it looks Chinese
    (language ID reports it as its score), else None."""
    share, japanese_or_korean = han_dominance(text)
    return share if share >= ZH_MIN_HAN_SHARE and not japanese_or_korean else None


def looks_chinese(text: str) -> bool:
    """Chinese by its script (for text with no language code; `is_chinese` reads a code): Han
    is at least ZH_MIN_HAN_SHARE of its word units and kana/hangul do not make it Japanese or Korean."""
    return chinese_han_share(text) is not None
