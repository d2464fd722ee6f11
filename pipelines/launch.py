"""Launching one corpus run: Beam arguments, the local runner, the output folder, the run
itself and its summary. `cli` parses the command line and `refresh` builds releases on top
of `run`; both import this module, neither imports the other.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from . import __version__
from . import release
from . import stats as stats_lib
from . import storage
from .records import canonical

LOCAL_RUNNER_DEFAULTS = ["--runner=DirectRunner", "--direct_num_workers=2", "--direct_running_mode=multi_processing"]
# manifest.json first: an output being replaced must stop claiming to be a finished release
# before any of its files goes.
_OUTPUT_PARTS = ("manifest.json", "data", "dropped", "dead_letter", "dedup_index", "stats.json", "funnel.html",
                 "funnel.png", "README.md", "_shards")  # a crashed sharded run's shard folders


class UsageError(Exception):
    """A problem with the command line or its inputs, found before any work starts."""


def _beam_args(extra: list[str]) -> list[str]:
    if any(a == "--runner" or a.startswith("--runner=") for a in extra):
        args = list(extra)
    else:
        args = LOCAL_RUNNER_DEFAULTS + list(extra)
        from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions

        workers = PipelineOptions(args).view_as(DirectOptions).direct_num_workers
        mode_named = "direct_running_mode" in PipelineOptions(extra).get_all_options(drop_default=True)
        if workers == 1 and not mode_named:
            # One worker gains nothing from a separate SDK process, and every element would
            # cross gRPC to reach it: run it in this process.
            args.append("--direct_running_mode=in_memory")
    if "DataflowRunner" in " ".join(args) and not any(
            a.split("=")[0] in ("--setup_file", "--requirements_file", "--sdk_container_image") for a in args):
        setup_py = Path(__file__).resolve().parents[1] / "setup.py"
        if not setup_py.exists():
            raise UsageError("DataflowRunner needs worker dependencies: pass --setup_file (the repository's setup.py), "
                             "--requirements_file or --sdk_container_image")
        args.append(f"--setup_file={setup_py}")
    return args


def local_runner(options):
    """The runner for `--runner=DirectRunner`: Beam's FnApiRunner, built the way DirectRunner
    builds it for a batch pipeline (workers get the pipeline options), but without DirectRunner's
    first step, which tries PrismRunner and so downloads a Go binary from GitHub at run time:
    time lost on every run where the download fails fast, a hang where the network drops
    packets, and a different runner wherever it succeeds.

    In multi_processing mode, while a `WorkerPool` is open (`run` opens one), the SDK workers
    are forked from its warm process instead of each starting a fresh Python that imports
    Beam and loads the models."""
    from apache_beam.portability import python_urns
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    global _grpc_used
    pool = WorkerPool.current
    _grpc_used = True

    class LocalRunner(fn_runner.FnApiRunner):
        def run_via_runner_api(self, pipeline_proto, options):
            if pool is not None:
                for env in pipeline_proto.components.environments.values():
                    if env.urn == python_urns.SUBPROCESS_SDK:
                        env.payload = pool.worker_command().encode("utf-8")
            return super().run_via_runner_api(pipeline_proto, options)

    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    return LocalRunner(provision_info=fn_runner.ExtendedProvisionInfo(
        beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)))


# Set once a local runner was made in this process: gRPC may have left threads and state
# behind, which a forked process must not inherit.
_grpc_used = False
# Native libraries with thread pools or locks of their own (OpenCC's and jieba-rs's Rust
# runtimes, fastText): a process that may have used them is not forked to make a pool; a
# fork of it can hang in them (seen: OpenCC's convert, in a fork of a process that converted).
_NATIVE_MODULES = ("opencc_pyo3", "rjieba", "jieba", "fasttext", "rensa", "datasketch")

# The command Beam's SubprocessSdkWorker runs for each worker: ask the pool to fork a worker
# with this environment (control and logging addresses, pipeline options), then wait for that
# worker and exit with its status. Built-in modules only, no site (`-I -S`): connected to the
# pool ~8 ms after Beam starts it, where importing `socket` and `json` took ~17 ms. The
# environment travels in marshal format.
_FORK_CLIENT = """\
import _socket, marshal, os, sys, time
s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
deadline = time.monotonic() + 120
while True:
    try:
        s.connect(sys.argv[1])
        break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.02)
env = marshal.dumps(dict(os.environ))
s.sendall(b'{"kind": "worker", "size": %d}\\n' % len(env) + env)
data = b""
while True:
    chunk = s.recv(64)
    if not chunk:
        break
    data += chunk
lines = data.split()
sys.exit(int(lines[-1]) if len(lines) > 1 else 1)
"""


class WorkerPool:
    """A warm process from which a local run's processes are forked: its SDK workers
    (multi_processing mode) and the jobs of a sharded run.

    Beam starts every local worker as a fresh `python -m ...sdk_worker_main`: ~2 CPU-seconds
    of imports before the first document, then the models load in the worker. For a run of
    tens of seconds on two workers that start-up is most of what the second worker costs, and
    a sharded run paid it again for every shard. The pool's process imports Beam and the
    pipeline and loads the models of the run's config once (`preload`) and never processes a
    document itself; each worker and each shard's job is a fork of it (copy-on-write: the
    models' memory is shared), started in milliseconds and fresh for each job, so no
    process's memory grows from shard to shard.

    The pool is made by forking the launcher when the launcher is still clean (Beam imported,
    no thread, no gRPC, no native text library loaded: the CLI's case), else by starting a
    new Python. A missing `fork` (or ROOTS_FORKED_WORKERS=0) leaves Beam's own subprocess
    workers and `shards.in_fresh_process` in place."""

    current: "WorkerPool | None" = None

    def __init__(self, config_path: str | None = None, dedup: bool | None = False):
        """`dedup`: whether to load the dedup modules too; None: as the config's
        `dedup.methods` say (a pool started before the launcher has read the config)."""
        self.dir = tempfile.mkdtemp(prefix="roots-workers-")
        self.address = os.path.join(self.dir, "fork.sock")
        # The pool lives while the write end of this pipe is open somewhere (here, and in
        # the processes forked from here): it exits when it reads end-of-file.
        alive_r, self._alive_w = os.pipe()
        argv = [self.address, config_path or "", "config" if dedup is None else "dedup" if dedup else ""]
        if _clean_for_fork():
            sys.stdout.flush()
            sys.stderr.flush()
            self.pid = os.fork()
            if self.pid == 0:
                code = 1
                try:
                    os.close(self._alive_w)
                    _pool_main(*argv, alive_fd=alive_r)
                    code = 0
                finally:
                    os._exit(code)
        else:
            import subprocess

            root = str(Path(__file__).resolve().parents[1])
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))
            self.pid = subprocess.Popen(
                [sys.executable, "-c", "import sys; from pipelines.launch import _pool_main; "
                 "_pool_main(*sys.argv[1:4], alive_fd=int(sys.argv[4]))", *argv, str(alive_r)],
                pass_fds=[alive_r], env=env).pid
        os.close(alive_r)

    @staticmethod
    def available() -> bool:
        return hasattr(os, "fork") and os.environ.get("ROOTS_FORKED_WORKERS", "1") != "0"

    def worker_command(self) -> str:
        import shlex

        return " ".join([shlex.quote(sys.executable), "-I", "-S", "-c", shlex.quote(_FORK_CLIENT),
                         shlex.quote(self.address)])

    def call(self, fn, *args):
        """fn(*args) in a fresh fork of the pool; its result or exception comes back (the
        `in_fresh_process` of a sharded run, from a process that has the models loaded and
        has run nothing)."""
        import json
        import pickle
        import socket

        payload = pickle.dumps((fn, args))
        with socket.socket(socket.AF_UNIX) as s:
            deadline = time.monotonic() + 120
            while True:  # a new pool binds its address within a second or two
                try:
                    s.connect(self.address)
                    break
                except OSError:
                    if time.monotonic() > deadline or (self.pid and os.waitpid(self.pid, os.WNOHANG)[0]):
                        raise RuntimeError(f"the worker pool at {self.address} did not start") from None
                    time.sleep(0.02)
            s.sendall(json.dumps({"kind": "job", "size": len(payload)}).encode() + b"\n" + payload)
            chunks = []
            while True:
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
        if not chunks:
            raise RuntimeError("the shard's process died before it reported (see the messages above)")
        status, value = pickle.loads(b"".join(chunks))
        if status == "error":
            raise value
        return value

    @classmethod
    def attach(cls, address: str) -> "WorkerPool":
        """A handle on a running pool (in the pool's own forks: a shard's job asks it for workers)."""
        pool = cls.__new__(cls)
        pool.address, pool.pid, pool._alive_w, pool.dir = address, None, None, None
        return pool

    def __enter__(self):
        WorkerPool.current = self
        return self

    def __exit__(self, *exc):
        WorkerPool.current = None
        self.close()

    def close(self) -> None:
        if self._alive_w is None:
            return
        os.close(self._alive_w)
        self._alive_w = None
        deadline = time.monotonic() + 30
        while not os.waitpid(self.pid, os.WNOHANG)[0]:
            if time.monotonic() > deadline:  # it did not see the pipe close: stop it
                import signal

                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
                break
            time.sleep(0.01)
        shutil.rmtree(self.dir, ignore_errors=True)


def _clean_for_fork() -> bool:
    return (not _grpc_used and threading.active_count() == 1
            and not any(name in sys.modules for name in _NATIVE_MODULES))


def preload(config_path: str | None, dedup: bool | None) -> None:
    """Import what a worker runs and load the config's models into this process, so that
    processes forked from it start with them loaded. Loading only: no text is processed
    here (a native library's thread pool, once running, does not survive a fork).
    `dedup` None: as the config's `dedup.methods` say."""
    import apache_beam.io.parquetio  # noqa: F401
    import apache_beam.runners.worker.sdk_worker_main  # noqa: F401

    from . import pipeline  # noqa: F401
    from .config import PipelineConfig
    from .process import DocumentProcessor

    try:
        config = PipelineConfig.load(config_path or None)
    except Exception:  # noqa: BLE001 - the launcher reports a bad config; a worker would too
        return
    if dedup is None:
        dedup = bool((config.raw.get("dedup") or {}).get("methods"))
    if dedup:
        import pipelines.dedup.transforms  # noqa: F401
    try:
        DocumentProcessor(config).setup()
    except Exception:  # noqa: BLE001 - a worker loads the models itself and reports the error there
        pass


def _pool_main(address: str, config_path: str = "", dedup: str = "", alive_fd: int = 0) -> None:
    """The pool's process: bind, preload, then fork one worker or job per request until
    `alive_fd` reads end-of-file (every process holding the write end has closed it)."""
    import json
    import selectors
    import socket

    listener = socket.socket(socket.AF_UNIX)
    listener.bind(address)
    listener.listen(64)
    preload(config_path, None if dedup == "config" else dedup == "dedup")
    # CPython's recipe for a process that forks without exec: what the forks inherit (Beam,
    # the models) leaves the collector's reach, so their collections neither scan it nor
    # write to its objects' headers (which would copy every inherited page).
    gc.freeze()
    WorkerPool.current = WorkerPool.attach(address)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    sel.register(alive_fd, selectors.EVENT_READ)
    children = set()

    def reap(block: bool) -> None:
        # Children are waited for here, so their CPU time counts in this process's children
        # (and, once the launcher waits for this process, in the launcher's).
        for pid in list(children):
            if os.waitpid(pid, 0 if block else os.WNOHANG)[0]:
                children.discard(pid)

    while True:
        ready = [key.fileobj for key, _ in sel.select(timeout=1.0)]
        reap(False)
        if alive_fd in ready and not os.read(alive_fd, 1024):
            reap(True)
            return
        if listener not in ready:
            continue
        conn, _ = listener.accept()
        f = conn.makefile("rb")
        try:
            request = json.loads(f.readline())
            payload = f.read(request["size"])
        except (ValueError, KeyError, OSError):
            conn.close()
            continue
        finally:
            f.close()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid:
            children.add(pid)
            conn.close()
            continue
        sel.close()
        listener.close()
        os.close(alive_fd)
        if request["kind"] == "job":
            _pool_job(conn, payload)
        else:
            import marshal

            _pool_worker(conn, marshal.loads(payload))


def _pool_job(conn, payload: bytes) -> None:
    """A forked job: run the pickled (fn, args), send back ("ok", result) or ("error", exc)."""
    import pickle

    code = 1
    try:
        fn, args = pickle.loads(payload)
        try:
            reply = pickle.dumps(("ok", fn(*args)))
            code = 0
        except BaseException as e:  # noqa: BLE001 - handed to the caller, which raises it
            try:
                reply = pickle.dumps(("error", e))
            except Exception:  # noqa: BLE001 - an exception that does not pickle: its text
                reply = pickle.dumps(("error", RuntimeError(f"{type(e).__name__}: {e}")))
        sys.stdout.flush()
        sys.stderr.flush()
        conn.sendall(reply)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        _close_and_exit(conn, code)


def _pool_worker(conn, env: dict) -> None:
    """A forked SDK worker: Beam's sdk_worker_main with the runner's environment."""
    code = 1
    try:
        os.environ.update(env)
        conn.sendall(f"{os.getpid()}\n".encode())
        import logging

        # As in a fresh worker: its log records go to the runner (which filters them), not to
        # handlers inherited from the launcher.
        logging.getLogger().handlers.clear()
        from apache_beam.runners.worker import sdk_worker_main

        sdk_worker_main.main([])
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:  # noqa: BLE001 - reported, and the exit status says so
        import traceback

        traceback.print_exc()
    finally:
        try:
            conn.sendall(f"{code}\n".encode())
        finally:
            _close_and_exit(conn, code)


def _close_and_exit(conn, code: int) -> None:
    """Close the caller's socket, then exit. The caller (a worker's stub, which Beam waits
    for; a sharded run's launcher) reads to end-of-file: closed here, that comes at once,
    not after the kernel has torn down this process's memory (~20 ms for a worker, in which
    Beam, closing its workers one at a time, would wait). The pool reaps the process."""
    try:
        conn.close()
    finally:
        os._exit(code)


def _is_local(beam_args: list[str]) -> bool:
    joined = " ".join(beam_args)
    return "DirectRunner" in joined or "PrismRunner" in joined


def _prepare_output(output: str, overwrite: bool) -> None:
    """Refuse a non-empty output (a prefix on object stores: any file under it), or with
    --overwrite remove every earlier output part, whatever its shard count was."""
    existing = storage.list_files(output)
    if existing and not overwrite:
        raise UsageError(f"--output {output} already holds {len(existing)} files; pass --overwrite to replace "
                         "the previous run's outputs, or choose an empty directory")
    if overwrite:
        for part in _OUTPUT_PARTS:
            storage.delete_folder(storage.join(output, part))


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
                if not name.endswith(".tmp"):
                    try:
                        done += int(Path(progress_dir, name).read_text() or 0)
                    except (OSError, ValueError):
                        pass
            bar.update(done - bar.n)
            if stop.wait(0.5):
                break


def run(args: argparse.Namespace, extra: list[str]) -> dict | None:
    started = time.time()
    beam_args = _beam_args(extra)
    local = _is_local(beam_args)
    # The heap is frozen and the sampling period set before the worker pool forks, so that
    # the pool and every worker have them; the pool of a multi-worker run starts first of
    # all, so that it imports the processing modules and loads the models (~0.2 s) while
    # this process checks the arguments and builds the graph.
    with _frozen_heap(), (_short_state_sampling() if local else contextlib.nullcontext()), \
            _early_pool(args, beam_args, local) as pool:
        prepared = _prepare(args, beam_args, local)
        return _launch(args, *prepared, beam_args=beam_args, local=local, pool=pool, started=started)


@contextlib.contextmanager
def _early_pool(args: argparse.Namespace, beam_args: list[str], local: bool):
    """The worker pool of a local multi_processing run, open for the run; None for other
    runs (a sharded run with one worker opens its pool once it knows it has shards)."""
    mode = _local_workers(beam_args)[1] if local else ""
    if mode != "multi_processing" or not WorkerPool.available():
        yield None
        return
    dedup = None if args.dedup is None else any(m and m != "none" for m in args.dedup.split(","))
    with WorkerPool(args.config, dedup) as pool:
        yield pool


def _prepare(args: argparse.Namespace, beam_args: list[str], local: bool):
    """The checks before a run, its output folder emptied, and its (spec, listed inputs,
    dedup methods, progress folder)."""
    from .config import PipelineConfig
    from .io import ReadSpec, detect_format, expand_inputs
    from .pipeline import RunSpec

    try:
        everything = [*(args.input or []), args.output, *(args.prior_index or []), args.config or ""]
        # A remote launch reads none of the inputs here: it needs only the output (and config).
        storage.check_access(everything, probe=everything if local else
                             [args.output, args.config or "", *(args.prior_index or [])])
    except storage.StorageAccessError as e:
        raise UsageError(str(e)) from None
    try:
        config = PipelineConfig.load(args.config)
    except (ValueError, OSError) as e:
        raise UsageError(str(e)) from e
    if not args.input:
        from .datadir import DataDirError, dataset_path

        try:
            args.input = [str(dataset_path("corpus_web_mixed") / "*.jsonl")]
        except DataDirError as e:
            raise UsageError(f"no --input given and the default corpus is unavailable: {e}") from e
    inputs = None
    if local:
        # The job matches the patterns itself; a local run also lists them here, which is
        # cheap, so a pattern that matches nothing is an error before any work starts. A
        # remote launch lists nothing: the job reports an empty pattern, by name.
        try:
            inputs = expand_inputs(args.input)
            if args.input_format == "auto":
                for path in inputs:  # a name that says no format (or ARC) fails here, not in the job
                    detect_format(path)
        except ValueError as e:
            raise UsageError(str(e)) from e
    _prepare_output(args.output, args.overwrite)

    dedup_setting = args.dedup if args.dedup is not None else ",".join(config.raw.get("dedup", {}).get("methods") or [])
    dedup = tuple(m for m in dedup_setting.split(",") if m and m != "none")
    unknown = set(dedup) - {"exact", "minhash"}
    if unknown:
        raise UsageError(f"--dedup: unknown method(s) {sorted(unknown)}; use exact, minhash or none")
    if dedup:
        try:
            import pipelines.dedup.transforms  # noqa: F401
        except ImportError as e:
            raise UsageError(f"dedup stages are not available in this install ({e}); pass --dedup none") from e

    read_cfg = config.read
    spec = RunSpec(
        inputs=list(args.input), output=args.output, config=config,
        read=ReadSpec(format=args.input_format, text_field=args.text_field or read_cfg.get("text_field", "text"),
                      id_field=read_cfg.get("id_field", "id"), text_unit=read_cfg.get("text_unit", "file"),
                      split_bytes=config.split_bytes, max_body_bytes=config.web.max_body_bytes),
        output_format=args.output_format, write_dropped=not args.no_dropped, dedup=dedup,
        prior_indexes=tuple(args.prior_index), num_shards=args.num_shards,
    )
    progress_dir = tempfile.mkdtemp(prefix="roots-progress-") if local and not args.no_progress else None
    spec.progress_dir = progress_dir
    described = f"{len(inputs)} input file(s)" if inputs is not None else f"{len(args.input)} input pattern(s)"
    print(f"roots-pipeline: {described} -> {args.output} "
          f"(runner args: {' '.join(beam_args)}; dedup: {','.join(dedup) or 'none'})", file=sys.stderr)
    return spec, inputs, dedup, progress_dir


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


def _launch(args, spec, inputs, dedup: tuple, progress_dir, *, beam_args: list[str], local: bool, pool,
            started: float):
    """`run` once the arguments are checked: the job (or a sharded run's jobs), then stats.json.
    `pool`: the multi-worker run's worker pool, already open, or None; `started`: when `run`
    was called (unix seconds)."""
    from .pipeline import join

    config = spec.config
    documents = {}  # a single job's first and last document times (unix seconds)
    workers = _local_workers(beam_args)[0] if local else 0
    shards = _plan_local(inputs, spec, config, workers) if local else []
    # A warm, clean process to fork each shard's job from (made before the progress thread,
    # so that this process may still be forked); a multi-worker run's pool is already open.
    own_pool = (WorkerPool(args.config, bool(dedup)) if pool is None and len(shards) > 1
                and WorkerPool.available() else None)
    pool = pool or own_pool
    stop = threading.Event()
    watcher = None
    try:
        if own_pool:
            own_pool.__enter__()
        if progress_dir:
            watcher = threading.Thread(target=_watch_progress, args=(progress_dir, _count_lines(inputs), stop),
                                       daemon=True)
            watcher.start()
        if len(shards) > 1:
            from .shards import ShardedRun, in_fresh_process

            print(f"roots-pipeline: {len(shards)} shards of about {config.shard_bytes / 2**20:.0f} MB, run in turn "
                  "(read.shard_mb)", file=sys.stderr)
            run_shard = functools.partial(_run_shard_job, beam_args=beam_args)
            stats = ShardedRun(spec, shards, run_shard, call=pool.call if pool else in_fresh_process).run()
        else:
            if shards:
                spec.ranges = shards[0]
            stats, _, documents = _run_job(spec, beam_args, local, args.wait)
            if stats is None:
                return None
    finally:
        if own_pool:
            own_pool.__exit__(None, None, None)
        stop.set()
        if watcher:
            watcher.join()
        if progress_dir:
            shutil.rmtree(progress_dir, ignore_errors=True)
    ended = time.time()
    elapsed = ended - started

    stats_path = join(args.output, "stats.json")
    stats["run"] = {
        "version": __version__, "inputs": stats["conservation"]["files"], "input_patterns": args.input,
        "runner_args": beam_args,
        "dedup": list(dedup), "elapsed_s": round(elapsed, 2), "docs_per_s": round(stats["read"] / elapsed, 1),
    }
    if documents:
        # Where the wall time went: to the first document (checks, graph, workers, models),
        # processing (until the last bundle's documents were done), and after (writing the
        # last files, the closing stages, stopping the workers). With several workers only
        # the middle part is shared out between them.
        stats["run"].update(startup_s=round(documents["first"] - started, 3),
                            processing_s=round(documents["done"] - documents["first"], 3),
                            wind_down_s=round(ended - documents["done"], 3))
    stats_lib.write_json(stats, stats_path)
    stats_lib.write_funnel_html(stats, join(args.output, "funnel.html"))
    _write_release(args, config, inputs, stats, dedup, beam_args)
    _print_summary(stats, args.output, "funnel.html")
    return stats


def _write_release(args, config, inputs: list[str] | None, stats: dict, dedup: tuple, beam_args: list[str]) -> None:
    """The output's dataset card (README.md) and manifest.json (pipelines.release), after every
    other file: digests of the files, the resolved config, the code and the inputs. A refresh
    adds its release fields."""
    from .io import expand_inputs

    known = getattr(args, "input_fingerprints", None) or {}
    paths = [canonical(p) for p in (inputs if inputs is not None else expand_inputs(args.input))]
    fields = release.release_fields(
        config_raw=config.raw, config_path=args.config,
        inputs=[release.input_entry(p, known.get(p)) for p in paths], stats=stats,
        run={"command": "refresh" if getattr(args, "release_fields", None) else "run", "dedup": list(dedup),
             "runner_args": beam_args},
        extra=getattr(args, "release_fields", None))
    release.write_release(args.output, fields, stats)


def _local_workers(beam_args: list[str]) -> tuple[int, str]:
    """(workers, running mode) of a local run's arguments."""
    from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions

    opts = PipelineOptions(beam_args).view_as(DirectOptions)
    return (opts.direct_num_workers or os.cpu_count() or 1), opts.direct_running_mode


def local_split_bytes(total: int, split_bytes: int) -> int:
    """The range size of a local run (or of each shard): about 16 ranges (the runner hands each
    worker every n-th range, so equal small ranges balance the workers without reshuffling
    the documents), at least 1 MB, at most `read.split_mb`. Not a function of the worker
    count: shards, and so a sharded run's output, are the same with any number of workers."""
    return int(max(min(split_bytes, total // 16), 1 << 20))


def _plan_local(inputs: list[str], spec, config, workers: int) -> list:
    """The read ranges of a local run, in shards (pipelines/shards.py): one shard for an
    ordinary single job. The launcher lists a local run's inputs anyway, so the job gets its
    ranges ready made (no matching or splitting stages), and counts repeated ids in a few
    buckets (a shard's ids fit in memory)."""
    import dataclasses

    from apache_beam.io.filesystems import FileSystems

    from .shards import plan_shards

    files = sorted({(m.path, m.size_in_bytes) for r in FileSystems.match(inputs) for m in r.metadata_list
                    if not m.path.endswith("/")})
    total = sum(size for _, size in files)
    shard_bytes = config.shard_bytes if config.shard_bytes and total > config.shard_bytes else total + 1
    spec.read = dataclasses.replace(spec.read, split_bytes=local_split_bytes(min(shard_bytes, total),
                                                                            spec.read.split_bytes))
    spec.id_buckets = 4 * max(workers, 1)
    return plan_shards(files, spec.read, shard_bytes)


def _run_shard_job(sub, k: int, n: int, beam_args: list[str]) -> tuple[dict, int]:
    """One shard's job (in a process of its own: a fork of the pool, or of this process).
    Its stats carry this process's peak resident memory: the figure that shows whether later
    shards (a larger prior index) need more memory than earlier ones. With one worker the job
    runs in this process; with several it is the runner's (which holds the data between
    stages), not its workers'."""
    stats, bridges, _ = _run_job(sub, beam_args, True, True)
    stats["peak_rss_mib"] = _peak_rss_mib()
    return stats, bridges


def _peak_rss_mib() -> int:
    """This process's peak resident set (VmHWM; a forked process starts from its RSS at the fork)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:  # not Linux: unknown
        pass
    return -1


def _run_job(spec, beam_args: list[str], local: bool, wait: bool) -> tuple[dict | None, int, dict]:
    """One Beam job for `spec`: (its checked stats, or None when a remote job was only
    submitted; the `dedup/prior_clusters_joined` counter; for a local job, when its first
    document came and its last was done, as `_document_times` reads them)."""
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
    import apache_beam as beam

    from .pipeline import build, join

    options = PipelineOptions(beam_args)
    runner_name = options.view_as(StandardOptions).runner or ""
    runner = local_runner(options) if runner_name.rsplit(".", 1)[-1] == "DirectRunner" else None
    p = beam.Pipeline(runner=runner, options=options)
    build(p, spec)
    result = p.run()
    if not local and not wait:
        # Remote runners: the job writes stats.json itself; `roots-pipeline stats OUT` draws it later.
        print(f"submitted: {getattr(result, 'job_id', lambda: '?')()}", file=sys.stderr)
        return None, 0, {}
    result.wait_until_finish()
    stats = stats_lib.read_json(join(spec.output, "stats.json"))
    stats_lib.check_conservation(stats)
    counters = {}
    if spec.dedup:
        try:
            for c in result.metrics().query(MetricsFilter().with_namespace("dedup"))["counters"]:
                counters[c.key.metric.name] = counters.get(c.key.metric.name, 0) + (c.committed or 0)
        except Exception:  # noqa: BLE001 - a runner without metric queries: the counts are unknown, not wrong data
            counters = {}
        # What the dedup stage did (candidate pairs, edges, prior matches): where its time goes.
        stats["dedup"] = dict(sorted(counters.items()))
        stats_lib.write_json(stats, join(spec.output, "stats.json"))
    return stats, counters.get("prior_clusters_joined", 0), _document_times(result) if local else {}


def _document_times(result) -> dict:
    """{"first": the earliest first document of the job's bundles, "done": the latest end of
    a bundle's documents} in unix seconds, from ProcessDocuments' distributions; {} where
    the job processed no document or its runner reports no distributions."""
    from apache_beam.metrics.metric import MetricsFilter

    from .transforms import DOCUMENTS_DONE_MS, FIRST_DOCUMENT_MS, NAMESPACE

    try:
        found = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["distributions"]
    except Exception:  # noqa: BLE001 - a runner without metric queries: the split is unknown
        return {}
    firsts = [d.committed.min for d in found if d.key.metric.name == FIRST_DOCUMENT_MS and d.committed
              and d.committed.count]
    dones = [d.committed.max for d in found if d.key.metric.name == DOCUMENTS_DONE_MS and d.committed
             and d.committed.count]
    return {"first": min(firsts) / 1000, "done": max(dones) / 1000} if firsts and dones else {}


def _print_summary(stats: dict, output: str, funnel: str) -> None:
    print(f"read {stats['read']:,}  kept {stats['kept']:,}  malformed {stats['malformed']:,}  "
          f"dropped {sum(stats['dropped'].values()):,}", file=sys.stderr)
    for reason, n in stats["dropped"].items():
        print(f"  dropped {reason:20s} {n:>9,}", file=sys.stderr)
    for lang, s in list(stats["languages"].items())[:6]:
        print(f"  {lang:5s} read {s['read']:>8,}  kept {s['kept']:>8,}  kept bytes {s['kept_bytes']:>12,}", file=sys.stderr)
    print(f"outputs: {output}/data/  dropped/  dead_letter/  stats.json  {funnel}", file=sys.stderr)
