"""ONE "is this Chinese" rule for text without a language code (`pipelines.text.script.
looks_chinese`: Han at least half the word units, not Japanese or Korean by kana/hangul),
asked by every module that guesses a language from the script: language ID's script rule,
the quality model's fallback, the tokenizer report's and the dedup benchmark's guesses, the
filter evaluation's boilerplate groups.

Ground truth is computed here on its own, from Unicode character names (not the pipeline's
code-point ranges), and hand-checked cases; the layout check fails when a module states a rule
of its own (a Han count or share compared to a threshold, or "zh" decided from Han counts)."""
import functools
import re
import unicodedata
from pathlib import Path

import pytest

from pipelines.langid import script_override
from pipelines.quality_model import is_zh
from pipelines.text.script import looks_chinese
from roots_measure import dedup as dedup_measure
from roots_measure import junk
from roots_measure.data import corpus
from roots_model.documents import guess_lang

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pipelines", "roots_model", "roots_eval", "roots_measure", "benchmarks", "roots_demo")
THE_RULE = ROOT / "pipelines" / "text" / "script.py"


# ----------------------------------------------------------------------------- ground truth
@functools.lru_cache(maxsize=None)
def _kind(ch: str) -> str:
    name = unicodedata.name(ch, "")
    if name.startswith(("CJK UNIFIED IDEOGRAPH", "CJK COMPATIBILITY IDEOGRAPH")):
        return "han"
    if name == "KATAKANA MIDDLE DOT":  # writes foreign names in Chinese too
        return "other"
    if "HIRAGANA" in name or "KATAKANA" in name or name.startswith("HANGUL"):
        return "kana"
    return "letter" if ch.isalpha() else "other"


def chinese_by_names(text: str) -> bool:
    """Han ideographs (by their Unicode names) are at least half of the word units (one per
    ideograph, one per run of other letters) and kana/hangul at most a tenth of the CJK."""
    han = kana = words = 0
    in_word = False
    for ch in text:
        kind = _kind(ch)
        han += kind == "han"
        kana += kind == "kana"
        words += kind == "letter" and not in_word
        in_word = kind == "letter"
    return han > 0 and han >= 0.5 * (han + words) and kana <= 0.1 * (han + kana)


CASES = [
    ("开机没几分钟就卡了", True),  # a short review: 9 Han, no other word
    ("北京是首都 Beijing", True),  # 5 Han units, 1 Latin word
    ("北京 ab cd", True),  # 2 of 4 units: exactly half
    ("北京 ab cd ef", False),  # 2 of 5
    ("北京上海 Beijing Shanghai Guangzhou Shenzhen", True),  # 4 of 8 units (4 of 37 letters)
    ("北京 Beijing is the capital of China", False),
    ("Posted by 小明 on the forum", False),  # a Han name in an English line
    ("東京は日本の首都です。ひらがなとカタカナも使います。", False),  # kana: Japanese
    ("東京は日本の首都", False),  # Han-heavy, but kana above a tenth of the CJK
    ("约翰・史密斯是一位作家", True),  # the katakana middle dot writes foreign names in Chinese
    ("서울은 대한민국의 수도입니다.", False),
    ("The quick brown fox jumps over the lazy dog.", False),
    ("", False),
]


@pytest.mark.parametrize("text, chinese", CASES)
def test_hand_cases_agree_with_the_names(text, chinese):
    assert chinese_by_names(text) is chinese  # the oracle itself, on cases checked by hand


@functools.lru_cache(maxsize=1)
def corpus_texts() -> tuple[str, ...]:
    """Real documents with no `lang`: corpus_web_mixed's first 3,000 (Chinese, English, mixed)."""
    return tuple(d["text"] for d in corpus()[:3000])


def _texts():
    return [t for t, _ in CASES] + list(corpus_texts())


# ----------------------------------------------------------------------------- every caller
def test_the_rule():
    wrong = [t[:80] for t in _texts() for s in (t[:1000],) if looks_chinese(s) is not chinese_by_names(s)]
    assert not wrong


def test_language_id_asks_the_rule():
    wrong = [t[:80] for t in _texts() for s in (t[:1000],) if (script_override(s) is not None) is not chinese_by_names(s)]
    assert not wrong


def test_quality_model_fallback_asks_the_rule():
    wrong = [t[:80] for t in _texts() if is_zh(t, None) is not chinese_by_names(t[:500])]
    assert not wrong
    assert is_zh("北京是中国的首都", "en") is False and is_zh("The capital", "zh-Hant") is True  # a code decides


def test_tokenizer_report_asks_the_rule():
    wrong = [t[:80] for t in _texts() if (guess_lang({"text": t}) == "zh") is not chinese_by_names(t[:1000])]
    assert not wrong


def test_dedup_benchmark_asks_the_rule():
    wrong = [t[:80] for t in _texts() if (dedup_measure.guess_lang(t) == "zh") is not chinese_by_names(t)]
    assert not wrong


def test_filter_evaluation_groups_ask_the_rule():
    rows = junk.boilerplate_junk(corpus())
    assert len(rows) > 500
    wrong = [text[:80] for text, _family, lang in rows if (lang == "zh") is not chinese_by_names(text)]
    assert not wrong


# ----------------------------------------------------------------------------- layout
# Names of the rule's parts (and of the letter-share rule it replaced): only script.py uses them.
_RULE_PARTS = re.compile(r"\b(han_dominance|ZH_MIN_HAN_SHARE|KANA_HANGUL_MAX_SHARE|han_share)\b")
# Something that counts Han (or CJK) characters ...
_HAN_COUNT = re.compile(r"HAN_RE|CJK_RE|count_han|count_cjk|\bhan\b|\bn_han\b|\\u4e00|\\u3400")
# ... compared with a threshold written as a number, or deciding "zh".
_THRESHOLD = re.compile(r"[<>]=?\s*(\d*\.\d+|\d+\s*/\s*\d+)|\*\s*\d*\.\d+")
_ZH_VALUE = re.compile(r"""(return\s+|(?<![=!<>])=\s*)["']zh["']|["']zh["']\s+if\b""")
_THE_ONE_RULE = re.compile(r"looks_chinese|chinese_han_share|is_chinese|is_zh|CHINESE_CODES")


def _own_rules(root: Path) -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if path == root / THE_RULE.relative_to(ROOT):
                continue
            lines = path.read_text(encoding="utf-8").splitlines()
            for i, line in enumerate(lines):
                code = line.split("#")[0]
                context = " ".join(l.split("#")[0] for l in lines[max(i - 1, 0):i + 1])  # a decision's condition may sit above
                where = f"{path.relative_to(root)}:{i + 1}: {line.strip()}"
                if _RULE_PARTS.search(code):
                    found.append(where)
                elif _HAN_COUNT.search(code) and _THRESHOLD.search(code):
                    found.append(where)
                elif _ZH_VALUE.search(code) and _HAN_COUNT.search(context) and not _THE_ONE_RULE.search(context):
                    found.append(where)
    return found


def test_no_module_states_its_own_rule():
    assert not _own_rules(ROOT)


@pytest.mark.parametrize("line", [
    'return "zh" if han_share(text) > 0.2 else "en"',
    'return is_chinese(lang) if lang else len(HAN_RE.findall(text)) / max(len(text), 1) >= 0.3',
    'out.append((s, "line", "zh" if HAN_RE.search(s) else "en"))',
    "if han > max(latin, 10) and kana < han / 10:\n        return \"zh\"",
    "zh = count_cjk(text) > 0.4 * len(text)",
])
def test_the_layout_check_finds_own_rules(tmp_path, line):
    module = tmp_path / "roots_measure" / "guess.py"
    module.parent.mkdir()
    module.write_text(f"def guess(text):\n    {line}\n")
    assert _own_rules(tmp_path)
