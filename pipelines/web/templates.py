"""Site-template removal: lines that repeat across many pages of one domain in a run
(navigation bars, footers, "related articles" headings, copyright and licence lines) are
removed from every page of that domain.

A line-level extractor (all visible text, or a main-content extractor that lets a menu
through) leaves a site's chrome on every page; one page alone cannot tell it from text, but
the domain's other pages can. As BigScience's pseudo-crawl and CCNet's paragraph dedup do,
lines are compared by the hash of a normalized form (whitespace collapsed, digits -> 0 so
the dates and counters of a footer match, ASCII case-folded), each line counted once per
page. A line is a template line of a domain when it occurs in at least
max(min_pages, min_share * pages) distinct pages of it; a domain with fewer than
`min_pages` pages is left alone. The defaults are measured in benchmarks/template_eval.py
(see TemplateConfig).

The Beam transform runs in two passes and never groups documents by domain:
  1. each document -> (domain, its page: a fingerprint and its sorted line hashes);
     CombinePerKey folds a domain's pages into a bounded sample (`_DomainLinesFn`) and
     extracts the template hashes (packed uint64s, most domains have none);
  2. the documents, with the template hashes as a side input (domain -> bytes), lose their
     template lines.
Pages without text are not counted. The documents are read by both passes, so the runner
keeps them between the passes (the second waits for its side input): one materialization,
no shuffle of documents.
Memory: a combine accumulator holds under 2 * max_pages_per_domain pages of at most
max_lines_per_page hashes (8 bytes each; 1,000 x 1,000 -> 16 MB worst case, a typical page
of ~100 lines: 1.6 MB). A domain's template set is at most (mean distinct lines per sampled
page) / min_share hashes (each template hash accounts for >= min_share * pages of the lines
counted), so the side input is 8 bytes x lines-per-page / min_share per domain that has
templates: ~3 KB for 100-line pages at 0.3, 3 GB for a million such domains -- past that,
join by CoGroupByKey instead.
"""
from __future__ import annotations

import math
import re
from array import array
from collections import Counter

import apache_beam as beam
from apache_beam.metrics import Metrics

from .config import TemplateConfig  # noqa: F401 - the section's settings, declared with the web config

NAMESPACE = "roots"

_SPACE_RE = re.compile(r"\s+")
_DIGIT_RE = re.compile(r"\d")  # Unicode digits too: fullwidth ２０１１ is a date as well
_ASCII_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def normalize_line(line: str) -> str:
    return _DIGIT_RE.sub("0", _SPACE_RE.sub(" ", line.strip())).translate(_ASCII_FOLD)


_LINE_SPACE_RE = re.compile(r"[^\S\n]+")  # whitespace runs inside a line
_ASCII_FOLD_BYTES = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz")


def normalized_lines(text: str) -> list[bytes]:
    """`[normalize_line(line).encode() for line in text.split("\n")]` (the bytes the hashes
    are of), computed over the whole text at once: the stage's main cost was a `str.translate`
    a line. The same bytes: digits become 0 character by character; collapsing a line's
    whitespace runs to one space and then stripping that space leaves what stripping first
    and collapsing leaves; ASCII case folds byte by byte in UTF-8 (no other character has a
    byte below 0x80). tests/pipelines/web/test_templates.py checks it against normalize_line."""
    spaced = _LINE_SPACE_RE.sub(" ", _DIGIT_RE.sub("0", text))
    raw = spaced.encode("utf-8", "surrogatepass").translate(_ASCII_FOLD_BYTES)
    return [line.strip(b" ") for line in raw.split(b"\n")]


def _hasher():
    import xxhash

    return xxhash.xxh3_64_intdigest


def line_hash(line: str) -> int | None:
    """The hash of a line's normalized form; None for a blank line (never a template)."""
    norm = normalize_line(line)
    return _hasher()(norm.encode("utf-8", "surrogatepass")) if norm else None


def page_line_hashes(text: str) -> set[int]:
    """The distinct line hashes of a page: a line repeated on one page counts once."""
    hash_ = _hasher()
    return {hash_(norm) for norm in normalized_lines(text) if norm}


def template_lines(pages_lines: list[list[str]], cfg: TemplateConfig = TemplateConfig()) -> set[int]:
    """The template line hashes of one domain, given each page's lines. Counted as the Beam
    transform counts: identical pages once, pages without text or with more than
    max_lines_per_page lines not at all, a sample of max_pages_per_domain pages."""
    if not cfg.enabled:
        return set()
    fn = _DomainLinesFn(cfg)
    acc = fn.create_accumulator()
    for lines in pages_lines:
        sig = page_signature("\n".join(lines), cfg)
        if sig is not None:
            acc = fn.add_input(acc, sig)
    return set(array("Q", fn.extract_output(acc)))


def remove_template_lines(text: str, hashes) -> tuple[str, int]:
    """(text without the lines whose hash is in `hashes`, lines removed). A text with no
    template line comes back as given; otherwise the blank runs the removal leaves are
    closed up (as the boilerplate step does)."""
    if not hashes or not text:
        return text, 0
    hash_ = _hasher()
    kept, removed = [], 0
    for line, norm in zip(text.split("\n"), normalized_lines(text)):
        if norm and hash_(norm) in hashes:
            removed += 1
        else:
            kept.append(line)
    if not removed:
        return text, 0
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip(), removed


# ---- Beam ------------------------------------------------------------------------------

def _domain(doc: dict) -> str | None:
    web = doc.get("web")
    return web.get("domain") if isinstance(web, dict) else None


def page_signature(text: str, cfg: TemplateConfig) -> tuple[int, bytes] | None:
    """(fingerprint, packed sorted line hashes) of a page, or None for a page that does not
    count (no text, or more than max_lines_per_page distinct lines). The fingerprint is the
    hash of the line-hash set: identical pages (a page fetched twice, a mirror) share it and
    are counted once, so three copies of one article do not make it a template."""
    hashes = page_line_hashes(text)
    if not hashes or len(hashes) > cfg.max_lines_per_page:
        return None
    packed = array("Q", sorted(hashes)).tobytes()
    return _hasher()(packed), packed


class _DomainLinesFn(beam.CombineFn):
    """A domain's pages (fingerprint, packed hashes) -> its template hashes, packed.

    The accumulator is {fingerprint: packed hashes}, cut to the max_pages_per_domain smallest
    fingerprints whenever it reaches twice that: a bottom-k sample of the distinct pages,
    the same whatever order and bundles the pages come in (a cut never drops one of the k
    smallest)."""

    def __init__(self, cfg: TemplateConfig):
        self.cfg = cfg

    def create_accumulator(self):
        return {}

    def _bounded(self, acc: dict, final: bool = False) -> dict:
        k = self.cfg.max_pages_per_domain
        if len(acc) >= (k + 1 if final else 2 * k):
            acc = {fp: acc[fp] for fp in sorted(acc)[:k]}
        return acc

    def add_input(self, acc, page):
        fp, packed = page
        acc[fp] = packed
        return self._bounded(acc)

    def merge_accumulators(self, accs):
        accs = iter(accs)
        out = next(accs)
        for acc in accs:
            out.update(acc)
            out = self._bounded(out)
        return out

    def compact(self, acc):
        return self._bounded(acc, final=True)

    def extract_output(self, acc):
        acc = self._bounded(acc, final=True)
        if len(acc) < self.cfg.min_pages:  # a shortcut: no line can reach the threshold
            return b""
        counts: Counter = Counter()
        for packed in acc.values():
            counts.update(array("Q", packed))
        need = self.cfg.threshold(len(acc))
        return array("Q", sorted(h for h, n in counts.items() if n >= need)).tobytes()


class _PageSignatures(beam.DoFn):
    def __init__(self, cfg: TemplateConfig):
        self.cfg = cfg

    def process(self, doc):
        domain = _domain(doc)
        if domain:
            sig = page_signature(doc.get("text") or "", self.cfg)
            if sig is not None:
                yield domain, sig


class _StripTemplates(beam.DoFn):
    """Each document without its domain's template lines (a copy: the input is not changed),
    with doc["template_lines_removed"]. A document without a domain comes out as it came."""

    def setup(self):
        self.lines = Metrics.counter(NAMESPACE, "template_lines_removed")
        self.docs = Metrics.counter(NAMESPACE, "template_docs_changed")
        self.emptied = Metrics.counter(NAMESPACE, "template_docs_emptied")

    def start_bundle(self):
        self.sets: dict[str, frozenset] = {}  # domain -> template hashes, unpacked once a bundle

    def process(self, doc, templates):
        domain = _domain(doc)
        if not domain:
            yield doc
            return
        hashes = self.sets.get(domain)
        if hashes is None:
            hashes = self.sets[domain] = frozenset(array("Q", templates.get(domain, b"")))
        text, removed = remove_template_lines(doc.get("text") or "", hashes)
        out = dict(doc)
        out["template_lines_removed"] = removed
        if removed:
            out["text"] = text
            self.lines.inc(removed)
            self.docs.inc()
            if not text:
                # Left empty for the pipeline's `empty` step to drop; counted here.
                self.emptied.inc()
        yield out


class RemoveSiteTemplates(beam.PTransform):
    """PCollection of documents -> the same documents without their domain's template lines
    (see the module docstring). Order is not kept; every document comes out once."""

    def __init__(self, cfg: TemplateConfig = TemplateConfig()):
        super().__init__()
        self.cfg = cfg

    def expand(self, docs):
        if not self.cfg.enabled:
            return docs
        templates = (docs
                     | "PageLines" >> beam.ParDo(_PageSignatures(self.cfg))
                     | "CountLinesPerDomain" >> beam.CombinePerKey(_DomainLinesFn(self.cfg))
                     | "DomainsWithTemplates" >> beam.Filter(lambda kv: bool(kv[1])))
        return docs | "StripTemplates" >> beam.ParDo(_StripTemplates(), beam.pvalue.AsDict(templates))
