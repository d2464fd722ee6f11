"""`roots`: the pipeline's own main-text extractor (readability-style scoring, one pass, CJK-aware).

Why our own: trafilatura (datatrove's extractor) costs ~15-20 ms a page, and the pipeline must run
several times faster than datatrove per core. readability-lxml scores best on the Chinese sets but
recomputes `text_content()` of nested nodes again and again (quadratic). This module keeps
readability's algorithm (paragraph scores flow to parent and grandparent, link density, class/id
hints, sibling merge, conditional cleaning) but computes every per-node statistic once, bottom-up,
over lxml's tree, and counts Chinese punctuation (，。) as the prose signal that ASCII commas are
in English.

`extract(html, url)` -> `Extracted(title, text)`, paragraphs as lines.
"""
from __future__ import annotations

import re
import threading
from functools import lru_cache

import lxml.etree as ET

from pipelines.web.extract import Extracted

__all__ = ["RootsExtractor", "extract"]

# Never content: dropped with their subtrees before any scoring (the tail text stays).
_JUNK_TAGS = (
    "script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "math",
    "canvas", "select", "option", "textarea", "button", "input", "head", "link", "meta",
    "map", "area", "audio", "video", "source", "nav", "aside", "footer",
)
# Inline tags: their text belongs to the enclosing block's paragraph.
_INLINE = frozenset((
    "a", "abbr", "b", "bdi", "bdo", "big", "cite", "code", "dfn", "em", "font", "i", "img",
    "kbd", "label", "mark", "q", "s", "samp", "small", "span", "strike", "strong", "sub", "sup",
    "time", "tt", "u", "var", "wbr", "nobr", "ins", "del", "acronym", "br",
))
# Blocks whose own text can be a paragraph worth scoring (readability: p, pre, td, blockquote,
# and divs that hold text directly).
_PARA = frozenset((
    "p", "pre", "td", "blockquote", "div", "section", "article", "main", "center", "dd", "font",
))
_TAG_BASE = {
    "div": 5, "article": 5, "main": 5, "section": 0,
    "pre": 3, "td": 3, "blockquote": 3,
    "address": -3, "ol": -3, "ul": -3, "dl": -3, "dd": -3, "dt": -3, "li": -3, "form": -3,
    "h1": -5, "h2": -5, "h3": -5, "h4": -5, "h5": -5, "h6": -5, "th": -5, "header": -5,
}
_FIG_CONTENT = ("p", "blockquote", "table", "pre")
_HEADINGS = frozenset(("h1", "h2", "h3", "h4", "h5", "h6"))
_CLEAN_TAGS = frozenset(("table", "ul", "ol", "div", "section", "header", "dl", "form"))

_UNLIKELY = re.compile(
    r"combx|comment|community|disqus|extra|foot|header|menu|remark|rss|shoutbox|sidebar|"
    r"sponsor|ad-break|agegate|pagination|pager|popup|tweet|twitter|share|breadcrumb|"
    r"related|recommend|copyright|login|banner|"
    r"editsection", re.I)  # MediaWiki's "[edit | edit source]" in every section heading
_MAYBE = re.compile(r"and|article|body|column|content|main|shadow|text|news", re.I)
_POSITIVE = re.compile(
    r"article|body|content|entry|hentry|main|page|post|text|blog|story|artic|detail|zhengwen",
    re.I)
_NEGATIVE = re.compile(
    r"combx|comment|com-|contact|foot|footer|footnote|masthead|media|meta|outbrain|promo|"
    r"related|scroll|shoutbox|sidebar|sponsor|shopping|tags|tool|widget|share|nav|menu|"
    r"copyright|recommend|hot|rank|ad_|-ad|banner", re.I)
# Site-footer prose (copyright and, on Chinese sites, the ICP licence number) has the commas of
# an article; it must not earn an article's score.
_LEGAL = re.compile(
    r"ICP[备证]|版权所有|版權所有|版权声明|免责声明|不代表.{0,12}(?:观点|立场)|copyright|"
    r"all rights reserved|©", re.I)
# Image captions and photo credits: in a news page's body, but not part of its text.
_CAPTION = re.compile(r"caption|credit", re.I)
# Readability.js's byline test (a short box so named is the author line, metadata not text),
# plus the publication-time boxes that sit beside it.
_BYLINE = re.compile(r"byline|author|dateline|writtenby|publish-?date|timestamp", re.I)
BYLINE_LEN = 100
CAPTION_LEN = 600
_HIDDEN = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_SENTENCE_END = re.compile(r"\.( |$)|[。！？]")
_SENTENCE_STOP = frozenset(".!?。！？")
# Faster twins of the patterns above, same answers. Python's case-insensitive search is slow
# (it scans without a literal prefix). On an ASCII string, lower-casing it and searching with the
# lower-cased pattern finds the same matches; on other text re.I also folds ı, İ and ſ onto
# ASCII letters, so those strings keep the re.I patterns (see _legal for the text test).


def _lowered(pattern: re.Pattern) -> re.Pattern:
    assert "\\" not in pattern.pattern  # lower-casing an escape (\S, \W) would change it
    return re.compile(pattern.pattern.lower())


# _LEGAL's words that have no case
_LEGAL_CJK = re.compile(r"版权所有|版權所有|版权声明|免责声明|不代表.{0,12}(?:观点|立场)|©")
_UNLIKELY_LOW, _MAYBE_LOW = _lowered(_UNLIKELY), _lowered(_MAYBE)
_CAPTION_LOW, _BYLINE_LOW = _lowered(_CAPTION), _lowered(_BYLINE)
_NEGATIVE_LOW, _POSITIVE_LOW = _lowered(_NEGATIVE), _lowered(_POSITIVE)

MIN_LEN = 25
RETRY_LEN = 250
WEIGHT_LEN = 300
LEGAL_BOX_LEN = 400
LINK_P = 0.75


_local = threading.local()


def _parse(html: str | bytes):
    """The lxml tree of a page given as str or as UTF-8 bytes (what the guard sends: one
    encoding in the parent instead of a decode and an encode again in its child)."""
    if not html:
        return None
    parser = getattr(_local, "parser", None)
    if parser is None:  # building a parser costs as much as parsing a small page; one a thread
        parser = _local.parser = ET.HTMLParser(
            remove_comments=True, remove_pis=True, no_network=True, encoding="utf-8", collect_ids=False,
            huge_tree=True)  # else libxml2 silently cuts everything below depth 256
    try:
        return ET.fromstring(html if isinstance(html, bytes) else html.encode("utf-8", "replace"), parser)
    except (ET.LxmlError, ValueError):
        return None


def _legal(text: str) -> bool:
    """_LEGAL.search(text), fast: the ASCII words are looked for in the lower-cased text and
    only a hit (or a letter that folds onto ASCII) runs the full case-insensitive pattern."""
    if "\u0130" not in text and "\u0131" not in text and "\u017f" not in text:
        low = text.lower()
        if "icp" not in low and "copyright" not in low and "all rights reserved" not in low:
            return _LEGAL_CJK.search(text) is not None
    return _LEGAL.search(text) is not None


def _norm(text: str | None) -> str:
    return " ".join(text.split()) if text else ""


def _title(root) -> str | None:
    # iterdescendants(tag) walks in C; ElementPath (find, iterfind) tests each node in Python.
    for meta in root.iterdescendants("meta"):
        if meta.get("property") == "og:title":
            t = _norm(meta.get("content"))
            if t:
                return t
    t = next(root.iterdescendants("title"), None)
    if t is not None:
        text = _norm("".join(t.itertext()))
        if text:
            return text
    h1 = next(root.iterdescendants("h1"), None)
    if h1 is not None:
        text = _norm("".join(h1.itertext()))
        if text:
            return text
    return None


def _class_weight(el) -> int:
    return _name_weight(el.get("class"), el.get("id"))


@lru_cache(maxsize=1 << 16)
def _name_weight(cls: str | None, ident: str | None) -> int:
    w = 0
    for feature in (cls, ident):
        if feature:
            if feature.isascii():
                low = feature.lower()
                neg, pos = _NEGATIVE_LOW.search(low), _POSITIVE_LOW.search(low)
            else:
                neg, pos = _NEGATIVE.search(feature), _POSITIVE.search(feature)
            if neg:
                w -= 25
            if pos:
                w += 25
    return w


def _drop(el, log: list | None = None) -> None:
    """Remove el and its subtree, keeping its tail text in the document. With a log, record
    what _undo needs to put it back."""
    parent = el.getparent()
    if parent is None:
        return
    tail = el.tail
    prev = old = None
    if tail:
        prev = el.getprevious()
        if prev is not None:
            old = prev.tail
            prev.tail = (old or "") + tail
        else:
            old = parent.text
            parent.text = (old or "") + tail
    if log is not None:
        log.append((el, parent, parent.index(el), bool(tail), prev, old))
    parent.remove(el)  # lxml keeps el's tail on el


def _undo(log: list) -> None:
    """Put the logged drops back, last first: the tree is as it was before the first."""
    for el, parent, idx, moved_tail, prev, old in reversed(log):
        if moved_tail:
            if prev is not None:
                prev.tail = old
            else:
                parent.text = old
        parent.insert(idx, el)


_CAPTION_NAME, _BYLINE_NAME, _UNLIKELY_NAME = 1, 2, 4


@lru_cache(maxsize=1 << 16)
def _name_kind(cls: str | None, ident: str | None) -> int:
    """Which of the caption, byline and unlikely-name tests the class and id pass (bit flags).
    Memoized, one entry for all three: class names repeat within a page and across a site's
    pages, and the regexes are the most expensive step per element."""
    s = f"{cls or ''} {ident or ''}"
    if s.isascii():
        s = s.lower()
        caption, byline, unlikely, maybe = _CAPTION_LOW, _BYLINE_LOW, _UNLIKELY_LOW, _MAYBE_LOW
    else:
        caption, byline, unlikely, maybe = _CAPTION, _BYLINE, _UNLIKELY, _MAYBE
    kind = 0
    if caption.search(s):
        kind |= _CAPTION_NAME
    if byline.search(s):
        kind |= _BYLINE_NAME
    if unlikely.search(s) and not maybe.search(s):
        kind |= _UNLIKELY_NAME
    return kind


def _text_len(el) -> int:
    return sum(len(t.strip()) for t in el.itertext())


@lru_cache(maxsize=1 << 12)
def _hidden(style: str) -> bool:
    return _HIDDEN.search(style) is not None


def _prune(body) -> tuple[list, list]:
    """Drop never-content tags, hidden boxes, captions and bylines. Returns the elements walked
    (see the end) and the boxes named like boilerplate, which only the ruthless pass drops."""
    ET.strip_elements(body, *_JUNK_TAGS, with_tail=False)
    # One Python walk for the attribute tests (lxml's XPath and ElementPath cost more than
    # the loop) and C-level tag walks for the figures; boxes drop in the order hidden, captions,
    # figures, named (as they always have: the order changes nothing, the text stays in place).
    hidden, named, unlikely = [], [], []
    els = list(body.iter(ET.Element))
    for el in els[1:]:  # els[0] is body: the style and name tests look at descendants only
        get = el.get
        style = get("style")
        if style is not None and _hidden(style):
            hidden.append(el)
        cls, ident = get("class"), get("id")
        if cls is None and ident is None:
            continue
        kind = _name_kind(cls, ident)
        if not kind:
            continue
        if kind & _CAPTION_NAME:
            # Length-capped: a wrapper called "has-captions" around the whole story must stay.
            if _text_len(el) < CAPTION_LEN:
                named.append(el)
        elif kind & _BYLINE_NAME and _text_len(el) < BYLINE_LEN:
            named.append(el)
        elif kind & _UNLIKELY_NAME and el.tag != "blockquote":
            # A quote is content even when it is an embedded post ("twitter-tweet").
            unlikely.append(el)
    # Captions go in both passes: an article's own wrapper is never named "caption".
    captions = list(body.iter("figcaption"))
    # An image with its caption and credit (the credit often a bare <cite>); a figure that
    # holds a quote, table or code is kept.
    figures = [fig for fig in body.iter("figure") if next(fig.iter(*_FIG_CONTENT), None) is None]
    for doomed in (hidden, captions, figures, named):
        for el in doomed:
            _drop(el)  # a box inside an already dropped box went with it; again is a no-op
    # The caller holds these until _Doc has walked the tree: lxml then reuses their Python
    # proxies instead of building new ones, a large part of a walk's cost.
    return els, unlikely


class _Doc:
    """Per-element statistics, computed once bottom-up over the pruned tree. Elements are
    numbered in document order, so a subtree is the index range [i, i + size[i])."""

    def __init__(self, body):
        els = list(body.iter(ET.Element))
        self.els = els
        n = len(els)
        index = dict(zip(els, range(n)))
        tags = [""] * n
        tlen = [0] * n  # visible characters in the subtree (whitespace stripped per text node)
        alen = [0] * n  # of which inside <a>
        dlen = [0] * n  # characters of the element's own paragraph (text not inside child blocks)
        dcom = [0] * n  # prose punctuation in that paragraph
        tcom = [0] * n  # prose punctuation in the subtree
        nblock = [0] * n  # child blocks
        n_p = [0] * n
        n_img = [0] * n
        parent = [-1] * n
        size = [1] * n
        for i in range(n - 1, -1, -1):
            e = els[i]
            tags[i] = tag = e.tag
            t = e.text
            if t:
                t = t.strip()
                if t:
                    k = len(t)
                    # isascii() is a flag test: ASCII text has no full-width punctuation.
                    # Written out here and for the tail below, not in a helper: this loop runs
                    # for every node of every page, and a call per text node costs ~8%.
                    c = (t.count(",") if t.isascii()
                         else t.count(",") + t.count("，") + t.count("。"))
                    tlen[i] += k
                    dlen[i] += k
                    dcom[i] += c
                    tcom[i] += c
            if tag == "a":
                alen[i] = tlen[i]
            elif tag == "p":
                n_p[i] += 1
            elif tag == "img":
                n_img[i] += 1
            j = index.get(e.getparent())
            if j is None:
                continue
            parent[i] = j
            tail = e.tail
            if tail:
                tail = tail.strip()
                if tail:
                    k = len(tail)
                    c = (tail.count(",") if tail.isascii()
                         else tail.count(",") + tail.count("，") + tail.count("。"))
                    tlen[j] += k
                    dlen[j] += k
                    dcom[j] += c
                    tcom[j] += c
            tlen[j] += tlen[i]
            alen[j] += alen[i]
            tcom[j] += tcom[i]
            n_p[j] += n_p[i]
            n_img[j] += n_img[i]
            size[j] += size[i]
            if tag in _INLINE:
                dlen[j] += dlen[i]
                dcom[j] += dcom[i]
            else:
                nblock[j] += 1
        self.tags = tags
        self.tlen, self.alen, self.dlen, self.dcom, self.tcom = tlen, alen, dlen, dcom, tcom
        self.nblock, self.n_p, self.n_img, self.parent, self.size = nblock, n_p, n_img, parent, size

    def children(self, i: int):
        c, end = i + 1, i + self.size[i]
        size = self.size
        while c < end:
            yield c
            c += size[c]

    def link_density(self, i: int) -> float:
        t = self.tlen[i]
        return self.alen[i] / t if t else 0.0


def _own_text(e) -> str:
    """The element's own paragraph: its text and its inline children's, not its blocks'."""
    parts = []
    stack = [(e, False)]  # iterative: broken pages nest <font> thousands deep
    while stack:
        el, is_tail = stack.pop()
        if is_tail:
            parts.append(el.tail or "")
            continue
        parts.append(el.text or "")
        for c in reversed(el):
            stack.append((c, True))
            if c.tag in _INLINE:
                stack.append((c, False))
    return "".join(parts)


def _score(doc: _Doc) -> dict[int, float]:
    els, tags, dlen, dcom = doc.els, doc.tags, doc.dlen, doc.dcom
    nblock, parent = doc.nblock, doc.parent
    scores: dict[int, float] = {}

    tlen = doc.tlen

    def init(j: int) -> None:
        if j not in scores:
            w = _class_weight(els[j])
            if w > 0 and tlen[j] < WEIGHT_LEN:
                # A promising name on a box with a line of text in it is a teaser, not the
                # article: the name's bonus grows with the text it holds.
                w = w * tlen[j] / WEIGHT_LEN
            scores[j] = _TAG_BASE.get(tags[j], 0) + w

    for i, k in enumerate(dlen):
        if k < MIN_LEN or tags[i] not in _PARA:
            continue
        # A block with child blocks holds its own text as if wrapped in a <p> child of itself.
        p = i if nblock[i] else parent[i]
        if p < 0:
            continue
        g = parent[p]
        if dcom[i] and _legal(_own_text(els[i])):
            continue
        s = 1 + (dcom[i] + 1) + min(k / 100, 3)
        init(p)
        scores[p] += s
        if g >= 0:
            init(g)
            scores[g] += s / 2
    for j in scores:
        scores[j] *= 1 - doc.link_density(j)
    return scores


def _select(doc: _Doc, scores: dict[int, float]):
    """The best box and its siblings worth keeping, as element indices."""
    if not scores:
        return None, []
    best = max(scores, key=scores.__getitem__)
    top = scores[best]
    threshold = max(10.0, top * 0.2)
    p = doc.parent[best]
    if p < 0:
        # The body itself (its siblings, like <head>, were never scored) or the root.
        return best, [best]
    els, tags = doc.els, doc.tags
    chosen = []
    for j in doc.children(p):
        keep = j == best or scores.get(j, -1e9) >= threshold
        if not keep and tags[j] == "p":
            ld = doc.link_density(j)
            own = _norm(els[j].text)
            if len(own) > 80 and ld < 0.25:
                keep = True
            elif len(own) <= 80 and ld == 0 and _SENTENCE_END.search(own):
                keep = True
        if keep:
            chosen.append(j)
    return best, chosen


def _linked_prose(el) -> bool:
    """A paragraph the stripped link density calls a run of links, but which is a sentence
    that links most of its words (an encyclopedia's lead: "X ye un <a>municipio</a> d'a
    <a>provincia</a> ... de <a>Guadalachara</a>."). _Doc's per-text-node stripped counts drop
    the spaces around every link, which makes such prose look denser than it reads; counted
    with its spaces its density is under the bar, and it ends like a sentence (a keyword or
    tag line, "READ MORE: <a>...</a>", a bar of links does not). Only asked for paragraphs the
    stripped count would drop."""
    text = _norm("".join(el.itertext()))
    if not text or text[-1] not in _SENTENCE_STOP:
        return False
    links = sum(len(_norm("".join(a.itertext()))) for a in el.iter("a"))
    return links / len(text) < LINK_P


def _sanitize(doc: _Doc, scores: dict[int, float], roots: list[int], log: list | None) -> None:
    """readability's conditional cleaning, on the precomputed statistics."""
    tlen, tcom, els, tags, size = doc.tlen, doc.tcom, doc.els, doc.tags, doc.size
    doomed = []
    headings = []  # kept headings with something after them, document order
    for r in roots:
        for i in range(r + 1, r + size[r]):  # the subtree in document order, root excluded
            tag = tags[i]
            if tag in _HEADINGS:
                if _class_weight(els[i]) < 0 or doc.link_density(i) > 0.33:
                    doomed.append(i)
                elif not _last(els[i]):
                    headings.append(els[i])
                continue
            if tag not in _CLEAN_TAGS and tag != "p":
                continue
            if tcom[i] and tlen[i] < LEGAL_BOX_LEN and _legal("".join(els[i].itertext())):
                doomed.append(i)  # a disclaimer or copyright box inside the article's container
                continue
            if tag == "p":
                if doc.link_density(i) >= LINK_P and not _linked_prose(els[i]):
                    doomed.append(i)
                continue
            weight = _class_weight(els[i])
            score = scores.get(i, 0.0)
            if weight + score < 0:
                doomed.append(i)
                continue
            if tcom[i] >= 10:
                continue
            n_p, n_img = doc.n_p[i], doc.n_img[i]
            length = tlen[i]
            ld = doc.link_density(i)
            remove = False
            if n_p and n_img > 1 + n_p * 1.3:
                remove = True
            elif length < MIN_LEN and (n_img == 0 or n_img > 2):
                remove = True
            elif weight < 25 and ld > 0.2:
                remove = True
            elif weight >= 25 and ld > 0.5:
                remove = True
            if remove:
                doomed.append(i)
    for i in doomed:
        el = els[i]
        if el.getparent() is not None:
            _drop(el, log)
    # Headings left last in their box once the cleaning took every section after them (a
    # wiki's "References", "External links" over dropped lists) would end the text with a
    # column of titles. Last first, so a run of them goes. A heading that was last before the
    # cleaning (a title in its own box) stays, and so does one over an emptied section in the
    # middle (a heading over a dropped link may be the article's own text).
    for h in reversed(headings):
        if _last(h):  # one in a dropped box: dropping it again changes no output
            _drop(h, log)


def _last(h) -> bool:
    """Nothing follows the heading in its box."""
    return h.getnext() is None and not (h.tail and h.tail.strip())


def _lines(roots) -> str:
    """The text of the chosen boxes, one line per block and per <br>. A newline inside a text
    node is source formatting, not a paragraph break (except within <pre>)."""
    out: list[str] = []
    pre = 0
    for root in roots:
        out.append("\n")
        for ev, el in ET.iterwalk(root, events=("start", "end")):
            tag = el.tag
            if ev == "start":
                if tag == "pre":
                    pre += 1
                if tag not in _INLINE or tag == "br":
                    out.append("\n")
                text = el.text
                if text and tag != "br":
                    out.append(text if pre else text.replace("\n", " "))
            else:
                if tag not in _INLINE:
                    out.append("\n")
                    if tag == "pre":
                        pre -= 1
                tail = el.tail
                if tail and el is not root:
                    out.append(tail if pre else tail.replace("\n", " "))
    lines = (" ".join(line.split()) for line in "".join(out).split("\n"))
    return "\n".join(line for line in lines if line)


def extract(html: str | bytes, url: str | None = None) -> Extracted:
    """Title and main text of one page, str or UTF-8 bytes (`url` is accepted for the
    interface; unused)."""
    root = _parse(html)
    if root is None:
        return Extracted(title=None, text="")
    title = _title(root)
    body = root.find("body")
    if body is None:
        body = root
    alive, unlikely = _prune(body)
    log: list | None = [] if unlikely else None  # no second pass without them: nothing to undo
    for el in unlikely:
        _drop(el, log)
    text = _main_text(body, log)
    del alive
    if len(text) < RETRY_LEN and unlikely:
        # Dropping class/id-suspect nodes threw the article away (its wrapper was called
        # "header-x" or the like): score again without that step, on the tree as it was before
        # it (every drop since is undone: cheaper than parsing and pruning the page again).
        _undo(log)
        again = _main_text(body, None)
        if len(again) > len(text):
            text = again
    return Extracted(title=title, text=text)


def _main_text(body, log: list | None) -> str:
    doc = _Doc(body)
    scores = _score(doc)
    best, chosen = _select(doc, scores)
    if best is None:
        return _lines([body])
    _sanitize(doc, scores, chosen, log)
    return _lines([doc.els[j] for j in chosen])


class RootsExtractor:
    name = "roots"

    utf8_bytes = True  # extract() takes the page as UTF-8 bytes too (GuardedExtractor sends them)

    def extract(self, html: str | bytes, url: str | None = None) -> Extracted:
        return extract(html, url)
