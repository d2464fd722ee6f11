"""WARC test material made without the reader under test: synthetic records written byte by
byte, and ground truth for real files (gzip members inflated with zlib, WARC headers matched
with a regular expression)."""
from __future__ import annotations

import gzip
import re
import zlib
from collections import Counter

_TYPE = re.compile(rb"^WARC-Type:[ \t]*([A-Za-z]+)", re.M)
_URI = re.compile(rb"^WARC-Target-URI:[ \t]*<?([^\r\n>]*)", re.M)


def gzip_records(data: bytes) -> list[bytes]:
    """The inflated records of a one-member-per-record .warc.gz (each member's first header)."""
    out, pos = [], 0
    while pos < len(data):
        d = zlib.decompressobj(31)
        out.append(d.decompress(data[pos:]))
        pos = len(data) - len(d.unused_data)
    return out


def record_types(data: bytes) -> Counter:
    """WARC-Type of each record, read from the first header block of each member."""
    types = Counter()
    for record in gzip_records(data):
        head = record.split(b"\r\n\r\n", 1)[0]
        m = _TYPE.search(head)
        types[m.group(1).decode() if m else None] += 1
    return types


def response_uris(data: bytes, types=(b"response",)) -> list[str]:
    uris = []
    for record in gzip_records(data):
        head = record.split(b"\r\n\r\n", 1)[0]
        t = _TYPE.search(head)
        if t and t.group(1) in types:
            uris.append(_URI.search(head).group(1).decode())
    return uris


# Synthetic records: the bytes a test writes are its ground truth.
_n = iter(range(1, 1 << 30))


def record(wtype="response", block=b"", uri="http://www.Example.COM/a", date="2024-05-18T01:02:03Z", length=None,
           ctype="application/http; msgtype=response", extra=""):
    head = (f"WARC/1.0\r\nWARC-Type: {wtype}\r\nWARC-Record-ID: <urn:uuid:{next(_n):08d}>\r\n"
            f"WARC-Target-URI: {uri}\r\nWARC-Date: {date}\r\nContent-Type: {ctype}\r\n{extra}"
            f"Content-Length: {len(block) if length is None else length}\r\n\r\n")
    return head.encode() + block + b"\r\n\r\n"


def http(body, headers="Content-Type: text/html; charset=utf-8\r\n", status="200 OK"):
    return f"HTTP/1.1 {status}\r\n{headers}\r\n".encode() + body


def per_record_gz(records):
    return b"".join(gzip.compress(r) for r in records)
