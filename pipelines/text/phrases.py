"""Does any of many regex phrases match a (lowercase) line? Two backends behind one interface.

- `re` (the reference, `ReMatcher`): the phrases in three alternations of Python's `re`.
- `re2` (the default, `Re2Matcher`): google-re2 scans a whole page once for a *looser* form
  of every phrase (`loosened`: \\b and \\B dropped, \\w \\d \\s widened to Unicode classes), in
  time linear in the page whatever the number of phrases, where Python's `re` tries every
  branch at every position of every line. Only the lines a match touches are asked of the
  reference, so the answers are the reference's exactly. A phrase RE2 could read otherwise
  (other escapes, escapes inside a class, inline flags, lookarounds, back-references, POSIX
  classes) is matched by `re` alone, and so is a page holding a lone surrogate.
  tests/pipelines/test_text_core.py checks agreement on every page of the shared corpus and on phrases
  built to tell the engines apart.
"""
from __future__ import annotations

import bisect
import re

BACKENDS = ("re2", "re")


def top_level_bar(pattern: str) -> bool:
    """Whether `pattern` is an alternation at its top level (a|b), outside groups and classes."""
    depth, i, in_class = 0, 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 1
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            i += 2 if pattern[i + 1 : i + 3] == "^]" else 1 if pattern[i + 1 : i + 2] == "]" else 0
        elif ch in "()":
            depth += 1 if ch == "(" else -1
        elif ch == "|" and depth == 0:
            return True
        i += 1
    return False


def lower_pattern(pattern: str) -> str:
    """`pattern` for matching lowercased lines: its literals lowercased, its escapes as written
    (`str.lower` would turn \\W into \\w and \\B into \\b)."""
    return re.sub(r"\\.|[^\\]+", lambda m: m.group(0) if m.group(0)[0] == "\\" else m.group(0).lower(), pattern,
                  flags=re.S)


def _union(patterns, prefix: str = "") -> re.Pattern:
    return re.compile(prefix + "(?:" + "|".join(f"(?:{p})" for p in patterns) + ")")


class ReMatcher:
    """The reference: `^...` phrases (matched at the line start), `\\b...` phrases under one
    shared \\b, and the rest. One alternation of all of them scans every position of every
    line with every branch: 7x slower on corpus_web_mixed. Literals are lowercased and matched
    against line.lower(): re.IGNORECASE over Unicode is ~3x slower."""

    def __init__(self, phrases):
        anchored, bounded, other = [], [], []
        for p in map(lower_pattern, phrases):
            if top_level_bar(p):
                other.append(p)
            elif p.startswith("^"):
                anchored.append(p[1:])
            elif p.startswith("\\b"):
                bounded.append(p[2:])
            else:
                other.append(p)
        # Only the non-empty unions: an empty one would still scan every line.
        self._tests = [*([_union(anchored).match] if anchored else []),
                       *([_union(bounded, r"\b").search] if bounded else []),
                       *([_union(other).search] if other else [])]
        self._each = [re.compile(lower_pattern(p)) for p in phrases]

    def any(self, low: str) -> bool:
        for test in self._tests:
            if test(low):
                return True
        return False

    def flags(self, lows: list[str]) -> list[bool]:
        return [self.any(low) for low in lows]

    def count(self, low: str) -> int:
        """How many different phrases match (the long-line rule asks for two)."""
        return sum(1 for p in self._each if p.search(low))


# Outside a class, RE2 forms of Python's Unicode classes that match at least what they match:
# RE2's own \W \D \S (not ASCII word/digit/space) already hold every character Python's hold;
# \w \d \s are widened to Unicode letters, numbers and separators.
_WIDER = {"W": r"\W", "D": r"\D", "S": r"\S", "w": r"[\pL\pN\pM_]", "d": r"\pN",
          "s": r"[\s\v\x1c-\x1f\x85\pZ]"}


def loosened(pattern: str) -> str | None:
    """A pattern RE2 reads that matches every line `pattern` matches under `re` (maybe more):
    \\b and \\B dropped, \\w \\d \\s widened (above). None when RE2 could read it otherwise: any
    other letter or digit escape (\\1, \\x41, \\A ...), an escape inside a class (under
    negation a different class would match *fewer* lines), an inline group `(?` other than
    `(?:`, or `[:` in a class (a POSIX class to RE2, literal characters to `re`)."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        ch, nxt = pattern[i], pattern[i + 1 : i + 2]
        if ch == "\\":
            if not in_class and nxt in ("b", "B"):  # assertions: dropping one only loosens
                i += 2
                continue
            if not in_class and nxt in _WIDER:
                out.append(_WIDER[nxt])
                i += 2
                continue
            if not nxt or nxt.isalnum() or nxt == "_":
                return None
            out.append(ch + nxt)
            i += 2
            continue
        if in_class:
            if ch == "[" and nxt == ":":
                return None
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            # a "]" or "^]" right after "[" is a literal
            lead = 2 if pattern[i + 1 : i + 3] == "^]" else 1 if nxt == "]" else 0
            out.append(pattern[i : i + 1 + lead])
            i += 1 + lead
            continue
        elif ch == "(" and nxt == "?" and pattern[i + 2 : i + 3] != ":":
            return None
        out.append(ch)
        i += 1
    return "".join(out)


class Re2Matcher:
    """RE2 prefilter over the loosened phrases, `ReMatcher` to confirm (see the module docstring)."""

    def __init__(self, phrases):
        import re2

        self.reference = ReMatcher(phrases)
        options = re2.Options()
        options.never_capture = True
        options.log_errors = False  # a phrase RE2 cannot read goes to `re`: not an error
        loose, residual = [], []
        for p in map(lower_pattern, phrases):
            q = loosened(p)
            if q is not None:
                try:
                    re2.compile(q, options)
                except re2.error:
                    q = None
            (loose if q is not None else residual).append(q if q is not None else p)
        # (?m): ^ and $ at every line of a page, so one scan serves all its lines.
        self._page = re2.compile(("(?m)" + "|".join(f"(?:{q})" for q in loose)).encode(), options) if loose else None
        self._residual = ReMatcher(residual) if residual else None

    def any(self, low: str) -> bool:
        return self.flags([low])[0]

    def flags(self, lows: list[str]) -> list[bool]:
        """`any` of each line (lowercased, no newline in any), one RE2 scan for all of them."""
        if self._page is None:
            return self._residual.flags(lows) if self._residual else [False] * len(lows)
        try:
            page = "\n".join(lows).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: RE2 reads UTF-8
            return self.reference.flags(lows)
        hit = [False] * len(lows)
        matches = [m.span() for m in self._page.finditer(page)]
        if matches:
            starts, pos = [], 0  # byte offset of each line
            for low in lows:
                starts.append(pos)
                pos = page.find(b"\n", pos) + 1
            # A line some match touches is a candidate. A line that matches alone is always
            # touched: the page scan either finds that match or an earlier one overlapping it.
            for s, e in matches:
                for k in range(bisect.bisect_right(starts, s) - 1, bisect.bisect_right(starts, e)):
                    hit[k] = True
            hit = [h and self.reference.any(low) for h, low in zip(hit, lows)]
        if self._residual is not None:
            hit = [h or self._residual.any(low) for h, low in zip(hit, lows)]
        return hit

    def count(self, low: str) -> int:
        return self.reference.count(low)


def phrase_matcher(phrases, backend: str = "re2"):
    if backend not in BACKENDS:
        raise ValueError(f"unknown phrase matcher {backend!r} (known: {', '.join(BACKENDS)})")
    return Re2Matcher(phrases) if backend == "re2" else ReMatcher(phrases)
