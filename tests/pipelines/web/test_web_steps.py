"""The web steps inside a real pipeline run, on small WARC files written byte by byte: every
page ends kept, dropped with its reason, or dead-lettered, and the job goes on."""
import gzip
import json

import pyarrow.parquet as pq
import pytest
from warc_truth import http, per_record_gz, record

from pipelines.cli import main
from pipelines.config import ConfigError, PipelineConfig
from pipelines.datadir import dataset_path
from pipelines.stats import check_conservation
from pipelines.web.extract import Extracted, as_lines, register_backend

# A real article (the first DAnIEL page a person annotated) served under several disguises.
_PAGES = [json.loads(line) for line in (dataset_path("web_extraction") / "pages.jsonl").open(encoding="utf-8")]
ZH = next(p for p in _PAGES if p["set"] == "daniel_zh")
ZH_HTML = gzip.decompress((dataset_path("web_extraction") / ZH["html_path"]).read_bytes())


class SpinOnMarker:
    """A test backend that never returns on a page holding SPIN-FOREVER (trafilatura#704's
    kind of page), and returns all text otherwise."""

    def __init__(self, name="test-spin-pipeline"):
        self.name = name

    def extract(self, html, url=None):
        while "SPIN-FOREVER" in html:
            pass
        return Extracted("t", as_lines(html))


register_backend("test-spin-pipeline", SpinOnMarker)


def _stats(out):
    return json.loads((out / "stats.json").read_text())


def _dropped(out):
    rows = []
    for path in sorted((out / "dropped").glob("*.jsonl.gz")):
        rows += [json.loads(line) for line in gzip.open(path, "rt", encoding="utf-8")]
    return rows


def _run(tmp_path, warc: bytes, config: str = "", name="in.warc.gz"):
    (tmp_path / name).write_bytes(warc)
    args = ["run", "--input", str(tmp_path / name), "--output", str(tmp_path / "out"), "--dedup", "none",
            "--no_progress", "--direct_num_workers=1"]
    if config:
        (tmp_path / "c.yaml").write_text(config)
        args += ["--config", str(tmp_path / "c.yaml")]
    assert main(args) == 0
    stats = _stats(tmp_path / "out")
    check_conservation(stats)
    return stats


def _html(title, paragraphs):
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return f"<html><head><title>{title}</title></head><body><article>{body}</article></body></html>"


@pytest.mark.slow
def test_http_status_media_type_and_record_types(tmp_path):
    warc = per_record_gz([
        record("warcinfo", b"software: test\r\n", ctype="application/warc-fields"),
        record("request", b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n", uri="http://a.example/",
               ctype="application/http; msgtype=request"),
        record("response", http(ZH_HTML, "Content-Type: text/html\r\n"), uri="http://news.example/a"),
        record("response", http(b"<html>gone</html>", status="404 Not Found"), uri="http://news.example/b"),
        record("response", http(b"\x89PNG\r\n\x1a\n" + bytes(300), "Content-Type: image/png\r\n"),
               uri="http://news.example/c.png"),
        record("metadata", b"fetchTimeMs: 12\r\n", uri="http://news.example/a", ctype="application/warc-fields"),
        record("revisit", http(b""), uri="http://news.example/a"),
    ])
    stats = _run(tmp_path, warc)
    assert stats["read"] == 7 and stats["kept"] == 1
    assert stats["dropped"] == {"not_a_page": 4, "http_status": 1, "not_html": 1}
    assert stats["web"]["warc_types"] == {"response": 3, "metadata": 1, "request": 1, "revisit": 1, "warcinfo": 1}
    assert stats["web"]["domains"]["news.example"] == {"read": 3, "kept": 1,
                                                       "dropped": {"http_status": 1, "not_html": 1}}
    [row] = pq.ParquetDataset(str(tmp_path / "out" / "data")).read().to_pylist()
    assert row["url"] == "http://news.example/a" and row["domain"] == "news.example" and row["lang"] == "zh"
    # The human reference's longest paragraph is in the kept text (the page's own article).
    longest = max(ZH["reference"].splitlines(), key=len)
    assert longest[:40] in row["text"]
    assert all("html" not in d for d in _dropped(tmp_path / "out"))


@pytest.mark.slow
def test_a_charset_header_that_lies_is_not_trusted(tmp_path):
    text = ZH["reference"]
    paragraphs = [line for line in text.splitlines() if line.strip()]
    gbk = _html("新闻", paragraphs).encode("gb18030")
    warc = per_record_gz([record("response", http(gbk, "Content-Type: text/html; charset=utf-8\r\n"),
                                 uri="http://gbk.example/a")])
    stats = _run(tmp_path, warc)
    assert stats["kept"] == 1 and stats["web"]["encodings"] == {"gb18030": 1}
    [row] = pq.ParquetDataset(str(tmp_path / "out" / "data")).read().to_pylist()
    assert row["encoding"] == "gb18030" and row["encoding_decision"] != "http"
    assert paragraphs[0][:30] in row["text"] and "\ufffd" not in row["text"]


@pytest.mark.slow
def test_binary_bytes_labelled_html_and_deep_nesting_end_with_a_reason(tmp_path):
    import random

    rng = random.Random(0)
    binary = bytes(rng.randrange(256) for _ in range(20000))
    deep = ("<div>" * 10000 + "深层嵌套的文字。" + "</div>" * 10000).encode()
    warc = per_record_gz([record("response", http(binary), uri="http://bin.example/x"),
                          record("response", http(deep), uri="http://deep.example/x"),
                          record("response", http(ZH_HTML, "Content-Type: text/html\r\n"), uri="http://ok.example/a")])
    stats = _run(tmp_path, warc)
    assert stats["read"] == 3 and stats["kept"] == 1  # the real article; the others dropped, named
    reasons = {d["url"]: d["reason"] for d in _dropped(tmp_path / "out")}
    assert set(reasons) == {"http://bin.example/x", "http://deep.example/x"}


@pytest.mark.slow
def test_a_page_that_makes_the_extractor_spin_is_dropped_and_the_job_goes_on(tmp_path):
    spin = _html("spin", ["SPIN-FOREVER"]).encode()
    ok = _html("ok", ["A plain page about nothing in particular, with enough words to be text."] * 3).encode()
    warc = per_record_gz([record("response", http(ok), uri="http://a.example/1"),
                          record("response", http(spin), uri="http://a.example/2"),
                          record("response", http(ok), uri="http://b.example/3")])
    stats = _run(tmp_path, warc, "web:\n  extractor: test-spin-pipeline\n  extract_timeout_s: 2\n"
                                 "  templates: {enabled: false}\n")
    assert stats["dropped"].get("extract_timeout") == 1
    assert stats["read"] == 3
    reasons = {d["url"]: d["reason"] for d in _dropped(tmp_path / "out")}
    assert reasons.get("http://a.example/2") == "extract_timeout"
    assert "http://a.example/1" not in reasons or reasons["http://a.example/1"] != "extract_timeout"


@pytest.mark.slow
def test_url_blocklist_from_a_list_file(tmp_path):
    lists = tmp_path / "gambling"
    lists.mkdir()
    (lists / "domains").write_text("# a UT1-style list\nbet.example\n")
    warc = per_record_gz([record("response", http(ZH_HTML, "Content-Type: text/html\r\n"), uri="http://www.bet.example/a"),
                          record("response", http(ZH_HTML, "Content-Type: text/html\r\n"), uri="http://news.example/a")])
    stats = _run(tmp_path, warc, f"web:\n  url_blocklists: [{lists / 'domains'}]\n")
    assert stats["dropped"]["url_blocklist"] == 1 and stats["web"]["blocklists"] == {"gambling": 1}
    assert stats["kept"] == 1


@pytest.mark.slow
def test_wet_input_keeps_common_crawls_text_and_language(tmp_path):
    wet = dataset_path("warc_samples") / "cc_whirlwind" / "whirlwind.warc.wet.gz"
    args = ["run", "--input", str(wet), "--output", str(tmp_path / "out"), "--dedup", "none", "--no_progress",
            "--direct_num_workers=1"]
    assert main(args) == 0
    stats = _stats(tmp_path / "out")
    check_conservation(stats)
    assert stats["web"]["warc_types"] == {"conversion": 1, "warcinfo": 1}
    # The page is Aragonese Wikipedia: dropped by language, with its WET fields in dropped/.
    [page] = [d for d in _dropped(tmp_path / "out") if d["web"]["warc_type"] == "conversion"]
    raw = gzip.decompress(wet.read_bytes()).decode("utf-8")
    assert page["web"]["wet_language"] and f"WARC-Identified-Content-Language: {page['web']['wet_language']}" in raw
    # Common Crawl's own lines, not a re-extraction.
    assert page["text"].splitlines()[0] in raw and all(line in raw for line in page["text"].splitlines())


def test_web_config_errors_name_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("web:\n  extractor: nosuch\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: web.extractor: unknown extractor 'nosuch'"):
        PipelineConfig.load(str(bad))
    bad.write_text("web:\n  templates:\n    min_share: high\n")
    with pytest.raises(ConfigError, match=r"web.templates.min_share: expected a positive number"):
        PipelineConfig.load(str(bad))
    bad.write_text("web:\n  spam:\n    nosuch: 1\n")
    with pytest.raises(ConfigError, match=r"web.spam.nosuch: unknown setting"):
        PipelineConfig.load(str(bad))


def test_arc_input_is_a_clear_error_naming_the_file(tmp_path, capsys):
    arc = dataset_path("warc_samples") / "warcio_fixtures" / "example.arc"
    rc = main(["run", "--input", str(arc), "--output", str(tmp_path / "out"), "--no_progress"])
    assert rc != 0
    assert "example.arc" in capsys.readouterr().err


@pytest.mark.slow
def test_site_template_lines_are_removed_and_counted(tmp_path):
    # Four real articles of one site, each with the same navigation and footer lines; the
    # articles are different paragraphs of the human reference text.
    paragraphs = [line for p in _PAGES if p["set"] == "daniel_zh" for line in p["reference"].splitlines()
                  if len(line) > 60][:8]
    nav, footer = "首页 新闻 财经 体育 娱乐 科技", "版权所有 2012 某某网 保留所有权利"
    pages = []
    for k in range(4):
        body = f"<div>{nav}</div><article><p>{paragraphs[2 * k]}</p><p>{paragraphs[2 * k + 1]}</p></article><div>{footer}</div>"
        pages.append(record("response", http(f"<html><body>{body}</body></html>".encode()),
                            uri=f"http://site.example/{k}"))
    stats = _run(tmp_path, per_record_gz(pages), "web:\n  extractor: alltext\n")  # all text: the chrome stays in
    rows = pq.ParquetDataset(str(tmp_path / "out" / "data")).read().to_pylist()
    assert len(rows) + sum(stats["dropped"].values()) == 4
    assert stats["web"]["template_lines_removed"] == 2 * 4  # nav and footer on each of the 4 pages
    for row in rows:
        assert nav not in row["text"] and footer not in row["text"]
        assert any(p[:30] in row["text"] for p in paragraphs)
