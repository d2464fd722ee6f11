"""Boilerplate-line removal for text extracted from HTML (menus, link lists, cookie banners,
share buttons, copyright footers), in the spirit of C4's line rules but safe for short
documents and for Chinese.

A line is dropped when it matches a boilerplate phrase, or when it is "short" (few words,
no sentence-final punctuation) and sits in a run of such lines -- navigation menus and
related-article lists come as runs; a headline or a one-line review stands alone.

A page is dropped whole (returned empty; the pipeline drops it as `boilerplate_page`) when what
the line rules leave is not an article: boilerplate phrases make up a large share of it,
or under `min_page_words` of text remain once its boilerplate is gone. Pages with their
article removed (quality_eval's boilerplate_page family) are mostly sentence-form notices
-- paywalls, disclaimers, newsletter prompts, an author bio -- that pass every signal once
the phrase lines are cut away; the page-level decision is what drops them (issue 13).
Tuned on boilerplate_eval (benchmarks/boilerplate_eval.py prints the figures) and on the
tune half of benchmarks/quality_eval.py.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from ..config.schema import Section, setting
from .phrases import BACKENDS as PHRASE_BACKENDS, phrase_matcher
from .script import CJK_RE, count_cjk

_TERMINAL_PUNCT = tuple('.!?。！？…"”’」』)）:：;；')
_LATIN_WORD_RE = re.compile(r"[^\W\d_]+(?:['’\-][^\W\d_]+)*", re.UNICODE)

DEFAULT_PHRASES = (
    # English (C4's javascript/cookie/terms rules plus common footer and share text)
    r"\bcookies?\b.*\b(use|policy|consent|accept|settings)\b", r"\bjavascript\b", r"\bprivacy policy\b",
    r"\bterms (of (use|service)|and conditions)\b", r"\ball rights reserved\b", r"^(©|copyright\b)",
    r"\bsubscribe\b", r"\bnewsletter\b", r"\bsign (up|in)\b", r"\blog ?in\b", r"^(share|tweet|pin it|print|email)\b",
    r"\b(click|tap) here\b", r"\bread more\b", r"\byou (might|may) also like\b", r"\brelated (posts|articles)\b",
    r"\bskip to (main )?content\b", r"\bbrowser (does not|doesn't) support\b", r"\bleave a (comment|reply)\b",
    # English sentence-form boilerplate (issue 13): what remains of article-less pages once menus
    # are gone is written as sentences, so only the phrase can tell it. None of these matches a
    # line of the clean prose of quality_eval; against the gold article lines of boilerplate_eval
    # they cost one disclaimer and one privacy-policy line. Paywalls and sign-up prompts:
    r"\balready a subscriber\b", r"\bsubscribers? only\b", r"^continue reading\b", r"\bunsubscribe\b",
    r"\b(view|read|access) the full (story|article)\b", r"\bopt[ -]out (at )?any ?time\b",
    r"\bdelivered (straight |directly |right )?(to your|daily|weekly|monthly|every)\b", r"\byour (e-?mail )?inbox\b",
    r"\bstraight to your (phone|device|inbox)\b", r"\bad[ -]?blockers?\b", r"\bby continuing to (use|browse)\b",
    r"\brecaptcha\b",
    # legal footers and disclaimers
    r"\bwritten (permission|consent)\b",
    r"\bmay not be (reproduced|published|republished|broadcast|rewritten|redistributed|copied)\b",
    r"\binformational purposes only\b", r"\bnot intended to (diagnose|treat|replace|be a substitute)\b",
    r"\bdoes not constitute\b", r"\bthe views expressed\b", r"^disclaimer\b",
    # comment forms and policies
    r"\bcomments? (are|is) (closed|moderated)\b", r"\bmoderates? comments\b", r"\bcomment policy\b",
    r"\be-?mail address will not be published\b", r"\brequired fields are marked\b",
    r"^comment on this (article|story|post)\b",
    # bylines, author boxes and teaser blocks
    r"^(written|posted|medically reviewed|fact[ -]checked) by\b",
    r"\bread (the latest|more) from\b", r"\b(more|all|other) (articles|stories|posts) (by|from)\b",
    r"\babout the author\b",
    r"\brelated (stories|coverage|content|links|reading|tutorials)\b", r"\byou (might|may) also (enjoy|be interested)\b",
    r"^advertisement\W*$", r"\bmedia playback is unsupported\b",
    r"\bopens? in a new (window|tab)\b", r"^search( for)?\W*$",
    # Chinese. 登录/注册 only as short link labels (会员登录, 免费注册) and 联系我们 only at the start
    # or end of a line (a label, a footer row): inside a sentence they are prose, as in WMT22's
    # customer-service references (请告诉我您能否创建新密码并登录; 如果找不到尺寸指南，请联系我们。).
    r"版权所有", r"©", r"^.{0,4}(登录|注册|登入)$", r"^(首页|返回顶部|上一篇|下一篇|相关阅读|相关文章|热门推荐)",
    r"分享到", r"扫一扫",
    r"免责声明", r"^联系我们", r"联系我们$", r"ICP备", r"关注我们",
    # Chinese sentence-form boilerplate: reprint notices, editor, source and original-title lines,
    # "views are the author's own" notices, report hotlines and licence numbers of site footers
    r"(禁止|不得|谢绝|严禁|请勿)(转载|镜像)", r"转载(请)?(注明|联系)", r"^(文章|本文)?来源[:：]", r"责任编辑", r"原标题[:：]",
    r"(观点|立场).{0,6}(不代表|仅代表)", r"(不代表|仅代表).{0,8}(观点|立场)", r"阅读原文", r"(违法|不良)信息举报",
    r"(经营|节目)许可证", r"^(相关|延伸|推荐)(阅读|新闻|文章)",
    # other languages seen in web crawls
    r"derechos reservados", r"tous droits réservés", r"alle rechte vorbehalten", r"datenschutz", r"impressum",
)


def _bad_regex(patterns) -> str | None:
    for i, p in enumerate(patterns):
        try:
            re.compile(p)
        except re.error as e:
            return f"item {i}: not a regular expression ({e})"
    return None


@dataclass(frozen=True)
class BoilerplateConfig(Section):
    """Lines of navigation, link lists and phrase boilerplate removed (`RemoveBoilerplate`).
    Whole pages (issue 13): pages whose article was removed (quality_eval boilerplate_page) keep
    sentence-form notices that pass every filter once the phrase lines are cut; so a page with
    boilerplate lines is dropped whole (reason `boilerplate_page`) when what remains is no article."""
    section_name = "boilerplate"
    enabled: bool = setting(True)
    short_line_words: int = setting(8, "below this (and no final punctuation) a line is \"short\"", lo=0)
    min_run: int = setting(4, "runs of this many short lines are navigation/link lists", lo=0)
    isolated_min_words: int = setting(3, "an isolated short line needs this many words", lo=0)
    min_lines: int = setting(4, "documents with fewer lines are left alone by the run rules", lo=0)
    phrase_min_lines: int = setting(
        3, "phrases apply from 3 lines (boilerplate_page tune: 0.931 dropped if they waited for min_lines like the "
           "run rules); a title, a review or a 2-line chat turn is no page (signals judge layout from "
           "SENTENCE_LINES_MIN = 3 lines too)", lo=0)
    max_phrase_line_chars: int = setting(
        300, "longer lines are boilerplate only when two different phrases match (legal footers: copyright + all "
             "rights reserved + may not be published); no gold article line of boilerplate_eval does; "
             "boilerplate_page tune 0.941 -> 0.951", lo=0)
    max_phrase_share: float = setting(
        0.4, "phrase lines' share of the characters the run rules leave: real article pages of boilerplate_eval max "
             "0.29 (99% 0.20), clean prose max 0.31 (a WMT22 chat ending \"please contact us\"); boilerplate_page "
             "tune: 25 of 204 at >= 0.4, and 0.946 dropped without this rule", lo=0, hi=1)
    min_page_words: int = setting(
        40, "Latin words + CJK characters of text left: clean documents that lost a line least 47 (the same WMT22 "
            "chat), real article pages least 41 (one whose article the run rules had already removed); Gopher's 50 "
            "would drop that clean chat. boilerplate_page tune: 0.936 dropped without this rule, 0.951 with it", lo=0)
    phrases: tuple[str, ...] = setting(DEFAULT_PHRASES, "regular expressions of boilerplate lines (default: "
                                       "DEFAULT_PHRASES in pipelines/text/boilerplate.py)",
                                       label="regular expressions", check=_bad_regex, listed=False)
    matcher: str = setting("re2", "how phrase lines are found: re2 scans each page once with google-re2 and Python "
                                  "re confirms its hits (the same lines as `re`, 4x faster); re: the reference",
                           choices=PHRASE_BACKENDS)


def approx_words(line: str) -> int:
    """Latin-script words plus CJK characters / 2 (a Chinese word averages ~1.5-2 chars)."""
    return len(_LATIN_WORD_RE.findall(line)) + count_cjk(line) // 2


def page_words(text: str) -> int:
    """Latin-script words plus CJK characters: the unit of `min_page_words`. Chinese counts
    by character here, not by approx_words' characters / 2: short Chinese texts are ordinary
    prose (the zh `too_short` minimum is 5 words against 20 for en), and 40 characters are
    about 25 jieba words."""
    return len(_LATIN_WORD_RE.findall(text)) + count_cjk(text)


def has_page_words(text: str, n: int) -> bool:
    """page_words(text) >= n, reading only as far as the n-th unit (a long article is not
    counted to the end to learn it has 40 words)."""
    if n <= 0:
        return True
    latin = sum(1 for _ in itertools.islice(_LATIN_WORD_RE.finditer(text), n))
    return latin >= n or next(itertools.islice(CJK_RE.finditer(text), n - latin - 1, None), None) is not None


LAYOUT, PHRASE, TEXT = "layout", "phrase", "text"


class BoilerplateRemover:
    def __init__(self, config: BoilerplateConfig = BoilerplateConfig()):
        self.config = config
        self._phrases = phrase_matcher(config.phrases, config.matcher)

    def __call__(self, text: str) -> tuple[str, int]:
        """(text without boilerplate lines, number of lines removed); ("", all lines) for a
        page that is boilerplate as a whole."""
        if not self.config.enabled:
            return text, 0
        lines = text.split("\n")
        labels = self.classify(lines)
        if self.is_boilerplate_page(lines, labels):
            return "", sum(1 for l in lines if l)
        removed = sum(1 for lab in labels if lab in (LAYOUT, PHRASE))
        if not removed and sum(1 for l in lines if l) < self.config.min_lines:
            return text, 0  # as before phrases applied to short documents: left exactly as given
        kept = "\n".join(l for l, lab in zip(lines, labels) if lab != LAYOUT and lab != PHRASE)
        return re.sub(r"\n{3,}", "\n\n", kept).strip(), removed

    def classify(self, lines: list[str]) -> list[str | None]:
        """Per line: LAYOUT (in a run of short lines, or a lone fragment), PHRASE (a
        boilerplate phrase), TEXT, or None for an empty line."""
        cfg = self.config
        labels: list[str | None] = [TEXT if l else None for l in lines]
        n_lines = sum(1 for l in lines if l)
        # The run rules need a page to judge (a two-line review is not a menu).
        if n_lines >= cfg.min_lines:
            short = [self._is_short(l) for l in lines]
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
                    labels[i:j] = [LAYOUT] * run
                elif run:
                    for k in range(i, j):
                        if approx_words(lines[k]) < cfg.isolated_min_words:
                            labels[k] = LAYOUT
                i = max(j, i + 1)
        if n_lines >= cfg.phrase_min_lines:
            lows = [line.lower() for line in lines]
            for k, hit in enumerate(self._phrases.flags(lows)):
                if hit and labels[k] == TEXT and self._is_phrase(lines[k], lows[k]):
                    labels[k] = PHRASE
        return labels

    def is_boilerplate_page(self, lines: list[str], labels: list[str | None]) -> bool:
        """A page some of whose lines are boilerplate, and whose other lines are no article:
        phrase lines make up at least `max_phrase_share` of the characters the run rules
        left, or fewer than `min_page_words` of text remain. A document with no boilerplate
        line is never judged here (a short review, a C3 dialogue)."""
        cfg = self.config
        if LAYOUT not in labels and PHRASE not in labels:
            return False
        left = [k for k, lab in enumerate(labels) if lab == TEXT or lab == PHRASE]
        chars = sum(len(lines[k]) for k in left)
        if chars and sum(len(lines[k]) for k in left if labels[k] == PHRASE) >= cfg.max_phrase_share * chars:
            return True
        return not has_page_words("\n".join(lines[k] for k in left if labels[k] == TEXT), cfg.min_page_words)

    def _is_phrase(self, line: str, low: str) -> bool:
        """A line some phrase matches (`low`: the line lowercased) is a phrase line unless it
        is long (a paragraph) and only one phrase matches it."""
        return len(line) <= self.config.max_phrase_line_chars or self._phrases.count(low) >= 2

    def _is_short(self, line: str) -> bool:
        return bool(line) and not line.endswith(_TERMINAL_PUNCT) and approx_words(line) < self.config.short_line_words
