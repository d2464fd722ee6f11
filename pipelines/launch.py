"""Launching one corpus run: Beam arguments, the local runner, the output folder, the run
itself and its summary. `cli` parses the command line and `refresh` builds releases on top
of `run`; both import this module, neither imports the other.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from . import __version__
from . import stats as stats_lib
from . import storage

LOCAL_RUNNER_DEFAULTS = ["--runner=DirectRunner", "--direct_num_workers=2", "--direct_running_mode=multi_processing"]
_OUTPUT_PARTS = ("data", "dropped", "dead_letter", "dedup_index", "stats.json", "funnel.html", "funnel.png")


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
    packets, and a different runner wherever it succeeds."""
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    return fn_runner.FnApiRunner(provision_info=fn_runner.ExtendedProvisionInfo(
        beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)))


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
    from .config import PipelineConfig
    from .io import ReadSpec, expand_inputs
    from .pipeline import RunSpec, join

    beam_args = _beam_args(extra)
    local = _is_local(beam_args)
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
            import pipelines.dedup  # noqa: F401
        except ImportError as e:
            raise UsageError(f"dedup stages are not available in this install ({e}); pass --dedup none") from e

    read_cfg = config.read
    spec = RunSpec(
        inputs=list(args.input), output=args.output, config=config,
        read=ReadSpec(format=args.input_format, text_field=args.text_field or read_cfg.get("text_field", "text"),
                      id_field=read_cfg.get("id_field", "id"), text_unit=read_cfg.get("text_unit", "file"),
                      split_bytes=config.split_bytes),
        output_format=args.output_format, write_dropped=not args.no_dropped, dedup=dedup,
        prior_indexes=tuple(args.prior_index), num_shards=args.num_shards,
    )
    progress_dir = tempfile.mkdtemp(prefix="roots-progress-") if local and not args.no_progress else None
    spec.progress_dir = progress_dir
    described = f"{len(inputs)} input file(s)" if inputs is not None else f"{len(args.input)} input pattern(s)"
    print(f"roots-pipeline: {described} -> {args.output} "
          f"(runner args: {' '.join(beam_args)}; dedup: {','.join(dedup) or 'none'})", file=sys.stderr)

    stop = threading.Event()
    watcher = None
    if progress_dir:
        watcher = threading.Thread(target=_watch_progress, args=(progress_dir, _count_lines(inputs), stop), daemon=True)
        watcher.start()
    started = time.time()
    shards = _plan_shards(inputs, spec, config) if local else []
    try:
        if len(shards) > 1:
            from .shards import ShardedRun

            print(f"roots-pipeline: {len(shards)} shards of about {config.shard_bytes / 2**20:.0f} MB, run in turn "
                  "(read.shard_mb)", file=sys.stderr)
            stats = ShardedRun(spec, shards, lambda sub, k, n: _run_job(sub, beam_args, local, True)).run()
        else:
            stats = _run_job(spec, beam_args, local, args.wait)[0]
            if stats is None:
                return None
    finally:
        stop.set()
        if watcher:
            watcher.join()
        if progress_dir:
            shutil.rmtree(progress_dir, ignore_errors=True)
    elapsed = time.time() - started

    stats_path = join(args.output, "stats.json")
    stats["run"] = {
        "version": __version__, "inputs": stats["conservation"]["files"], "input_patterns": args.input,
        "runner_args": beam_args,
        "dedup": list(dedup), "elapsed_s": round(elapsed, 2), "docs_per_s": round(stats["read"] / elapsed, 1),
    }
    stats_lib.write_json(stats, stats_path)
    stats_lib.write_funnel_html(stats, join(args.output, "funnel.html"))
    _print_summary(stats, args.output, "funnel.html")
    return stats


def _plan_shards(inputs: list[str], spec, config) -> list:
    """The shards of a local run (pipelines/shards.py); one shard: an ordinary single job."""
    if not config.shard_bytes:
        return []
    from apache_beam.io.filesystems import FileSystems

    from .shards import plan_shards

    files = [(m.path, m.size_in_bytes) for r in FileSystems.match(inputs) for m in r.metadata_list]
    if sum(size for _, size in files) <= config.shard_bytes:
        return []
    return plan_shards(files, spec.read, config.shard_bytes)


def _run_job(spec, beam_args: list[str], local: bool, wait: bool) -> tuple[dict | None, int]:
    """One Beam job for `spec`: (its checked stats, or None when a remote job was only
    submitted; the `dedup/prior_clusters_joined` counter)."""
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
        return None, 0
    result.wait_until_finish()
    stats = stats_lib.read_json(join(spec.output, "stats.json"))
    stats_lib.check_conservation(stats)
    bridges = 0
    if spec.prior_indexes and spec.dedup:
        try:
            counters = result.metrics().query(MetricsFilter().with_name("prior_clusters_joined"))["counters"]
            bridges = sum(c.committed or 0 for c in counters)
        except Exception:  # noqa: BLE001 - a runner without metric queries: the count is unknown, not wrong data
            bridges = 0
    return stats, bridges


def _print_summary(stats: dict, output: str, funnel: str) -> None:
    print(f"read {stats['read']:,}  kept {stats['kept']:,}  malformed {stats['malformed']:,}  "
          f"dropped {sum(stats['dropped'].values()):,}", file=sys.stderr)
    for reason, n in stats["dropped"].items():
        print(f"  dropped {reason:20s} {n:>9,}", file=sys.stderr)
    for lang, s in list(stats["languages"].items())[:6]:
        print(f"  {lang:5s} read {s['read']:>8,}  kept {s['kept']:>8,}  kept bytes {s['kept_bytes']:>12,}", file=sys.stderr)
    print(f"outputs: {output}/data/  dropped/  dead_letter/  stats.json  {funnel}", file=sys.stderr)
