"""What a local run needs beyond stock Beam, as one unit that `--runtime beam` switches off.

    runtime "roots" (the default)      runtime "beam"
    Beam's FnApiRunner, never Prism    the FnApiRunner, as DirectRunner builds it (never Prism: below)
    SDK workers forked from a warm     Beam's own workers: a fresh `python -m sdk_worker_main` each
      process (`WorkerPool`)
    a sharded run's jobs forked from   a sharded run's jobs in this process, one after another
      that pool (or from this process)
    the state sampler at 20 ms         Beam's 200 ms
    the heap frozen for the run        Beam's collector settings
    progress files and a bar           no progress output

Both give the same outputs, byte for byte (tests/pipelines/test_runtime.py); `benchmarks/bench_pipeline.py`
measures what this runtime buys. Stock DirectRunner (apache_beam/runners/direct/direct_runner.py,
Beam 2.77) first tries PrismRunner for a batch pipeline like ours, which downloads a Go binary
from GitHub at run time, and falls back to the FnApiRunner when that fails: offline it fails
(slowly where the network drops packets), online it runs another runner. So "beam" passes the
FnApiRunner that DirectRunner's fallback builds, as DirectRunner builds it, and nothing else.
Remote runners (Dataflow) get neither runtime: Beam picks their runner from the options.

`pool.py` is the fork mechanism (the warm process, and `fork_call` where there is none). Imports
at the top of both are the standard library's: the DoFns import `ProgressFile` in every worker.
"""
from __future__ import annotations

import contextlib
import gc
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from ..files import TMP_PREFIX, atomic_write
from .pool import WorkerPool, fork_call, grpc_used

RUNTIMES = ("roots", "beam")


def local_runner(options, runtime: str = "roots"):
    """The runner for `--runner=DirectRunner`: Beam's FnApiRunner, built the way DirectRunner
    builds it for a batch pipeline (workers get the pipeline options), but without DirectRunner's
    first step, which tries PrismRunner and so downloads a Go binary from GitHub at run time:
    time lost on every run where the download fails fast, a hang where the network drops
    packets, and a different runner wherever it succeeds.

    runtime "roots": in multi_processing mode, while a `WorkerPool` is open (`Runtime.session`
    opens one), the SDK workers are forked from its warm process instead of each starting a
    fresh Python that imports Beam and loads the models. "beam": the stock FnApiRunner."""
    from apache_beam.portability import python_urns
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    pool = WorkerPool.current if runtime == "roots" else None
    grpc_used()
    runner_class = fn_runner.FnApiRunner
    if pool is not None:
        class PooledRunner(fn_runner.FnApiRunner):
            def run_via_runner_api(self, pipeline_proto, options):
                for env in pipeline_proto.components.environments.values():
                    if env.urn == python_urns.SUBPROCESS_SDK:
                        env.payload = pool.worker_command().encode("utf-8")
                return super().run_via_runner_api(pipeline_proto, options)

        runner_class = PooledRunner
    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    return runner_class(provision_info=fn_runner.ExtendedProvisionInfo(
        beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)))


class Runtime:
    """The local runtime of one run: `name` "roots" (everything in this module) or "beam"
    (stock Beam); `local`: whether the run's runner is local (a remote run gets neither)."""

    def __init__(self, name: str, beam_args: list[str], local: bool):
        if name not in RUNTIMES:
            raise ValueError(f"unknown runtime {name!r}; use one of {', '.join(RUNTIMES)}")
        self.name, self.local = name, local
        self.ours = name == "roots" and local
        self.mode = ""
        if local:
            from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions

            self.mode = PipelineOptions(beam_args).view_as(DirectOptions).direct_running_mode
        self.pool: WorkerPool | None = None

    @contextlib.contextmanager
    def session(self, config_path: str | None, dedup: bool | None, preload):
        """The run's process-wide settings and, for a local multi_processing run, its worker
        pool (`preload(config_path, dedup)` runs in the pool's process). The heap is frozen and
        the sampling period set before the pool forks, so that the pool and every worker have
        them; the pool starts first of all, so that it imports the processing modules and
        loads the models (~0.2 s) while this process checks the arguments and builds the graph."""
        if not self.ours:
            yield self
            return
        with _frozen_heap(), _short_state_sampling():
            if self.mode != "multi_processing" or not WorkerPool.available():
                yield self
                return
            with WorkerPool(config_path, dedup, preload) as self.pool:
                yield self
            self.pool = None

    @contextlib.contextmanager
    def shard_calls(self, n_shards: int, config_path: str | None, dedup: bool, preload):
        """call(fn, *args) for the jobs of a sharded run: fn(*args) in a fresh fork of the
        run's pool (a pool is opened for them when the run has none), or, where fork is
        unavailable, of this process; runtime "beam": in this process."""
        if not self.ours:
            yield lambda fn, *args: fn(*args)
            return
        if self.pool is not None or n_shards < 2 or not WorkerPool.available():
            yield self.pool.call if self.pool else fork_call
            return
        # A warm, clean process to fork each shard's job from (made before the progress
        # thread, so that this process may still be forked).
        with WorkerPool(config_path, dedup, preload) as pool:
            yield pool.call

    @contextlib.contextmanager
    def progress(self, wanted: bool, inputs: list[str] | None):
        """A folder for the workers' progress files (None: no progress), and a bar on stderr
        while the run lasts."""
        if not (self.ours and wanted and inputs is not None):
            yield None
            return
        folder = tempfile.mkdtemp(prefix="roots-progress-")
        stop = threading.Event()
        watcher = threading.Thread(target=_watch_progress, args=(folder, _count_lines(inputs), stop), daemon=True)
        watcher.start()
        try:
            yield folder
        finally:
            stop.set()
            watcher.join()
            shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _short_state_sampling():
    """Beam's state sampler (a thread that times each step) sleeps up to 200 ms between
    samples, and a bundle ends by joining it: up to 200 ms idle after the last document of
    a long bundle, in each worker. At 20 ms the wait is short, and 50 wake-ups a second cost
    nothing measurable. Set in the launcher before the pool forks, so every local worker has
    it; Beam's default is back once the run ends."""
    from apache_beam.runners.worker import statesampler

    init = statesampler.StateSampler.__init__
    saved = init.__defaults__
    if saved == (statesampler.DEFAULT_SAMPLING_PERIOD_MS,):  # the signature this was written for
        init.__defaults__ = (20,)
    try:
        yield
    finally:
        init.__defaults__ = saved


@contextlib.contextmanager
def _frozen_heap():
    """For the run, what is alive before it (the imported modules: Beam, pyarrow, ...) is
    out of the cyclic collector's reach. Each full collection would scan it again: about
    0.1 s each, several per run, in every process; frozen, they scan what the run made."""
    gc.freeze()
    try:
        yield
    finally:
        # A caller that goes on in this process collects as before (gc has one permanent
        # generation: what a caller froze itself before the run is back in the collector too).
        gc.unfreeze()


# ------------------------------------------------------------------------------ progress
class ProgressFile:
    """Local runs: each worker rewrites a tiny file with its processed count; the launcher
    sums them for the progress bar (workers are separate processes)."""

    def __init__(self, directory: str | None):
        import uuid

        self.path = os.path.join(directory, uuid.uuid4().hex) if directory else None
        self.count = 0
        self._last = 0.0

    def add(self, n: int = 1):
        self.count += n
        if self.path and time.monotonic() - self._last > 0.5:
            self.flush()

    def flush(self):
        if not self.path:
            return
        self._last = time.monotonic()
        atomic_write(self.path, str(self.count))


def _count_lines(paths: list[str]) -> int | None:
    """Estimated document count for the progress bar: local uncompressed JSONL only (cheap)."""
    total = 0
    for p in paths:
        if "://" in p or not p.endswith((".jsonl", ".ndjson", ".json")) or os.path.getsize(p) > 2 << 30:
            return None
        with open(p, "rb") as f:
            total += sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    return total


def _watch_progress(progress_dir: str, total: int | None, stop: threading.Event) -> None:
    from tqdm import tqdm

    with tqdm(total=total, unit="doc", desc="processing", dynamic_ncols=True, file=sys.stderr) as bar:
        while True:
            done = 0
            for name in os.listdir(progress_dir):
                if not name.startswith(TMP_PREFIX):  # a count being written (files.atomic_write)
                    try:
                        done += int(Path(progress_dir, name).read_text() or 0)
                    except (OSError, ValueError):
                        pass
            bar.update(done - bar.n)
            if stop.wait(0.5):
                break
