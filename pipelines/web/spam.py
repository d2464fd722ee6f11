"""Web spam of the Chinese long tail: gambling and adult pages, soft-404 pages.

Gambling tip sites (六合彩, 时时彩), online-casino promotions and adult sites are a large share
of the Chinese pages of Common Crawl, and their text passes the generic quality filters: the
real excerpt in warc_samples/cc_resiliparse keeps a casino promotion, an adult story and an
English blurb under a pornographic title (benchmarks/web_spam_eval.py). The ROOTS flagged-word
list (`flagged_word_ratio`, pipelines/resources/flagged_words_zh.txt) holds only sexual words,
matched against jieba words, so it never sees gambling and its bound (0.005) is far above what
a story uses (0.0007 on the adult story of that excerpt).

Three pure checks, combined by `spam_verdict` (the pipeline step wraps `spam_reason`):
- soft-404: a page whose title or (short) text says the page does not exist;
- phrase score: the summed weights of the distinct spam phrases (pipelines/resources/
  spam_words_zh.txt) in text and title, plus the URL words (url_words_zh.txt); a page is spam
  when the score reaches `min_score` and its density per 1,000 characters `min_density`,
  so a long article that mentions 赌博 and 博彩 is not;
- obfuscation: text written one character per 【】 bracket, a trick to defeat word lists and
  duplicate detection (a gambling doorway page of that excerpt).
Texts are matched in Simplified characters (OpenCC t2s, as ComputeSignals does).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from urllib.parse import unquote, urlsplit

from ..config.schema import Section, setting

REASON_GAMBLING = "web_spam_gambling"
REASON_PORN = "web_spam_porn"
REASON_OBFUSCATED = "web_spam_obfuscated"
REASON_SOFT_404 = "soft_404"
REASONS = (REASON_SOFT_404, REASON_GAMBLING, REASON_PORN, REASON_OBFUSCATED)


@dataclass(frozen=True)
class SpamThresholds(Section):
    """Chinese gambling / porn spam and soft-404 pages (pipelines/web/spam.py); defaults read
    from benchmarks/web_spam_eval.py (see its report for the margins)."""
    enabled: bool = setting(True, "the pipeline's step on or off. benchmarks/web_spam_eval.py: 10 of 10 spam "
                                  "pages of the real CC excerpt caught, 0 of 35,213 clean texts flagged (highest "
                                  "clean score 5: tabloid news)")
    min_score: float = setting(6, "summed weights of distinct phrases (+ title and URL)", positive=True)
    min_density: float = setting(2.0, "score per 1,000 characters of text (texts under 1,000 count as 1,000)",
                                 positive=True)
    title_factor: float = setting(2, "a phrase in the title counts this many times its weight", positive=True)
    soft_404_max_chars: int = setting(1500, "\"page not found\" in the TEXT counts only in texts this short",
                                      positive=True)
    soft_404_title_max_chars: int = setting(5000, "... in the TITLE, in texts up to this long", positive=True)
    obfuscated_min_share: float = setting(0.2, "share of characters inside one-character 【x】 brackets",
                                          positive=True)


@dataclass
class Verdict:
    reason: str | None
    score: float = 0.0
    density: float = 0.0
    category: str | None = None
    hits: dict[str, int] = field(default_factory=dict)  # phrase or url:word -> occurrences
    why: str = ""


# ------------------------------------------------------------------ word lists
def _resource_lines(name: str) -> list[list[str]]:
    text = (resources.files("pipelines.resources") / name).read_text(encoding="utf-8")
    return [l.split("\t") for l in text.splitlines() if l.strip() and not l.startswith("#")]


@lru_cache(maxsize=None)
def spam_phrases(name: str = "spam_words_zh.txt") -> dict[str, tuple[float, str]]:
    """phrase (lower case) -> (weight, category)."""
    return {p.strip().lower(): (float(w), c.strip()) for p, w, c in _resource_lines(name)}


@lru_cache(maxsize=None)
def url_words(name: str = "url_words_zh.txt") -> tuple[dict, dict]:
    """({token word: (weight, category)}, {substring word: (weight, category)})."""
    token, sub = {}, {}
    for w, weight, cat, mode in _resource_lines(name):
        (sub if mode.strip() == "sub" else token)[w.strip().lower()] = (float(weight), cat.strip())
    return token, sub


def _trie_pattern(words) -> str:
    """One regex for many literals, factored as a trie so matching costs a walk down the trie
    at each position, not a try of every phrase; longer phrases win (greedy optional tails)."""
    trie: dict = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = True

    def build(node) -> str:
        end = "" in node
        alts = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if end else body

    return build(trie)


@lru_cache(maxsize=None)
def _phrase_regex(name: str = "spam_words_zh.txt") -> re.Pattern:
    return re.compile(_trie_pattern(spam_phrases(name)))


def phrase_hits(text: str, name: str = "spam_words_zh.txt") -> dict[str, int]:
    """Occurrences of each spam phrase in `text` (already Simplified; matched lower-cased,
    leftmost-longest, so 平特一肖 counts once as itself, not also as 一肖)."""
    hits: dict[str, int] = {}
    if not text:
        return hits
    for m in _phrase_regex(name).finditer(text.lower()):
        hits[m.group()] = hits.get(m.group(), 0) + 1
    return hits


_URL_TOKEN = re.compile(r"[a-z0-9]+")
_LETTERS = re.compile(r"[a-z]+")


def url_hits(url: str | None, name: str = "url_words_zh.txt") -> dict[str, tuple[float, str]]:
    """The URL words of `url` (host and path, not the query: trackers put anything there)."""
    if not url:
        return {}
    try:
        parts = urlsplit(url if "//" in url else "//" + url)
    except ValueError:
        return {}
    host = parts.netloc.rsplit("@", 1)[-1].split(":", 1)[0]
    s = (host + " " + unquote(parts.path)).lower()
    token_words, sub_words = url_words(name)
    found: dict[str, tuple[float, str]] = {}
    for tok in _URL_TOKEN.findall(s):
        if tok in token_words:
            found[tok] = token_words[tok]
        for run in _LETTERS.findall(tok):
            if run in token_words:
                found[run] = token_words[run]
            for w, v in sub_words.items():
                if w in run:
                    found[w] = v
    return found


# ------------------------------------------------------------------ soft 404
# "Page not found" in the words sites use. Each pattern names a missing PAGE (or article,
# post, address), not just an error, so "找不到工作" or "404 students" do not match.
_NOT_FOUND_ZH = (
    r"(?:页面|网页|文章|内容|信息|帖子|地址|链接|资源|主题)(?:地址)?(?:已经|已|可能已|可能)?(?:被)?(?:不存在|删除|移除)",
    r"(?:找不到|未找到|没有找到|无法找到)(?:该|此|您要的|你要的|您所|您访问的|您请求的|请求的|相关)?(?:的)?(?:页面|网页|文章|内容|信息)",
    r"(?:页面|网页)(?:未|没有)找到",
    r"(?:您|你)(?:所)?(?:访问|请求|查找|要找)的(?:页面|网页|地址|链接|文章|内容)(?:有错误|不存在|已|找不到|暂时)",
    r"404\s*(?:错误|页面|not\s*found|error)|(?:错误|error)\s*(?:代码)?\s*[:：]?\s*404",
)
_NOT_FOUND_EN = (
    r"\bpage\s+(?:was\s+)?not\s+found\b",
    r"\b404\s*(?:-|:)?\s*(?:not\s+found|error|page)\b",
    r"\berror\s*(?:code)?\s*:?\s*404\b",
    r"\b(?:page|file|url|article|post|content)\s+(?:you\s+(?:are\s+|were\s+)?(?:looking\s+for|requested)\s+)?"
    r"(?:(?:could|can)\s*not|cannot|can't|couldn't|does\s*n[o']t|doesn't|no\s+longer)\s+(?:be\s+found|exists?|available)",
    r"\bthe\s+requested\s+(?:url|page|resource)\s+(?:was\s+not|could\s+not\s+be)\s+found\b",
    r"\bthis\s+page\s+(?:does\s+not|doesn't)\s+exist\b",
)
_NOT_FOUND_RE = re.compile("|".join(_NOT_FOUND_ZH + _NOT_FOUND_EN), re.IGNORECASE)
_TITLE_404_RE = re.compile(r"(?<![\d.])404(?![\d.])")  # a title '404' alone: "404 - 某某网"


def soft_404(text: str, title: str | None, t: SpamThresholds = SpamThresholds()) -> str | None:
    """Why this looks like a not-found page served with status 200, or None. Text and title
    are matched in Simplified characters by the caller (`spam_verdict`)."""
    n = len(text)
    if title and n <= t.soft_404_title_max_chars:
        m = _NOT_FOUND_RE.search(title) or _TITLE_404_RE.search(title)
        if m:
            return f"title says not found: {m.group()!r}"
    if n <= t.soft_404_max_chars:
        m = _NOT_FOUND_RE.search(text)
        if m:
            return f"short text ({n} chars) says not found: {m.group()!r}"
    return None


# ------------------------------------------------------------------ obfuscation
_ONE_CHAR_BRACKET = re.compile(r"【.】")


def obfuscated_share(text: str) -> float:
    """Share of the characters of `text` that sit in one-character 【x】 brackets."""
    if not text:
        return 0.0
    return 3 * len(_ONE_CHAR_BRACKET.findall(text)) / len(text)


# ------------------------------------------------------------------ verdict
def _simplified(text: str) -> str:
    from pipelines.text.chinese import to_simplified

    return to_simplified(text)


def spam_verdict(text: str, title: str | None = None, url: str | None = None, lang: str | None = None,
                 thresholds: SpamThresholds = SpamThresholds()) -> Verdict:
    """The full verdict: reason (None to keep), score, density, the phrases found and why.
    `lang` is not needed by the rules (a Chinese phrase cannot match other text, and a Chinese
    title over English text is a hijacked page); it is accepted for the step's signature."""
    t = thresholds
    text = _simplified(text or "")
    title = _simplified(title) if title else None
    why_404 = soft_404(text, title, t)
    if why_404:
        return Verdict(REASON_SOFT_404, why=why_404)
    share = obfuscated_share(text)
    if share >= t.obfuscated_min_share:
        return Verdict(REASON_OBFUSCATED, why=f"{share:.0%} of characters in one-character 【】 brackets")
    phrases = spam_phrases()
    by_cat: dict[str, float] = {}
    hits: dict[str, int] = {}
    seen: set[str] = set()
    for source, found, factor in (("text", phrase_hits(text), 1.0), ("title", phrase_hits(title or ""), t.title_factor)):
        for p, n in found.items():
            w, cat = phrases[p]
            # A phrase counts once from the text; the title adds its own (stuffed SEO titles).
            key = f"{source}:{p}"
            if key in seen:
                continue
            seen.add(key)
            by_cat[cat] = by_cat.get(cat, 0.0) + w * factor
            hits[p if source == "text" else key] = n
    # URL words back up what the page says; they never drop a page by themselves: at most
    # they double the page's own score (a spam-looking host of a clean page adds nothing).
    page_score = sum(by_cat.values())
    budget = page_score
    for w, (weight, cat) in sorted(url_hits(url).items(), key=lambda kv: -kv[1][0]):
        add = min(weight, budget)
        if add <= 0:
            break
        budget -= add
        by_cat[cat] = by_cat.get(cat, 0.0) + add
        hits[f"url:{w}"] = 1
    score = sum(by_cat.values())
    density = score / max(len(text) / 1000.0, 1.0)
    category = max(by_cat, key=by_cat.get) if by_cat else None
    v = Verdict(None, score, density, category, hits)
    if score >= t.min_score and density >= t.min_density:
        v.reason = REASON_GAMBLING if category == "gambling" else REASON_PORN
        top = sorted(hits, key=lambda k: -phrases.get(k.split(":", 1)[-1], (0,))[0])[:6]
        v.why = f"score {score:g} (density {density:.1f}/1k chars): {', '.join(top)}"
    return v


def spam_reason(text: str, title: str | None = None, url: str | None = None, lang: str | None = None,
                thresholds: SpamThresholds = SpamThresholds()) -> str | None:
    """The drop reason (one of REASONS) or None to keep the page."""
    return spam_verdict(text, title, url, lang, thresholds).reason
