"""Filter quality on real data: what a careful reader would keep is kept, junk is dropped.

Two sides, both built reproducibly from ../shared/data (ROOTS_DATA_DIR):

(a) Retention of clean prose: distinct texts of the clean sources of corpus_web_mixed (paper
    abstracts, WMT22 human translations, Chinese Wikipedia paragraphs, C3 passages, English
    Wikipedia), the C4 pages a reader judged clean (benchmarks/data/c4_judgments.tsv), and the
    contexts of the QA folders (CMRC: Simplified, DRCD: Traditional, SQuAD: English).
(b) Removal of junk, in families any reader would drop, each made from real text with a fixed
    seed: boilerplate-only pages and the labeled boilerplate lines of boilerplate_eval, phrase
    spam, keyword stuffing, character salad, number/table dumps and templated (doorway) pages.

The sets and the scoring are roots_measure.filter_eval's (clean sources: roots_measure.data,
junk: roots_measure.junk, recipe "filters"); this script prints and writes the report.

Every document goes through the pipeline's own DocumentProcessor (clean, language, signals,
filters; dedup is not part of this question). Texts are split in two halves by a hash of the
text: `tune` is what the thresholds in pipelines/config/default.yaml were read from, `check`
is the half they were not. Targets (issue 13): >= 0.97 of clean texts kept per language and
script (zh-Hans, zh-Hant, en), >= 0.95 of each junk family dropped.

    python benchmarks/quality_eval.py [--config my.yaml] [--half check|tune|all] [--output OUT]
    roots-pipeline inspect OUT --reason char_repetition     # read the drops of one reason

With --output, the drops are written as OUT/dropped/*.jsonl.gz (the pipeline's own layout) and
the report as OUT/quality_eval.json and OUT/quality_eval.html.
"""
from __future__ import annotations

import argparse
import gzip
import html
import json
import sys
from pathlib import Path

from pipelines.config import PipelineConfig
from roots_measure.filter_eval import CLEAN_TARGET, JUNK_TARGET, build_items, evaluate, report


def print_report(rep: dict) -> None:
    print(f"{'clean prose (kept)':44s} {'n':>6s} {'kept':>7s}  main drop reasons")
    for name, e in rep["clean"].items():
        print(f"  {name:42s} {e['n']:6d} {e['kept']:7.3f}  {_top(e['reasons'])}")
    for name, e in rep["clean_sources"].items():
        print(f"    {name:40s} {e['n']:6d} {e['kept']:7.3f}  {_top(e['reasons'])}")
    print(f"\n{'junk (dropped)':44s} {'n':>6s} {'dropped':>7s}  reasons")
    for name, e in rep["junk_families"].items():
        print(f"  {name:42s} {e['n']:6d} {e['dropped']:7.3f}  {_top(e['reasons'])}")
    print("\nper family:", ", ".join(f"{k} {v:.3f}" for k, v in rep["junk_by_family"].items()))
    print("PASS" if rep["pass"] else "FAIL: " + "; ".join(rep["failures"]))


def _top(reasons: dict, n: int = 4) -> str:
    return ", ".join(f"{k} {v}" for k, v in list(reasons.items())[:n])


def write_output(out: Path, rep: dict, drops: list[dict]) -> None:
    (out / "dropped").mkdir(parents=True, exist_ok=True)
    with gzip.open(out / "dropped" / "part-00000-of-00001.jsonl.gz", "wt", encoding="utf-8") as f:
        for d in drops:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    (out / "quality_eval.json").write_text(json.dumps(rep, ensure_ascii=False, indent=2), encoding="utf-8")
    rows = []
    for side, title in (("clean_sources", "clean prose: share kept"), ("junk_families", "junk: share dropped")):
        rows.append(f"<tr><th colspan=4>{title}</th></tr>")
        for name, e in rep[side].items():
            val = e["kept"] if side == "clean_sources" else e["dropped"]
            target = CLEAN_TARGET if side == "clean_sources" else JUNK_TARGET
            cls = "ok" if val >= target else "bad"
            rows.append(f"<tr><td>{html.escape(name)}</td><td>{e['n']}</td><td class={cls}>{val:.3f}</td>"
                        f"<td>{html.escape(_top(e['reasons'], 6))}</td></tr>")
    (out / "quality_eval.html").write_text(
        "<!doctype html><meta charset=utf-8><title>ROOTS quality evaluation</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:3px 10px;text-align:left}"
        ".ok{color:#060}.bad{color:#b00;font-weight:bold}</style>"
        f"<h1>Filter quality</h1><p>{'PASS' if rep['pass'] else 'FAIL: ' + html.escape('; '.join(rep['failures']))}</p>"
        f"<table>{''.join(rows)}</table>", encoding="utf-8")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config")
    ap.add_argument("--half", default="check", choices=["tune", "check", "all"])
    ap.add_argument("--limit", type=int, help="at most this many items per source (a quick slice)")
    ap.add_argument("--output")
    args = ap.parse_args(argv)
    items = build_items(args.half, args.limit)
    rows, drops = evaluate(items, PipelineConfig.load(args.config))
    rep = report(rows)
    print_report(rep)
    if args.output:
        write_output(Path(args.output), rep, drops)
    return 0 if rep["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
