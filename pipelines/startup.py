"""`python -m pipelines` / `roots-pipeline` start-up: Beam imported without the modules a
local run never uses, with the cyclic collector off while the modules load.

`import apache_beam` is most of a local job's fixed cost (~1 CPU-second of a 4 s refresh),
and much of it is optional: pandas (Beam's DataFrame type hints and pandas-based CSV/JSON
readers), bson/pymongo (MongoDB IO) and the BigQuery and Pub/Sub clients (`apache_beam.io`
imports `io.gcp.bigquery` and `io.gcp.pubsub` together). Beam imports each of them where a
missing one is tolerated: the type hints or the IO are left out. A local run's graph uses
none of them, and ROOTS never imports them, so a command without a remote runner treats them
as not installed, for the whole process: pyarrow too, which otherwise imports pandas (~0.2 s)
on the first `pa.array` of a Python list to ask whether it is a pandas object. The
filesystems (GCS included) are imported as before: gs:// inputs and outputs work. A command
naming another runner (Dataflow's submission may want the BigQuery client) imports
everything, as does ROOTS_LEAN_BEAM_IMPORT=0.

Every object the ~1,600 modules loaded here make stays alive, so a collection during the imports finds
nothing to free, while each full one scans everything loaded so far (~0.2 CPU-seconds in
all): the collector is off while they load, and what they made is then frozen (out of its
reach, as the local runtime freezes the heap for a run), else the first collection after would
scan it all at once.
"""
from __future__ import annotations

import gc
import importlib.abc
import logging
import os
import sys

# Imported inside `except ImportError` by Beam 2.77 (apache_beam.typehints, io.textio,
# io.mongodbio, io/__init__) and by pyarrow (pandas): left out, they go on without the
# feature these serve.
OPTIONAL_FOR_LOCAL_RUNS = ("pandas", "bson", "pymongo", "apache_beam.io.gcp.bigquery")
# Set to "0" to import Beam whole; the re-run below sets it when a lean import failed.
ENV = "ROOTS_LEAN_BEAM_IMPORT"


class _Skip(importlib.abc.MetaPathFinder):
    def __init__(self, names: tuple[str, ...]):
        self.names = names
        self.skipped: list[str] = []

    def find_spec(self, name, path=None, target=None):
        if any(name == n or name.startswith(n + ".") for n in self.names):
            self.skipped.append(name)
            # ModuleNotFoundError: Beam's "best effort" imports pass over it silently.
            raise ModuleNotFoundError(f"{name} is treated as not installed in a local run of roots-pipeline "
                                      f"({__name__}; {ENV}=0 imports it)", name=name)
        return None


def _names_remote_runner(argv: list[str]) -> bool:
    for i, arg in enumerate(argv):
        if arg == "--runner" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--runner="):
            value = arg.split("=", 1)[1]
        else:
            continue
        if value.rsplit(".", 1)[-1] != "DirectRunner":
            return True
    return False


def import_beam(argv: list[str], leave_out: tuple[str, ...] = OPTIONAL_FOR_LOCAL_RUNS) -> None:
    """Import apache_beam for the command `argv`, with `leave_out` treated as not installed from
    here on, unless it names a runner other than DirectRunner (or ROOTS_LEAN_BEAM_IMPORT=0).
    Should a Beam release import one of them unconditionally, the command is started again in
    a new process that imports Beam whole (the failed import has half-loaded modules, and Beam's
    protobuf descriptors, which a second import in this process would register twice)."""
    if "apache_beam" in sys.modules or os.environ.get(ENV) == "0" or _names_remote_runner(argv):
        import apache_beam  # noqa: F401
        return
    skip = _Skip(leave_out)
    mongo_log = logging.getLogger("apache_beam.io.mongodbio")
    quiet = mongo_log.disabled
    mongo_log.disabled = True  # it warns that MongoDB IO is unavailable: by design here
    sys.meta_path.insert(0, skip)
    try:
        import apache_beam  # noqa: F401
    except ImportError:
        if not skip.skipped:
            raise
        os.environ[ENV] = "0"
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
    finally:
        mongo_log.disabled = quiet


def console_main() -> None:
    """`roots-pipeline` and `python -m pipelines`: Beam and the CLI imported with the
    collector off and frozen, then the command (`cli.console_main`, which never returns)."""
    gc.disable()
    try:
        import_beam(sys.argv[1:])
        from .cli import console_main as run_command
    finally:
        gc.freeze()  # what is loaded now lives as long as the process: no collection need scan it
        gc.enable()
    run_command()
