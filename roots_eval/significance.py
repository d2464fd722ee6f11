"""Paired bootstrap significance between two rows on one task (Koehn 2004), from the
per-sample logs every results file has.

The two runs are paired by doc id (only docs both scored count). The per-sample score is the
task's primary metric where the logs hold it per sample (accuracy, F1, ROUGE), else the first
per-sample score logged (BLEU tasks log sentence-level statistics differently; see `metric`
in the answer). Resampling docs with replacement `iters` times, the one-sided p-value for
"A is better than B" is the fraction of resamples in which A's mean is not above B's
(+1 smoothing in numerator and denominator, so p is never exactly 0).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pipelines.files import read_jsonl


def paired_bootstrap(a, b, iters: int = 10000, seed: int = 1234) -> dict:
    """{"delta": mean(a - b), "p_value": P(resampled mean(a - b) <= 0), "ci95": [lo, hi], "n"}."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if d.size == 0:
        raise ValueError("no paired samples")
    rng = np.random.default_rng(seed)
    draws = d[rng.integers(0, d.size, size=(iters, d.size))].mean(axis=1)
    return {"delta": float(d.mean()), "p_value": float((np.sum(draws <= 0) + 1) / (iters + 1)),
            "ci95": [float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))], "n": int(d.size)}


def sample_scores(results_path, task: str) -> tuple[str, dict[str, float]]:
    """(metric, {doc_id: score}) of one task of a results file."""
    results_path = Path(results_path)
    data = json.loads(results_path.read_text(encoding="utf-8"))
    entry = data["results"][task]
    samples_file = Path(entry["samples_file"])
    if not samples_file.is_absolute():
        samples_file = results_path.parent / samples_file
    rows = list(read_jsonl(samples_file))
    keys = list(rows[0].get("scores", {})) if rows else []
    if not keys:
        raise ValueError(f"{samples_file}: no per-sample scores")
    metric = entry["primary_metric"] if entry["primary_metric"] in keys else keys[0]
    return metric, {r["doc_id"]: float(r["scores"][metric]) for r in rows}


def compare(path_a, path_b, task: str, iters: int = 10000, seed: int = 1234) -> dict:
    metric_a, a = sample_scores(path_a, task)
    metric_b, b = sample_scores(path_b, task)
    if metric_a != metric_b:
        raise ValueError(f"{task}: the two runs logged different per-sample metrics ({metric_a}, {metric_b})")
    shared = sorted(set(a) & set(b))
    return {"task": task, "metric": metric_a,
            **paired_bootstrap([a[i] for i in shared], [b[i] for i in shared], iters, seed)}
