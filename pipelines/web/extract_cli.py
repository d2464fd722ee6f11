"""`roots-pipeline extract --input GLOB... --output FILE.jsonl`: extraction alone, no filters.

One JSON line per page (a WARC response or resource record, a WET conversion record, an HTML
file): `source` (the file, and the record's byte offset in it for WARC), `url` (the target
URI; an HTML file's path), `title`, `text`, `encoding`, `encoding_decision`, and `reason`
where no text came out (http_status, not_html, undecodable, extract_timeout, a dead-letter
error, or `empty`). Requests, metadata, warcinfo and revisit records are not pages and are
skipped (counted on stderr). This is what people read to judge extraction, and what
benchmarks/extraction_eval.py's figures are about.
"""
from __future__ import annotations

import sys
from collections import Counter

import orjson

from ..records import key_offset
from .steps import PAGE_TYPES


def add_extract_arguments(p) -> None:
    from ..io import WEB_FORMATS

    p.add_argument("--input", action="append", required=True, help="WARC / WET / HTML file or glob (repeatable)")
    p.add_argument("--output", required=True, help="JSONL file to write (local or gs://)")
    p.add_argument("--config", help="YAML overriding pipelines/config/default.yaml (its web: section applies)")
    p.add_argument("--extractor", help="main-text backend (default: the config's web.extractor)")
    p.add_argument("--input_format", "--input-format", default="auto", choices=["auto", *WEB_FORMATS])
    p.add_argument("--no_progress", "--no-progress", action="store_true")


def extract_main(args) -> int:
    from apache_beam.io.filesystems import FileSystems

    from ..config import PipelineConfig
    from ..io import ReadSpec, expand_inputs, iter_records
    from ..process import PageProcessor

    config = PipelineConfig.load(args.config)
    if args.extractor:
        config = config.with_overrides({"web": {"extractor": args.extractor}}, source="--extractor")
    from . import extract

    extract.get_extractor(config.web.extractor)  # an unknown name fails here, not per page
    spec = ReadSpec(format=args.input_format, max_body_bytes=config.web.max_body_bytes)
    processor = PageProcessor(config)
    processor.setup()
    skipped: Counter = Counter()
    outcomes: Counter = Counter()
    try:
        files = expand_inputs(args.input)
        progress = None
        if not args.no_progress:
            from tqdm import tqdm

            progress = tqdm(desc="pages", unit=" pages", file=sys.stderr)
        with FileSystems.create(args.output) as out:
            for path in files:
                for kind, record in iter_records(path, spec):
                    line = _line(kind, record, processor, skipped)
                    if line is None:
                        continue
                    outcomes[line.get("reason") or "text"] += 1
                    out.write(orjson.dumps(line) + b"\n")
                    if progress is not None:
                        progress.update(1)
        if progress is not None:
            progress.close()
    finally:
        processor.teardown()
    total = sum(outcomes.values())
    parts = ", ".join(f"{k} {v:,}" for k, v in outcomes.most_common())
    print(f"roots-pipeline extract: {total:,} pages from {len(files)} file(s) -> {args.output} ({parts}); "
          f"not pages: {dict(skipped) or 0}", file=sys.stderr)
    return 0


def _line(kind: str, record: dict, processor, skipped: Counter) -> dict | None:
    if kind != "doc":
        offset = record.get("offset")
        return {"source": record.get("input_file") if offset is None else f"{record.get('input_file')}@{offset}",
                "url": None, "title": None, "text": "", "encoding": None, "encoding_decision": None,
                "reason": record.get("error")}
    web = record.get("web") or {}
    if web.get("warc_type") not in PAGE_TYPES:
        skipped[web.get("warc_type")] += 1
        return None
    reason = processor(record)
    if reason is None and not record["text"].strip():
        reason = "empty"
    source = (record["input_file"] if web.get("warc_type") is None
              else f"{record['input_file']}@{key_offset(record['key'])}")
    return {"source": source, "url": record.get("url"), "title": web.get("title"), "text": record["text"],
            "encoding": web.get("encoding"), "encoding_decision": web.get("encoding_decision"), "reason": reason}
