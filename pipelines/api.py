"""One corpus run: `run(RunOptions(...))`, what `roots-pipeline run` and `refresh`, the demo,
the benchmarks and the tests call. It checks the options, empties the output folder, runs the
job (or a sharded run's jobs, pipelines/shards.py) on the chosen runtime (pipelines/runtime),
then writes stats.json's `run` section, funnel.html and the release files (manifest, card).

    from pipelines import RunOptions, run
    stats = run(RunOptions(inputs=["raw/*.jsonl.gz"], output="out/", dedup=("exact",)))
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from . import release
from . import stats as stats_lib
from . import stats_render
from . import storage
from .records import canonical

if TYPE_CHECKING:
    from .config import PipelineConfig

LOCAL_RUNNER_DEFAULTS = ["--runner=DirectRunner", "--direct_num_workers=2", "--direct_running_mode=multi_processing"]
DEDUP_METHODS = ("exact", "minhash")
# manifest.json first: an output being replaced must stop claiming to be a finished release
# before any of its files goes.
_OUTPUT_PARTS = ("manifest.json", "data", "dropped", "dead_letter", "dedup_index", "stats.json", "funnel.html",
                 "funnel.png", "README.md", "_shards",  # a crashed sharded run's shard folders
                 stats_lib.RUN_STATS)  # a crashed job's stats, left for its launcher


class UsageError(Exception):
    """A problem with the options or the inputs of a run, found before any work starts."""


@dataclass
class RunOptions:
    """What one run reads, writes and runs on. The CLI's flags map one to one (`roots-pipeline
    run --help`); Beam's own flags go in `beam_args` (the runner and its settings)."""
    inputs: list[str] = field(default_factory=list)  # files or globs; empty: the bundled corpus_web_mixed
    output: str = ""                                 # OUT folder (local or gs://)
    config: "str | PipelineConfig | None" = None     # YAML over pipelines/config/default.yaml, or loaded
    input_format: str = "auto"
    text_field: str | None = None                    # None: the config's read.text_field
    output_format: str = "parquet"                   # parquet | jsonl
    write_dropped: bool = True
    dedup: tuple[str, ...] | None = None             # methods; None: the config's dedup.methods; (): none
    prior_indexes: list[str] = field(default_factory=list)  # dedup indexes of earlier releases
    num_shards: int = 0                              # files per output folder; 0: one per bundle
    progress: bool = True                            # a progress bar for a local run
    wait: bool = False                               # remote runners: wait for the job, then check it
    overwrite: bool = False                          # replace an earlier run's outputs in `output`
    runtime: str = "roots"                           # "roots" (pipelines/runtime) or "beam" (stock Beam)
    beam_args: list[str] = field(default_factory=list)  # Beam's PipelineOptions flags
    # A refresh's release (pipelines/refresh.py): fields the manifest gets, and fingerprints of
    # the inputs already computed (path -> fingerprint).
    release_fields: dict | None = None
    input_fingerprints: dict[str, str] = field(default_factory=dict)


def runner_args(beam_args: list[str]) -> list[str]:
    """The Beam flags of a run: `beam_args`, with the local runner's defaults (2 workers,
    multi_processing) unless a runner is named, and the worker dependencies of a Dataflow job."""
    if any(a == "--runner" or a.startswith("--runner=") for a in beam_args):
        args = list(beam_args)
    else:
        args = LOCAL_RUNNER_DEFAULTS + list(beam_args)
        from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions

        workers = PipelineOptions(args).view_as(DirectOptions).direct_num_workers
        mode_named = "direct_running_mode" in PipelineOptions(beam_args).get_all_options(drop_default=True)
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


def _is_local(beam_args: list[str]) -> bool:
    joined = " ".join(beam_args)
    return "DirectRunner" in joined or "PrismRunner" in joined


def run(options: RunOptions) -> dict | None:
    """Run the job `options` describe: its stats.json object, or None when a remote job was
    only submitted. UsageError: the options or inputs are wrong (nothing was started)."""
    from .runtime import Runtime

    started = time.time()
    beam_args = runner_args(options.beam_args)
    local = _is_local(beam_args)
    try:
        runtime = Runtime(options.runtime, beam_args, local)
    except ValueError as e:
        raise UsageError(str(e)) from None
    with runtime.session(_config_path(options), None if options.dedup is None else bool(options.dedup), preload):
        spec, inputs = _prepare(options, beam_args, local)
        return _launch(options, spec, inputs, beam_args=beam_args, runtime=runtime, started=started)


def preload(config_path: str | None, dedup: bool | None) -> None:
    """Import what a worker runs and load the config's models into this process, so that
    processes forked from it start with them loaded (the worker pool's `preload`). Loading
    only: no text is processed here (a native library's thread pool, once running, does not
    survive a fork). `dedup` None: as the config's `dedup.methods` say."""
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
        dedup = bool(config.dedup.methods)
    if dedup:
        import pipelines.dedup.transforms  # noqa: F401
    try:
        DocumentProcessor(config).setup()
    except Exception:  # noqa: BLE001 - a worker loads the models itself and reports the error there
        pass


def _config_path(options: RunOptions) -> str | None:
    """The config's file (None: the defaults, or a config given loaded, which the worker pool
    cannot load again: its workers load the models themselves)."""
    return options.config if isinstance(options.config, str) else None


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


def _prepare(options: RunOptions, beam_args: list[str], local: bool):
    """The checks before a run, its output folder emptied, and its (spec, listed inputs)."""
    from .config import PipelineConfig
    from .io import ReadSpec, detect_format, expand_inputs
    from .pipeline import RunSpec

    if not options.output:
        raise UsageError("a run needs an output folder (--output)")
    config_path = _config_path(options)
    try:
        everything = [*options.inputs, options.output, *options.prior_indexes, config_path or ""]
        # A remote launch reads none of the inputs here: it needs only the output (and config).
        storage.check_access(everything, probe=everything if local else
                             [options.output, config_path or "", *options.prior_indexes])
    except storage.StorageAccessError as e:
        raise UsageError(str(e)) from None
    try:
        config = options.config if isinstance(options.config, PipelineConfig) else PipelineConfig.load(config_path)
    except (ValueError, OSError) as e:
        raise UsageError(str(e)) from e
    patterns = list(options.inputs)
    if not patterns:
        from .datadir import DataDirError, dataset_path

        try:
            patterns = [str(dataset_path("corpus_web_mixed") / "*.jsonl")]
        except DataDirError as e:
            raise UsageError(f"no --input given and the default corpus is unavailable: {e}") from e
    inputs = None
    if local:
        # The job matches the patterns itself; a local run also lists them here, which is
        # cheap, so a pattern that matches nothing is an error before any work starts. A
        # remote launch lists nothing: the job reports an empty pattern, by name.
        try:
            inputs = expand_inputs(patterns)
            if options.input_format == "auto":
                for path in inputs:  # a name that says no format (or ARC) fails here, not in the job
                    detect_format(path)
        except ValueError as e:
            raise UsageError(str(e)) from e
    _prepare_output(options.output, options.overwrite)

    dedup = tuple(config.dedup.methods if options.dedup is None else options.dedup)
    unknown = set(dedup) - set(DEDUP_METHODS)
    if unknown:
        raise UsageError(f"--dedup: unknown method(s) {sorted(unknown)}; use exact, minhash or none")
    if dedup:
        try:
            import pipelines.dedup.transforms  # noqa: F401
        except ImportError as e:
            raise UsageError(f"dedup stages are not available in this install ({e}); pass --dedup none") from e

    spec = RunSpec(
        inputs=patterns, output=options.output, config=config,
        read=ReadSpec(format=options.input_format, text_field=options.text_field or config.read.text_field,
                      id_field=config.read.id_field, text_unit=config.read.text_unit,
                      split_bytes=config.split_bytes, max_body_bytes=config.web.max_body_bytes),
        output_format=options.output_format, write_dropped=options.write_dropped, dedup=dedup,
        prior_indexes=tuple(options.prior_indexes), num_shards=options.num_shards,
    )
    described = f"{len(inputs)} input file(s)" if inputs is not None else f"{len(patterns)} input pattern(s)"
    print(f"roots-pipeline: {described} -> {options.output} "
          f"(runner args: {' '.join(beam_args)}; dedup: {','.join(dedup) or 'none'})", file=sys.stderr)
    return spec, inputs


def _launch(options: RunOptions, spec, inputs: list[str] | None, *, beam_args: list[str], runtime, started: float):
    """`run` once the options are checked: the job (or a sharded run's jobs), then stats.json.
    `started`: when `run` was called (unix seconds)."""
    import functools

    from .pipeline import join
    from .shards import ShardedRun, plan_local

    config = spec.config
    documents = {}  # a single job's first and last document times (unix seconds)
    shards = plan_local(inputs, spec, config, _local_workers(beam_args)) if runtime.local else []
    with runtime.shard_calls(len(shards), _config_path(options), bool(spec.dedup), preload) as call, \
            runtime.progress(options.progress, inputs) as spec.progress_dir:
        if len(shards) > 1:
            print(f"roots-pipeline: {len(shards)} shards of about {config.shard_bytes / 2**20:.0f} MB, run in turn "
                  "(read.shard_mb)", file=sys.stderr)
            run_shard = functools.partial(_run_shard_job, beam_args=beam_args, runtime=runtime.name)
            stats = ShardedRun(spec, shards, run_shard, call=call).run()
        else:
            if shards:
                spec.ranges = shards[0]
            run_stats, _, documents = _run_job(spec, beam_args, runtime.local, options.wait, runtime.name)
            if run_stats is None:
                return None
            stats = run_stats.summary(config.drop_reasons())
    ended = time.time()
    elapsed = ended - started

    stats_path = join(options.output, "stats.json")
    stats["run"] = {
        "version": __version__, "inputs": stats["conservation"]["files"], "input_patterns": spec.inputs,
        "runner_args": beam_args,
        "dedup": list(spec.dedup), "elapsed_s": round(elapsed, 2), "docs_per_s": round(stats["read"] / elapsed, 1),
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
    stats_render.write_funnel_html(stats, join(options.output, "funnel.html"))
    _write_release(options, spec, inputs, stats, beam_args)
    stats_render.print_summary(stats, options.output, "funnel.html")
    return stats


def _write_release(options: RunOptions, spec, inputs: list[str] | None, stats: dict, beam_args: list[str]) -> None:
    """The output's dataset card (README.md) and manifest.json (pipelines.release), after every
    other file: digests of the files, the resolved config, the code and the inputs. A refresh
    adds its release fields."""
    from .io import expand_inputs

    known = options.input_fingerprints
    paths = [canonical(p) for p in (inputs if inputs is not None else expand_inputs(spec.inputs))]
    fields = release.release_fields(
        config_raw=spec.config.to_dict(), config_path=_config_path(options),
        inputs=[release.input_entry(p, known.get(p)) for p in paths], stats=stats,
        run={"command": "refresh" if options.release_fields else "run", "dedup": list(spec.dedup),
             "runner_args": beam_args},
        extra=options.release_fields)
    release.write_release(options.output, fields, stats)


def _local_workers(beam_args: list[str]) -> int:
    """The worker count of a local run's arguments."""
    from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions

    return PipelineOptions(beam_args).view_as(DirectOptions).direct_num_workers or os.cpu_count() or 1


def _run_shard_job(sub, k: int, n: int, beam_args: list[str], runtime: str) -> tuple:
    """One shard's job (in a process of its own: a fork of the pool, or of this process): its
    RunStats, the `dedup/prior_clusters_joined` counter, and this process's peak resident
    memory, the figure that shows whether later shards (a larger prior index) need more
    memory than earlier ones. With one worker the job runs in this process; with several it is
    the runner's (which holds the data between stages), not its workers'."""
    stats, bridges, _ = _run_job(sub, beam_args, True, True, runtime)
    return stats, bridges, _peak_rss_mib()


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


def _run_job(spec, beam_args: list[str], local: bool, wait: bool, runtime: str) -> tuple:
    """One Beam job for `spec`: (its checked RunStats, or None when a remote job was only
    submitted; the `dedup/prior_clusters_joined` counter; for a local job, when its first
    document came and its last was done, as `_document_times` reads them). A job that is
    waited for leaves stats.json to the launcher (RunSpec.write_stats), which writes it once,
    with the run's figures; one that is only submitted writes it itself."""
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
    import apache_beam as beam

    from .pipeline import build
    from .runtime import local_runner

    options = PipelineOptions(beam_args)
    runner_name = options.view_as(StandardOptions).runner or ""
    runner = local_runner(options, runtime) if runner_name.rsplit(".", 1)[-1] == "DirectRunner" else None
    p = beam.Pipeline(runner=runner, options=options)
    build(p, replace(spec, write_stats=not (local or wait)))
    result = p.run()
    if not local and not wait:
        # Remote runners: the job writes stats.json itself; `roots-pipeline stats OUT` draws it later.
        print(f"submitted: {getattr(result, 'job_id', lambda: '?')()}", file=sys.stderr)
        return None, 0, {}
    result.wait_until_finish()
    stats = stats_lib.take_over(spec.output)
    summary = stats.summary(spec.config.drop_reasons())
    try:
        stats_lib.check_conservation(summary)
    except stats_lib.ConservationError:
        # The run ends here: its stats.json says what was lost or duplicated, and where.
        stats_lib.write_json(summary, storage.join(spec.output, "stats.json"))
        raise
    counters = {}
    if spec.dedup:
        try:
            for c in result.metrics().query(MetricsFilter().with_namespace("dedup"))["counters"]:
                counters[c.key.metric.name] = counters.get(c.key.metric.name, 0) + (c.committed or 0)
        except Exception:  # noqa: BLE001 - a runner without metric queries: the counts are unknown, not wrong data
            counters = {}
        stats.dedup = counters
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
