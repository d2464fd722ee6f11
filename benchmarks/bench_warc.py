"""Which WARC reader: FastWARC 2.0 vs warcio 1.8 vs our own framing (pipelines/web/warc.py).

Two questions, on the real files in warc_samples/:
1. speed: records/s and stored MB/s reading every record's full block (FastWARC and warcio
   as their docs show, ours as the pipeline reads: records framed and made documents, HTTP
   parsed). Readers alternate in order, each pass is repeated, the median is reported.
2. behaviour on each fixture: records read, refused (an exception), or read differently
   from ours (a different count).

    python benchmarks/bench_warc.py [--repeats 7] [--passes 20]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path


from pipelines.datadir import dataset_path
from pipelines.io import FileRange, ReadSpec, read_range

SPEED_FILES = ["cc_resiliparse/warcfile.warc.gz", "cc_resiliparse/clueweb-quirk.warc.gz",
               "dolma_wget/sample-0000.warc.gz", "dolma_wget/sample-0001.warc.gz", "cc_whirlwind/whirlwind.warc"]


def read_fastwarc(path: str) -> int:
    from fastwarc import ArchiveIterator

    n = 0
    with open(path, "rb") as f:
        for rec in ArchiveIterator(f, parse_http=True):
            rec.reader.read()
            n += 1
    return n


def read_warcio(path: str) -> int:
    from warcio.archiveiterator import ArchiveIterator

    n = 0
    with open(path, "rb") as f:
        for rec in ArchiveIterator(f, arc2warc=True):
            rec.content_stream().read()
            n += 1
    return n


def read_ours(path: str) -> int:
    return sum(1 for _ in read_range(FileRange(path, 0, -1), WARC))


WARC = ReadSpec(format="warc", max_body_bytes=10 << 20)
READERS = {"fastwarc": read_fastwarc, "warcio": read_warcio, "ours": read_ours}


def speed(root: Path, repeats: int, passes: int) -> dict:
    files = [str(root / f) for f in SPEED_FILES]
    nbytes = sum(os.path.getsize(f) for f in files)
    times: dict[str, list[float]] = {name: [] for name in READERS}
    records = {}
    names = list(READERS)
    for rep in range(repeats):
        order = names if rep % 2 == 0 else names[::-1]  # alternate: no reader always runs first
        for name in order:
            t = time.perf_counter()
            for _ in range(passes):
                records[name] = sum(READERS[name](f) for f in files)
            times[name].append((time.perf_counter() - t) / passes)
    out = {}
    for name in names:
        med = statistics.median(times[name])
        out[name] = {"records": records[name], "median_s": round(med, 5),
                     "records_per_s": round(records[name] / med), "stored_MB_per_s": round(nbytes / med / 1e6, 1)}
    out["_files"] = {"count": len(files), "stored_bytes": nbytes, "repeats": repeats, "passes": passes}
    return out


def behaviour(root: Path) -> dict:
    rows = {}
    for path in sorted(root.glob("*/*")):
        if path.name == "README.md":
            continue
        row = {}
        for name, fn in READERS.items():
            try:
                row[name] = fn(str(path))
            except Exception as e:  # noqa: BLE001 - what each reader does with the fixture
                row[name] = f"refused: {type(e).__name__}: {str(e).strip().splitlines()[0][:70]}"
        if not isinstance(row["ours"], str):
            kinds = [k for k, _ in read_range(FileRange(str(path), 0, -1), WARC)]
            row["ours"] = f"{kinds.count('doc')} docs + {kinds.count('malformed')} dead letters"
        rows[f"{path.parent.name}/{path.name}"] = row
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--passes", type=int, default=10)
    args = ap.parse_args()
    root = dataset_path("warc_samples")
    print(json.dumps({"speed": speed(root, args.repeats, args.passes), "fixtures": behaviour(root)}, indent=1))


if __name__ == "__main__":
    main()
