"""Web crawl throughput per core: `roots-pipeline run` over WARC files vs datatrove's WarcReader +
Trafilatura + filters, same files, same run.

    python benchmarks/bench_web.py [--copies K] [--repeat R] [--limit N]

Input (real pages, no invented text): every page of `web_extraction` (ROOTS_DATA_DIR; 470 zh/en
pages, raw bytes in their original encodings) written as WARC response records (one gzip member
each, as Common Crawl writes them; HTTP 200, `Content-Type: text/html` with no charset, so each
chain decides the encoding itself), `--copies` times under distinct hosts (`c0-<host>`, ...: the
same work again, never a duplicate within a domain), next to the real crawl files
`warc_samples/cc_resiliparse/warcfile.warc.gz` and `warc_samples/dolma_wget/*.warc.gz` (their
requests, metadata and non-HTML responses included). Every contender reads the same folder, in
its own fresh Python process, back to back in alternating order, `--repeat` rounds; medians.

Contenders
  ours (default)        `roots-pipeline run --input DIR/*.warc.gz --dedup none --direct_num_workers=1`:
                        the Beam pipeline, one worker: WARC + HTTP parsing, decoding (BOM, HTTP, meta,
                        detection), the default extractor in its guarded child process, site templates
                        per domain, then every document step (normalize, boilerplate lines, PII,
                        language ID, signals, filters, web spam); writes kept Parquet, dropped JSONL.gz,
                        dead letters, stats.json.
  ours (trafilatura)    the same with `web.extractor: trafilatura`: the extractor datatrove uses, to show
                        what the extractor costs and what the rest of the chain costs.
  datatrove 0.10.1      LocalPipelineExecutor(tasks=1, workers=1): WarcReader (warcio; response
                        records whose identified payload type is HTML; UTF-8, else cchardet) ->
                        Trafilatura(favour_precision=True, timeout=1 s: datatrove's defaults, each page
                        in its extraction sandbox process) -> the filters of bench_pipeline.py
                        (LanguageFilter en/zh, Gopher repetition and quality, C4 quality, per language)
                        -> ParquetWriter.
Differences in the work (same pages in): ROOTS reads every record (requests and metadata counted),
honours HTTP status and Content-Type, decodes by the declared and detected charsets with checks,
removes site templates, runs its full document chain (normalization, boilerplate lines, PII
redaction, Chinese by script, Simplified-form signals, spam rules) and writes dropped documents and
stats; datatrove writes only the kept Parquet.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from roots_measure.peers import datatrove_pipeline
from roots_measure.timing import TreeRSS, count_parquet_rows, cpu_seconds

os.environ["HF_HUB_OFFLINE"] = "1"
HERE = Path(__file__).resolve().parent
MODES = {"ours": "ours (default extractor), CLI 1 worker", "ours_trafilatura": "ours (trafilatura), CLI 1 worker",
         "datatrove": "datatrove 0.10.1 WarcReader + Trafilatura + filters, 1 task"}


def warc_response(url: str, body: bytes, date: str = "2026-01-01T00:00:00Z") -> bytes:
    """One gzip member holding a WARC response record for `body`, served as text/html."""
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    head = (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, url)}>\r\n"
            f"WARC-Date: {date}\r\nWARC-Target-URI: {url}\r\nWARC-Identified-Payload-Type: text/html\r\n"
            f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(http)}\r\n\r\n").encode()
    return gzip.compress(head + http + b"\r\n\r\n", compresslevel=6, mtime=0)


def build_input(folder: Path, copies: int, limit: int | None) -> dict:
    """The benchmark's WARC folder; returns what it holds."""
    from pipelines.datadir import dataset_path

    web = dataset_path("web_extraction")
    rows = [json.loads(line) for line in (web / "pages.jsonl").open(encoding="utf-8")]
    rows = rows[:limit] if limit else rows
    n_bytes = 0
    for k in range(copies):
        with open(folder / f"pages-{k}.warc.gz", "wb") as out:
            for row in rows:
                body = gzip.decompress((web / row["html_path"]).read_bytes())
                n_bytes += len(body)
                host_path = (row.get("url") or f"http://{row['set']}.example/{row['id']}").split("://", 1)[1]
                out.write(warc_response(f"http://c{k}-{host_path}", body))
    samples = dataset_path("warc_samples")
    for path in [samples / "cc_resiliparse" / "warcfile.warc.gz", *sorted((samples / "dolma_wget").glob("*.warc.gz"))]:
        shutil.copy(path, folder / f"{path.parent.name}-{path.name}")
    return {"pages_written": len(rows) * copies, "page_bytes": n_bytes, "responses": _responses(folder)}


def _responses(folder: Path) -> int:
    """Response records in the folder, counted by a plain scan of the WARC headers (not by
    either contender): the pages/s denominator both share."""
    import re
    import zlib

    n = 0
    for path in folder.glob("*.warc.gz"):
        data, pos = path.read_bytes(), 0
        while pos < len(data):  # one gzip member per record
            d = zlib.decompressobj(31)
            record = d.decompress(data[pos:])
            n += bool(re.match(rb"WARC/[\d.]+\r\n(?:[^\r]*\r\n)*?WARC-Type: response\r\n", record))
            pos = len(data) - len(d.unused_data)
    return n


def _datatrove_steps(input_dir: str, out: str, tokenizer: str) -> list:
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.readers import WarcReader

    steps = datatrove_pipeline(input_dir, out, tokenizer)
    return [WarcReader(input_dir, glob_pattern="*.warc.gz"), Trafilatura(), *steps[1:]]


def _child(mode: str, input_dir: str, work: str, tokenizer: str) -> dict:
    out = os.path.join(work, "out")
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    if mode.startswith("ours"):
        from pipelines import cli
        from pipelines.stats import read_json

        argv = ["run", "--input", os.path.join(input_dir, "*.warc.gz"), "--output", out, "--dedup", "none",
                "--no_progress", "--direct_num_workers=1"]
        if mode == "ours_trafilatura":
            cfg = os.path.join(work, "trafilatura.yaml")
            Path(cfg).write_text("web:\n  extractor: trafilatura\n")
            argv += ["--config", cfg]
        if cli.main(argv):
            raise SystemExit("roots-pipeline failed")
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
        stats = read_json(os.path.join(out, "stats.json"))
        return {"wall": wall, "cpu": cpu, "records": stats["read"], "kept": stats["kept"]}
    import logging

    from datatrove.executor import LocalPipelineExecutor
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    logging.getLogger().setLevel(logging.WARNING)
    executor = LocalPipelineExecutor(_datatrove_steps(input_dir, out, tokenizer), tasks=1, workers=1,
                                     logging_dir=os.path.join(work, "logs"), skip_completed=False)
    stats = executor.run()
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    return {"wall": wall, "cpu": cpu, "records": None, "kept": count_parquet_rows(out)}


def _run_child(mode: str, input_dir: str, tokenizer: str) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"bench-web-{mode}-") as work:
        result = os.path.join(work, "result.json")
        cmd = [sys.executable, __file__, "--_child", mode, "--_input_dir", input_dir, "--_work", work,
               "--_result", result, "--_tokenizer", tokenizer]
        proc = subprocess.Popen(cmd, cwd=str(HERE.parent), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        rss = TreeRSS(proc.pid)
        _, stderr = proc.communicate()
        peak = rss.stop()
        if proc.returncode or not os.path.exists(result):
            sys.exit(f"bench_web: {mode} failed (exit {proc.returncode}):\n{stderr[-4000:]}")
        out = json.loads(Path(result).read_text())
    out["peak_rss"] = peak or 0
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--copies", type=int, default=3, help="times the web_extraction pages are written (default 3)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N web_extraction pages")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--json", help="write the medians here")
    for hidden in ("--_child", "--_input_dir", "--_work", "--_result", "--_tokenizer"):
        ap.add_argument(hidden, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._child:
        Path(args._result).write_text(json.dumps(_child(args._child, args._input_dir, args._work, args._tokenizer)))
        return 0
    try:
        import spacy  # noqa: F401
        tokenizer = "spacy"
    except ImportError:
        tokenizer = "regex"
    modes = args.modes.split(",")
    runs: dict[str, list] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory(prefix="bench-web-input-") as tmp:
        info = build_input(Path(tmp), args.copies, args.limit or None)
        print(f"input: {info['pages_written']:,} web_extraction pages ({info['page_bytes'] / 1e6:.1f} MB of HTML) as "
              f"WARC + the real cc_resiliparse and dolma_wget WARC files; datatrove tokenizers: {tokenizer}",
              file=sys.stderr)
        order = [m for r in range(args.repeat) for m in (modes if r % 2 == 0 else modes[::-1])]
        for i, mode in enumerate(order, 1):
            r = _run_child(mode, tmp, tokenizer)
            print(f"  [{i}/{len(order)}] {mode:17s} {r['wall']:6.1f} s wall {r['cpu']:6.1f} s CPU  "
                  f"kept {r['kept']:,}  peak RSS {r['peak_rss'] / 2**20:,.0f} MiB", file=sys.stderr)
            runs[mode].append(r)
    med = {m: {k: statistics.median(r[k] for r in rs) for k in ("wall", "cpu", "kept", "peak_rss")}
           for m, rs in runs.items()}
    pages = info["responses"]
    print(f"\n{pages:,} response records (pages) in the input; median of {args.repeat} alternating round(s)")
    print("\n| contender | wall s (rounds) | pages/s per core | pages per CPU-s | kept | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for m in modes:
        r = med[m]
        walls = ", ".join(f"{x['wall']:.1f}" for x in runs[m])
        print(f"| {MODES[m]} | {r['wall']:.1f} ({walls}) | {pages / r['wall']:,.1f} | "
              f"{pages / r['cpu']:,.1f} | {r['kept']:,.0f} | {r['peak_rss'] / 2**20:,.0f} |")
    if "datatrove" in med:
        for m in modes:
            if m != "datatrove":
                print(f"- {MODES[m]}: {med['datatrove']['wall'] / med[m]['wall']:.2f}x datatrove per core by wall "
                      f"clock, {med['datatrove']['cpu'] / med[m]['cpu']:.2f}x per CPU-second (target for the default >= 5x)")
    if args.json:
        Path(args.json).write_text(json.dumps({"medians": med, "runs": runs, "input": info}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
