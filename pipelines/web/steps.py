"""Pipeline steps for web records (the `pipelines.process.Step` interface: `name`, `setup`,
`__call__(doc) -> None | drop reason`; not subclasses, so that process.py need not be
imported here), registered in `pipelines.steps`.

The page chain turns a web record into a document with main text, in the order that spends
the least on what is dropped: the record's type, its HTTP status and media type, the URL
blocklist (all from headers), then decoding, then extraction. `RejectWebSpam` runs among the
document steps once the language is known. A document without `web` (JSONL, Parquet, text
inputs) passes every one of them untouched.
"""
from __future__ import annotations

from ..steps import register_step
from . import HTML_TYPES
from .config import WebConfig
from .spam import REASONS as SPAM_REASONS

# WARC record types that hold a page: a crawler's `response`, an archived `resource`, and
# the `conversion` records of a WET file (text already extracted by Common Crawl).
PAGE_TYPES = frozenset({"response", "resource", "conversion", None})
EXTRACT_REASONS = ("extract_timeout", "extract_memory", "extract_error")


def _no_settings(cls):
    """Build a step that takes no settings (from_config: `cls()`)."""
    cls.from_config = classmethod(lambda c, config: c())
    return cls


@register_step(order=10, chain="page", reasons=("not_a_page",))
@_no_settings
class RejectNonPage:
    """request / metadata / warcinfo / revisit records: counted (stats.json `web.warc_types`),
    never taken for pages."""
    name = "not_a_page"

    def setup(self):
        pass

    def __call__(self, doc):
        web = doc.get("web")
        if web is not None and web.get("warc_type") not in PAGE_TYPES:
            return self.name


@register_step(order=20, chain="page", reasons=("http_status",))
@_no_settings
class RejectHttpStatus:
    name = "http_status"

    def setup(self):
        pass

    def __call__(self, doc):
        web = doc.get("web")
        status = web and web.get("http_status")
        if status is not None and not 200 <= status < 300:
            return self.name


@register_step(order=30, chain="page", reasons=("not_html",))
@_no_settings
class RejectNotHtml:
    """A page whose media type is not HTML (a PDF, an image, JSON). A missing Content-Type
    is given the benefit of the doubt: decoding and extraction decide."""
    name = "not_html"

    def setup(self):
        pass

    def __call__(self, doc):
        web = doc.get("web")
        if web is None or web.get("warc_type") == "conversion":
            return None
        media = web.get("content_type")
        if media is not None and media not in HTML_TYPES:
            return self.name


@register_step(order=40, chain="page", reasons=("url_blocklist",))
class RejectBlockedUrl:
    """URLs on the user's blocklists (`web.url_blocklists`): the list's name is recorded in
    `web.blocklist`, counted per list in stats.json."""
    name = "url_blocklist"

    def __init__(self, paths: tuple):
        self.paths = paths
        self.blocklist = None

    @classmethod
    def from_config(cls, config):
        return cls(config.web.url_blocklists) if config.web.url_blocklists else None

    def setup(self):
        if self.blocklist is None:
            from .urlfilter import UrlBlocklist

            self.blocklist = UrlBlocklist.load(list(self.paths))

    def __call__(self, doc):
        web = doc.get("web")
        if web is None or not doc.get("url"):
            return None
        listed = self.blocklist.match(doc["url"])
        if listed:
            web["blocklist"] = listed
            return self.name


@register_step(order=50, chain="page", reasons=("undecodable",))
@_no_settings
class DecodePage:
    """Body bytes -> str (`decode.decode_html`: BOM, HTTP charset, <meta> charset, detection,
    each verified). `web.encoding` and `web.encoding_decision` say what was used and why. A
    body no candidate decodes is dropped `undecodable`: no mojibake reaches the corpus."""
    name = "undecodable"

    def setup(self):
        pass

    def __call__(self, doc):
        body = doc.get("html")
        if not isinstance(body, (bytes, bytearray)):
            return None
        from .decode import decode_html

        web = doc["web"]
        decoded = decode_html(bytes(body), web.get("http_charset"))
        web["encoding"], web["encoding_decision"] = decoded.encoding, decoded.decision
        if decoded.text is None:
            doc["html"] = None
            return self.name
        doc["html"] = decoded.text


@register_step(order=60, chain="page", reasons=EXTRACT_REASONS)
class ExtractMainText:
    """Decoded HTML -> main text (paragraphs as lines) and title, by the configured backend,
    in a guarded child process (`web.guard`): a page over the time or memory limit is dropped
    `extract_timeout` / `extract_memory` and the job goes on."""
    name = "extract"

    def __init__(self, web: WebConfig):
        self.web = web
        self.extractor = None

    @classmethod
    def from_config(cls, config):
        return cls(config.web)

    def setup(self):
        if self.extractor is None:
            from . import extract

            if self.web.guard:
                self.extractor = extract.GuardedExtractor(self.web.extractor, timeout_s=self.web.extract_timeout_s,
                                                          max_memory_mb=self.web.extract_memory_mb)
            else:
                self.extractor = extract.get_extractor(self.web.extractor)

    def close(self):
        close = getattr(self.extractor, "close", None)
        if close:
            close()
        self.extractor = None

    def __call__(self, doc):
        html = doc.get("html")
        if not isinstance(html, str):
            return None
        from . import extract

        doc["html"] = None
        try:
            out = self.extractor.extract(html, doc.get("url"))
        except extract.ExtractTimeout:
            return "extract_timeout"
        except extract.ExtractMemory:
            return "extract_memory"
        except extract.ExtractError:
            return "extract_error"
        doc["text"] = out.text
        doc["web"]["title"] = out.title


@register_step(order=100, reasons=SPAM_REASONS)
class RejectWebSpam:
    """Chinese web spam (gambling, porn, bracket-obfuscated) and soft-404 pages
    (`spam.spam_reason`), on web documents once their language is known."""
    name = "web_spam"

    def __init__(self, thresholds):
        self.thresholds = thresholds

    @classmethod
    def from_config(cls, config):
        return cls(config.web.spam) if config.web.spam.enabled else None

    def setup(self):
        pass

    def __call__(self, doc):
        web = doc.get("web")
        if web is None:
            return None
        from .spam import spam_reason

        return spam_reason(doc["text"], web.get("title"), doc.get("url"), doc.get("lang"), self.thresholds)
