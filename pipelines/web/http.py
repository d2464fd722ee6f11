"""The HTTP layer of a WARC response record: status line, headers, Content-Type, and the body
after transfer decoding (chunked) and content decoding (gzip, deflate, br).

Crawlers store what the server sent: a wget WARC keeps `Transfer-Encoding: chunked` and
`Content-Encoding: gzip` bodies as they came (Common Crawl stores them decoded and renames the
headers to `X-Crawler-*`, so there is nothing to do). Decoding is lenient where servers are
sloppy (bad chunk framing, a body labelled gzip that is not, a truncated stream: what decodes
is kept) and strict where it matters: a body that would inflate past `max_body_bytes` is a
`DecompressionBomb`, found while inflating in bounded steps, never by inflating it whole.
"""
from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field

MAX_HEADER_BYTES = 64 << 10  # a response whose header block is longer than this is not HTTP
_STATUS = re.compile(rb"HTTP/\d(?:\.\d)?[ \t]+(\d{3})(?:[ \t]+([^\r\n]*))?")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_CHUNK_SIZE = re.compile(rb"[ \t]*([0-9A-Fa-f]+)[^\r\n]*\r?\n")


class HttpError(ValueError):
    """A response that cannot be used; `kind` is the dead letter's error kind."""
    kind = "http_unparseable"


class DecompressionBomb(HttpError):
    kind = "decompression_bomb"


@dataclass
class HttpResponse:
    status: int
    reason: str
    headers: dict[str, str]          # lower-case names; a repeated header keeps its first value
    media_type: str | None           # lower-case, no parameters: "text/html"
    charset: str | None              # Content-Type's charset parameter, as sent (stripped of quotes)
    body: bytes
    truncated: bool = False          # identity body cut at max_body_bytes (a content-decoded one raises instead)
    notes: list[str] = field(default_factory=list)  # leniencies applied: "bad_chunks", "not_gzip", ...


def parse_content_type(value: str | None) -> tuple[str | None, str | None]:
    """("text/html", "gb2312") from 'text/html; charset="GB2312"'; (None, None) when absent."""
    if not value:
        return None, None
    media, _, params = value.partition(";")
    media = media.strip().lower() or None
    charset = None
    for param in params.split(";"):
        name, _, val = param.partition("=")
        if name.strip().lower() == "charset":
            charset = val.strip().strip("\"'").strip() or None
            break
    return media, charset


def split_head(payload: bytes) -> tuple[bytes, int]:
    """(header block, offset of the body) of an HTTP message; HttpError when there is none. A
    message that is all headers (a revisit record, a HEAD response) has an empty body."""
    m = _HEADER_END.search(payload, 0, MAX_HEADER_BYTES + 4)
    if m is None:
        if len(payload) <= MAX_HEADER_BYTES and payload.startswith(b"HTTP/"):
            return payload, len(payload)
        raise HttpError("no end of HTTP headers")
    return payload[: m.start()], m.end()


def parse_headers(head: bytes) -> tuple[int, str, dict[str, str]]:
    lines = re.split(rb"\r?\n", head)
    m = _STATUS.match(lines[0])
    if m is None:
        raise HttpError(f"bad status line {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    last = None
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t") and last is not None:  # obsolete line folding
            headers[last] += " " + line.strip().decode("latin-1")
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            continue  # servers send junk lines; browsers ignore them too
        key = name.strip().decode("latin-1").lower()
        if key not in headers:
            headers[key] = value.strip().decode("latin-1")
            last = key
    return int(m.group(1)), (m.group(2) or b"").decode("latin-1").strip(), headers


def dechunk(body: bytes) -> tuple[bytes, bool]:
    """(decoded body, framing was clean). Bad framing keeps the chunks decoded so far and the
    rest as it is; a body that does not start with a chunk size is returned unchanged (servers
    label plain bodies chunked, and some crawlers store them de-chunked with the header kept)."""
    parts = []
    pos = 0
    n = len(body)
    while pos < n:
        m = _CHUNK_SIZE.match(body, pos)
        if m is None:
            return (b"".join(parts) + body[pos:], False) if parts else (body, False)
        size = int(m.group(1), 16)
        start = m.end()
        if size == 0:
            return b"".join(parts), True
        if start + size > n:  # truncated last chunk: keep what there is
            parts.append(body[start:])
            return b"".join(parts), False
        parts.append(body[start:start + size])
        pos = start + size
        if body.startswith(b"\r\n", pos):
            pos += 2
        elif body.startswith(b"\n", pos):
            pos += 1
        elif pos < n:
            return b"".join(parts) + body[pos:], False
    return b"".join(parts), False  # no terminating 0-chunk: truncated


def _inflate(data: bytes, wbits: int, cap: int) -> bytes:
    """Inflate (concatenated gzip members too) to at most `cap` bytes; DecompressionBomb beyond.
    A truncated or damaged tail keeps what decoded before it."""
    out = []
    size = 0
    while data:
        d = zlib.decompressobj(wbits)
        try:
            chunk = d.decompress(data, cap + 1 - size)
        except zlib.error:
            if not out:
                raise
            break
        size += len(chunk)
        out.append(chunk)
        if size > cap:
            raise DecompressionBomb(f"body inflates past {cap} bytes")
        if not d.eof:
            break
        data = d.unused_data if wbits == 31 and d.unused_data[:2] == b"\x1f\x8b" else b""
    return b"".join(out)


def _unbrotli(data: bytes, cap: int) -> bytes:
    import brotli

    d = brotli.Decompressor()
    out = d.process(data, output_buffer_limit=cap + 1)
    size = len(out)
    parts = [out]
    while size <= cap and not d.is_finished() and not d.can_accept_more_data():
        more = d.process(b"", output_buffer_limit=cap + 1 - size)
        if not more:
            break
        parts.append(more)
        size += len(more)
    if size > cap:
        raise DecompressionBomb(f"body inflates past {cap} bytes")
    return b"".join(parts)


def decode_content(body: bytes, encoding: str, cap: int, notes: list[str]) -> bytes:
    """`body` after one Content-Encoding step. A body that is not what its label says (a
    server's lie, common) stays as it is, noted; a bomb raises."""
    enc = encoding.strip().lower()
    if enc in ("", "identity", "none", "utf-8", "binary", "chunked"):
        return body
    try:
        if enc in ("gzip", "x-gzip"):
            if body[:2] != b"\x1f\x8b":
                notes.append("not_gzip")
                return body
            return _inflate(body, 31, cap)
        if enc == "deflate":  # zlib-wrapped as the RFC says, or raw deflate as IIS sent it
            return _inflate(body, 15 if body[:1] and (body[0] & 0x0F) == 8 and int.from_bytes(body[:2], "big") % 31 == 0
                            else -15, cap)
        if enc == "br":
            return _unbrotli(body, cap)
    except DecompressionBomb:
        raise
    except Exception:  # noqa: BLE001 - undecodable from the first byte: a mislabelled body
        notes.append(f"undecodable_{enc}")
        return body
    notes.append(f"unknown_encoding_{enc}")
    return body


def parse_response(payload: bytes, max_body_bytes: int) -> HttpResponse:
    """The response in a WARC response/revisit block. HttpError when it is not an HTTP
    response; DecompressionBomb when the decoded body would pass `max_body_bytes`."""
    head, body_at = split_head(payload)
    status, reason, headers = parse_headers(head)
    media_type, charset = parse_content_type(headers.get("content-type"))
    body = payload[body_at:]
    notes: list[str] = []
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body, clean = dechunk(body)
        if not clean:
            notes.append("bad_chunks")
    truncated = False
    encodings = [e for e in headers.get("content-encoding", "").split(",") if e.strip()]
    if encodings:
        for enc in reversed(encodings):  # the last one applied is undone first
            body = decode_content(body, enc, max_body_bytes, notes)
    if len(body) > max_body_bytes:
        body, truncated = body[:max_body_bytes], True
    return HttpResponse(status, reason, headers, media_type, charset, body, truncated, notes)
