"""roots-eval: score checkpoints on the task registry and publish leaderboards."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _batch_size(value: str):
    if value == "auto":
        return value
    try:
        size = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--batch-size must be a positive integer or 'auto', got {value!r}") from None
    if size < 1:
        raise argparse.ArgumentTypeError("--batch-size must be at least 1")
    return size


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="roots-eval", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="score a model on tasks and write a results JSON")
    run.add_argument("--model", required=True, help="checkpoint folder (roots_model, classifier or Hugging Face)")
    run.add_argument("--model-type", default="auto", choices=["auto", "roots", "classifier", "hf"])
    run.add_argument("--tasks", default="all", help="'all' or comma-separated task names, datasets, categories (classification, translation, qa, summarization) or languages (zh, en)")
    run.add_argument("--output", required=True, help="results JSON; samples go to <stem>.samples/, the output cache to <stem>.cache.sqlite")
    run.add_argument("--batch-size", type=_batch_size, default="auto")
    run.add_argument("--limit", type=int, default=None, help="score only the first N docs of each task's stable subset")
    run.add_argument("--num-fewshot", type=int, default=None, help="override every task's few-shot count")
    run.add_argument("--max-new-tokens", type=int, default=None, help="cap generation length (quick CPU runs)")
    run.add_argument("--bootstrap-iters", type=int, default=1000)
    run.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    run.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"],
                     help="auto: on a GPU the precision the checkpoint was trained in (bf16 runs stay bf16), "
                          "float32 on CPU; the real dtype is recorded under model.dtype in the results")
    run.add_argument("--task-dir", action="append", default=[], help="extra folder of task YAML files")
    run.add_argument("--no-cache", action="store_true", help="recompute every model output")

    board = sub.add_parser("leaderboard", help="Markdown + HTML leaderboard from result files")
    board.add_argument("results", nargs="+", help="results JSON files")
    board.add_argument("--output", required=True, help="folder for leaderboard.md and index.html")

    comp = sub.add_parser("compression", help="score the original and compressed models of a "
                          "`roots-train quantize|distill|prune` output and add the scores to its report.json")
    comp.add_argument("output", help="the compression command's --output folder (holds report.json)")
    comp.add_argument("--tasks", required=True, help="comma-separated task names (as for `run`)")
    comp.add_argument("--limit", type=int, default=None, help="docs per task")

    base = sub.add_parser("baselines", help="reference rows from the data: majority/random class, copy-source, lead "
                          "sentence, first-sentence span (baseline-majority.json, baseline-random.json)")
    base.add_argument("--tasks", default="all")
    base.add_argument("--output", required=True, help="folder for the two results files")
    base.add_argument("--limit", type=int, default=None, help="as for `run` (rows must match to share a table)")
    base.add_argument("--max-new-tokens", type=int, default=None, help="as for `run` (recorded, for grouping)")
    base.add_argument("--bootstrap-iters", type=int, default=1000)
    base.add_argument("--task-dir", action="append", default=[])

    cmp_ = sub.add_parser("compare", help="paired bootstrap significance of A over B on each shared task")
    cmp_.add_argument("a", help="results JSON of row A")
    cmp_.add_argument("b", help="results JSON of row B")
    cmp_.add_argument("--tasks", default=None, help="comma-separated tasks (default: every task both scored)")
    cmp_.add_argument("--iters", type=int, default=10000)

    lin = sub.add_parser("lineage", help="the chain from a score to the data that made it: results -> checkpoint "
                         "-> token shards -> corpus release -> config + inputs")
    lin.add_argument("target", help="a results JSON, a checkpoint / run / classifier folder, or a leaderboard folder")
    lin.add_argument("--model", default=None, help="the leaderboard row (model id) when TARGET is a leaderboard")
    lin.add_argument("--verify", action="store_true",
                     help="recompute every digest along the chain; exit 1 naming the first file that does not match")
    lin.add_argument("--json", action="store_true", help="the chain as a JSON list of links (kind, path, digest)")

    tasks = sub.add_parser("list-tasks", help="list the task registry")
    tasks.add_argument("--task-dir", action="append", default=[])
    return parser


def main(argv=None) -> int:
    # datasets and evaluate would otherwise retry the Hub for ~20 s before giving up
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    args = build_parser().parse_args(argv)
    if args.command == "list-tasks":
        return _list_tasks(args)
    if args.command == "leaderboard":
        from roots_eval.leaderboard import build_leaderboard

        return build_leaderboard(args.results, args.output)
    if args.command == "compression":
        return _compression(args)
    if args.command == "baselines":
        return _baselines(args)
    if args.command == "compare":
        return _compare(args)
    if args.command == "lineage":
        from roots_eval.lineage import main as lineage

        return lineage(args)
    return _run(args)


def _baselines(args) -> int:
    from roots_eval.baselines import write_baselines
    from roots_eval.evaluator import EvalConfig
    from roots_eval.task import load_tasks

    tasks, errors = load_tasks(args.tasks, [Path(d) for d in args.task_dir])
    config = EvalConfig(limit=args.limit, max_new_tokens=args.max_new_tokens, bootstrap_iters=args.bootstrap_iters)
    for path in write_baselines(tasks, args.output, config):
        print(f"[roots-eval] wrote {path}", file=sys.stderr)
    return 1 if errors else 0


def _compare(args) -> int:
    import json

    from roots_eval.results import load_results
    from roots_eval.significance import compare

    a, b = load_results(args.a), load_results(args.b)
    names = args.tasks.split(",") if args.tasks else sorted(set(a["results"]) & set(b["results"]))
    for name in names:
        result = compare(args.a, args.b, name, iters=args.iters)
        print(json.dumps(result))
    return 0


def _compression(args) -> int:
    import json

    from roots_eval.compress_report import ReportError, add_scores

    try:
        report = add_scores(args.output, args.tasks, args.limit)
    except ReportError as exc:
        print(f"[roots-eval] error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report["harness"], indent=1))
    return 0


def _list_tasks(args) -> int:
    from roots_eval.task import load_tasks

    tasks, errors = load_tasks("all", [Path(d) for d in args.task_dir])
    print(f"{'task':28} {'ver':>3} {'lang':4} {'category':14} {'type':16} {'shots':>5}  metrics")
    for t in tasks:
        metrics = ", ".join(m.name + (f"({', '.join(f'{k}={v}' for k, v in m.args.items())})" if m.args else "") for m in t.metrics)
        print(f"{t.name:28} {t.version:>3} {t.language:4} {t.category:14} {t.output_type:16} {t.num_fewshot:>5}  {metrics}")
    for name, message in errors.items():
        print(f"ERROR {name}: {message}", file=sys.stderr)
    return 1 if errors else 0


def _run(args) -> int:
    from roots_eval.evaluator import EvalConfig
    from roots_eval.models import ModelLoadError
    from roots_eval.runner import evaluate
    from roots_eval.task import TaskError

    config = EvalConfig(limit=args.limit, num_fewshot=args.num_fewshot, max_new_tokens=args.max_new_tokens,
                        bootstrap_iters=args.bootstrap_iters)
    try:
        results = evaluate(args.model, args.tasks, args.output, config, model_type=args.model_type, device=args.device,
                           batch_size=args.batch_size, dtype=args.dtype, task_dirs=args.task_dir,
                           use_cache=not args.no_cache)
    except TaskError as exc:  # no task loaded (each one that did not is reported above)
        print(f"[roots-eval] {exc}", file=sys.stderr)
        return 2
    except ModelLoadError as exc:
        print(f"[roots-eval] error: {exc}", file=sys.stderr)
        return 2
    print(f"[roots-eval] wrote {args.output}: {len(results['results'])} task(s) scored, {len(results['errors'])} failed",
          file=sys.stderr)
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
