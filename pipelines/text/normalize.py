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

_HSPACE_RE = re.compile(r"[^\S\n]+")       # runs of whitespace other than newline
_BLANK_LINES_RE = re.compile(r"\n\s*\n\s*\n+")  # 3+ line breaks -> paragraph break
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


# Mojibake shows up as Latin-1/Latin-Extended characters, ligatures, lone surrogates or HTML
# entities; text without any of them gives ftfy nothing to fix, so skip its (costly) pass.
_MAY_NEED_FTFY = re.compile(r"[\x80-\u02ff\ufb00-\ufb06\ud800-\udfff]|&(?:#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")


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
    if _MAY_NEED_FTFY.search(text):
        text = ftfy.fix_text(text, _FTFY_CONFIG)
    else:
        text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL_RE.sub("", text)
    text = text.translate(_WIDTH_TABLE)
    text = _HSPACE_RE.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    text = _BLANK_LINES_RE.sub("\n\n", text)
    return text.strip()

