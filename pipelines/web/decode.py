"""Bytes of an HTML page to text, in a stated order where every candidate is verified.

    BOM → HTTP charset → <meta> charset (first 8 KiB) → detection → replacement → undecodable

Detection is itself ordered: valid UTF-8 first (exact and cheap), then charset-normalizer on a
capped prefix. A candidate is *verified* when the whole body decodes strictly (a multibyte
sequence cut at the end, as a size-capped body has, is dropped, not an error) and the text is
plausible (`_Facts.implausible`): a strict decode alone does not rule out mojibake, since a
single-byte code page decodes any GBK and most UTF-8 bytes without error. A declaration whose
candidate fails is named in `declared_wrong` ("http:utf-8", "meta:gb2312", "bom:utf-8") and
the next candidate is tried.

Labels follow the WHATWG Encoding Standard, as browsers do: GB2312/GBK and kin are read as
GB18030, Big5 and kin as Big5-HKSCS (cp950 where only it decodes, for its euro sign), and
ISO-8859-1/ASCII as windows-1252. `Decoded.encoding` is Python's codec name of the codec used
(`codecs.lookup(...).name`: "utf-8", "gb18030", "big5hkscs", "cp1252", ...).
"""
from __future__ import annotations

import codecs
import functools
import re
from dataclasses import dataclass

# Where a <meta> charset is looked for. WHATWG prescans 1024 bytes, but real pages put it later
# (a long <title> first; cwced_zh pages at byte 1556, readability_zh-pixnet at 3630).
META_SCAN_BYTES = 8192
# The detector sees at most this much (cut at a byte that cannot be inside a character):
# its cost grows with the input while its answer does not improve past a few pages of text.
DETECT_BYTES = 65536
# Replacement last resort: accepted only if U+FFFD is at most this share of the characters
# (and at most REPLACED_MAX_CHARS of them): a stray broken byte in an otherwise clean page, never
# a page in another encoding (the 34 non-UTF-8 web_extraction pages read as UTF-8: 5.9%-66%;
# the one page that needs this step: 2 in 47,459 characters, a title cut mid-character).
REPLACED_MAX_SHARE = 0.001
REPLACED_MAX_CHARS = 64
# Mojibake guard for CJK decodings: at least this share of the Han characters must be common
# ones (GB2312 level 1 or Big5 level 1) once the text has CJK_MIN_HAN of them. Measured on the 338
# web_extraction zh references (benchmarks/decode_eval.py): real text min 0.958; the same text as
# GB18030 bytes read as Big5-HKSCS max 0.672, Big5 read as GB18030 max 0.730, UTF-8 read as
# GB18030 max 0.449. (GBK read as cp949 is not caught: it comes out as Hangul.)
COMMON_HAN_MIN_SHARE = 0.8
CJK_MIN_HAN = 20
# Binary guard: C0 controls (not tab/newlines/form feed) above this share of the characters.
# Real pages have some (web_extraction: at most 0.03%); random bytes give about 10%.
CONTROL_MAX_SHARE = 0.01
# A body is double-byte CJK when its GB18030 (or Big5) decode replaces at most this share of
# the character pairs: Chinese CMSs cut titles mid-character, so strictness would miss it.
DOUBLE_BYTE_MAX_BAD = 0.01

_BOMS = (  # longest first: the UTF-32-LE BOM starts with the UTF-16-LE one
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# WHATWG labels -> the Python codecs tried in order. Anything not here is an unknown label.
_LABELS: dict[str, tuple[str, ...]] = {}
for _codecs, _labels in (
    (("utf-8",), "utf-8 utf8 unicode-1-1-utf-8 unicode11utf8 unicode20utf8 x-unicode20utf8"),
    (("gb18030", "cp936"), "gb18030 gbk gb2312 x-gbk cp936 ms936 windows-936 chinese csgb2312 "
                           "csiso58gb231280 gb_2312 gb_2312-80 iso-ir-58 euc-cn x-euc-cn hz-gb-2312"),
    (("big5hkscs", "cp950"), "big5 big5-hkscs cn-big5 csbig5 x-big5 cp950 ms950"),
    (("cp932",), "shift_jis shift-jis sjis x-sjis ms932 ms_kanji windows-31j csshiftjis cp932"),
    (("euc_jp",), "euc-jp x-euc-jp cseucpkdfmtjapanese"),
    (("iso2022_jp",), "iso-2022-jp csiso2022jp"),
    (("cp949",), "euc-kr ks_c_5601-1987 ks_c_5601-1989 ksc5601 ksc_5601 korean cseuckr "
                 "csksc56011987 iso-ir-149 windows-949 cp949"),
    (("cp1252",), "iso-8859-1 iso8859-1 iso88591 iso_8859-1 iso_8859-1:1987 latin1 l1 ascii "
                  "us-ascii ansi_x3.4-1968 cp819 ibm819 csisolatin1 iso-ir-100 cp1252 "
                  "windows-1252 x-cp1252 x-user-defined"),
    (("cp1250",), "windows-1250 cp1250 x-cp1250"),
    (("cp1251",), "windows-1251 cp1251 x-cp1251"),
    (("cp1253",), "windows-1253 cp1253 x-cp1253"),
    (("cp1254",), "windows-1254 cp1254 x-cp1254 iso-8859-9 iso8859-9 iso88599 latin5 l5 "
                  "iso_8859-9 csisolatin5 iso-ir-148"),
    (("cp1255",), "windows-1255 cp1255 x-cp1255"),
    (("cp1256",), "windows-1256 cp1256 x-cp1256"),
    (("cp1257",), "windows-1257 cp1257 x-cp1257"),
    (("cp1258",), "windows-1258 cp1258 x-cp1258"),
    (("cp874",), "windows-874 dos-874 tis-620 iso-8859-11 iso8859-11 iso885911"),
    (("iso8859-2",), "iso-8859-2 iso8859-2 iso88592 iso_8859-2 latin2 l2 csisolatin2"),
    (("iso8859-3",), "iso-8859-3 iso8859-3 iso88593 iso_8859-3 latin3 l3"),
    (("iso8859-4",), "iso-8859-4 iso8859-4 iso88594 iso_8859-4 latin4 l4"),
    (("iso8859-5",), "iso-8859-5 iso8859-5 iso88595 iso_8859-5 cyrillic csisolatincyrillic"),
    (("iso8859-6",), "iso-8859-6 iso8859-6 iso88596 iso_8859-6 arabic asmo-708"),
    (("iso8859-7",), "iso-8859-7 iso8859-7 iso88597 iso_8859-7 greek greek8 elot_928"),
    (("iso8859-8",), "iso-8859-8 iso8859-8 iso88598 iso_8859-8 hebrew visual iso-8859-8-i"),
    (("iso8859-10",), "iso-8859-10 iso8859-10 iso885910 latin6 l6"),
    (("iso8859-13",), "iso-8859-13 iso8859-13 iso885913"),
    (("iso8859-15",), "iso-8859-15 iso8859-15 iso885915 iso_8859-15 latin-9 l9"),
    (("koi8-r",), "koi8-r koi8_r koi8 koi cskoi8r"),
    (("koi8-u",), "koi8-u koi8-ru"),
    (("cp866",), "ibm866 cp866 866 csibm866"),
    (("mac-roman",), "macintosh mac x-mac-roman csmacintosh"),
    (("mac-cyrillic",), "x-mac-cyrillic x-mac-ukrainian"),
    (("utf-16-le",), "utf-16 utf-16le unicode ucs-2 csunicode iso-10646-ucs-2 unicodefeff"),
    (("utf-16-be",), "utf-16be unicodefffe"),
):
    for _label in _labels.split():
        _LABELS[_label] = _codecs

_WIDE = {"utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"}
# Code pages for Latin script: their text has one or two non-ASCII letters between ASCII ones.
_LATIN = {"cp1252", "cp1250", "cp1254", "cp1257", "cp1258", "iso8859-2", "iso8859-3", "iso8859-4",
          "iso8859-10", "iso8859-13", "iso8859-15", "iso8859-16", "mac-roman", "latin-1",
          "iso8859-1", "iso8859-9", "mac-latin2", "mac-iceland", "cp850", "cp437"}

_META_RE = re.compile(rb"<meta\b[^>]*?charset\s*=\s*[\"']?\s*([^\s\"';/>]+)", re.IGNORECASE)
_HIGH_RUN4 = re.compile(rb"[\x80-\xff]{4,}")
_ASCII = bytes(range(128))
_HAN_RE = re.compile("[\u4e00-\u9fff]")
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f]")
_NOT_CONTROL_BYTES = bytes(b for b in range(256) if not _CONTROL_RE.match(chr(b)))
# Codecs in which a control character can only come from that very byte (every byte of a
# multibyte sequence is >= 0x30 or >= 0x80): a body without control bytes decodes, in them, to a
# text without control characters, and the regex scan of the text can be skipped (~90 us a page).
_ASCII_TRANSPARENT = frozenset({"utf-8", "gb18030", "big5hkscs", "cp950", "big5", "gbk", "shift_jis", "cp932",
                                "euc_jp", "euc_kr", "cp949", "koi8-r", "koi8-u",
                                *(f"cp{n}" for n in range(1250, 1259)), *(f"iso8859-{n}" for n in (*range(1, 12), *range(13, 17)))})


@dataclass(frozen=True)
class Decoded:
    text: str | None          # None only when decision == "undecodable"
    encoding: str | None      # Python codec name actually used
    # "bom" | "http" | "meta" | "detected" | "replaced" | "undecodable"
    decision: str
    declared_wrong: tuple[str, ...] = ()   # e.g. ("http:utf-8",): declarations that failed


def codecs_for_label(label: str | None, *, from_meta: bool = False) -> tuple[str, ...]:
    """The codecs a charset label stands for (WHATWG rules), () for an unknown label."""
    if not label:
        return ()
    label = label.strip().strip("\"'").lower()
    found = _LABELS.get(label) or _LABELS.get(label.replace("_", "-"), ())
    if from_meta and found and found[0] in _WIDE:
        return ("utf-8",)  # WHATWG: a <meta> that says UTF-16 was read by an ASCII decoder
    return found


def meta_charset(body: bytes) -> str | None:
    """The first <meta> charset label in the first META_SCAN_BYTES of the page."""
    m = _META_RE.search(body, 0, META_SCAN_BYTES)
    return m.group(1).decode("ascii", "replace").lower() if m else None


def decode_html(body: bytes, http_charset: str | None) -> Decoded:
    wrong: list[str] = []
    facts = _Facts(body)

    for bom, codec in _BOMS:
        if body.startswith(bom):
            text = facts.verified(codec, body[len(bom):], bom=True)
            if text is not None:
                return Decoded(text, codec, "bom", ())
            wrong.append(f"bom:{codec}")
            # An editor's BOM before legacy bytes (UTF-8 BOM + GBK): not content, and left
            # in place it would break the GBK pairing of what follows.
            body = body[len(bom):]
            facts = _Facts(body)
            break

    declared = (("http", http_charset, False), ("meta", meta_charset(body), True))
    for source, label, from_meta in declared:
        if not label:
            continue
        for codec in codecs_for_label(label, from_meta=from_meta):
            text = facts.verified(codec, body)
            if text is not None:
                return Decoded(text, _name(codec), source, tuple(wrong))
        wrong.append(f"{source}:{label.strip().lower()}")

    for codec in facts.detected():
        text = facts.verified(codec, body)
        if text is not None:
            return Decoded(text, _name(codec), "detected", tuple(wrong))

    return _last_resort(facts, body, tuple(wrong))


def _last_resort(facts: "_Facts", body: bytes, wrong: tuple[str, ...]) -> Decoded:
    """The plausible tried codec (UTF-8 included) with the fewest U+FFFD, if that many is tiny."""
    best: tuple[int, str, str] | None = None
    for codec in dict.fromkeys([*facts.tried, "utf-8"]):
        if codec in _WIDE:
            continue
        text = _decode(codec, body, "replace")
        bad = text.count("\ufffd")
        if (best is None or bad < best[0]) and not facts.implausible(codec, text):
            best = (bad, codec, text)
    if best is not None and best[0] <= min(REPLACED_MAX_CHARS, REPLACED_MAX_SHARE * len(best[2])):
        return Decoded(best[2], _name(best[1]), "replaced", wrong)
    return Decoded(None, None, "undecodable", wrong)


def _name(codec: str) -> str:
    return codecs.lookup(codec).name


@functools.lru_cache(maxsize=None)
def _single_byte(codec: str) -> bool:
    """One byte, one character (cp1252, koi8-r ...), told apart from CJK and Unicode codecs."""
    if codec == "utf-8" or codec in _WIDE:
        return False
    return (len(bytes(range(256)).decode(codec, "replace")) == 256
            and len(b"\xa4\xa4".decode(codec, "replace")) == 2)


def _decode(codec: str, data: bytes, errors: str) -> str:
    # final=False: a multibyte character cut at the end of a size-capped body is left out.
    decoder = codecs.getincrementaldecoder(codec)(errors)
    return decoder.decode(data, final=False)


class _Facts:
    """What the body is, computed once and only when a check needs it."""

    def __init__(self, body: bytes):
        self.body = body
        self.tried: list[str] = []
        self._utf8: bool | None = None
        self._double_byte: bool | None = None
        self._high: int | None = None
        self._runs: float | None = None
        self._control_free: bool | None = None

    def verified(self, codec: str, data: bytes, bom: bool = False) -> str | None:
        self.tried.append(codec)
        try:
            text = _decode(codec, data, "strict")
        except UnicodeDecodeError:
            return None
        return None if self.implausible(codec, text, bom) else text

    def implausible(self, codec: str, text: str, bom: bool = False) -> bool:
        if codec in _WIDE:
            # Without a BOM, UTF-16/32 HTML has many NUL bytes (its ASCII markup); any
            # even-length ASCII decodes "strictly" as UTF-16 to CJK-looking nonsense.
            if not bom and self.body.count(0) * 16 < len(self.body):
                return True
        elif (not (_name(codec) in _ASCII_TRANSPARENT and self.control_free())
              and len(_CONTROL_RE.findall(text, 0, 65536)) > CONTROL_MAX_SHARE * min(len(text), 65536)):
            return True  # binary data, whatever the codec says
        if codec != "utf-8" and self.is_utf8_non_ascii():
            return True  # text in another encoding is virtually never valid UTF-8
        if not _single_byte(codec):
            # GBK read as Big5, Big5 or broken UTF-8 read as GBK: strict, but rare Han characters.
            return codec != "utf-8" and codec not in _WIDE and _rare_han(text)
        if self.is_double_byte_cjk():
            return True  # GBK/Big5/EUC bytes read one byte a character: mojibake
        # Cyrillic/Greek/Arabic... read as a Latin code page (an HTTP "iso-8859-1" default):
        # letters in long non-ASCII runs, which Latin script never has.
        return _name(codec) in _LATIN and self.high_run_share() >= 0.5

    def control_free(self) -> bool:
        if self._control_free is None:
            self._control_free = not self.body.translate(None, _NOT_CONTROL_BYTES)  # deletes all but controls
        return self._control_free

    def is_utf8_non_ascii(self) -> bool:
        if self._utf8 is None:
            body = self.body
            if body.isascii():
                self._utf8 = False
            else:
                try:
                    _decode("utf-8", body, "strict")
                    self._utf8 = True
                except UnicodeDecodeError:
                    self._utf8 = False
        return self._utf8

    def is_double_byte_cjk(self) -> bool:
        """Bytes that are a double-byte CJK encoding, not a single-byte one.

        Two signs together: most non-ASCII bytes stand in runs of 4+ (Chinese text has no
        spaces; Latin text has one or two accented letters between ASCII ones), and the body
        decodes as GB18030 or Big5 with next to no errors (Cyrillic/Greek/Arabic words are runs
        too, but every odd-length word before a space breaks double-byte pairing).
        """
        if self._double_byte is None:
            self._double_byte = False
            high = self.high_bytes()
            if high >= 2 * CJK_MIN_HAN and self.high_run_share() >= 0.5:
                for codec in ("gb18030", "big5hkscs"):
                    bad = _decode(codec, self.body, "replace").count("\ufffd")
                    if bad <= DOUBLE_BYTE_MAX_BAD * high / 2:
                        self._double_byte = True
                        break
        return self._double_byte

    def high_bytes(self) -> int:
        if self._high is None:
            self._high = len(self.body.translate(None, _ASCII))  # deletes ASCII: the rest remain
        return self._high

    def high_run_share(self) -> float:
        """Share of the non-ASCII bytes that stand in runs of 4 or more (0 when under 40)."""
        if self._runs is None:
            high = self.high_bytes()
            self._runs = sum(map(len, _HIGH_RUN4.findall(self.body))) / high if high >= 40 else 0.0
        return self._runs

    def detected(self):
        """Candidates by detection: valid UTF-8, then charset-normalizer's answers, best first."""
        if not self.body or self.is_utf8_non_ascii() or self.body.isascii():
            yield "utf-8"
            return
        from charset_normalizer import from_bytes  # imported on first use: most pages never need it

        sample = self.body
        if len(sample) > DETECT_BYTES:
            # Cut after a byte below 0x40: never part of a UTF-8, GBK, Big5 or SJIS character.
            cut = max(sample.rfind(c, 0, DETECT_BYTES) for c in (b"\n", b" ", b">", b"<"))
            sample = sample[: cut + 1 if cut > 0 else DETECT_BYTES]
        matches = list(from_bytes(sample))
        if matches:
            # On short Latin text the detector wavers between cp1252, cp1258, cp1250 ... with
            # the same chaos; the web's most common single-byte code page wins those ties.
            tied = [m for m in matches if m.chaos <= matches[0].chaos + 0.01]
            matches.sort(key=lambda m: not (m in tied and _python_codec(m.encoding) == ("cp1252",)))
        seen = set()
        for match in matches:
            for codec in codecs_for_label(match.encoding) or _python_codec(match.encoding):
                if codec not in seen:
                    seen.add(codec)
                    yield codec
        if self.is_double_byte_cjk():
            # The detector missed it (it judges a prefix, and a few broken characters sway
            # it to a Cyrillic code page): offer the two big ones, for the replacement step too.
            yield from (c for c in ("gb18030", "big5hkscs") if c not in seen)


def _python_codec(name: str) -> tuple[str, ...]:
    """A detector's Python codec name that is no WHATWG label (e.g. "utf_8", "big5", "gbk")."""
    try:
        info = codecs.lookup(name)
    except LookupError:
        return ()
    found = codecs_for_label(info.name)
    if found:
        return found
    return (info.name,) if info._is_text_encoding and info.name != "utf-7" else ()


def _common_han() -> frozenset[str]:
    """GB2312 level 1 (3755 most used simplified) and Big5 level 1 (5401 most used traditional)."""
    chars = set()
    for codec, leads, trails in (
        ("gb2312", range(0xB0, 0xD8), range(0xA1, 0xFF)),
        ("big5", range(0xA4, 0xC7), [*range(0x40, 0x7F), *range(0xA1, 0xFF)]),
    ):
        for lead in leads:
            for trail in trails:
                try:
                    chars.add(bytes((lead, trail)).decode(codec))
                except UnicodeDecodeError:
                    pass
    return frozenset(chars)


_COMMON_HAN = _common_han()


def _rare_han(text: str) -> bool:
    """A CJK decoding whose Han characters are mostly rare ones: the wrong CJK codec."""
    han = _HAN_RE.findall(text, 0, 200_000)
    if len(han) < CJK_MIN_HAN:
        return False
    common = sum(1 for ch in han if ch in _COMMON_HAN)
    return common < COMMON_HAN_MIN_SHARE * len(han)
