"""Runs tasks against a model: requests -> outputs -> metrics with bootstrap errors -> sample logs."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from pipelines.files import write_jsonl
from roots_eval import metrics as metric_modules
from roots_eval.models.base import EvalModel, GenerationRequest, LoglikelihoodRequest, cut_at_stop
from roots_eval.task import Task


_SELF_BOOTSTRAPPING = {"sacrebleu", "chrf", "classification", "perplexity"}
_NOT_SCORES = {"sys_len", "ref_len", "bp"}


@dataclasses.dataclass
class EvalConfig:
    limit: int | None = None
    num_fewshot: int | None = None  # overrides every task's own count
    max_new_tokens: int | None = None  # caps every task's own budget (short CPU runs)
    bootstrap_iters: int = 1000
    seed: int = 1234


def run_task(model: EvalModel, task: Task, config: EvalConfig, samples_path: Path | None = None) -> dict:
    started = time.perf_counter()
    if config.num_fewshot is not None:
        task = dataclasses.replace(task, num_fewshot=config.num_fewshot)
    pool = task.load_docs()
    docs = task.select(pool, config.limit)
    if task.output_type == "multiple_choice":
        outputs, predictions, references, samples = _multiple_choice(model, task, docs, pool)
    elif task.output_type == "loglikelihood_rolling":
        outputs, predictions, references, samples = _rolling(model, task, docs)
    else:
        outputs, predictions, references, samples = _generation(model, task, docs, pool, config)
    requests_s = time.perf_counter() - started

    values, stderrs, signatures, per_sample = {}, {}, {}, {}
    for spec in task.metrics:
        metric = metric_modules.load(spec.name)
        for variant, preds in predictions.items():
            # corpus-level metrics (BLEU, chrF, macro-F1) bootstrap themselves from sufficient
            # statistics; means of per-sample scores are bootstrapped here
            kwargs = dict(spec.args)
            if spec.name in _SELF_BOOTSTRAPPING:
                kwargs.update(bootstrap_iters=min(config.bootstrap_iters, 1000), seed=config.seed)
            result = metric.compute(predictions=preds, references=references, per_sample=True, **kwargs)
            sample_scores = result.pop("per_sample", {})
            module_stderr = result.pop("stderr", {}) or {}
            signature = result.pop("signature", None)
            if signature:
                signatures[spec.name] = signature
            for key, value in result.items():
                if not isinstance(value, (int, float)) or key in _NOT_SCORES:
                    continue
                if variant == "main":
                    out_key = key
                elif key == "accuracy":
                    out_key = "acc_norm"  # length-normalised choice: only its accuracy is reported, as in the field
                else:
                    continue
                values[out_key] = float(value)
                stderrs[out_key] = module_stderr.get(key) if key in module_stderr else \
                    _mean_stderr(sample_scores.get(key), config)
            if variant == "main":
                per_sample.update(sample_scores)
    if task.primary_metric not in values:
        raise ValueError(f"{task.source_file}: field 'primary_metric' names {task.primary_metric!r}, "
                         f"which the metrics do not produce (they give {', '.join(values)})")
    for i, sample in enumerate(samples):
        sample["scores"] = {k: v[i] for k, v in per_sample.items()}
    if samples_path is not None:
        write_jsonl(samples_path, samples)
    return {
        "task": task.name,
        "version": task.version,
        "language": task.language,
        "category": task.category,
        "dataset": {"name": task.dataset, "file": task.data_file, "hash": task.dataset_hash(), "rows": len(pool)},
        "n": len(docs),
        "num_fewshot": task.num_fewshot,
        # which docs served as examples (each sample's own list is in its log line)
        "fewshot": {**task.fewshot_settings(), "used_ids": sorted({i for s in samples for i in s.get("fewshot_ids", [])})},
        "scoring": "classifier_head" if model.is_classifier and task.output_type == "multiple_choice" else task.output_type,
        "primary_metric": task.primary_metric,
        "metrics": {k: {"value": values[k], "stderr": stderrs[k]} for k in values},
        "signatures": signatures,
        "samples_file": str(samples_path) if samples_path else None,
        "timings": {"requests_s": round(requests_s, 3), "total_s": round(time.perf_counter() - started, 3)},
    }


def _multiple_choice(model, task, docs, pool):
    choices = task.choices()
    golds = [task.gold_index(d, choices) for d in docs]
    prompts = [task.context_with_shots(d, pool, choices) for d in docs]
    contexts = [ctx for ctx, _ in prompts]
    if model.is_classifier:
        return _classifier_head(model, task, docs, choices, golds)
    requests = [LoglikelihoodRequest(ctx, task.choice_prefix + word) for ctx in contexts for _, word in choices]
    scores = model.loglikelihood(requests)
    k = len(choices)
    predictions, normalised, samples = [], [], []
    for i, doc in enumerate(docs):
        lls = [scores[i * k + j][0] for j in range(k)]
        # acc_norm divides by the continuation's length in characters, as lm-evaluation-harness does
        norm = [ll / max(len(task.choice_prefix + choices[j][1]), 1) for j, ll in enumerate(lls)]
        predictions.append(int(np.argmax(lls)))
        normalised.append(int(np.argmax(norm)))
        samples.append({
            "doc_id": doc["id"], "prompt": contexts[i], "fewshot_ids": prompts[i][1],
            "output": choices[predictions[-1]][1], "reference": choices[golds[i]][1], "loglikelihoods": lls,
        })
    return scores, {"main": predictions, "norm": normalised}, golds, samples


def _classifier_head(model, task, docs, choices, golds):
    head_labels = [str(label) for label in model.class_labels()]
    task_labels = [str(v) for v, _ in choices]
    unknown = sorted(set(task_labels) - set(head_labels))
    if unknown:
        raise ValueError(f"{task.name}: the classifier head has no class for label(s) {unknown[:5]} "
                         f"(head classes: {head_labels[:10]})")
    texts = [task.render(task.classifier_input or "{text}", d) for d in docs]
    probs = model.classify(texts)
    columns = [head_labels.index(label) for label in task_labels]
    predictions, samples = [], []
    for i, doc in enumerate(docs):
        row = [probs[i][c] for c in columns]
        predictions.append(int(np.argmax(row)))
        samples.append({"doc_id": doc["id"], "prompt": texts[i], "output": choices[predictions[-1]][1],
                        "reference": choices[golds[i]][1], "probabilities": row})
    return probs, {"main": predictions}, golds, samples


def _generation(model, task, docs, pool, config):
    budget = task.max_new_tokens if config.max_new_tokens is None else min(task.max_new_tokens, config.max_new_tokens)
    prompts = [task.context_with_shots(d, pool) for d in docs]
    contexts = [ctx for ctx, _ in prompts]
    requests = [GenerationRequest(ctx, tuple(task.until), budget) for ctx in contexts]
    outputs = [cut_at_stop(o, task.until).strip() for o in model.generate(requests)]
    references = [task.reference_list(d) for d in docs]
    samples = [
        {"doc_id": d["id"], "prompt": ctx, "fewshot_ids": shots, "output": out, "reference": refs}
        for d, (ctx, shots), out, refs in zip(docs, prompts, outputs, references)
    ]
    return outputs, {"main": outputs}, references, samples


def _rolling(model, task, docs):
    """Whole texts scored from a document start (perplexity tasks)."""
    texts = [task.render(task.prompt, d) for d in docs]
    scores = model.loglikelihood_rolling(texts)
    samples = [{"doc_id": d["id"], "text": t, "loglikelihood": ll, "tokens": n}
               for d, t, (ll, n) in zip(docs, texts, scores)]
    lls = [ll for ll, _ in scores]
    return lls, {"main": lls}, texts, samples


def _mean_stderr(sample_scores, config) -> float | None:
    """Bootstrap standard error of a mean of per-sample scores (EM, F1, ROUGE, accuracy)."""
    if sample_scores is None or len(sample_scores) < 2 or config.bootstrap_iters <= 0:
        return None
    scores = np.asarray(sample_scores, dtype=float)
    rng = np.random.default_rng(config.seed)
    draws = rng.integers(0, len(scores), size=(config.bootstrap_iters, len(scores)))
    return float(scores[draws].mean(axis=1).std(ddof=1))
