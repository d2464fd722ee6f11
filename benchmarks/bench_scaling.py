"""How `roots-pipeline run` scales with the corpus: 1x, 4x, 16x, on 1 and 2 local workers.

    python benchmarks/bench_scaling.py [--scales 1,4,16] [--workers 1,2] [--repeat 3] [--repeat-large 1]
                                       [--max-rss-gb 16] [--config CONFIG.yaml] [--one-job]
                                       [--corpus-dir DIR]

Scale 1 is the real corpus (ROOTS_DATA_DIR/corpus_web_mixed, 38,467 docs). Scale k adds k-1
edited copies of every document under new ids (1-5% of characters substituted, a seeded
RNG), so near-duplicate work grows with the corpus as it does on a real crawl. Each run is
the CLI in its own process, dedup on (inputs above `read.shard_mb` run in shards). For each
scale the worker counts run in alternating order (1,2 then 2,1 ...), `--repeat` rounds
(`--repeat-large` rounds for scales of 16 and more, whose runs take minutes), and the
median of each figure is reported. Side by side: wall time, docs/s per core (docs / wall /
workers), docs per CPU-second (the CPU time of every process of the run: on a shared
machine the wall-clock speed-up of a second worker depends on what else runs, the CPU
cost does not), and peak RSS of the launcher and of the largest other process of the run
(shard job, worker pool or worker; sampled from /proc every 0.2 s, VmHWM, so the true
peak). Target: wall grows linearly, peak RSS per worker stays flat.

A run whose processes together pass --max-rss-gb is stopped and reported as such, so the
benchmark never takes a shared machine down.

`--one-job` also runs every sharded scale as one job over everything (`read.shard_mb: 0`, 1
worker) and compares its kept documents with the sharded 1-worker run's, by key. A later shard's
document can join two clusters an earlier shard settled apart (a bridge); the sharded run
settles them after its last shard (pipelines/bridges.py), and this comparison measures how
close that comes to one job. Shards follow the files' keys, a hash of their path, so the corpus
folder (`--corpus-dir`, default a fresh temporary one) decides which copies come first, and
with it the number of bridges.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pipelines.datadir import dataset_path  # noqa: E402


def _edit(text: str, rng: random.Random) -> str:
    """A repost with small edits: 1-5% of characters replaced by other characters of the text."""
    if len(text) < 2:
        return text
    chars = list(text)
    for i in rng.sample(range(len(chars)), max(1, int(len(chars) * rng.uniform(0.01, 0.05)))):
        chars[i] = chars[rng.randrange(len(chars))]
    return "".join(chars)


def build_corpus(folder: Path, scale: int, seed: int = 0) -> int:
    """The real corpus plus scale-1 edited copies, as JSONL files of ~40k docs; the doc count."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    docs = [json.loads(line) for path in sorted(dataset_path("corpus_web_mixed").glob("*.jsonl"))
            for line in path.open(encoding="utf-8")]
    n = 0
    for copy in range(scale):
        with (folder / f"copy-{copy:03d}.jsonl").open("w", encoding="utf-8") as f:
            for d in docs:
                row = d if copy == 0 else {**d, "id": f"{d['id']}~{copy}", "text": _edit(d["text"], rng)}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
                n += 1
    return n


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                todo.extend(int(c) for c in Path(f"/proc/{p}/task/{task}/children").read_text().split())
        except OSError:
            pass
    return out


def _status(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def measure(argv: list[str], max_rss: float) -> dict:
    """Wall, CPU, peak RSS of the launcher and of its largest descendant."""
    started = time.time()
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        peaks: dict[int, int] = {}
        stopped = False
        while proc.poll() is None:
            pids = _tree(proc.pid)
            for p in pids:
                peaks[p] = max(peaks.get(p, 0), _status(p, "VmHWM"))
            if sum(_status(p, "VmRSS") for p in pids) > max_rss:
                os.killpg(proc.pid, signal.SIGKILL)
                stopped = True
            time.sleep(0.2)
        wall = time.time() - started
        err.seek(0)
        tail = err.read().decode(errors="replace")[-2000:]
    if proc.returncode not in (0, None) and not stopped:
        sys.exit(f"command failed: {' '.join(argv)}\n{tail}")
    workers = [v for p, v in peaks.items() if p != proc.pid]
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "stopped_for_memory": stopped,
            "launcher_peak_mib": peaks.get(proc.pid, 0) / 2**20,
            "worker_peak_mib": max(workers, default=peaks.get(proc.pid, 0)) / 2**20,
            "worker_processes": len(workers)}


def _kept_keys(out: Path) -> set[str]:
    import pyarrow.parquet as pq

    return {k for f in sorted((out / "data").rglob("*.parquet")) for k in pq.read_table(f, columns=["key"])["key"].to_pylist()}


def compare_one_job(corpus: Path, sharded: Path, tmp: Path, max_rss: float) -> None:
    """The corpus as one job (1 worker, no shards) against the sharded run in `sharded`."""
    config, out = tmp / "one-job.yaml", tmp / "out-one-job"
    config.write_text("read:\n  shard_mb: 0\n")
    r = measure([sys.executable, "-m", "pipelines", "run", "--input", str(corpus / "*.jsonl"), "--output", str(out),
                 "--no_progress", "--direct_num_workers=1", "--config", str(config)], max_rss)
    if r["stopped_for_memory"]:
        print(f"  one job over {corpus.name}: STOPPED (memory)", flush=True)
        return
    one, shards = _kept_keys(out), _kept_keys(sharded)
    settled = json.loads((sharded / "stats.json").read_text())["sharding"].get("bridges") or {}
    print(f"  one job over {corpus.name}: wall {r['wall_s']:.1f} s, peak {r['worker_peak_mib']:.0f} MiB, kept "
          f"{len(one):,}; sharded kept {len(shards):,} ({len(shards) - len(one):+,}); kept by one job only: "
          f"{len(one - shards):,}, by the sharded run only: {len(shards - one):,}; bridges settled: {settled}",
          flush=True)
    subprocess.run(["rm", "-rf", str(out)], check=False)


def _median_row(runs: list[dict]) -> dict:
    row = dict(runs[0])
    for key in ("wall_s", "cpu_s", "launcher_peak_mib", "worker_peak_mib", "docs_per_s_per_core", "docs_per_cpu_s"):
        row[key] = statistics.median(r[key] for r in runs)
    row["stopped_for_memory"] = any(r["stopped_for_memory"] for r in runs)
    row["repeats"] = len(runs)
    row["walls"] = [round(r["wall_s"], 1) for r in runs]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", default="1,4,16")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per scale (alternating worker order)")
    parser.add_argument("--repeat-large", type=int, default=1, help="rounds for scales >= 16")
    parser.add_argument("--max-rss-gb", type=float, default=16.0)
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--config", help="a pipeline config YAML for every run (e.g. a dedup setting to compare)")
    parser.add_argument("--one-job", action="store_true",
                        help="also run sharded scales as one job and compare the kept documents")
    parser.add_argument("--corpus-dir", help="build the corpora here (their paths decide the shard order)")
    args = parser.parse_args()
    if args.one_job and args.config:
        parser.error("--one-job sets its own config; leave out --config")
    rows = []
    worker_counts = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="roots-bench-scaling-") as tmp:
        for scale in map(int, args.scales.split(",")):
            corpus = Path(args.corpus_dir or tmp) / f"x{scale}"
            n = build_corpus(corpus, scale)
            size_mb = sum(f.stat().st_size for f in corpus.iterdir()) / 1e6
            repeats = args.repeat_large if scale >= 16 else args.repeat
            runs: dict[int, list[dict]] = {w: [] for w in worker_counts}
            for round_ in range(repeats):
                for workers in (worker_counts if round_ % 2 == 0 else worker_counts[::-1]):
                    out = Path(tmp) / f"out-x{scale}-w{workers}"
                    subprocess.run(["rm", "-rf", str(out)], check=False)  # a kept earlier round's (--one-job)
                    r = measure([sys.executable, "-m", "pipelines", "run", "--input", str(corpus / "*.jsonl"),
                                 "--output", str(out), "--no_progress", f"--direct_num_workers={workers}",
                                 *(["--config", args.config] if args.config else [])],
                                args.max_rss_gb * 2**30)
                    stats = None if r["stopped_for_memory"] else json.loads((out / "stats.json").read_text())
                    sharding = (stats or {}).get("sharding", {})
                    if sharding.get("shard_seconds"):
                        # Later shards match against a larger index: their time and dedup work show it.
                        last = sharding["shard_dedup"][-1]
                        print(f"  shard seconds {sharding['shard_seconds']}; last shard: "
                              f"{last.get('prior_candidate_pairs', 0):,} prior candidate pairs, "
                              f"{last.get('cc_edges', 0):,} graph edges", flush=True)
                        # Each shard job's process's peak (with 2 workers the runner's, which holds
                        # the data between stages): flat when a later shard (a larger prior index)
                        # needs no more memory than an earlier one.
                        print(f"  shard job process peak RSS MiB {sharding.get('shard_peak_rss_mib')}", flush=True)
                    r.update(scale=scale, docs=n, mb=round(size_mb, 1), workers=workers,
                             kept=stats and stats["kept"], shards=(stats or {}).get("sharding", {}).get("shards", 1),
                             docs_per_s_per_core=n / r["wall_s"] / workers, docs_per_cpu_s=n / max(r["cpu_s"], 1e-9))
                    runs[workers].append(r)
                    print(f"x{scale:<3} {n:>8,} docs {size_mb:7.1f} MB  {workers} worker(s), round {round_ + 1}: "
                          + ("STOPPED (memory)" if r["stopped_for_memory"] else
                             f"wall {r['wall_s']:7.1f} s  CPU {r['cpu_s']:7.1f} s  kept {r['kept']:,}  "
                             f"shards {r['shards']}  ")
                          + f"peak RSS launcher {r['launcher_peak_mib']:6.0f} MiB, largest other process "
                            f"{r['worker_peak_mib']:6.0f} MiB ({r['worker_processes']} processes)", flush=True)
                    if not (args.one_job and workers == 1):
                        subprocess.run(["rm", "-rf", str(out)], check=False)
            rows += [_median_row(runs[w]) for w in worker_counts]
            sharded = Path(tmp) / f"out-x{scale}-w1"
            if args.one_job and (sharded / "stats.json").exists():
                if json.loads((sharded / "stats.json").read_text()).get("sharding"):
                    compare_one_job(corpus, sharded, Path(tmp), args.max_rss_gb * 2**30)
                subprocess.run(["rm", "-rf", str(sharded)], check=False)
    print("\nmedians; docs/s/core = docs / wall / workers; docs/CPU-s = docs / CPU seconds of all the run's processes")
    print("| scale | workers | docs | MB | shards | repeats | wall s | CPU s | docs/s/core | docs/CPU-s "
          "| launcher MiB | largest other process MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        wall = "stopped" if r["stopped_for_memory"] else f"{r['wall_s']:.1f}"
        print(f"| x{r['scale']} | {r['workers']} | {r['docs']:,} | {r['mb']:.0f} | {r['shards']} | {r['repeats']} "
              f"| {wall} | {r['cpu_s']:.0f} | {r['docs_per_s_per_core']:.0f} | {r['docs_per_cpu_s']:.0f} "
              f"| {r['launcher_peak_mib']:.0f} | {r['worker_peak_mib']:.0f} |")
    by = {(r["scale"], r["workers"]): r for r in rows}
    print()
    for scale in sorted({r["scale"] for r in rows}):
        if (scale, 1) in by and (scale, 2) in by:
            one, two = by[(scale, 1)], by[(scale, 2)]
            print(f"- x{scale}: 2 workers per core at {two['docs_per_s_per_core'] / one['docs_per_s_per_core']:.0%} "
                  f"of 1 worker by wall clock, {two['docs_per_cpu_s'] / one['docs_per_cpu_s']:.0%} by CPU time")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
