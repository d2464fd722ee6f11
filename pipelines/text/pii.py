"""PII redaction for mixed Chinese/English text: emails, phone numbers, Chinese resident ID
numbers, bank card numbers and IP addresses.

Detection is regex candidates + validation, so a number is redacted only when it is what it
looks like:

- `id_number`: 18-character Chinese resident ID (GB 11643-1999): a known province code, a
  real birth date between 1900 and today, and the ISO 7064 MOD 11-2 check character. A wrong
  check character or date is left alone: order numbers and other 18-digit ids fail it.
- `bank_card`: 13-19 digits (contiguous or in groups of 4) that pass the Luhn check AND start
  with an issuer prefix of the right length (UnionPay 62, Visa 4, Mastercard 51-55/2221-2720,
  Amex 34/37, JCB 35, Diners 30/36/38/39, Discover 60/64/65). The prefix rule keeps 13-digit
  millisecond timestamps (1...) and date-prefixed order numbers (20...) out even when they
  happen to pass Luhn (one random number in ten does).
- `phone`: Chinese mobile (1[3-9] + 9 digits, plain or 3-4-4, optional +86 / 0086 / (+86)),
  Chinese landline (area code 010 / 02x / 0xxx written with a separator or brackets, or
  after +86), international numbers that start with "+" (7-15 digits, E.164), and North
  American "(415) 555-0134" / "415-555-0134".
- `email`: the usual address shape; file names like `logo@2x.png` are not addresses.
- `ip`: IPv4 and IPv6 addresses that are globally routable (as datatrove: a private or
  loopback address identifies nobody); four dotted numbers right after "version"/"v"/"版本"
  are a version, not an address.

Borders are lookarounds on ASCII letters/digits, not `\\b`: in Python's Unicode regexes Han
characters are word characters, so `\\b` finds no border in `电话13812345678咨询`. Phone, ID and
card candidates inside a URL are skipped (numeric article ids in URLs look like phones).

Placeholders (style "datatrove", the default) follow datatrove's PIIFormatter where it has a
convention and make every replacement inert: emails become `email@example.com` or
`firstname.lastname@example.org` (RFC 2606 reserved domains), IPv4 addresses become an address
of the RFC 5737 documentation ranges and IPv6 ones `2001:db8::` addresses (RFC 3849). Those
are not global, so a second pass finds nothing: redaction is idempotent and counts do not
double on a rerun. datatrove has no convention for phones, IDs and cards, so they become
typed tags `<PHONE>`, `<ID_NUMBER>`, `<BANK_CARD>`. Style "tags" uses typed tags for every
kind (`<EMAIL>`, `<IP_ADDRESS>` too). The replacement for one value is chosen from a hash of
that value, not from a counter as datatrove does, so output is the same on every worker and
every run.
"""
from __future__ import annotations

import datetime
import ipaddress
import re
import zlib
from dataclasses import dataclass
from typing import Iterable

from ..config.schema import Section, setting

KINDS = ("email", "phone", "id_number", "bank_card", "ip")
STYLES = ("datatrove", "tags")

# ---------------------------------------------------------------------------------------------
# Checksums


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# GB/T 2260 province-level codes (first two digits): 11-15 north, 21-23 north-east, 31-37
# east, 41-46 south-central, 50-54 south-west, 61-65 north-west, 71 Taiwan, 81/82 Hong Kong
# and Macau, 83 residence permits of Taiwan residents.
_PROVINCES = frozenset({11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
                        50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83})


def cn_id_check_char(first17: str) -> str:
    """The 18th character of a resident ID: ISO 7064 MOD 11-2 over the first 17 digits."""
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS)) % 11]


def cn_id_is_valid(value: str, today: datetime.date | None = None) -> bool:
    """True for an 18-character resident ID with a province code, a real birth date
    (1900-01-01 .. today) and the right check character."""
    value = value.upper()
    if len(value) != 18 or not value[:17].isdigit() or value[17] not in "0123456789X":
        return False
    if int(value[:2]) not in _PROVINCES:
        return False
    try:
        born = datetime.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    if not datetime.date(1900, 1, 1) <= born <= (today or datetime.date.today()):
        return False
    return cn_id_check_char(value[:17]) == value[17]


def luhn_is_valid(digits: str) -> bool:
    """The Luhn (mod 10) check of card numbers; `digits` holds digits only."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def luhn_check_digit(payload: str) -> str:
    """The digit that makes `payload + digit` Luhn-valid."""
    return str((10 - sum((int(c) * 2 - 9 if int(c) > 4 else int(c) * 2) if i % 2 == 0 else int(c)
                         for i, c in enumerate(reversed(payload))) % 10) % 10)


def card_issuer_ok(digits: str) -> bool:
    """The prefix names a card scheme that issues numbers of this length."""
    n = len(digits)
    if digits[0] == "4":
        return n in (13, 16, 19)
    two, four = int(digits[:2]), int(digits[:4])
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return n == 16
    if two in (34, 37):
        return n == 15
    if two == 35 or two == 62 or two in (60, 64, 65):
        return 16 <= n <= 19
    if two in (30, 36, 38, 39):
        return 14 <= n <= 19
    return False


def bank_card_is_valid(value: str) -> bool:
    digits = re.sub(r"[ \-]", "", value)
    if not (13 <= len(digits) <= 19 and digits.isdigit() and card_issuer_ok(digits) and luhn_is_valid(digits)):
        return False
    # An 18-digit number shaped like a resident ID (province, birth date) whose check character
    # or date is wrong is a mistyped ID or an id-like code, not a card: Fujian (35), Gansu (62) and
    # Xinjiang (65) IDs share their first digits with JCB, UnionPay and Discover, and one in ten
    # passes Luhn by chance. Real 18-digit cards fit that shape about once in a thousand.
    return not (len(digits) == 18 and int(digits[:2]) in _PROVINCES and _ID_SHAPE_RE.fullmatch(digits))


# ---------------------------------------------------------------------------------------------
# Patterns

_L = r"(?<![0-9A-Za-z])"   # left border: no ASCII letter/digit before (Han is fine)
_R = r"(?![0-9A-Za-z])"    # right border
_LP = r"(?<![0-9A-Za-z+])"  # left border of a number that may start with "+"
# A phone is not the tail of a longer run of digit groups: "6258 0753 9860 3675" (a card
# number that fails Luhn) holds the landline-shaped "0753 9860 3675".
_NOT_GROUP_TAIL = r"(?<![0-9][ \-])"

_EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,24})(?![A-Za-z0-9\-])")
# "logo@2x.png", "icon@3x.webp": retina asset names, not addresses.
_NOT_TLDS = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "js", "css", "mp4", "pdf"})
_PLACEHOLDER_DOMAINS = ("example.com", "example.org", "example.net")

_CN_PREFIX = r"(?:(?:\+|00)86[ \-]?|[(（]\+?86[)）] ?)"
_MOBILE_RE = re.compile(_LP + _NOT_GROUP_TAIL + _CN_PREFIX + r"?1[3-9]\d([ \-]?)\d{4}\1\d{4}" + _R)
_AREA = r"(?:10|2\d|[3-9]\d{2})"
_LOCAL = r"[2-9]\d{2,3}[ \-]?\d{4}"
_EXT = r"(?:\s?(?:转|分机|ext\.?|x)\s?\d{1,5})?"
_LANDLINE_RE = re.compile(
    r"(?:" + _LP + _NOT_GROUP_TAIL + r"(?:" + _CN_PREFIX + r"\(?" + _AREA + r"\)?[ \-]?|0" + _AREA + r"[ \-])"
    r"|[(（]0" + _AREA + r"[)）] ?)"  # a bracket is a border of its own: "GT赛车5（027）30175064"
    + _LOCAL + _EXT + _R)
# "+" then 7-15 digits (E.164) with at most two separators between digits.
_INTL_RE = re.compile(_LP + r"\+[1-9](?:[ \-.()]{0,2}\d){6,14}" + _R)
_NANP_RE = re.compile(_L + _NOT_GROUP_TAIL + r"(?:\([2-9]\d{2}\) ?|[2-9]\d{2}[\-.])[2-9]\d{2}[\-.]\d{4}" + _R)

_ID_RE = re.compile(_L + r"[1-8]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]" + _R)
_ID_SHAPE_RE = re.compile(r"\d{6}(?:18|19|20|21)\d{2}[01]\d[0-3]\d\d{4}")  # loose: bad dates too
_CARD_RE = re.compile(_L + r"(?:\d{13,19}|\d{4}(?:[ \-]\d{4}){2,3}(?:[ \-]\d{1,3})?|\d{4}[ \-]\d{6}[ \-]\d{5})" + _R)

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4_RE = re.compile(r"(?<![0-9A-Za-z.])" + rf"(?:{_OCTET}\.){{3}}{_OCTET}" + r"(?![0-9A-Za-z]|\.\d)")
# Implied by every IPv4 match (four 1-3 digit octets joined by dots; tests/pipelines/test_pii.py): a plain
# scan that most texts with a "." fail, where _IPV4_RE's lookbehind runs at every position.
_IPV4_GATE_RE = re.compile(r"\d\.\d{1,3}\.\d{1,3}\.\d")
# Implied by every IPv6 match (two colons at most 4 hex digits apart): _IPV6_RE's lookbehind
# runs at every position of texts that merely have many colons (times, labels).
_IPV6_GATE_RE = re.compile(r":[0-9A-Fa-f]{0,4}:")
_IPV6_RE = re.compile(r"(?<![0-9A-Za-z:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Za-z:.])")
_VERSION_BEFORE = re.compile(r"(?:(?<![A-Za-z])(?:version|ver\.?|v|release|build)|版本号?)\s*[:：]?\s*$",
                             re.IGNORECASE)

# Numbers inside URLs are article/product ids, not phones or cards; only printable ASCII so a
# URL stops where Chinese text resumes.
_URL_RE = re.compile(r"(?:https?|ftp)://[!-~]+|www\.[!-~]+", re.IGNORECASE)


_NEEDS_RE = re.compile(r"[0-9@]")
# Implied by every phone, ID and card pattern above (checked in tests/pipelines/test_pii.py): 7 digits in a
# row, at most 3 separators between neighbours. Most texts with digits ("2017年", prices,
# dates) fail it, and then those 7 patterns are not run at all.
_SEVEN_DIGITS_RE = re.compile(r"\d(?:[\s\-.()（）+]{0,3}\d){6}")


@dataclass(frozen=True)
class PIIMatch:
    start: int
    end: int
    kind: str
    value: str


def _email_ok(m: re.Match) -> bool:
    value = m.group(0).lower()
    return m.group(1).lower() not in _NOT_TLDS and not value.endswith(_PLACEHOLDER_DOMAINS)


def _ip_ok(value: str, text: str, start: int, public_only: bool) -> bool:
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return False
    if ip.version == 4 and _VERSION_BEFORE.search(text, max(0, start - 12), start):
        return False
    return ip.is_global or not public_only


def _intl_ok(value: str) -> bool:
    return 7 <= sum(c.isdigit() for c in value) <= 15


def _candidates(text: str, kinds: frozenset[str], public_ips_only: bool) -> Iterable[PIIMatch]:
    urls = [m.span() for m in _URL_RE.finditer(text)] if ("://" in text or "www." in text) else []

    def in_url(start: int) -> bool:
        return any(a <= start < b for a, b in urls)

    if "email" in kinds and "@" in text:
        for m in _EMAIL_RE.finditer(text):
            if _email_ok(m):
                yield PIIMatch(m.start(), m.end(), "email", m.group(0))
    if "ip" in kinds:
        if "." in text and _IPV4_GATE_RE.search(text):
            for m in _IPV4_RE.finditer(text):
                if _ip_ok(m.group(0), text, m.start(), public_ips_only):
                    yield PIIMatch(m.start(), m.end(), "ip", m.group(0))
        if ("::" in text or text.count(":") >= 7) and _IPV6_GATE_RE.search(text):
            for m in _IPV6_RE.finditer(text):
                if m.group(0).count(":") >= 2 and _ip_ok(m.group(0), text, m.start(), public_ips_only):
                    yield PIIMatch(m.start(), m.end(), "ip", m.group(0))
    checks = []
    if not _SEVEN_DIGITS_RE.search(text):
        return  # no phone, ID or card number here: each has 7+ digits, at most 3 characters apart
    if "id_number" in kinds:
        checks.append(("id_number", _ID_RE, cn_id_is_valid))
    if "bank_card" in kinds:
        checks.append(("bank_card", _CARD_RE, bank_card_is_valid))
    if "phone" in kinds:
        checks += [("phone", _MOBILE_RE, None), ("phone", _LANDLINE_RE, None),
                   ("phone", _INTL_RE, _intl_ok), ("phone", _NANP_RE, None)]
    for kind, regex, valid in checks:
        for m in regex.finditer(text):
            if (valid is None or valid(m.group(0))) and not in_url(m.start()):
                yield PIIMatch(m.start(), m.end(), kind, m.group(0))


# When two candidates overlap, the longer wins, and at equal spans the earlier kind here:
# a valid ID that also passes Luhn is an ID; "13812345678@qq.com" is an email.
_PRIORITY = {k: i for i, k in enumerate(("email", "id_number", "bank_card", "phone", "ip"))}


def find_pii(text: str, kinds: Iterable[str] = KINDS, public_ips_only: bool = True) -> list[PIIMatch]:
    """Non-overlapping PII matches of `kinds` in `text`, in text order."""
    kinds = frozenset(kinds)
    unknown = kinds - set(KINDS)
    if unknown:
        raise ValueError(f"unknown PII kinds {sorted(unknown)} (known: {', '.join(KINDS)})")
    if not text or not _NEEDS_RE.search(text):
        return []  # every kind needs a digit or an "@": most prose lines stop here
    found = sorted(_candidates(text, kinds, public_ips_only),
                   key=lambda m: (-(m.end - m.start), _PRIORITY[m.kind], m.start))
    taken: list[PIIMatch] = []
    for m in found:
        if all(m.end <= t.start or m.start >= t.end for t in taken):
            taken.append(m)
    return sorted(taken, key=lambda m: m.start)


_EMAIL_STANDINS = ("email@example.com", "firstname.lastname@example.org")
_IPV4_STANDINS = ("192.0.2.17", "198.51.100.42", "203.0.113.7", "192.0.2.130", "198.51.100.201", "203.0.113.88")
_IPV6_STANDINS = ("2001:db8::1", "2001:db8:85a3::8a2e:370:7334", "2001:db8:0:1::42")
_TAGS = {"email": "<EMAIL>", "phone": "<PHONE>", "id_number": "<ID_NUMBER>", "bank_card": "<BANK_CARD>",
         "ip": "<IP_ADDRESS>"}


def placeholder(match: PIIMatch, style: str = "datatrove") -> str:
    if style == "tags" or match.kind in ("phone", "id_number", "bank_card"):
        return _TAGS[match.kind]
    pool = _EMAIL_STANDINS if match.kind == "email" else (_IPV6_STANDINS if ":" in match.value else _IPV4_STANDINS)
    return pool[zlib.crc32(match.value.encode("utf-8")) % len(pool)]


def redact(text: str, kinds: Iterable[str] = KINDS, style: str = "datatrove",
           public_ips_only: bool = True) -> tuple[str, dict[str, int]]:
    """(text with every PII match replaced, {kind: count} of the kinds found)."""
    if style not in STYLES:
        raise ValueError(f"unknown PII placeholder style {style!r} (known: {', '.join(STYLES)})")
    matches = find_pii(text, kinds, public_ips_only)
    if not matches:
        return text, {}
    counts: dict[str, int] = {}
    parts, pos = [], 0
    for m in matches:
        parts += [text[pos:m.start], placeholder(m, style)]
        pos = m.end
        counts[m.kind] = counts.get(m.kind, 0) + 1
    parts.append(text[pos:])
    return "".join(parts), counts


@dataclass(frozen=True)
class PiiConfig(Section):
    """redacted in kept and dropped text; counts per kind in stats.json"""
    section_name = "pii"
    enabled: bool = setting(True)
    kinds: tuple[str, ...] = setting(KINDS, choices=KINDS, label="PII kinds")
    style: str = setting("datatrove", "datatrove: example.com emails, RFC 5737/3849 documentation IPs, "
                                      "<PHONE>/<ID_NUMBER>/<BANK_CARD>; tags: typed tags", choices=STYLES)
    public_ips_only: bool = setting(True, "as datatrove: a private or loopback address identifies nobody")


class RedactPII:
    """Pipeline step (the `pipelines.process.Step` interface: `name`, `setup`, `__call__`):
    rewrites doc["text"] with PII replaced and sets doc["pii"] = {kind: count}. It never
    drops a document. It does not subclass `process.Step` so that process.py can import it
    without an import cycle."""

    name = "pii"

    def __init__(self, kinds: Iterable[str] = KINDS, style: str = "datatrove", public_ips_only: bool = True):
        self.kinds = tuple(kinds)
        self.style = style
        self.public_ips_only = public_ips_only
        redact("", self.kinds, style)  # fail on a bad kind or style at construction, not per document

    @classmethod
    def from_config(cls, section: "PiiConfig | dict | None") -> "RedactPII | None":
        """From the config's typed `pii:` section (a mapping is checked as one); None when
        disabled."""
        if not isinstance(section, PiiConfig):
            section = PiiConfig.from_dict(section)
        if not section.enabled:
            return None
        return cls(section.kinds, section.style, section.public_ips_only)

    def setup(self) -> None:
        pass

    def __call__(self, doc: dict) -> None:
        doc["text"], doc["pii"] = redact(doc["text"], self.kinds, self.style, self.public_ips_only)
        return None
