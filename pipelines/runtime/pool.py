"""The local runtime's one fork mechanism: a warm process (`WorkerPool`) from which a run's SDK
workers and a sharded run's jobs are forked, and `fork_call` for a job forked from this process
where there is no pool. A job, forked either way, runs `_run_job` and answers over a socket.

Standard-library imports only, at the top: the pool's process and its forks import what they run.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

# Set once a local runner was made in this process: gRPC may have left threads and state
# behind, which a forked process must not inherit.
_grpc_used = False
# Native libraries with thread pools or locks of their own (OpenCC's and jieba-rs's Rust
# runtimes, fastText): a process that may have used them is not forked to make a pool; a
# fork of it can hang in them (seen: OpenCC's convert, in a fork of a process that converted).
_NATIVE_MODULES = ("opencc_pyo3", "rjieba", "jieba", "fasttext", "rensa", "datasketch")


def grpc_used() -> None:
    """Called when this process makes a local runner (see `_grpc_used`)."""
    global _grpc_used
    _grpc_used = True


def _clean_for_fork() -> bool:
    return (not _grpc_used and threading.active_count() == 1
            and not any(name in sys.modules for name in _NATIVE_MODULES))


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
    pipeline and loads the models of the run's config once (`preload`, given by the caller:
    `pipelines.api.preload`) and never processes a document itself; each worker and each shard's job is a fork of it (copy-on-write: the
    models' memory is shared), started in milliseconds and fresh for each job, so no
    process's memory grows from shard to shard.

    The pool is made by forking the launcher when the launcher is still clean (Beam imported,
    no thread, no gRPC, no native text library loaded: the CLI's case), else by starting a
    new Python. A missing `fork` (or ROOTS_FORKED_WORKERS=0) leaves Beam's own subprocess
    workers and `fork_call` in place."""

    current: "WorkerPool | None" = None

    def __init__(self, config_path: str | None = None, dedup: bool | None = False, preload=None):
        """`preload(config_path, dedup)`: what the pool's process imports and loads before it
        forks anything (a module-level function: a pool started as a new Python imports it by
        name); `dedup`: whether to load the dedup modules too; None: as the config's
        `dedup.methods` say (a pool started before the launcher has read the config)."""
        self.dir = tempfile.mkdtemp(prefix="roots-workers-")
        self.address = os.path.join(self.dir, "fork.sock")
        # The pool lives while the write end of this pipe is open somewhere (here, and in
        # the processes forked from here): it exits when it reads end-of-file.
        alive_r, self._alive_w = os.pipe()
        argv = [self.address, config_path or "", "config" if dedup is None else "dedup" if dedup else "",
                f"{preload.__module__}:{preload.__qualname__}" if preload else ""]
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

            root = str(Path(__file__).resolve().parents[2])
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))
            self.pid = subprocess.Popen(
                [sys.executable, "-c", "import sys; from pipelines.runtime.pool import _pool_main; "
                 "_pool_main(*sys.argv[1:5], alive_fd=int(sys.argv[5]))", *argv, str(alive_r)],
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
        `fork_call` of a sharded run, from a process that has the models loaded and has run
        nothing)."""
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
            return _job_result(s, "the shard's process")

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


def _pool_main(address: str, config_path: str = "", dedup: str = "", preload: str = "", alive_fd: int = 0) -> None:
    """The pool's process: bind, preload (`preload`: "module:function"), then fork one worker
    or job per request until `alive_fd` reads end-of-file (every process holding the write end
    has closed it)."""
    import gc
    import importlib
    import json
    import selectors
    import socket

    listener = socket.socket(socket.AF_UNIX)
    listener.bind(address)
    listener.listen(64)
    if preload:
        module, _, name = preload.partition(":")
        getattr(importlib.import_module(module), name)(config_path or None,
                                                      None if dedup == "config" else dedup == "dedup")
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
            _run_job(conn, payload=payload)
        else:
            import marshal

            _pool_worker(conn, marshal.loads(payload))


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


def fork_call(fn, *args):
    """fn(*args) in a fork of this process; its result or exception comes back. Each shard's
    job runs in a process of its own so that what one job leaves allocated (Python's heap does
    not shrink, runners cache state) is returned to the system before the next: measured, 4
    shards in one process peaked at 3.6 GB where one shard takes 2.1 GB.

    A fork of a process that has already processed text can hang in a native library whose
    thread pool did not survive the fork (OpenCC); a run therefore forks shards from its
    `WorkerPool` (`WorkerPool.call`, the same job protocol) and uses this only where it has none."""
    import socket

    ours, theirs = socket.socketpair()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        ours.close()
        _run_job(theirs, fn, args)
    theirs.close()
    try:
        with ours:
            return _job_result(ours, f"the shard's process (pid {pid})")
    finally:
        os.waitpid(pid, 0)


def _job_result(conn, what: str):
    """Read a forked job's reply to end-of-file: its result, or its exception raised here."""
    import pickle

    chunks = []
    while True:
        chunk = conn.recv(1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    if not chunks:
        raise RuntimeError(f"{what} died before it reported (see the messages above)")
    status, value = pickle.loads(b"".join(chunks))
    if status == "error":
        raise value
    return value


def _run_job(conn, fn=None, args=(), payload: bytes | None = None) -> None:
    """In a forked job: fn(*args) (or the pickled (fn, args) `payload`), then ("ok", result) or
    ("error", exc) to `conn`, and exit."""
    import pickle

    code = 1
    try:
        try:
            if payload is not None:
                fn, args = pickle.loads(payload)
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


def _close_and_exit(conn, code: int) -> None:
    """Close the caller's socket, then exit. The caller (a worker's stub, which Beam waits
    for; a sharded run's launcher) reads to end-of-file: closed here, that comes at once,
    not after the kernel has torn down this process's memory (~20 ms for a worker, in which
    Beam, closing its workers one at a time, would wait). The pool reaps the process."""
    try:
        conn.close()
    finally:
        os._exit(code)
