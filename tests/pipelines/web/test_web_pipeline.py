"""`roots-pipeline run` and `roots-pipeline extract` over real WARC files: every record accounted
for against an independent count, web fields in every output, and bad input ending as a named
drop or a dead letter while the job goes on."""
import glob
import gzip
import json
import shutil

import pyarrow.parquet as pq
import pytest
from warc_truth import record_types, response_uris

from pipelines.cli import main
from pipelines.datadir import dataset_path
from pipelines.stats import check_conservation

CC = dataset_path("warc_samples") / "cc_resiliparse" / "warcfile.warc.gz"
DOLMA = sorted((dataset_path("warc_samples") / "dolma_wget").glob("*.warc.gz"))


def _jsonl_gz(pattern):
    rows = []
    for path in sorted(glob.glob(str(pattern))):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            rows.extend(json.loads(line) for line in f)
    return rows


def _run(out, *inputs, workers=1, extra=()):
    args = ["run", "--output", str(out), "--dedup", "none", "--no_progress", f"--direct_num_workers={workers}",
            *extra]
    for path in inputs:
        args += ["--input", str(path)]
    assert main(args) == 0
    return json.loads((out / "stats.json").read_text())


@pytest.fixture(scope="module")
def crawl_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("crawl")
    return out, _run(out, CC, *DOLMA)


@pytest.mark.slow
def test_every_warc_record_is_accounted_for(crawl_run):
    out, stats = crawl_run
    check_conservation(stats)
    truth = sum((record_types(p.read_bytes()) for p in [CC, *DOLMA]), start=type(record_types(b""))())
    assert stats["read"] == sum(truth.values())
    assert stats["web"]["warc_types"] == dict(truth)
    # Requests, metadata and warcinfo are counted and never taken for pages.
    assert stats["dropped"]["not_a_page"] == sum(n for t, n in truth.items() if t not in ("response", "resource"))
    kept = pq.ParquetDataset(str(out / "data")).read().to_pylist()
    dropped = _jsonl_gz(out / "dropped" / "*.jsonl.gz")
    assert len(kept) == stats["kept"] and len(dropped) == sum(stats["dropped"].values())
    assert all("html" not in d for d in dropped)  # bodies are never written
    keys = [d["key"] for d in kept] + [d["key"] for d in dropped]
    assert len(keys) == len(set(keys)) == stats["read"] - stats["malformed"]
    responses = [u for p in [CC, *DOLMA] for u in response_uris(p.read_bytes())]
    page_urls = [d["url"] for d in kept] + [d["url"] for d in dropped if d["web"]["warc_type"] == "response"]
    assert sorted(page_urls) == sorted(responses)


@pytest.mark.slow
def test_kept_pages_carry_their_web_fields(crawl_run):
    out, stats = crawl_run
    kept = pq.ParquetDataset(str(out / "data")).read().to_pylist()
    assert kept, "the English wget pages include articles a reader keeps"
    for row in kept:
        assert row["url"].startswith("http") and row["domain"] and row["domain"] in row["url"]
        assert row["warc_record_id"].startswith("<urn:") and row["http_status"] == 200
        assert row["content_type"] in ("text/html", "application/xhtml+xml")
        assert row["encoding"] and row["encoding_decision"] and row["text"].strip()
    assert sum(stats["web"]["encodings"].values()) == sum(stats["web"]["encoding_decisions"].values())
    # Per-domain rows add up to the pages.
    pages = stats["web"]["warc_types"].get("response", 0) + stats["web"]["warc_types"].get("resource", 0)
    assert sum(row["read"] for row in stats["web"]["domains"].values()) == pages
    for row in stats["web"]["domains"].values():
        assert row["kept"] + sum(row["dropped"].values()) == row["read"]


@pytest.mark.slow
def test_the_chinese_spam_pages_of_the_cc_excerpt_are_not_kept(crawl_run):
    out, stats = crawl_run
    kept = pq.ParquetDataset(str(out / "data")).read().to_pylist()
    assert not [r for r in kept if r["input_file"].endswith("warcfile.warc.gz") and r["lang"] == "zh"]


@pytest.mark.slow
def test_two_workers_keep_the_same_pages(crawl_run, tmp_path):
    out, stats = crawl_run
    stats2 = _run(tmp_path / "two", CC, *DOLMA, workers=2)
    assert {k: stats2[k] for k in ("read", "kept", "dropped", "malformed")} == \
        {k: stats[k] for k in ("read", "kept", "dropped", "malformed")}
    one = {r["key"]: r["text"] for r in pq.ParquetDataset(str(out / "data")).read().to_pylist()}
    two = {r["key"]: r["text"] for r in pq.ParquetDataset(str(tmp_path / "two" / "data")).read().to_pylist()}
    assert one == two


@pytest.mark.slow
def test_damaged_files_end_as_dead_letters_and_the_job_goes_on(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    data = CC.read_bytes()
    (src / "truncated.warc.gz").write_bytes(data[: len(data) - 3000])   # the last member cut short
    (src / "not-gzip.warc.gz").write_bytes(b"WARC/1.0\r\nthis is not gzip at all\r\n" * 10)
    shutil.copy(DOLMA[0], src / "ok.warc.gz")
    stats = _run(tmp_path / "out", src / "*.warc.gz")
    check_conservation(stats)
    truth_ok = sum(record_types(DOLMA[0].read_bytes()).values())
    files = stats["conservation"]
    assert files["ok"] and stats["malformed"] >= 2
    letters = _jsonl_gz(tmp_path / "out" / "dead_letter" / "*.jsonl.gz")
    assert {d["input_file"].rsplit("/", 1)[1] for d in letters} >= {"truncated.warc.gz", "not-gzip.warc.gz"}
    kept = pq.ParquetDataset(str(tmp_path / "out" / "data")).read().to_pylist()
    dropped = _jsonl_gz(tmp_path / "out" / "dropped" / "*.jsonl.gz")
    from_ok = [d for d in kept + dropped if d["input_file"].endswith("ok.warc.gz")]
    assert len(from_ok) == truth_ok
    # Every record of the truncated file before the damage is read (the independent count
    # of the members that still inflate whole).
    whole = 0
    import zlib
    cut, pos = (src / "truncated.warc.gz").read_bytes(), 0
    while pos < len(cut):
        d = zlib.decompressobj(31)
        d.decompress(cut[pos:])
        if not d.eof:
            break
        whole += 1
        pos = len(cut) - len(d.unused_data)
    from_cut = [d for d in kept + dropped if d["input_file"].endswith("truncated.warc.gz")]
    assert len(from_cut) == whole


@pytest.mark.slow
def test_extract_writes_one_line_per_page(tmp_path):
    out = tmp_path / "pages.jsonl"
    assert main(["extract", "--input", str(CC), "--input", str(DOLMA[0]), "--output", str(out), "--no_progress"]) == 0
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    pages = (b"response", b"resource")  # a resource record is a page too (wget stores its log as one)
    uris = response_uris(CC.read_bytes(), pages) + response_uris(DOLMA[0].read_bytes(), pages)
    assert sorted(line["url"] for line in lines) == sorted(uris)
    for line in lines:
        assert "@" in line["source"] and line["source"].split("@")[0].endswith(".warc.gz")
        assert bool(line["text"].strip()) != bool(line["reason"])  # text, or the reason there is none
    gbk = [line for line in lines if line["encoding"] == "gb18030"]
    assert gbk and all("\ufffd" not in line["text"] for line in gbk)  # GB2312/GBK pages read as GB18030


@pytest.mark.slow
def test_inspect_shows_the_web_fields_of_a_drop(crawl_run, capsys):
    out, stats = crawl_run
    assert main(["inspect", str(out), "--reason", "not_html", "--html", str(out.parent / "drops.html")]) == 0
    printed = capsys.readouterr().out
    dropped = [d for d in _jsonl_gz(out / "dropped" / "*.jsonl.gz") if d["reason"] == "not_html"]
    assert dropped
    for d in dropped:
        assert d["url"] in printed and f"content_type {d['web']['content_type']}" in printed
    assert dropped[0]["web"]["domain"] in (out.parent / "drops.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_funnel_page_shows_the_crawls_types_encodings_and_domains(crawl_run):
    out, stats = crawl_run
    page = (out / "funnel.html").read_text(encoding="utf-8")
    assert "Web records" in page and "Per domain" in page
    for warc_type, n in stats["web"]["warc_types"].items():
        assert f"{warc_type} {n:,}" in page
    top, row = next(iter(stats["web"]["domains"].items()))
    assert f'<td>{top}</td><td align="right">{row["read"]:,}</td><td align="right">{row["kept"]:,}</td>' in page
