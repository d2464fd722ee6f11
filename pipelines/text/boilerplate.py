"""Boilerplate-line removal for text extracted from HTML (menus, link lists, cookie banners,
share buttons, copyright footers), in the spirit of C4's line rules but safe for short
documents and for Chinese.

A line is dropped when it matches a boilerplate phrase, or when it is "short" (few words,
no sentence-final punctuation) and sits in a run of such lines -- navigation menus and
related-article lists come as runs; a headline or a one-line review stands alone.
Tuned on boilerplate_eval (benchmarks/boilerplate_eval.py prints the figures).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .script import CJK_RE

_TERMINAL_PUNCT = tuple('.!?。！？…"”’」』)）:：;；')
_LATIN_WORD_RE = re.compile(r"[^\W\d_]+(?:['’\-][^\W\d_]+)*", re.UNICODE)

DEFAULT_PHRASES = (
    # English (C4's javascript/cookie/terms rules plus common footer and share text)
    r"\bcookies?\b.*\b(use|policy|consent|accept|settings)\b", r"\bjavascript\b", r"\bprivacy policy\b",
    r"\bterms (of (use|service)|and conditions)\b", r"\ball rights reserved\b", r"^(©|copyright\b)",
    r"\bsubscribe\b", r"\bnewsletter\b", r"\bsign (up|in)\b", r"\blog ?in\b", r"^(share|tweet|pin it|print|email)\b",
    r"\b(click|tap) here\b", r"\bread more\b", r"\byou (might|may) also like\b", r"\brelated (posts|articles)\b",
    r"\bskip to (main )?content\b", r"\bbrowser (does not|doesn't) support\b", r"\bleave a (comment|reply)\b",
    # Chinese
    r"版权所有", r"©", r"(登录|注册|登入)$", r"^(首页|返回顶部|上一篇|下一篇|相关阅读|相关文章|热门推荐)", r"分享到", r"扫一扫",
    r"免责声明", r"联系我们", r"ICP备", r"关注我们",
    # other languages seen in web crawls
    r"derechos reservados", r"tous droits réservés", r"alle rechte vorbehalten", r"datenschutz", r"impressum",
)


@dataclass(frozen=True)
class BoilerplateConfig:
    enabled: bool = True
    short_line_words: int = 8    # below this (and no final punctuation) a line is "short"
    min_run: int = 4             # runs of this many short lines are navigation/link lists
    isolated_min_words: int = 3  # an isolated short line needs this many words
    min_lines: int = 4           # documents with fewer lines are left alone
    phrases: tuple[str, ...] = field(default=DEFAULT_PHRASES)

    @classmethod
    def from_dict(cls, d: dict | None) -> "BoilerplateConfig":
        d = dict(d or {})
        if "phrases" in d:
            d["phrases"] = tuple(d["phrases"])
        return cls(**d)


def approx_words(line: str) -> int:
    """Latin-script words plus CJK characters / 2 (a Chinese word averages ~1.5-2 chars)."""
    return len(_LATIN_WORD_RE.findall(line)) + len(CJK_RE.findall(line)) // 2


class BoilerplateRemover:
    def __init__(self, config: BoilerplateConfig = BoilerplateConfig()):
        self.config = config
        # Patterns are lowercase and matched against line.lower(): re.IGNORECASE over Unicode is ~3x slower.
        self._phrases = re.compile("|".join(f"(?:{p.lower()})" for p in config.phrases))

    def __call__(self, text: str) -> tuple[str, int]:
        """(text without boilerplate lines, number of lines removed)."""
        cfg = self.config
        lines = text.split("\n")
        if not cfg.enabled or sum(1 for l in lines if l) < cfg.min_lines:
            return text, 0
        short = [self._is_short(l) for l in lines]
        keep = [True] * len(lines)
        i = 0
        while i < len(lines):
            if not lines[i]:
                i += 1
                continue
            j = i
            while j < len(lines) and lines[j] and short[j]:
                j += 1
            run = j - i
            if run >= cfg.min_run:
                keep[i:j] = [False] * run
            elif run:
                for k in range(i, j):
                    if approx_words(lines[k]) < cfg.isolated_min_words:
                        keep[k] = False
            i = max(j, i + 1)
        for k, line in enumerate(lines):
            if keep[k] and line and len(line) <= 300 and self._phrases.search(line.lower()):
                keep[k] = False
        removed = sum(1 for k, l in enumerate(lines) if l and not keep[k])
        kept = "\n".join(l for k, l in enumerate(lines) if keep[k])
        return re.sub(r"\n{3,}", "\n\n", kept).strip(), removed

    def _is_short(self, line: str) -> bool:
        return bool(line) and not line.endswith(_TERMINAL_PUNCT) and approx_words(line) < self.config.short_line_words
