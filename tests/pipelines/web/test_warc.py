"""WARC / WET / HTML reading: ranges, damage, record fields. Ground truth comes from plain scans
of the files (gzip + regex) or from the synthetic bytes a test writes, never from the reader."""
import gzip
import os
import re
import shutil
import zlib
from collections import Counter

import pytest

from pipelines.datadir import dataset_path
from pipelines.io import FileRange, ReadSpec, plan_ranges, read_range, record_key
from pipelines.web.warc import domain_of
from warc_truth import http, per_record_gz, record

CAP = 10 << 20


@pytest.fixture(scope="module")
def samples():
    return dataset_path("warc_samples")


def read_all(path, fmt="warc", cap=CAP):
    return list(read_range(FileRange(str(path), 0, -1), ReadSpec(format=fmt, max_body_bytes=cap)))


def docs(items):
    return [d for k, d in items if k == "doc"]


def bad(items):
    return [d for k, d in items if k == "malformed"]


def scan_types(path):
    """An independent count of WARC-Type headers: decompress every member, regex the headers."""
    data = open(path, "rb").read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return Counter(t.decode() for t in re.findall(rb"(?:^|\r\n\r\n)WARC/[\d.]+\r\n(?:[^\r\n]+\r\n)*?WARC-Type: (\w+)", data))


# ------------------------------------------------------------------ counts and ranges

def test_warcfile_counts_match_independent_scan(samples):
    path = samples / "cc_resiliparse" / "warcfile.warc.gz"
    items = read_all(path)
    assert not bad(items)
    got = Counter(d["web"]["warc_type"] for d in docs(items))
    assert got == scan_types(path) == Counter(warcinfo=1, request=17, response=16, metadata=16)
    # every response is an HTML 200 page here: html kept; request/metadata never carry html
    for d in docs(items):
        assert (d["html"] is not None) == (d["web"]["warc_type"] == "response")


def test_offsets_are_gzip_member_starts(samples):
    path = samples / "cc_resiliparse" / "warcfile.warc.gz"
    data = path.read_bytes()
    starts, pos = [], 0
    while pos < len(data):               # member starts by zlib, independently of the reader
        starts.append(pos)
        d = zlib.decompressobj(31)
        d.decompress(data[pos:])
        pos = len(data) - len(d.unused_data)
    keys = [d["key"] for d in docs(read_all(path))]
    assert keys == [record_key(str(path), s) for s in starts]


@pytest.mark.parametrize("name", ["cc_resiliparse/warcfile.warc.gz", "cc_whirlwind/whirlwind.warc",
                                  "dolma_wget/sample-0000.warc.gz", "cc_resiliparse/clueweb-quirk.warc.gz",
                                  "warcio_fixtures/example-trunc.warc", "cc_whirlwind/whirlwind.warc.wet.gz"])
@pytest.mark.parametrize("split", [300, 1000])
def test_small_ranges_read_exactly_the_whole_file(samples, name, split):
    path = str(samples / name)
    fmt = "wet" if ".wet" in name else "warc"
    whole = read_all(path, fmt)
    ranges = plan_ranges(path, os.path.getsize(path), ReadSpec(format=fmt, split_bytes=split))
    assert len(ranges) > 1
    parts = [item for rng in ranges for item in read_range(rng, ReadSpec(format=fmt, max_body_bytes=CAP))]
    assert [(k, d.get("key"), d.get("offset"), d.get("id"), d.get("html"), d.get("text")) for k, d in parts] == \
           [(k, d.get("key"), d.get("offset"), d.get("id"), d.get("html"), d.get("text")) for k, d in whole]
    assert len(whole) > 1


@pytest.mark.parametrize("name", ["warcio_fixtures/example-bad-non-chunked.warc.gz",
                                  "warcio_fixtures/example-wrong-chunks.warc.gz"])
def test_not_per_record_gzip_is_one_range_and_read_whole(samples, name):
    path = samples / name
    assert plan_ranges(str(path), os.path.getsize(path), ReadSpec(format="warc", split_bytes=100)) == \
        [FileRange(str(path), 0, -1)]
    items = read_all(path)
    assert not bad(items)
    ds = docs(items)
    assert Counter(d["web"]["warc_type"] for d in ds) == scan_types(path)
    assert len({d["key"] for d in ds}) == len(ds)   # several records in one member: keys stay unique


def test_wrong_gzip_members_fixture_reads_the_page(samples):
    # the response record is split over three gzip members: decode the whole stream, cut by hand
    path = samples / "warcio_fixtures" / "example-wrong-chunks.warc.gz"
    data = gzip.decompress(path.read_bytes())
    he = data.index(b"\r\n\r\n")
    length = int(re.search(rb"Content-Length: (\d+)", data[:he]).group(1))
    block = data[he + 4:he + 4 + length]
    expected = block[block.index(b"\r\n\r\n") + 4:]
    ds = docs(read_all(path))
    resp = [d for d in ds if d["web"]["warc_type"] == "response"]
    assert len(resp) == 1 and resp[0]["html"] == expected and expected.startswith(b"<!doctype html>")


def test_arc_is_refused_at_planning(samples):
    for name in ("example.arc", "example.arc.gz"):
        with pytest.raises(ValueError, match=f"{name}: ARC files are not read"):
            plan_ranges(str(samples / "warcio_fixtures" / name), 10, ReadSpec(split_bytes=1))


# ------------------------------------------------------------------ damage

def test_clipped_fixture_is_one_corrupt_dead_letter(samples):
    items = read_all(samples / "cc_resiliparse" / "clipped.warc.gz")
    assert len(items) == 1 and items[0][0] == "malformed" and items[0][1]["error"].startswith("corrupt ")


def test_truncated_last_member_keeps_every_earlier_record(samples, tmp_path):
    data = (samples / "cc_resiliparse" / "warcfile.warc.gz").read_bytes()
    last = data.rindex(b"\x1f\x8b\x08")
    path = tmp_path / "cut.warc.gz"
    path.write_bytes(data[:last + (len(data) - last) // 2])
    items = read_all(path)
    assert len(docs(items)) == 49 and [k for k, _ in items][-1] == "malformed"
    letters = bad(items)
    assert len(letters) == 1 and letters[0]["error"].startswith("corrupt ") and letters[0]["records_before"] == 49
    assert letters[0]["offset"] == last


@pytest.mark.parametrize("delta", [-40, 40, 5000])
@pytest.mark.parametrize("gz", [True, False])
def test_wrong_content_length_is_one_dead_letter(tmp_path, delta, gz):
    body = http(b"<html><body>" + b"x" * 2000 + b"</body></html>")
    recs = [record(block=http(b"<html>one</html>")), record(block=body, length=len(body) + delta),
            record(block=http(b"<html>three</html>"))]
    path = tmp_path / ("w.warc.gz" if gz else "w.warc")
    path.write_bytes(per_record_gz(recs) if gz else b"".join(recs))
    items = read_all(path)
    assert [d["html"] for d in docs(items)] == [b"<html>one</html>", b"<html>three</html>"]
    assert len(bad(items)) == 1 and "Content-Length" in bad(items)[0]["error"]


def test_non_gzip_file_named_warc_gz(samples, tmp_path):
    path = tmp_path / "plain.warc.gz"
    shutil.copy(samples / "warcio_fixtures" / "example.warc", path)
    items = read_all(path)
    assert not bad(items) and len(docs(items)) == 6
    junk = tmp_path / "junk.warc.gz"
    junk.write_bytes(b"this is not a warc file at all\n" * 10)
    items = read_all(junk)
    assert len(items) == 1 and items[0][0] == "malformed" and items[0][1]["error"].startswith("corrupt ")


def test_corrupt_member_in_the_middle_is_skipped(tmp_path):
    members = [gzip.compress(record(block=http(f"<html>{i}</html>".encode()))) for i in range(3)]
    broken = bytearray(members[1])
    broken[30:60] = b"\xff" * 30                     # damage the deflate data of the middle member
    path = tmp_path / "m.warc.gz"
    path.write_bytes(members[0] + bytes(broken) + members[2])
    items = read_all(path)
    assert [d["html"] for d in docs(items)] == [b"<html>0</html>", b"<html>2</html>"]
    assert len(bad(items)) == 1 and bad(items)[0]["offset"] == len(members[0])


def test_clueweb_malformed_dates_are_none(samples):
    path = samples / "cc_resiliparse" / "clueweb-quirk.warc.gz"
    raw_dates = re.findall(rb"WARC-Date: ([^\r\n]+)", gzip.decompress(path.read_bytes()))
    ds = docs(read_all(path))
    assert len(ds) == len(raw_dates) == 30
    for d, raw in zip(ds, raw_dates):
        ok = re.fullmatch(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", raw) is not None
        assert (d["web"]["fetch_date"] is not None) == ok
    assert any(d["web"]["fetch_date"] is None for d in ds)   # the quirk is really there


# ------------------------------------------------------------------ record fields

def test_http_bodies_in_warc(tmp_path):
    page = ("<html><body>" + "<p>数据 data</p>" * 500 + "</body></html>").encode("utf-8")
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(page[i:i + 99]), page[i:i + 99]) for i in range(0, len(page), 99)) + b"0\r\n\r\n"
    gz = gzip.compress(page)
    recs = [record(block=http(chunked, "Content-Type: text/html\r\nTransfer-Encoding: chunked\r\n")),
            record(block=http(gz, "Content-Type: text/html\r\nContent-Encoding: gzip\r\n")),
            record(block=http(gzip.compress(b"\0" * (4 << 20)), "Content-Type: text/html\r\nContent-Encoding: gzip\r\n")),
            record(block=b"not an http response at all"),
            record(block=http(bytes(range(256)) * 10, "Content-Type: text/html\r\n")),
            record(block=http(b"<html>gone</html>", status="404 Not Found")),
            record(block=http(b"\x89PNG....", "Content-Type: image/png\r\n"))]
    path = tmp_path / "h.warc.gz"
    path.write_bytes(per_record_gz(recs))
    items = read_all(path, cap=1 << 20)
    kinds = [k for k, _ in items]
    assert kinds == ["doc", "doc", "malformed", "malformed", "doc", "doc", "doc"]
    d = [d for _, d in items]
    assert d[0]["html"] == page and d[1]["html"] == zlib.decompress(gz, 31)
    assert d[2]["error"].startswith("decompression_bomb")
    assert d[3]["error"].startswith("http_unparseable")
    assert d[4]["html"] == bytes(range(256)) * 10            # binary labelled HTML: later steps decide
    assert d[5]["html"] is None and d[5]["web"]["http_status"] == 404 and d[5]["web"]["content_type"] == "text/html"
    assert d[6]["html"] is None and d[6]["web"]["content_type"] == "image/png" and d[6]["web"]["http_status"] == 200


def test_record_fields(tmp_path):
    rec = record(block=http(b"<html>x</html>", "Content-Type: text/html; charset=GBK\r\n"),
                 uri="http://WWW.Shop.Example.CN:8080/p?q=1")
    path = tmp_path / "f.warc"
    path.write_bytes(rec)
    (d,) = docs(read_all(path))
    rid = re.search(rb"WARC-Record-ID: (\S+)", rec).group(1).decode()
    assert d["id"] == d["web"]["warc_record_id"] == rid
    assert d["key"] == record_key(str(path), 0) and d["url"] == "http://WWW.Shop.Example.CN:8080/p?q=1"
    assert d["web"]["domain"] == "shop.example.cn" and d["web"]["fetch_date"] == "2024-05-18T01:02:03Z"
    assert (d["web"]["http_status"], d["web"]["content_type"], d["web"]["http_charset"]) == (200, "text/html", "GBK")
    assert d["raw_bytes"] == len(b"<html>x</html>") and d["text"] == "" and d["input_file"] == str(path)


@pytest.mark.parametrize("url,domain", [("https://www.a.org/x", "a.org"), ("http://wwwx.org/", "wwwx.org"),
                                        ("http://user@B.com:81/", "b.com"), ("not a url", None), (None, None)])
def test_domain(url, domain):
    assert domain_of(url) == domain


def test_wet_conversion_records(samples):
    path = samples / "cc_whirlwind" / "whirlwind.warc.wet.gz"
    data = gzip.decompress(path.read_bytes())
    i = data.index(b"WARC-Type: conversion")
    length = int(re.search(rb"Content-Length: (\d+)", data[i:]).group(1))
    start = data.index(b"\r\n\r\n", i) + 4
    ds = docs(read_all(path, "wet"))
    conv = [d for d in ds if d["web"]["warc_type"] == "conversion"]
    assert len(conv) == 1 and conv[0]["text"] == data[start:start + length].decode("utf-8")
    assert conv[0]["web"]["wet_language"] == "spa" and conv[0]["html"] is None
    assert "Escopete" in conv[0]["text"]


def test_big_page_reads(tmp_path):
    page = b"<html><body>" + b"<p>lorem ipsum dolor</p>\n" * ((50 << 20) // 25) + b"</body></html>"
    path = tmp_path / "big.warc.gz"
    with open(path, "wb") as f:
        f.write(gzip.compress(record(block=http(page)), compresslevel=1))
        f.write(gzip.compress(record(block=http(b"<html>after</html>"))))
    (d, after) = docs(read_all(path, cap=64 << 20))
    assert len(d["html"]) == len(page) >= 50 << 20 and not d["web"]["truncated"]
    (d, after) = docs(read_all(path, cap=1 << 20))  # past the cap: kept cut, marked, and the next record found
    assert len(d["html"]) == 1 << 20 and d["web"]["truncated"] and after["html"] == b"<html>after</html>"


def test_html_files(tmp_path):
    page = "<html><head><title>页</title></head><body>x</body></html>".encode("utf-8")
    (tmp_path / "a.html").write_bytes(page)
    (tmp_path / "b.html.gz").write_bytes(gzip.compress(page))
    (tmp_path / "c.html.gz").write_bytes(gzip.compress(b"\0" * (2 << 20)))
    for name in ("a.html", "b.html.gz"):
        path = str(tmp_path / name)
        assert plan_ranges(path, 10 << 20, ReadSpec(format="html", split_bytes=10)) == [FileRange(path, 0, -1)]
        (d,) = docs(read_all(path, "html"))
        assert d["html"] == page and d["url"] == path and d["key"] == record_key(path, 0)
    items = read_all(tmp_path / "c.html.gz", "html", cap=1 << 20)
    assert len(items) == 1 and items[0][1]["error"].startswith("decompression_bomb")


def test_member_cut_in_its_gzip_trailer_is_still_corrupt(samples, tmp_path):
    # the last record's bytes all inflate, but the member's CRC/size trailer is missing
    data = (samples / "cc_resiliparse" / "warcfile.warc.gz").read_bytes()
    path = tmp_path / "cut.warc.gz"
    path.write_bytes(data[:-4])
    items = read_all(path)
    assert len(docs(items)) == 50 and len(bad(items)) == 1 and bad(items)[0]["error"].startswith("corrupt ")
