"""Cost measurements shared by the benchmarks: CPU seconds of a process and its children, the
peak RSS of a process tree, rows written as Parquet.
"""
from __future__ import annotations

import resource
import threading
from pathlib import Path


def cpu_seconds() -> float:
    """User + system seconds of this process and its waited-for children."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def count_parquet_rows(folder: str) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in Path(folder).rglob("*.parquet"))


class TreeRSS:
    """Peak of the summed RSS of a process and all its descendants (psutil), sampled in a thread."""

    def __init__(self, pid: int):
        self.peak = 0
        self._stop = threading.Event()
        try:
            import psutil

            self._proc = psutil.Process(pid)
        except (ImportError, Exception):
            self._proc = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while self._proc is not None and not self._stop.wait(0.1):
            try:
                procs = [self._proc] + self._proc.children(recursive=True)
                total = 0
                for p in procs:
                    try:
                        total += p.memory_info().rss
                    except Exception:
                        pass
                self.peak = max(self.peak, total)
            except Exception:
                return

    def stop(self) -> int | None:
        self._stop.set()
        self._thread.join()
        return self.peak or None
