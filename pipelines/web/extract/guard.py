"""Per-page time and memory caps for an extractor: it runs in one long-lived child process.

One child serves page after page over a pipe (a process per page would cost more than most
extractions). A page past `timeout_s` gets the child killed -> ExtractTimeout, and the next page
starts a fresh child. The child caps its own address space (RLIMIT_AS) at what it uses once the
backend is loaded plus `max_memory_mb`: an allocation past that raises MemoryError there ->
ExtractMemory and a fresh child. A child that dies (a C crash, the kernel's OOM killer) ->
ExtractError(reason="crash").

Beam workers run gRPC threads, and fork() of a threaded process can deadlock the child, so the
child is a fresh interpreter (the "spawn" model) started by subprocess, whose fork+exec runs no
Python in between. Not multiprocessing's spawn/forkserver: both re-import the parent's __main__
in every child (in a Beam worker that is the whole SDK harness; from stdin or a REPL it fails)
and forkserver's preload list is process-global state. A start costs about 0.15 s (measured:
benchmarks/extraction_eval.py --guard), so a restart after a timeout is cheap enough.
"""
from __future__ import annotations

import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import weakref
from collections import Counter
from pathlib import Path

from pipelines.web.extract.base import (
    Extracted, ExtractError, ExtractMemory, ExtractTimeout, build, resolve,
)

# The folder that holds the `pipelines` package, so the child finds it whatever its cwd.
_CODE_ROOT = str(Path(__file__).resolve().parents[3])
_CHILD = ("import sys; sys.path.insert(0, sys.argv[1]); "
          "from pipelines.web.extract.guard import _child_main; _child_main()")
_LEN = struct.Struct("<Q")
# A first page run in the child before the cap is set, so lazy imports and caches inside the
# library are counted in the base, not against the first real page.
_WARMUP = ("<html><head><title>t</title></head><body><article><h1>标题</h1>"
           + "<p>第一段正文，足够长的中文句子用于预热。Some English words for warm-up too.</p>" * 5
           + "</article></body></html>")


class GuardedExtractor:
    """`extract(html, url) -> Extracted` through a registry backend, with per-page caps.

    timeout_s: wall time one page may take. max_memory_mb: address space one page may add on top
    of the loaded child (Linux; not enforced where /proc or RLIMIT_AS is missing). isolate=False
    runs the backend in this process (no caps; for speed comparisons). Calls from several threads
    are serialized by a lock. POSIX only (select on pipes).
    """

    def __init__(self, name: str, *, timeout_s: float = 30.0, max_memory_mb: int = 2048,
                 isolate: bool = True, startup_timeout_s: float = 120.0, **options):
        self.name = name
        self._factory, self._options = resolve(name, **options)
        self.timeout_s = float(timeout_s)
        self.max_memory_mb = int(max_memory_mb)
        self.isolate = isolate
        self.startup_timeout_s = float(startup_timeout_s)
        self.counts: Counter = Counter()  # pages, starts, timeouts, memory, crashes, errors
        self._init_runtime()

    def _init_runtime(self) -> None:
        self._lock = threading.Lock()
        self._proc = None
        self._local = None
        self._finalizer = None

    # A DoFn may hold one and be pickled: the child stays behind, the copy starts its own.
    def __getstate__(self):
        state = self.__dict__.copy()
        for key in ("_lock", "_proc", "_local", "_finalizer"):
            state.pop(key, None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._init_runtime()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        with self._lock:
            self._stop()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def extract(self, html: str, url: str | None = None) -> Extracted:
        self.counts["pages"] += 1
        if not self.isolate:
            return self._extract_here(html, url)
        with self._lock:
            if self._proc is None:
                self._start()
            try:
                # UTF-8 bytes cross the pipe (a pickled str is encoded the same way, and a
                # backend that parses bytes, as lxml does, is spared decoding and re-encoding
                # it); "replace", as roots encodes a str: the same bytes reach lxml either way.
                _send(self._proc.stdin.fileno(), (html.encode("utf-8", "replace"), url))
                reply = _recv(self._proc.stdout.fileno(), self.timeout_s)
            except (BrokenPipeError, ConnectionResetError, EOFError):
                raise self._died() from None
            if reply is None:
                self._stop()
                self.counts["timeouts"] += 1
                raise ExtractTimeout(f"{self.name}: no result within {self.timeout_s:g} s; extractor restarted")
            kind, *rest = reply
            if kind == "memory":
                self._stop()
        if kind == "ok":
            return Extracted(rest[0], rest[1])
        if kind == "memory":
            self.counts["memory"] += 1
            raise ExtractMemory(f"{self.name}: over the {self.max_memory_mb} MB cap ({rest[0]}); extractor restarted")
        self.counts["errors"] += 1
        raise ExtractError(f"{self.name}: {rest[0]}", reason="error")

    def _extract_here(self, html: str, url: str | None) -> Extracted:
        if self._local is None:
            self._local = build(self.name, self._factory, self._options)
        try:
            return self._local.extract(html, url)
        except MemoryError:
            self.counts["memory"] += 1
            raise ExtractMemory(f"{self.name}: MemoryError") from None
        except Exception as e:
            self.counts["errors"] += 1
            raise ExtractError(f"{self.name}: {type(e).__name__}: {e}", reason="error") from e

    def _start(self) -> None:
        # stderr is inherited so a child's warnings and tracebacks land in the worker's log.
        proc = subprocess.Popen([sys.executable, "-c", _CHILD, _CODE_ROOT], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, close_fds=True)
        self._proc = proc
        self._finalizer = weakref.finalize(self, _kill, proc)
        _widen(proc.stdin.fileno(), proc.stdout.fileno())
        self.counts["starts"] += 1
        try:
            # sys.path first, alone: the factory in the second message may live on a path only we have.
            _send(proc.stdin.fileno(), list(sys.path))
            _send(proc.stdin.fileno(), (self.name, self._factory, self._options, self.max_memory_mb))
            reply = _recv(proc.stdout.fileno(), self.startup_timeout_s)
        except (BrokenPipeError, ConnectionResetError, EOFError):
            reply = ("failed", f"exited on start (exit code {proc.poll()})")
        if reply is None:
            reply = ("failed", f"did not start within {self.startup_timeout_s:g} s")
        if reply[0] != "ready":
            self._stop()
            # A backend that cannot be built is a configuration fault, not a bad page: fail loudly.
            raise RuntimeError(f"extractor {self.name!r} failed to start: {reply[1]}")

    def _died(self) -> ExtractError:
        try:
            code = self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        self._stop()
        self.counts["crashes"] += 1
        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        return ExtractError(f"{self.name}: extractor process died ({how}); restarted", reason="crash")

    def _stop(self) -> None:
        if self._finalizer is not None:
            self._finalizer()  # kills and reaps the child once; later calls are no-ops
        self._proc = self._finalizer = None


def _widen(*fds: int) -> None:
    """Pipes of 1 MiB instead of 64 KiB (Linux): a page (~85 KB on average in web_extraction)
    crosses in one write instead of several wake-ups of both processes. Best effort."""
    try:
        import fcntl

        for fd in fds:
            fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError):
        pass


def _kill(proc: subprocess.Popen) -> None:
    for stream in (proc.stdin, proc.stdout):
        try:
            stream.close()
        except OSError:
            pass
    if proc.poll() is None:
        proc.kill()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


# Framing: 8-byte length, then a pickle. Raw fds and select, not buffered files, so a poll with
# a timeout sees exactly what has arrived.
def _send(fd: int, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_LEN.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _recv(fd: int, timeout_s: float | None):
    """The next message, None when nothing arrived within timeout_s; EOFError when the writer died."""
    if timeout_s is not None and not select.select([fd], [], [], timeout_s)[0]:
        return None
    (size,) = _LEN.unpack(_read_exactly(fd, _LEN.size))
    return pickle.loads(_read_exactly(fd, size))


def _read_exactly(fd: int, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(fd, min(n - len(buf), 1 << 20))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def _cap_address_space(extra_mb: int) -> None:
    try:
        import resource

        with open("/proc/self/status") as f:
            vm_kb = next(int(line.split()[1]) for line in f if line.startswith("VmSize:"))
    except (ImportError, OSError, StopIteration, ValueError):
        return  # no /proc (macOS, which ignores RLIMIT_AS anyway) or no resource module (Windows)
    limit = vm_kb * 1024 + extra_mb * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _child_main() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it kills us
    # The protocol owns the original stdin/stdout; a library that prints must not corrupt it.
    rfd, wfd = os.dup(0), os.dup(1)
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    try:
        sys.path[:] = _recv(rfd, None) + [p for p in sys.path if p]
        name, factory, options, max_memory_mb = _recv(rfd, None)
        backend = build(name, factory, options)
        backend.extract(_WARMUP, None)
    except EOFError:
        return
    except BaseException as e:  # noqa: BLE001  reported to the parent, which raises it
        _send(wfd, ("failed", f"{type(e).__name__}: {e}"))
        return
    _cap_address_space(max_memory_mb)
    _send(wfd, ("ready", os.getpid()))
    while True:
        try:
            html, url = _recv(rfd, None)
        except (EOFError, OSError):
            return  # the parent is gone or closed the pipe
        except MemoryError:  # the page alone is past the cap
            _send(wfd, ("memory", "MemoryError while receiving the page"))
            return
        try:
            if not getattr(backend, "utf8_bytes", False):
                html = html.decode("utf-8")
            result = backend.extract(html, url)
            reply = ("ok", result.title, result.text)
        except MemoryError:
            reply = ("memory", "MemoryError")
        except Exception as e:  # noqa: BLE001  a bad page: the parent raises ExtractError
            reply = ("error", f"{type(e).__name__}: {e}")
        # Sent outside the except blocks, so the failed page's objects are freed by then.
        html = url = result = None
        _send(wfd, reply)
        if reply[0] == "memory":
            return  # after a failed allocation a C library's state is not to be trusted
