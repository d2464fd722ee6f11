"""`roots-pipeline` / `python -m pipelines`.

    roots-pipeline run --input 'raw/*.jsonl.gz' --output out/ [--config my.yaml] [Beam options...]
    roots-pipeline run ... --runner DataflowRunner --project P --region R --temp_location gs://b/tmp
    roots-pipeline refresh --input 'gs://raw/2026-11-*/*.jsonl.gz' --releases gs://corpus/releases/
    roots-pipeline stats out/            # print a run's stats and redraw its funnel chart

Flags this CLI does not know are handed to Beam's PipelineOptions unchanged.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from . import __version__
from . import stats as stats_lib

LOCAL_RUNNER_DEFAULTS = ["--runner=DirectRunner", "--direct_num_workers=2", "--direct_running_mode=multi_processing"]
_OUTPUT_PARTS = ("data", "dropped", "dead_letter", "dedup_index", "stats.json", "funnel.html", "funnel.png")


class UsageError(Exception):
    """A problem with the command line or its inputs, found before any work starts."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="roots-pipeline", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"roots-pipeline {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="clean, identify language, filter and deduplicate raw text")
    _add_run_flags(run, input_help="(default: $ROOTS_DATA_DIR/corpus_web_mixed/*.jsonl, the bundled real corpus)")
    run.add_argument("--output", required=True, help="output directory (local or gs://)")
    run.add_argument("--overwrite", action="store_true", help="replace the outputs of an earlier run in --output")
    ref = sub.add_parser("refresh", help="process only new input files into the next release, deduplicated "
                                         "against every earlier release")
    _add_run_flags(ref, input_help="(required)")
    ref.add_argument("--releases", required=True, help="directory of releases (local or gs://)")
    st = sub.add_parser("stats", help="print a finished run's statistics and draw funnel.png (and funnel.html)")
    st.add_argument("output")
    return parser


def _add_run_flags(p: argparse.ArgumentParser, input_help: str) -> None:
    p.add_argument("--input", action="append", help=f"file or glob (local or gs://); repeat for several {input_help}")
    p.add_argument("--config", help="YAML overriding pipelines/config/default.yaml")
    p.add_argument("--input_format", "--input-format", default="auto", choices=["auto", "jsonl", "parquet", "text"])
    p.add_argument("--text_field", "--text-field", help="field holding the text (default from config: text)")
    p.add_argument("--output_format", "--output-format", default="parquet", choices=["parquet", "jsonl"])
    p.add_argument("--no_dropped", "--no-dropped", action="store_true",
                   help="do not write dropped documents (counts still go to stats.json)")
    p.add_argument("--dedup", default=None,
                   help="comma list of exact,minhash or 'none' (default: the config's dedup.methods)")
    p.add_argument("--prior_index", "--prior-index", action="append", default=[],
                   help="dedup index of an earlier release to deduplicate against (repeatable)")
    p.add_argument("--num_shards", "--num-shards", type=int, default=0)
    p.add_argument("--no_progress", "--no-progress", action="store_true")
    p.add_argument("--wait", action="store_true",
                   help="remote runners: wait for the job, then check the counts and write funnel.html")


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
    from apache_beam.io.filesystems import FileSystems

    existing = [m.path for m in FileSystems.match([FileSystems.join(output, "*")])[0].metadata_list] \
        if FileSystems.exists(output) else []
    if existing and not overwrite:
        raise UsageError(f"--output {output} already holds {len(existing)} files; pass --overwrite to replace "
                         "the previous run's outputs, or choose an empty directory")
    if overwrite:
        for part in _OUTPUT_PARTS:
            path = FileSystems.join(output, part)
            if FileSystems.exists(path):
                FileSystems.delete([path])


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
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
    import apache_beam as beam

    from .config import PipelineConfig
    from .io import ReadSpec, expand_inputs
    from .pipeline import RunSpec, build, join

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
    try:
        inputs = expand_inputs(args.input)
    except ValueError as e:
        raise UsageError(str(e)) from e
    _prepare_output(args.output, args.overwrite)
    beam_args = _beam_args(extra)
    local = _is_local(beam_args)

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
        inputs=inputs, output=args.output, config=config,
        read=ReadSpec(format=args.input_format, text_field=args.text_field or read_cfg.get("text_field", "text"),
                      id_field=read_cfg.get("id_field", "id"), text_unit=read_cfg.get("text_unit", "file")),
        output_format=args.output_format, write_dropped=not args.no_dropped, dedup=dedup,
        prior_indexes=tuple(args.prior_index), num_shards=args.num_shards,
    )
    progress_dir = tempfile.mkdtemp(prefix="roots-progress-") if local and not args.no_progress else None
    spec.progress_dir = progress_dir
    print(f"roots-pipeline: {len(inputs)} input file(s) -> {args.output} "
          f"(runner args: {' '.join(beam_args)}; dedup: {','.join(dedup) or 'none'})", file=sys.stderr)

    stop = threading.Event()
    watcher = None
    if progress_dir:
        watcher = threading.Thread(target=_watch_progress, args=(progress_dir, _count_lines(inputs), stop), daemon=True)
        watcher.start()
    started = time.time()
    try:
        options = PipelineOptions(beam_args)
        runner_name = options.view_as(StandardOptions).runner or ""
        runner = local_runner(options) if runner_name.rsplit(".", 1)[-1] == "DirectRunner" else None
        p = beam.Pipeline(runner=runner, options=options)
        build(p, spec)
        result = p.run()
        if not local and not args.wait:
            # Remote runners: the job writes stats.json itself; `roots-pipeline stats OUT` draws it later.
            print(f"submitted: {getattr(result, 'job_id', lambda: '?')()}", file=sys.stderr)
            return None
        result.wait_until_finish()
    finally:
        stop.set()
        if watcher:
            watcher.join()
        if progress_dir:
            shutil.rmtree(progress_dir, ignore_errors=True)
    elapsed = time.time() - started

    stats_path = join(args.output, "stats.json")
    stats = stats_lib.read_json(stats_path)
    stats_lib.check_conservation(stats)
    stats["run"] = {
        "version": __version__, "inputs": len(inputs), "input_patterns": args.input, "runner_args": beam_args,
        "dedup": list(dedup), "elapsed_s": round(elapsed, 2), "docs_per_s": round(stats["read"] / elapsed, 1),
    }
    stats_lib.write_json(stats, stats_path)
    stats_lib.write_funnel_html(stats, join(args.output, "funnel.html"))
    _print_summary(stats, args.output, "funnel.html")
    return stats


def _print_summary(stats: dict, output: str, funnel: str) -> None:
    print(f"read {stats['read']:,}  kept {stats['kept']:,}  malformed {stats['malformed']:,}  "
          f"dropped {sum(stats['dropped'].values()):,}", file=sys.stderr)
    for reason, n in stats["dropped"].items():
        print(f"  dropped {reason:20s} {n:>9,}", file=sys.stderr)
    for lang, s in list(stats["languages"].items())[:6]:
        print(f"  {lang:5s} read {s['read']:>8,}  kept {s['kept']:>8,}  kept bytes {s['kept_bytes']:>12,}", file=sys.stderr)
    print(f"outputs: {output}/data/  dropped/  dead_letter/  stats.json  {funnel}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # The local job service re-logs every worker's start-up chatter as WARNING.
    logging.getLogger("apache_beam.runners.portability.local_job_service").setLevel(logging.ERROR)
    args, extra = _parser().parse_known_args(argv)
    try:
        if args.command == "run":
            run(args, extra)
        elif args.command == "refresh":
            from .refresh import refresh

            if not args.input:
                raise UsageError("refresh needs --input")
            if args.dedup == "none":
                raise UsageError("refresh deduplicates against earlier releases: --dedup none is not allowed")
            refresh(args, extra)
        elif args.command == "stats":
            if extra:
                raise UsageError(f"unknown arguments: {' '.join(extra)}")
            from .pipeline import join

            stats = stats_lib.read_json(join(args.output, "stats.json"))
            stats_lib.check_conservation(stats)
            stats_lib.write_funnel_html(stats, join(args.output, "funnel.html"))
            stats_lib.draw_funnel(stats, join(args.output, "funnel.png"))
            _print_summary(stats, args.output, "funnel.html  funnel.png")
    except UsageError as e:
        print(f"roots-pipeline: error: {e}", file=sys.stderr)
        return 2
    return 0


def console_main() -> None:
    """`roots-pipeline` and `python -m pipelines`: main(), then exit without tearing the
    interpreter down. By then every output is written and closed and the runner's workers are
    stopped; unloading the thousands of modules a Beam job imports (gRPC, protobuf, pyarrow,
    ...) would only add time to every command. Library callers of main() are unaffected."""
    code = main()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    console_main()
