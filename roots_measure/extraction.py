"""Main-text extraction judged as bags of tokens (Han characters, Latin/digit runs, lowercased):
precision, recall and F1 of extracted text against a reference. Used by
benchmarks/extraction_eval.py (against human references) and web_crawl_report.py (against
Common Crawl's WET text).
"""
from __future__ import annotations

import re
from collections import Counter

_TOKEN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[A-Za-z0-9]+")


def tokens(text: str) -> Counter:
    return Counter(t.lower() for t in _TOKEN.findall(text or ""))


def prf(extracted: Counter, reference: Counter) -> tuple[float, float, float]:
    overlap = sum((extracted & reference).values())
    p = overlap / sum(extracted.values()) if extracted else 0.0
    r = overlap / sum(reference.values())
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)
