"""What `roots-pipeline run` keeps of a real Common Crawl excerpt, page by page, and how its text
of one page compares with Common Crawl's own WET text.

    python benchmarks/web_crawl_report.py [--json OUT]

1. `warc_samples/cc_resiliparse/warcfile.warc.gz` (CC-MAIN-2020-34, 16 HTML responses; its Chinese
   pages are gambling, adult-listing and spam sites, several GB2312/GBK) through the default
   pipeline (dedup off: one file): for every response, its URL, language, encoding and how it was
   decided, title, and what became of it (kept, or the drop reason).
2. `warc_samples/cc_whirlwind`: the same 2024 page as WARC and as Common Crawl's WET text. Our
   main text (the default extractor) against the WET text: bag-of-tokens precision / recall / F1
   (a token is one CJK character or one lowercase ASCII word; WET is the reference here, so recall
   says how much of CC's text we keep and precision how much of ours CC also has), and the lines.
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
from pathlib import Path

from pipelines.cli import main as cli_main
from pipelines.datadir import dataset_path
from roots_measure.extraction import prf, tokens


def crawl_table(out: Path) -> list[dict]:
    import pyarrow.parquet as pq

    rows = []
    for r in pq.ParquetDataset(str(out / "data")).read().to_pylist():
        rows.append({"url": r["url"], "lang": r["lang"], "encoding": r["encoding"], "decision": r["encoding_decision"],
                     "title": r["title"], "outcome": "kept", "chars": len(r["text"])})
    for path in sorted((out / "dropped").glob("*.jsonl.gz")):
        for line in gzip.open(path, "rt", encoding="utf-8"):
            d = json.loads(line)
            web = d.get("web") or {}
            if web.get("warc_type") != "response":
                continue
            rows.append({"url": d["url"], "lang": d.get("lang"), "encoding": web.get("encoding"),
                         "decision": web.get("encoding_decision"), "title": web.get("title"), "outcome": d["reason"],
                         "chars": len(d.get("text") or "")})
    return sorted(rows, key=lambda r: r["url"])


def whirlwind() -> dict:
    from pipelines.config import PipelineConfig
    from pipelines.io import ReadSpec, iter_records
    from pipelines.process import PageProcessor

    folder = dataset_path("warc_samples") / "cc_whirlwind"
    processor = PageProcessor(PipelineConfig.load())
    ours = None
    for kind, doc in iter_records(str(folder / "whirlwind.warc.gz"), ReadSpec()):
        if kind == "doc" and doc["web"]["warc_type"] == "response" and processor(doc) is None:
            ours = doc
    processor.teardown()
    wet = next(doc for kind, doc in iter_records(str(folder / "whirlwind.warc.wet.gz"), ReadSpec())
               if kind == "doc" and doc["web"]["warc_type"] == "conversion")
    p, r, f = prf(tokens(ours["text"]), tokens(wet["text"]))
    wet_lines, our_lines = wet["text"].splitlines(), ours["text"].splitlines()
    return {"url": ours["url"], "precision": p, "recall": r, "f1": f, "our_lines": len(our_lines),
            "wet_lines": len(wet_lines), "our_chars": len(ours["text"]), "wet_chars": len(wet["text"]),
            "wet_lines_not_ours": [line for line in wet_lines if line.strip() and line not in ours["text"]][:40],
            "wet_language": wet["web"]["wet_language"], "title": ours["web"]["title"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", help="write the tables here")
    args = ap.parse_args(argv)
    warc = dataset_path("warc_samples") / "cc_resiliparse" / "warcfile.warc.gz"
    with tempfile.TemporaryDirectory(prefix="crawl-report-") as tmp:
        out = Path(tmp) / "out"
        if cli_main(["run", "--input", str(warc), "--output", str(out), "--dedup", "none", "--no_progress",
                     "--direct_num_workers=1"]):
            sys.exit("web_crawl_report: the pipeline failed")
        rows = crawl_table(out)
        stats = json.loads((out / "stats.json").read_text())
    print(f"\n{warc.name}: {stats['read']} records ({stats['web']['warc_types']}), {stats['kept']} kept\n")
    print("| url | lang | encoding (decided by) | title | outcome |")
    print("|---|---|---|---|---|")
    for r in rows:
        title = (r["title"] or "").replace("|", "/")[:40]
        print(f"| {r['url'][:60]} | {r['lang'] or '-'} | {r['encoding']} ({r['decision']}) | {title} | {r['outcome']} |")
    zh = [r for r in rows if r["lang"] == "zh"]
    print(f"\nChinese pages: {len(zh)}, kept {sum(r['outcome'] == 'kept' for r in zh)}")
    w = whirlwind()
    print(f"\ncc_whirlwind ({w['url']}, WET language {w['wet_language']}): ours {w['our_chars']:,} characters in "
          f"{w['our_lines']} lines, WET {w['wet_chars']:,} in {w['wet_lines']} lines; against the WET text: "
          f"precision {w['precision']:.3f}, recall {w['recall']:.3f}, F1 {w['f1']:.3f}")
    print("WET lines not in ours (first 40):")
    for line in w["wet_lines_not_ours"]:
        print(f"  - {line[:100]}")
    if args.json:
        Path(args.json).write_text(json.dumps({"crawl": rows, "stats": stats, "whirlwind": w}, ensure_ascii=False,
                                              indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
