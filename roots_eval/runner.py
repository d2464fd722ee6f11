"""One evaluation run: every task in turn, results saved after each, failures kept per task."""
from __future__ import annotations

import dataclasses
import re
import sys
import time
from pathlib import Path

from roots_eval.cache import CachedModel, OutputCache
from roots_eval.evaluator import EvalConfig, run_task
from roots_eval.models.base import EvalModel
from roots_eval.results import new_results, write_results
from roots_eval.task import Task, TaskError, load_tasks


def sidecar_paths(output: Path) -> tuple[Path, Path]:
    """(per-sample log folder, output cache) next to the results file."""
    stem = output.with_suffix("")
    return Path(f"{stem}.samples"), Path(f"{stem}.cache.sqlite")


def evaluate(model: str | Path | EvalModel, tasks: str = "all", output: str | Path = "results.json",
             config: EvalConfig | None = None, *, model_type: str = "auto", device: str | None = None,
             batch_size: int | str = "auto", dtype: str = "auto", task_dirs=(), use_cache: bool = True) -> dict:
    """`roots-eval run` from Python: score `model` (a roots_model checkpoint, classifier or
    Hugging Face folder, or an EvalModel) on `tasks` ("all", or a comma list of names, datasets,
    categories, languages) and write the results JSON `output` (samples and the output cache
    beside it). Returns the results; a task that fails to load or to run is under "errors".
    Raises ModelLoadError when the model cannot be loaded, TaskError when no task loads."""
    task_list, errors = load_tasks(tasks, [Path(d) for d in task_dirs])
    for name, message in errors.items():
        print(f"[roots-eval] task {name} skipped: {message}", file=sys.stderr)
    if not task_list:
        raise TaskError("no task to run")
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    if not isinstance(model, EvalModel):
        from roots_eval.models import load_model

        model = load_model(model, model_type, device=device, batch_size=batch_size, dtype=dtype)
    return run(model, task_list, output, config or EvalConfig(), task_errors=errors, use_cache=use_cache,
               extra_config={"batch_size": batch_size, "device": device, "dtype": dtype})


def run(model: EvalModel, tasks: list[Task], output: str | Path, config: EvalConfig,
        task_errors: dict[str, str] | None = None, use_cache: bool = True, extra_config: dict | None = None) -> dict:
    output = Path(output)
    samples_dir, cache_path = sidecar_paths(output)
    cache = OutputCache(cache_path) if use_cache else None
    scored = CachedModel(model, cache) if cache is not None else model
    results = new_results(model.metadata(), {**dataclasses.asdict(config), **(extra_config or {}),
                                             "tasks": [t.name for t in tasks]})
    results["errors"].update(task_errors or {})
    started = time.perf_counter()
    try:
        for task in tasks:
            print(f"[roots-eval] {task.name} ...", file=sys.stderr, flush=True)
            safe_name = re.sub(r"[^\w.-]", "_", task.name)
            try:
                entry = run_task(scored, task, config, samples_dir / f"{safe_name}.jsonl")
            except Exception as exc:  # one broken task must not lose the others' results
                results["errors"][task.name] = f"{type(exc).__name__}: {exc}"
                print(f"[roots-eval] {task.name} FAILED: {exc}", file=sys.stderr, flush=True)
            else:
                entry["samples_file"] = str(Path(entry["samples_file"]).relative_to(output.parent))
                results["results"][task.name] = entry
                primary = entry["metrics"][entry["primary_metric"]]["value"]
                print(f"[roots-eval] {task.name}: {entry['primary_metric']}={primary:.2f} (n={entry['n']})",
                      file=sys.stderr, flush=True)
            if isinstance(getattr(model, "batch_size", None), int):
                results["model"]["batch_size"] = model.batch_size  # what --batch-size auto resolved to
            results["timings"] = {"total_s": round(time.perf_counter() - started, 3)}
            if cache is not None:
                results["timings"].update(cache_hits=scored.hits, cache_misses=scored.misses)
            write_results(results, output)
    finally:
        if cache is not None:
            cache.close()
    write_results(results, output)
    return results
