"""The HTTP layer: status, headers, Content-Type, chunked and content decoding, the size cap.
Expected bodies come from the stdlib (gzip/zlib, http.client) or brotli, never from http.py."""
import gzip
import http.client
import io
import zlib

import brotli
import pytest

from pipelines.datadir import dataset_path
from pipelines.web.http import DecompressionBomb, HttpError, parse_content_type, parse_response

PAGE = ("<html><head><title>t</title></head><body>" + "<p>héllo wörld 你好</p>" * 300 + "</body></html>").encode("utf-8")


def _msg(headers: str, body: bytes) -> bytes:
    return ("HTTP/1.1 200 OK\r\n" + headers + "\r\n").encode("latin-1") + body


def _chunked(body: bytes, size: int = 100) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size]) for i in range(0, len(body), size)]
    return b"".join(parts) + b"0\r\n\r\n"


def _stdlib_read(raw: bytes) -> bytes:
    """http.client's own reading of a raw response (it undoes chunking, not content coding)."""
    class Sock:
        def makefile(self, *_):
            return io.BytesIO(raw)
    resp = http.client.HTTPResponse(Sock())
    resp.begin()
    return resp.read()


@pytest.mark.parametrize("value,expected", [
    ("text/html; charset=GB2312", ("text/html", "GB2312")),
    ('Text/HTML;Charset="utf-8"', ("text/html", "utf-8")),
    ("application/xhtml+xml", ("application/xhtml+xml", None)),
    ("text/html; foo=bar; charset=windows-1251", ("text/html", "windows-1251")),
    (None, (None, None)),
])
def test_content_type(value, expected):
    assert parse_content_type(value) == expected


def test_status_headers_and_charset():
    r = parse_response(b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html; charset=iso-8859-1\r\nX-A: 1\r\n\r\nnope", 1000)
    assert (r.status, r.reason, r.media_type, r.charset, r.body) == (404, "Not Found", "text/html", "iso-8859-1", b"nope")
    assert r.headers["x-a"] == "1"


def test_chunked_matches_stdlib():
    raw = _msg("Content-Type: text/html\r\nTransfer-Encoding: chunked\r\n", _chunked(PAGE, 77))
    assert parse_response(raw, 1 << 20).body == _stdlib_read(raw) == PAGE


def test_real_chunked_fixture_matches_stdlib():
    data = (dataset_path("warc_samples") / "warcio_fixtures" / "example-iana.org-chunked.warc").read_bytes()
    start = data.index(b"HTTP/1.1 200")
    length = int(data[:start].rsplit(b"Content-Length: ", 1)[1].split(b"\r\n")[0])
    raw = data[start:start + length]
    body = parse_response(raw, 1 << 20).body
    assert body == _stdlib_read(raw)
    assert body.startswith(b"<!doctype html>") and b"Internet Assigned Numbers Authority" in body


def test_bad_chunks_keep_the_content():
    # a chunk size that lies (too short) and no terminating chunk: what is there is kept
    body = b"10\r\n" + PAGE[:16] + b"\r\n" + b"zz\r\n" + PAGE[16:200]
    r = parse_response(_msg("Transfer-Encoding: chunked\r\n", body), 1 << 20)
    assert r.body.startswith(PAGE[:16]) and PAGE[16:200] in r.body and "bad_chunks" in r.notes
    # labelled chunked but sent plain
    r = parse_response(_msg("Transfer-Encoding: chunked\r\n", PAGE), 1 << 20)
    assert r.body == PAGE


@pytest.mark.parametrize("enc,coder", [
    ("gzip", gzip.compress),
    ("x-gzip", gzip.compress),
    ("deflate", zlib.compress),                                       # RFC: zlib-wrapped
    ("deflate", lambda b: zlib.compress(b)[2:-4]),                     # raw deflate, as IIS sends it
    ("br", brotli.compress),
])
def test_content_encoding(enc, coder):
    r = parse_response(_msg(f"Content-Encoding: {enc}\r\n", coder(PAGE)), 1 << 20)
    assert r.body == PAGE


def test_chunked_and_gzip():
    raw = _msg("Transfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n", _chunked(gzip.compress(PAGE), 50))
    assert parse_response(raw, 1 << 20).body == gzip.decompress(_stdlib_read(raw)) == PAGE


def test_gzip_label_on_plain_body_keeps_it():
    r = parse_response(_msg("Content-Encoding: gzip\r\n", PAGE), 1 << 20)
    assert r.body == PAGE and "not_gzip" in r.notes


@pytest.mark.parametrize("enc,coder", [("gzip", gzip.compress), ("deflate", zlib.compress), ("br", brotli.compress)])
def test_decompression_bomb(enc, coder):
    bomb = coder(b"\0" * (8 << 20))          # 8 MiB of zeros in a few KB
    assert len(bomb) < 64 << 10
    with pytest.raises(DecompressionBomb):
        parse_response(_msg(f"Content-Encoding: {enc}\r\n", bomb), 1 << 20)
    # exactly at the cap is not a bomb
    assert len(parse_response(_msg(f"Content-Encoding: {enc}\r\n", bomb), 8 << 20).body) == 8 << 20


def test_identity_body_past_cap_is_truncated_not_error():
    r = parse_response(_msg("", PAGE), 100)
    assert r.body == PAGE[:100] and r.truncated


@pytest.mark.parametrize("payload", [b"", b"<html>not http</html>", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                                     b"HTTP/1.1 OK\r\n\r\n", b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 20000])
def test_unparseable(payload):
    with pytest.raises(HttpError):
        parse_response(payload, 1 << 20)


def test_headers_only_message():
    r = parse_response(b"HTTP/1.1 304 Not Modified\r\nETag: x", 1000)
    assert r.status == 304 and r.body == b""
