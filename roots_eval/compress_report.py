"""Harness scores for a compression report: the original and the compressed checkpoint of
`roots-train quantize|distill|prune OUTPUT` scored on the same tasks and documents, written
into OUTPUT/report.json next to size, speed and perplexity.

    roots-eval compression OUTPUT --tasks cls_sst2,cls_tnews --limit 50

This glue sits on the evaluation side because it needs both packages: roots_model writes
the report, roots_eval scores models (dependencies point one way, model <- eval).
"""
from __future__ import annotations

import json
from pathlib import Path

from pipelines.files import atomic_write
from roots_eval.evaluator import EvalConfig
from roots_eval.models import load_model
from roots_eval.runner import run
from roots_eval.task import load_tasks


class ReportError(ValueError):
    pass


def harness_scores(path, tasks: str, limit: int | None, output_dir: Path) -> dict:
    """Primary metric per task for one checkpoint (results and sample logs kept under output_dir)."""
    task_list, errors = load_tasks(tasks, [])
    if errors or not task_list:
        raise ReportError(f"--tasks {tasks!r}: {errors or 'no task selected'}")
    model = load_model(str(path), device="cpu", show_progress=False)
    results = run(model, task_list, Path(output_dir) / "results.json", EvalConfig(limit=limit, max_new_tokens=32))
    return {name: {"metric": e["primary_metric"], "value": e["metrics"][e["primary_metric"]]["value"], "n": e["n"]}
            for name, e in results["results"].items()}


def add_scores(output, tasks: str, limit: int | None = None) -> dict:
    """Score both models of OUTPUT/report.json and write the scores (and their differences)
    into it; returns the report."""
    output = Path(output)
    report_path = output / "report.json"
    if not report_path.is_file():
        raise ReportError(f"{report_path} does not exist: run `roots-train quantize|distill|prune` without --no-report")
    report = json.loads(report_path.read_text())
    for side in ("original", "compressed"):
        report[side]["harness"] = harness_scores(report[side]["path"], tasks, limit, output / "eval" / side)
    original, compressed = report["original"]["harness"], report["compressed"]["harness"]
    report["harness"] = {"tasks": tasks, "limit": limit,
                         "difference": {t: round(compressed[t]["value"] - original[t]["value"], 4) for t in original}}
    atomic_write(report_path, json.dumps(report, indent=1, ensure_ascii=False))
    return report
