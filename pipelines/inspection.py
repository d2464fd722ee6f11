"""`roots-pipeline inspect OUT --reason R`: read a sample of what a finished run dropped for one
reason, with the signal value and the bound it failed, so a person can judge the filter.

Reads OUT/dropped/*.jsonl.gz (records carry "reason", "text", "id", "source", "lang",
"signals"); prints the sample to the terminal and, with --html, writes a page with the texts
(HTML-escaped) and every signal. The sample is the same on every call: documents are ordered
by a seeded hash of their id, not by file order, so two runs over the same output (or shards
written in another order) show the same documents.
"""
from __future__ import annotations

import glob
import gzip
import hashlib
import html
import io
import json
import os
from collections import Counter

from .config import PipelineConfig


def _dropped_files(out: str) -> list[str]:
    pattern = out.rstrip("/") + "/dropped/*.jsonl*"
    if "://" in out:
        from apache_beam.io.filesystems import FileSystems

        return sorted(m.path for r in FileSystems.match([pattern]) for m in r.metadata_list)
    return sorted(glob.glob(pattern))


def _open_text(path: str):
    if "://" in path:
        from apache_beam.io.filesystems import CompressionTypes, FileSystems

        raw = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    else:
        raw = open(path, "rb")
    if path.endswith(".gz"):
        raw = gzip.GzipFile(fileobj=raw)
    return io.TextIOWrapper(raw, encoding="utf-8")


def _sample_key(record: dict, seed: int) -> str:
    ident = str(record.get("key") or record.get("id") or record.get("text", "")[:200])
    return hashlib.sha1(f"{seed}\x00{ident}".encode("utf-8")).hexdigest()


def read_sample(out: str, reason: str, n: int = 20, seed: int = 0) -> tuple[list[dict], Counter]:
    """(the `n` sampled records dropped for `reason`, count of drops per reason)."""
    files = _dropped_files(out)
    if not files:
        raise FileNotFoundError(f"no dropped documents under {out}/dropped/ (was the run made with --no_dropped?)")
    counts: Counter = Counter()
    best: list[tuple[str, dict]] = []  # the n smallest keys seen so far
    for path in files:
        with _open_text(path) as f:
            for line in f:
                if not line.strip():
                    continue
                rec = json.loads(line)
                counts[rec.get("reason")] += 1
                if rec.get("reason") != reason:
                    continue
                best.append((_sample_key(rec, seed), rec))
                if len(best) > 4 * n + 64:  # keep memory bounded on big runs
                    best = sorted(best, key=lambda kr: kr[0])[:n]
    return [rec for _, rec in sorted(best, key=lambda kr: kr[0])[:n]], counts


def failed_bound(record: dict, config: PipelineConfig) -> str:
    """A sentence naming the value and the bound that dropped `record` ("" when the reason is
    not a bound on one value, e.g. a duplicate)."""
    reason, lang = record.get("reason"), record.get("lang") or "default"
    signals = record.get("signals") or {}
    for f in config.filters:
        if f.name == reason:
            b = f.bounds_for(lang)
            value = signals.get(f.signal)
            sides = []
            if b.min is not None:
                sides.append(f"min {b.min:g}")
            if b.max is not None:
                sides.append(f"max {b.max:g}")
            shown = "missing" if value is None else f"{value:.4g}"
            return f"{f.signal} = {shown}; bound for {lang}: {', '.join(sides) or 'none'}"
    if reason == "language_score":
        return f"lang_score = {record.get('lang_score', float('nan')):.4g} < min {config.min_lang_score(lang):g} ({lang})"
    if reason == "language":
        return f"lang = {record.get('lang')!r} is not one of {config.languages}"
    if reason == "quality_score":
        t = config.quality_model.threshold
        return f"quality_score = {record.get('quality_score', float('nan')):.4g} < threshold {t}"
    if reason == "doc_too_long":
        return f"{len(record.get('text') or '')} characters > max_doc_chars {config.read.max_doc_chars}"
    return ""


def _load_config(out: str, config_path: str | None) -> PipelineConfig:
    if config_path:
        return PipelineConfig.load(config_path)
    saved = os.path.join(out, "config.yaml")  # a run that saved its config next to its outputs
    return PipelineConfig.load(saved if "://" not in out and os.path.exists(saved) else None)


def format_terminal(reason: str, sample: list[dict], counts: Counter, config: PipelineConfig,
                    max_chars: int = 300) -> str:
    total = sum(counts.values())
    lines = [f"{reason}: {counts.get(reason, 0)} of {total} dropped documents; showing {len(sample)}"]
    for rec in sample:
        text = (rec.get("text") or "").replace("\n", " ⏎ ")
        cut = text[:max_chars] + (" …" if len(text) > max_chars else "")
        lines += ["", f"- {rec.get('id')}  [{rec.get('source')}, {rec.get('lang')}]  {failed_bound(rec, config)}",
                  *([f"  {web_line(rec)}"] if rec.get("web") else []), f"  {cut}"]
    return "\n".join(lines)


_WEB_SHOWN = ("domain", "http_status", "content_type", "encoding", "encoding_decision", "fetch_date", "title",
              "blocklist", "warc_type")


def web_line(rec: dict) -> str:
    """A web record's where and how: URL, then its web fields that are set."""
    web = rec.get("web") or {}
    return " · ".join([str(rec.get("url"))] + [f"{k} {web[k]}" for k in _WEB_SHOWN if web.get(k) not in (None, "")])


_CSS = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
.doc{border:1px solid #ccc;border-radius:6px;padding:.8rem 1rem;margin:1rem 0}
.bound{color:#a40000;font-weight:600}.meta{color:#555;font-size:.9rem}
pre{white-space:pre-wrap;word-break:break-word;background:#f7f7f7;padding:.6rem;max-height:24rem;overflow:auto}
table{border-collapse:collapse;font-size:.85rem}td{padding:1px 8px;border-bottom:1px solid #eee}
td.hit{color:#a40000;font-weight:600}"""


def render_html(out: str, reason: str, sample: list[dict], counts: Counter, config: PipelineConfig,
                seed: int, max_chars: int = 5000) -> str:
    e = html.escape
    signal_of = {f.name: f.signal for f in config.filters}
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(reason)} drops</title>"
             f"<style>{_CSS}</style></head><body>",
             f"<h1>Dropped as <code>{e(reason)}</code></h1>",
             f"<p>{counts.get(reason, 0)} of {sum(counts.values())} dropped documents in <code>{e(out)}</code>; "
             f"a sample of {len(sample)} (seed {seed}, ordered by a hash of the id).</p>",
             "<p class='meta'>Drops by reason: " + ", ".join(f"{e(str(r))} {c}" for r, c in counts.most_common())
             + "</p>"]
    for rec in sample:
        text = rec.get("text") or ""
        shown = e(text[:max_chars]) + (f"\n… ({len(text) - max_chars} more characters)" if len(text) > max_chars else "")
        signals = rec.get("signals") or {}
        rows = "".join(
            f"<tr><td{' class=hit' if name == signal_of.get(reason) else ''}>{e(name)}</td>"
            f"<td>{e(f'{v:.4g}' if isinstance(v, (int, float)) else str(v))}</td></tr>"
            for name, v in sorted(signals.items()))
        extra = "".join(f" · {k} {e(str(rec[k]))}" for k in ("lang_score", "quality_score", "pii") if rec.get(k) is not None)
        parts.append(
            f"<div class='doc'><div class='meta'>{e(str(rec.get('id')))} · {e(str(rec.get('source')))} · "
            f"{e(str(rec.get('lang')))}{extra}</div>"
            + (f"<div class='meta'>{e(web_line(rec))}</div>" if rec.get("web") else "")
            + f"<p class='bound'>{e(failed_bound(rec, config))}</p><pre>{shown}</pre>"
            + (f"<details><summary>signals</summary><table>{rows}</table></details>" if rows else "") + "</div>")
    parts.append("</body></html>")
    return "\n".join(parts)


def add_inspect_arguments(p) -> None:
    """The flags of `roots-pipeline inspect` on an argparse (sub)parser."""
    p.add_argument("output", help="a finished run's output directory (local or gs://)")
    p.add_argument("--reason", required=True, help="drop reason to sample, e.g. char_repetition")
    p.add_argument("--n", type=int, default=20, help="documents to show (default 20)")
    p.add_argument("--seed", type=int, default=0, help="sample seed (same seed, same documents)")
    p.add_argument("--html", help="also write the sample as an HTML page to this file")
    p.add_argument("--config", help="the config the run used, for the bounds (default: OUT/config.yaml "
                                    "if present, else the packaged default)")


def inspect_main(args) -> int:
    config = _load_config(args.output, args.config)
    sample, counts = read_sample(args.output, args.reason, args.n, args.seed)
    if not sample:
        present = ", ".join(f"{r} ({c})" for r, c in counts.most_common()) or "none"
        print(f"roots-pipeline inspect: no document was dropped as {args.reason!r}; reasons present: {present}")
        return 1
    print(format_terminal(args.reason, sample, counts, config))
    if args.html:
        with open(args.html, "w", encoding="utf-8") as f:
            f.write(render_html(args.output, args.reason, sample, counts, config, args.seed))
        print(f"\nwrote {args.html}")
    return 0
