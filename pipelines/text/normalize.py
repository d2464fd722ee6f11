"""Unicode cleaning that is right for mixed Chinese/English web text.

NFKC is wrong for Chinese: it turns the full-width comma, colon and brackets that Chinese
typesetting uses into ASCII. We instead repair mojibake and control characters with ftfy
(width folding off), fold only full-width *letters, digits and spaces* to ASCII, and leave
CJK punctuation as written.
"""
from __future__ import annotations

import re
import unicodedata

import ftfy
from ftfy.badness import is_bad

_FTFY_CONFIG = ftfy.TextFixerConfig(
    fix_character_width=False,  # we fold widths ourselves, keeping CJK punctuation
    uncurl_quotes=False,        # “” are the standard Chinese quotation marks
    unescape_html="auto",
    normalization="NFC",
    explain=False,
)

# Full-width ASCII letters/digits (U+FF10-19, FF21-3A, FF41-5A) -> ASCII; ideographic space -> space.
_WIDTH_TABLE = {cp: cp - 0xFEE0 for cp in [*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B)]}
_WIDTH_TABLE[0x3000] = 0x20
# Zero-width and BOM characters carry no text; bidi controls break tokenizers.
for _cp in (0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)):
    _WIDTH_TABLE[_cp] = None

# Most texts hold none of these characters: a one-class scan finds that far faster than
# str.translate walks a text through a dict.
_WIDTH_CHARS_RE = re.compile("[" + "".join(re.escape(chr(c)) for c in _WIDTH_TABLE) + "]")
# Runs of whitespace other than newline become one space. Only runs of 2+ or a lone non-space
# (a tab, a no-break space) change: a regex that matched every single space would rewrite
# every space of English text with itself.
_HSPACE_RE = re.compile(r"[^\S\n]{2,}|[^\S\n ]")
_ODD_SPACE_RE = re.compile(r"[^\S\n ]")  # with "  ", all that _HSPACE_RE acts on: one class, a fast scan
_BLANK_LINES_RE = re.compile(r"\n\s*\n\s*\n+")  # 3+ line breaks -> paragraph break
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


# When ftfy can change text (with _FTFY_CONFIG), beyond the NFC we apply anyway. Running it
# only then keeps the output identical to running it always (benchmarks/bench_segment.py
# --part ftfy checks this on the shared corpus) at a fraction of the cost: on web text the
# old test "any Latin-1 letter" sent every German, French or Spanish page through ftfy
# (61% of the corpus's characters) to change 0.6% of documents, nearly all HTML entities.
#
# 1. Fixers that act on a character wherever it is: HTML entities (ftfy's own pattern), C1
#    controls, Latin ligatures, Unicode line breaks, surrogates, terminal escapes and the
#    format controls ftfy strips that our own cleanup keeps.
_FTFY_TARGET_CHARS = r"\x80-\x9f\ufb00-\ufb06\u2028\u2029\ud800-\udfff\x1b\u206a-\u206f\ufff9-\ufffc"
_FTFY_TARGETS = rf"&#?[0-9A-Za-z]{{1,24}};|[{_FTFY_TARGET_CHARS}]"


def _decoded(encodings: list[str], byte_values) -> str:
    """The characters `byte_values` decode to in any of `encodings`, less the targets of 1
    (a pair must not swallow a C1 control or a ligature that alone decides)."""
    chars = {ch for enc in encodings for ch in bytes(byte_values).decode(enc)}
    return "".join(sorted(ch for ch in chars if not re.fullmatch(_FTFY_TARGETS, ch)))


def _ftfy_trigger_re() -> re.Pattern:
    """Either 1 (group `target`) or a pair of 2, below.

    2. Mojibake repair: ftfy re-encodes a line in one of its single-byte encodings and
    decodes it as UTF-8, which changes the text only where a UTF-8 lead byte (C0-F4) is
    followed by a continuation byte (80-BF) or U+FFFD (a lost byte), possibly with a "?"
    between (also a lost byte), or by a space that was a no-break space (A0) after a lead
    byte that ftfy restores A0 after. Those pairs, over all
    of its encodings, are necessary, not sufficient: ftfy acts only if `is_bad` finds the
    line looks like mojibake, which `_may_need_ftfy` asks of the lines holding a pair."""
    import ftfy.bad_codecs  # noqa: F401 - registers the sloppy-windows-* codecs
    from ftfy.chardata import CHARMAP_ENCODINGS as encs

    esc = lambda chars: "".join(re.escape(c) for c in chars)  # noqa: E731
    lead = esc(_decoded(encs, range(0xC0, 0xF5)))
    cont = esc(_decoded(encs, range(0x80, 0xC0)) + "\ufffd")
    # ftfy's ALTERED_UTF8_RE, which it does not apply in macroman (where "– " is a dash).
    a0_encs = [e for e in encs if e != "macroman"]
    lead2_space = esc(_decoded(a0_encs, [0xC2, 0xC3, 0xC5, 0xCE, 0xD0, 0xD9]))
    lead34_space = esc(_decoded(a0_encs, [0xE2, 0xE3, 0xF0]))
    lead_qmark = esc(_decoded(encs, [0xC2, 0xC3]))  # ftfy's LOSSY_UTF8_RE
    pairs = f"[{lead}]\\??[{cont}]|[{lead2_space}] |[{lead34_space}] [{cont}]|[{lead_qmark}]\\?"
    trigger = re.compile(f"(?P<target>{_FTFY_TARGETS})|{pairs}")  # one pass over the text for both
    # Every match starts with "&" or one character of these classes; a scan for them alone is
    # much faster than trying the alternation at every position, and finds none in most texts.
    first = re.compile(f"[&{_FTFY_TARGET_CHARS}{lead}{lead2_space}{lead34_space}{lead_qmark}]")
    return trigger, first


_FTFY_TRIGGER, _FTFY_FIRST = _ftfy_trigger_re()


def _may_need_ftfy(text: str) -> bool:
    """False only when ftfy would leave `text` as NFC leaves it (see the patterns above).
    The alternation is tried only where one of its first characters stands (Python's `re`
    cannot skip ahead to them itself; on the corpus Chinese quotes and dashes,
    lead characters in macroman, are most of the candidates)."""
    checked_to = -1  # ftfy judges each line (through its newline) on its own
    match = _FTFY_TRIGGER.match
    for first in _FTFY_FIRST.finditer(text):
        pos = first.start()
        m = match(text, pos)
        if m is None:
            continue
        if m.lastgroup == "target":
            return True
        if pos < checked_to:
            continue
        start = text.rfind("\n", 0, pos) + 1
        end = text.find("\n", pos) + 1 or len(text)
        if is_bad(text[start:end]):
            return True
        checked_to = end
    return False


_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def fold_for_comparison(text: str) -> str:
    """Text as exact dedup compares it (not for output): NFKC, case-folded, punctuation and
    spaces removed. Mirrors and reposts differ in whitespace, full/half-width forms and
    punctuation more often than in words; those differences must not make two copies distinct."""
    return _NON_WORD.sub("", unicodedata.normalize("NFKC", text).casefold())


def normalize(text: str) -> str:
    """Repair encoding damage and normalize width and whitespace; keeps paragraphs (the
    cleaning step: its output is the kept text)."""
    if not text:
        return ""
    nfc = unicodedata.normalize("NFC", text)
    # ftfy judges the text as given, then again after its NFC pass: ask both questions.
    if _may_need_ftfy(text) or (nfc != text and _may_need_ftfy(nfc)):
        text = ftfy.fix_text(text, _FTFY_CONFIG)
    else:
        text = nfc
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL_RE.sub("", text)
    if _WIDTH_CHARS_RE.search(text):
        text = text.translate(_WIDTH_TABLE)
    if "  " in text or _ODD_SPACE_RE.search(text):
        text = _HSPACE_RE.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    text = _BLANK_LINES_RE.sub("\n\n", text)
    return text.strip()

