"""The real Common Crawl excerpt the web spam check is judged on
(warc_samples/cc_resiliparse/warcfile.warc.gz, CC-MAIN-2020-34): its HTML responses decoded by
the pipeline, main text and title extracted with trafilatura (a peer, so the labels do not
depend on our extractor). Used by benchmarks/web_spam_eval.py and tests/pipelines/web/test_spam.py.
"""
from __future__ import annotations

import re
from pathlib import Path

from pipelines.datadir import dataset_path

CC_WARC = ("cc_resiliparse", "warcfile.warc.gz")


def cc_pages(path: Path | None = None) -> list[dict]:
    """url, title, text, encoding of each HTML response of the CC excerpt."""
    import trafilatura
    from warcio.archiveiterator import ArchiveIterator

    from pipelines.web.decode import decode_html

    path = path or dataset_path("warc_samples") / CC_WARC[0] / CC_WARC[1]
    pages = []
    with open(path, "rb") as f:
        for rec in ArchiveIterator(f):
            if rec.rec_type != "response":
                continue
            ctype = rec.http_headers.get_header("Content-Type") or ""
            if "html" not in ctype.lower():
                continue
            m = re.search(r"charset=([\w.:-]+)", ctype, re.IGNORECASE)
            body = rec.content_stream().read()
            dec = decode_html(body, m.group(1) if m else None)
            url = rec.rec_headers.get_header("WARC-Target-URI")
            html = dec.text or ""
            text = trafilatura.extract(html, url=url) or ""
            meta = trafilatura.extract_metadata(html)
            pages.append({"url": url, "encoding": dec.encoding, "title": meta.title if meta else None, "text": text})
    return pages
