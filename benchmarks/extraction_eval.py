"""Main-text extraction quality and speed on ../shared/data/web_extraction (ROOTS_DATA_DIR).

Quality: bag-of-tokens F1 of each backend's text against the human reference (one token = one
CJK character or one lower-cased ASCII word/number; precision and recall from the multiset
overlap per page; mean over pages), per set. Sets with must/must-not segments (`with` /
`without`) also get the share of must-segments found and of must-not segments wrongly found.
Pages whose reference is null count for the segments only. The tokenizer is this file's own,
independent of every extractor.

Speed: pages/s of each backend in this process on one core over the same decoded pages (decoding
not timed), backends in alternating order each repeat, median of the repeats. `--guard` adds the
cost of GuardedExtractor (child start, restart, pages/s through the pipe vs in-process).

Usage: python benchmarks/extraction_eval.py [--sets daniel_zh,...] [--limit N per set]
       [--backends trafilatura,...] [--repeats 3] [--speed-limit N per set] [--guard] [--json OUT]
"""
from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path


from pipelines.datadir import dataset_path
from pipelines.web import extract as ext
from roots_measure.extraction import prf, tokens

PEERS = ["trafilatura", "trafilatura_precision", "resiliparse", "readability", "alltext", "roots"]
_WS = re.compile(r"\s+")


def _squash(s: str) -> str:
    return _WS.sub(" ", s).strip()


def decode(body: bytes) -> str:
    from pipelines.web.decode import decode_html

    return decode_html(body, None).text or ""


# Lines a page carries around its article: editor, source, share buttons. Whether a reference
# keeps them is the annotators' convention, which `--conventions` counts per set.
CONVENTION_MARKERS = ("责任编辑", "编辑：", "来源：", "转播到", "分享到")


def conventions(pages: list[dict]) -> str:
    """Per set and marker: pages whose HTML has it, and how many of those keep it in the reference."""
    rows = ["| set | reference | " + " | ".join(CONVENTION_MARKERS) + " |", "|---|---|" + "---:|" * len(CONVENTION_MARKERS)]
    for name in sorted({p["set"] for p in pages if p["lang"] == "zh" and p["reference"]}):
        mine = [p for p in pages if p["set"] == name and p["reference"]]
        cells = []
        for marker in CONVENTION_MARKERS:
            has = [p for p in mine if marker in p["html"]]
            cells.append(f"{sum(marker in p['reference'] for p in has)} of {len(has)}")
        rows.append(f"| {name} | {mine[0].get('reference_source')} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def load_pages(sets: list[str] | None, limit: int | None, half: str | None = None) -> list[dict]:
    """The pages (decoded), per set in file order; `half`: "first" or "second" half of each set
    (the default extractor was developed on the first halves and checked on the second)."""
    root = dataset_path("web_extraction")
    if half:
        with (root / "pages.jsonl").open(encoding="utf-8") as f:
            sizes = Counter(json.loads(line)["set"] for line in f)
    pages, per_set = [], Counter()
    with (root / "pages.jsonl").open(encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if sets and row["set"] not in sets:
                continue
            if limit is not None and per_set[row["set"]] >= limit:
                continue
            per_set[row["set"]] += 1
            if half and (per_set[row["set"]] <= -(-sizes[row["set"]] // 2)) != (half == "first"):
                continue
            row["html"] = decode(gzip.decompress((root / row["html_path"]).read_bytes()))
            pages.append(row)
    return pages


def available(names: list[str]) -> list[str]:
    out = []
    for name in names:
        try:
            ext.get_extractor(name)
        except ImportError as e:  # "roots" before helper D's module exists, a missing library
            print(f"skipping {name}: {e}", file=sys.stderr)
            continue
        out.append(name)
    return out


def quality(backend, pages: list[dict]) -> dict:
    by_set: dict[str, dict] = {}
    for page in pages:
        s = by_set.setdefault(page["set"], {"f1": [], "p": [], "r": [], "with": [0, 0], "without": [0, 0],
                                            "errors": 0, "empty": 0})
        try:
            text = backend.extract(page["html"], page.get("url")).text
        except Exception as e:  # noqa: BLE001  a page a backend cannot do scores as empty
            print(f"  {backend.name} failed on {page['id']}: {type(e).__name__}: {e}", file=sys.stderr)
            s["errors"] += 1
            text = ""
        s["empty"] += not text
        ref = tokens(page["reference"]) if page.get("reference") else None
        if ref:
            p, r, f = prf(tokens(text), ref)
            s["p"].append(p), s["r"].append(r), s["f1"].append(f)
        flat = _squash(text)
        for key in ("with", "without"):
            for seg in page.get(key) or []:
                s[key][0] += _squash(seg) in flat
                s[key][1] += 1
    out = {}
    for name, s in by_set.items():
        mean = (lambda xs: round(statistics.fmean(xs), 4) if xs else None)
        out[name] = {"f1": mean(s["f1"]), "precision": mean(s["p"]), "recall": mean(s["r"]),
                     "scored_pages": len(s["f1"]), "errors": s["errors"], "empty": s["empty"],
                     "with_found": round(s["with"][0] / s["with"][1], 4) if s["with"][1] else None,
                     "without_found": round(s["without"][0] / s["without"][1], 4) if s["without"][1] else None}
    return out


def speed(names: list[str], pages: list[dict], repeats: int) -> dict:
    backends = {n: ext.get_extractor(n) for n in names}
    for b in backends.values():  # warm-up: lazy imports and first-call caches are not timed
        for page in pages[:3]:
            _safe(b, page)
    times: dict[str, list[float]] = {n: [] for n in names}
    for rep in range(repeats):
        order = names if rep % 2 == 0 else names[::-1]
        for n in order:
            t0 = time.perf_counter()
            for page in pages:
                _safe(backends[n], page)
            times[n].append(time.perf_counter() - t0)
    return {n: {"pages_per_s": round(len(pages) / statistics.median(ts), 2), "runs_s": [round(t, 3) for t in ts]}
            for n, ts in times.items()}


def _safe(backend, page):
    try:
        return backend.extract(page["html"], page.get("url"))
    except Exception:  # noqa: BLE001
        return None


class EchoBackend:
    """Returns at once: run through the guard it shows the per-page cost of the pipe alone."""

    def __init__(self, name: str = "bench-echo"):
        self.name = name

    def extract(self, html: str, url: str | None = None) -> ext.Extracted:
        return ext.Extracted(None, html[:100])


def guard_cost(name: str, pages: list[dict], repeats: int) -> dict:
    """Child start and restart time, and pages/s guarded vs in-process for one backend."""
    g = ext.GuardedExtractor(name)
    starts = []
    for _ in range(3):
        t0 = time.perf_counter()
        g._start()
        starts.append(time.perf_counter() - t0)
        g._stop()
    local = ext.GuardedExtractor(name, isolate=False)
    for page in pages[:3]:
        _safe(g, page), _safe(local, page)
    runs = {"guarded": [], "in_process": []}
    for rep in range(repeats):
        order = [("guarded", g), ("in_process", local)]
        for label, e in (order if rep % 2 == 0 else order[::-1]):
            t0 = time.perf_counter()
            for page in pages:
                _safe(e, page)
            runs[label].append(time.perf_counter() - t0)
    g.close()
    med = {k: statistics.median(v) for k, v in runs.items()}
    return {"backend": name, "pages": len(pages), "repeats": repeats, "start_s": [round(s, 3) for s in starts],
            "guarded_pages_per_s": round(len(pages) / med["guarded"], 2),
            "in_process_pages_per_s": round(len(pages) / med["in_process"], 2),
            "overhead_ms_per_page": round((med["guarded"] - med["in_process"]) / len(pages) * 1000, 3)}


def _pooled(r: dict, sets: dict, lang: str) -> float | None:
    """Mean F1 over all scored pages of one language (set means weighted by their page counts)."""
    parts = [(q["f1"], q["scored_pages"]) for s, q in r["quality"].items()
             if sets[s] == lang and q["f1"] is not None]
    n = sum(k for _, k in parts)
    return sum(f * k for f, k in parts) / n if n else None


def table(results: dict, sets: dict, default: str) -> str:
    """sets: set name -> language, in the order of the columns."""
    any_of = (lambda s, k: any(results[b]["quality"].get(s, {}).get(k) is not None for b in results))
    cols = []
    for s in sets:
        if any_of(s, "f1"):
            cols.append((s, "f1", "F1"))
        if any_of(s, "with_found"):
            cols += [(s, "with_found", "must found"), (s, "without_found", "must-not found")]
    langs = [lang for lang in dict.fromkeys(sets.values())
             if sum(1 for s in sets if sets[s] == lang and any_of(s, "f1")) > 1]
    head = ["backend"] + [f"{s} {label}" for s, _, label in cols] + [f"all {lang} F1" for lang in langs] + ["pages/s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    rows = list(results) + ([f"ROOTS default (= {default})"] if default in results else [])
    fmt = (lambda v: "" if v is None else f"{v:.3f}")
    for label in rows:
        r = results[label if label in results else default]
        cells = [label] + [fmt(r["quality"].get(s, {}).get(k)) for s, k, _ in cols]
        cells += [fmt(_pooled(r, sets, lang)) for lang in langs]
        sp = r.get("speed", {}).get("pages_per_s")
        cells.append("" if sp is None else f"{sp:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", help="comma-separated set names (default: all)")
    ap.add_argument("--limit", type=int, help="pages per set (default: all)")
    ap.add_argument("--backends", help=f"comma-separated (default: {','.join(PEERS)})")
    ap.add_argument("--repeats", type=int, default=1, help="speed repeats (median)")
    ap.add_argument("--speed-limit", type=int, help="pages per set for the speed runs (default: --limit)")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--guard", nargs="?", const="", default=None, metavar="BACKENDS",
                    help="also measure GuardedExtractor's cost (default: the DEFAULT backend and the bare pipe)")
    ap.add_argument("--json", help="write the numbers here")
    ap.add_argument("--half", choices=["first", "second"], help="only the first or second half of each set")
    ap.add_argument("--conventions", action="store_true",
                    help="only count, per Chinese set, pages whose reference keeps the editor/source/share lines")
    args = ap.parse_args(argv)

    sets = args.sets.split(",") if args.sets else None
    names = available(args.backends.split(",") if args.backends else PEERS)
    t0 = time.perf_counter()
    pages = load_pages(sets, args.limit, args.half)
    print(f"{len(pages)} pages decoded in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    set_names = {p["set"]: p["lang"] for p in pages}
    if args.conventions:
        print(conventions(pages))
        return {}
    empty = [p["id"] for p in pages if not p["html"]]
    if empty:
        print(f"{len(empty)} pages not decodable (they score as empty for every backend): {empty}", file=sys.stderr)
    results = {}
    for n in names:
        t0 = time.perf_counter()
        results[n] = {"quality": quality(ext.get_extractor(n), pages)}
        print(f"{n}: quality pass {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    speed_pages = pages
    if args.speed_limit is not None:
        seen = Counter()
        speed_pages = [p for p in pages if (seen.update([p["set"]]) or seen[p["set"]] <= args.speed_limit)]
    if not args.no_speed:
        for n, sp in speed(names, speed_pages, args.repeats).items():
            results[n]["speed"] = {**sp, "pages": len(speed_pages), "repeats": args.repeats}
    out = {"default": ext.DEFAULT, "sets": {s: sum(p["set"] == s for p in pages) for s in set_names},
           "undecodable": empty,
           "backends": results}
    if args.guard is not None:
        # Run as a script this module is __main__, which the child cannot import: name it by file.
        ext.register_backend("bench-echo", f"{Path(__file__).stem}:EchoBackend")
        guarded = args.guard.split(",") if args.guard else [ext.DEFAULT, "bench-echo"]
        out["guard"] = [guard_cost(n, speed_pages, max(args.repeats, 1)) for n in guarded]
    print(table(results, set_names, ext.DEFAULT))
    for g in out.get("guard", []):
        print(f"\nguard {g['backend']}: child start {g['start_s']} s; {g['guarded_pages_per_s']} pages/s guarded vs "
              f"{g['in_process_pages_per_s']} in-process ({g['overhead_ms_per_page']:+.3f} ms/page, {g['pages']} pages)")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, ensure_ascii=False), encoding="utf-8")
    return out


if __name__ == "__main__":
    main()
