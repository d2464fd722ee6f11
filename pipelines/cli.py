"""`roots-pipeline` / `python -m pipelines`.

    roots-pipeline run --input 'raw/*.jsonl.gz' --output out/ [--config my.yaml] [Beam options...]
    roots-pipeline run ... --runner DataflowRunner --project P --region R --temp_location gs://b/tmp
    roots-pipeline refresh --input 'gs://raw/2026-11-*/*.jsonl.gz' --releases gs://corpus/releases/
    roots-pipeline stats out/            # print a run's stats and redraw its funnel chart
    roots-pipeline inspect out/ --reason stopwords [--html drops.html]   # read what one filter dropped
    roots-pipeline extract --input 'crawl/*.warc.gz' --output pages.jsonl   # main text of each page, no filters

Flags this CLI does not know are handed to Beam's PipelineOptions unchanged.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

from . import __version__
from . import stats as stats_lib
from .api import RunOptions, UsageError, run
from .io import FORMATS
from .runtime import RUNTIMES

def build_parser() -> argparse.ArgumentParser:
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
    ref.add_argument("--lock_ttl_hours", "--lock-ttl-hours", type=float, default=24.0,
                     help="the refresh lock expires after this long (a dead run's lock is then taken over); "
                          "longer than the slowest refresh (default 24)")
    st = sub.add_parser("stats", help="print a finished run's statistics and draw funnel.png (and funnel.html)")
    st.add_argument("output")
    from .inspection import add_inspect_arguments

    add_inspect_arguments(sub.add_parser("inspect", help="print (and --html) a sample of a run's documents "
                                                          "dropped for one reason"))
    from .web.extract_cli import add_extract_arguments

    add_extract_arguments(sub.add_parser("extract", help="main text of every HTML page in WARC / HTML files, "
                                                         "no filters: one JSON line per page"))
    return parser


def _add_run_flags(p: argparse.ArgumentParser, input_help: str) -> None:
    p.add_argument("--input", action="append", help=f"file or glob (local or gs://); repeat for several {input_help}")
    p.add_argument("--config", help="YAML overriding pipelines/config/default.yaml")
    p.add_argument("--input_format", "--input-format", default="auto", choices=["auto", *FORMATS])
    p.add_argument("--text_field", "--text-field", help="field holding the text (default from config: text)")
    p.add_argument("--output_format", "--output-format", default="parquet", choices=["parquet", "jsonl"])
    p.add_argument("--no_dropped", "--no-dropped", action="store_true",
                   help="do not write dropped documents (counts still go to stats.json)")
    p.add_argument("--dedup", default=None,
                   help="comma list of exact,minhash or 'none' (default: the config's dedup.methods)")
    p.add_argument("--prior_index", "--prior-index", action="append", default=[],
                   help="dedup index of an earlier release to deduplicate against (repeatable)")
    p.add_argument("--num_shards", "--num-shards", type=int, default=0,
                   help="files per output folder (data, dropped); default 0: one per bundle, written where "
                        "the documents are processed. A fixed count reshuffles the outputs into that many files")
    p.add_argument("--no_progress", "--no-progress", action="store_true")
    p.add_argument("--wait", action="store_true",
                   help="remote runners: wait for the job, then check the counts and write funnel.html")
    p.add_argument("--runtime", default="roots", choices=RUNTIMES,
                   help="local runs: roots (default: forked warm workers, progress; pipelines/runtime) or beam "
                        "(stock Beam's FnApiRunner and workers; the same outputs)")


def run_options(args: argparse.Namespace, beam_args: list[str]) -> RunOptions:
    """The RunOptions of a parsed `run` or `refresh` command line (Beam's flags: `beam_args`)."""
    dedup = None if args.dedup is None else tuple(m for m in args.dedup.split(",") if m and m != "none")
    return RunOptions(
        inputs=list(args.input or []), output=getattr(args, "output", ""), config=args.config,
        input_format=args.input_format, text_field=args.text_field, output_format=args.output_format,
        write_dropped=not args.no_dropped, dedup=dedup, prior_indexes=list(args.prior_index),
        num_shards=args.num_shards, progress=not args.no_progress, wait=args.wait,
        overwrite=getattr(args, "overwrite", False), runtime=args.runtime, beam_args=list(beam_args))


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # The local job service re-logs every worker's start-up chatter as WARNING.
    logging.getLogger("apache_beam.runners.portability.local_job_service").setLevel(logging.ERROR)
    args, extra = build_parser().parse_known_args(argv)
    try:
        if args.command == "run":
            run(run_options(args, extra))
        elif args.command == "refresh":
            from .refresh import refresh

            refresh(run_options(args, extra), args.releases, lock_ttl_hours=args.lock_ttl_hours)
        elif args.command in ("inspect", "extract"):
            if extra:
                raise UsageError(f"unknown arguments: {' '.join(extra)}")
            if args.command == "extract":
                from .web.extract_cli import extract_main

                return extract_main(args)
            from .inspection import inspect_main

            return inspect_main(args)
        elif args.command == "stats":
            if extra:
                raise UsageError(f"unknown arguments: {' '.join(extra)}")
            from . import stats_render
            from .pipeline import join

            stats = stats_lib.read_json(join(args.output, "stats.json"))
            stats_lib.check_conservation(stats)
            stats_render.write_funnel_html(stats, join(args.output, "funnel.html"))
            stats_render.draw_funnel(stats, join(args.output, "funnel.png"))
            stats_render.print_summary(stats, args.output, "funnel.html  funnel.png")
    except UsageError as e:
        print(f"roots-pipeline: error: {e}", file=sys.stderr)
        return 2
    except stats_lib.ConservationError as e:
        print(f"roots-pipeline: error: {e}", file=sys.stderr)
        return 1
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
