"""The versioned results file: one model, many tasks, written after every task."""
from __future__ import annotations

import json
import time
from pathlib import Path

from pipelines.files import atomic_write
from pipelines.version import git_commit, package_version

SCHEMA = "roots-eval/results"
SCHEMA_VERSION = 1
_TASK_FIELDS = ("version", "language", "category", "dataset", "n", "primary_metric", "metrics")


class ResultsError(ValueError):
    """A results file cannot be used; the message names the file and the field."""


def new_results(model_meta: dict, config: dict) -> dict:
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "roots_eval_version": package_version(),
        "git_commit": git_commit(),
        "model": model_meta,
        "config": config,
        "results": {},
        "errors": {},
        "timings": {},
    }


def write_results(results: dict, path: str | Path) -> None:
    """Atomic write, so an interrupted run never leaves a truncated file."""
    atomic_write(path, json.dumps(results, indent=2, ensure_ascii=False) + "\n")


def load_results(path: str | Path) -> dict:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ResultsError(f"{path}: cannot read ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ResultsError(f"{path}: field 'schema' is {data.get('schema') if isinstance(data, dict) else None!r}, "
                           f"expected {SCHEMA!r} (not a roots-eval results file)")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ResultsError(f"{path}: field 'schema_version' is {data.get('schema_version')!r}; this roots-eval "
                           f"reads version {SCHEMA_VERSION} (re-run `roots-eval run` to regenerate it)")
    if not isinstance(data.get("model"), dict) or "id" not in data["model"]:
        raise ResultsError(f"{path}: field 'model.id' is missing")
    for name, entry in (data.get("results") or {}).items():
        for field in _TASK_FIELDS:
            if field not in entry:
                raise ResultsError(f"{path}: field 'results.{name}.{field}' is missing")
        for metric, value in entry["metrics"].items():
            if not isinstance(value, dict) or not isinstance(value.get("value"), (int, float)):
                raise ResultsError(f"{path}: field 'results.{name}.metrics.{metric}.value' is not a number")
    return data
