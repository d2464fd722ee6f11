"""Same behaviour, checked: run two checkouts' pipelines over the same real inputs and compare
their outputs (what a refactor must leave alone).

    git worktree add ../roots-old f6bb3c4
    python benchmarks/same_output.py ../roots-old [--new .] [--runs w1,w2,sharded,refresh,web]

Runs (each by both trees, each tree's `python -m pipelines` with that tree first on PYTHONPATH):
  w1       corpus_web_mixed, 1 worker, dedup exact + MinHash (the default config)
  w2       the same with 2 workers
  sharded  1 worker, `read.shard_mb: 4` (six shards of the 21 MB corpus, bridges settled)
  refresh  two releases: files 0-2, then all six (the second deduplicated against the first)
  web      WARC (cc_resiliparse, dolma_wget), WET (whirlwind) and HTML (web_extraction) inputs
Compared: OUT/data, OUT/dropped, OUT/dead_letter byte for byte, and stats.json with its timings
zeroed (elapsed, per-second rates, phases, shard seconds and peak memory). A 2-worker run lays its
files out by worker timing, so w2 compares the multiset of rows instead (the old tree does the
same). A kept Parquet file of a tree older than the web columns is equal when its columns are
equal and the newer tree's extra columns are all null. Exit status 1 when anything differs.
"""
from __future__ import annotations

import argparse
import difflib
import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from pipelines.datadir import data_dir

TIMING = re.compile(r'"(elapsed_s|docs_per_s|startup_s|processing_s|wind_down_s|peak_rss_mib|seconds)": -?[0-9.e+-]+'
                    r'|"(shard_seconds|shard_peak_rss_mib)": \[[^]]*\]')
PARTS = ("data", "dropped", "dead_letter")
RUNS = ("w1", "w2", "sharded", "refresh", "web")


def commands(run: str, out: Path, data: Path, config: Path) -> list[list[str]]:
    corpus = str(data / "corpus_web_mixed" / "*.jsonl")
    local = ["--no_progress", "--direct_num_workers=1"]
    if run in ("w1", "w2", "sharded"):
        return [["run", "--input", corpus, "--output", str(out), "--no_progress",
                 f"--direct_num_workers={2 if run == 'w2' else 1}", *(["--config", str(config)] if run == "sharded" else [])]]
    if run == "refresh":
        first = str(data / "corpus_web_mixed" / "docs-0000[0-2]-of-00006.jsonl")
        return [["refresh", "--input", first, "--releases", str(out), *local],
                ["refresh", "--input", corpus, "--releases", str(out), *local]]
    warc = data / "warc_samples"
    return [["run", "--input", str(warc / "cc_resiliparse" / "warcfile.warc.gz"),
             "--input", str(warc / "dolma_wget" / "*.warc.gz"), "--input", str(warc / "cc_whirlwind" / "whirlwind.warc.wet.gz"),
             "--input", str(data / "web_extraction" / "html" / "*.html.gz"), "--output", str(out), *local]]


def run_tree(tree: Path, run: str, out: Path, data: Path, config: Path) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(tree), os.environ.get("PYTHONPATH")) if p),
               ROOTS_DATA_DIR=str(data), HF_HUB_OFFLINE="1")
    for argv in commands(run, out, data, config):
        done = subprocess.run([sys.executable, "-m", "pipelines", *argv], cwd=tree, env=env, capture_output=True,
                              text=True)
        if done.returncode:
            sys.exit(f"same_output: {tree} {' '.join(argv[:1])} failed ({done.returncode}):\n{done.stderr[-3000:]}")


def _files(root: Path, part: str) -> list[str]:
    folder = root / part
    return sorted(p.relative_to(root).as_posix() for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _rows(path: Path) -> list[str]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        # None fields left out: an older tree's rows lack the (all-null) columns added later.
        return [json.dumps({k: v for k, v in r.items() if v is not None}, ensure_ascii=False, sort_keys=True,
                           default=str) for r in pq.read_table(path).to_pylist()]
    with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
        return [line.decode("utf-8", "surrogatepass") for line in f.read().splitlines()]


def _same_old_columns(old: Path, new: Path) -> bool:
    import pyarrow.parquet as pq

    a, b = pq.read_table(old), pq.read_table(new)
    return (a.column_names != b.column_names
            and all(c in b.column_names and a[c].equals(b[c]) for c in a.column_names)
            and all(b[c].null_count == b.num_rows for c in b.column_names if c not in a.column_names))


def _stats(root: Path, by_rows: bool) -> str:
    text = TIMING.sub(lambda m: f'"{m.group(1) or m.group(2)}": 0', (root / "stats.json").read_text(encoding="utf-8"))
    if by_rows:  # where the bundles fell is timing: the counts, not the run section, must agree
        stats = json.loads(text)
        stats.pop("run", None)
        return json.dumps(stats, sort_keys=True, indent=1)
    return text


def compare(old: Path, new: Path, by_rows: bool) -> list[str]:
    problems = []
    for part in PARTS:
        a, b = _files(old, part), _files(new, part)
        if by_rows:
            if sorted(r for f in a for r in _rows(old / f)) != sorted(r for f in b for r in _rows(new / f)):
                problems.append(f"{part}: the rows differ")
            continue
        if a != b:
            problems.append(f"{part}: file names differ: {sorted(set(a) ^ set(b))[:6]}")
            continue
        for rel in a:
            if hashlib.sha256((old / rel).read_bytes()).digest() != hashlib.sha256((new / rel).read_bytes()).digest():
                if not (rel.endswith(".parquet") and _same_old_columns(old / rel, new / rel)):
                    problems.append(f"{rel}: bytes differ")
    sa, sb = _stats(old, by_rows), _stats(new, by_rows)
    if sa != sb:
        diff = difflib.unified_diff(sa.splitlines(), sb.splitlines(), "old", "new", lineterm="", n=1)
        problems.append("stats.json differs:\n" + "\n".join(list(diff)[:40]))
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old", help="the old checkout (e.g. a git worktree of the commit before a refactor)")
    ap.add_argument("--new", default=str(Path(__file__).resolve().parents[1]), help="the new checkout (default: this one)")
    ap.add_argument("--runs", default=",".join(RUNS), help=f"comma list of {', '.join(RUNS)}")
    args = ap.parse_args(argv)
    data = data_dir()
    failed = False
    with tempfile.TemporaryDirectory(prefix="same-output-") as tmp:
        config = Path(tmp, "sharded.yaml")
        config.write_text("read:\n  shard_mb: 4\n")
        for run in args.runs.split(","):
            outs = []
            for side, tree in (("old", args.old), ("new", args.new)):
                out = Path(tmp, side, run)
                run_tree(Path(tree).resolve(), run, out, data, config)
                outs.append(out)
            folders = ([("", *outs)] if run != "refresh" else
                       [(f"/{r.name}", r, outs[1] / r.name) for r in sorted(outs[0].glob("release-*"))])
            for suffix, old, new in folders:
                problems = compare(old, new, by_rows=run == "w2")
                n = sum(len(_files(new, p)) for p in PARTS)
                print(f"{run}{suffix}: {'same' if not problems else 'DIFFERENT'} ({n} files + stats.json"
                      f"{', compared as rows' if run == 'w2' else ''})")
                for p in problems:
                    print("   ", p)
                failed |= bool(problems)
    print("all the same" if not failed else "SOMETHING DIFFERS")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
