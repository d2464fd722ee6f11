"""Throughput of roots-eval vs lm-evaluation-harness on the same model, tasks and documents.

    nice python benchmarks/bench_eval.py [--limit-cls 200] [--limit-gen 40] [--max-new-tokens 32]

What is compared, in one run:

- the model: a tiny roots_model checkpoint trained here (`roots_model.testing.tiny_checkpoint`)
  and exported with `roots_model.export.export_llama`. roots-eval scores the export through its
  Hugging Face backend (`--model-type hf`, the same transformers model lm-eval loads) and the
  original checkpoint through its native backend; lm-eval scores the export with `--model hf`
  (`add_bos_token=True`: the export's BOS is <|endoftext|>, which every training document
  follows and which roots-eval puts before every context too).
- the tasks: cls_sst2 (log-likelihood of each label word; accuracy), mt_flores200_zh-en (greedy
  generation; BLEU and chrF, 13a) and sum_xsum (greedy generation; ROUGE-1/2/L with Porter
  stemming). lm-eval gets custom task YAMLs written to a temporary folder (`--include_path`)
  that read the same JSONL files from the ROOTS data directory (`dataset_path: json`), build the
  same prompts with the same templates, the same choices and stop strings, and keep the same
  documents as roots-eval's `--limit` (its stable subset, passed by id to `process_docs`). Both
  run 0-shot (lm-eval samples few-shot examples differently) and cap generation at the same
  number of tokens.
- the numbers: accuracy must agree exactly, BLEU/chrF/ROUGE to 1e-6; the per-document prompts
  and outputs (generation) or predictions (classification) are compared too, and
  log-likelihoods to 1e-4.

Each (tool, task) is one fresh CLI process, timed wall clock from start to exit (imports, task
loading, model loading, scoring, metrics with 1000 bootstrap resamples, writing results and
per-sample logs), on CPU, batch size 8, no output cache. Everything is offline
(HF_HUB_OFFLINE=1, HF_DATASETS_OFFLINE=1); the `datasets` cache of the JSONL files lives in the
work folder and is filled once, untimed, before the timed runs.

Needs `pip install "transformers==5.23.0" "lm-eval==0.4.13"` (extras `hf` and `bench`).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TASKS = {  # task -> (limit option, metrics compared, exact?)
    "cls_sst2": ("limit_cls", ["accuracy", "acc_norm"]),
    "mt_flores200_zh-en": ("limit_gen", ["bleu", "chrf"]),
    "sum_xsum": ("limit_gen", ["rougeL", "rouge1", "rouge2"]),
}
EXACT = {"accuracy", "acc_norm"}
LL_TOL = 1e-4
METRIC_TOL = 1e-6


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", default=",".join(TASKS), help=f"comma list from {', '.join(TASKS)}")
    p.add_argument("--limit-cls", type=int, default=200, help="documents of the classification task")
    p.add_argument("--limit-gen", type=int, default=40, help="documents of each generation task")
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--steps", type=int, default=40, help="training steps of the tiny checkpoint")
    p.add_argument("--repeats", type=int, default=1, help="timed runs per (tool, task); the median is reported")
    p.add_argument("--workdir", default=None, help="keep everything here (default: a temporary folder, removed)")
    return p.parse_args(argv)


# -- the model --------------------------------------------------------------------------------
def make_model(work: Path, steps: int) -> tuple[Path, Path]:
    from roots_model.export import export_llama
    from roots_model.testing import tiny_checkpoint

    checkpoint = tiny_checkpoint(work, steps=steps)
    return checkpoint, export_llama(checkpoint, work / "hf_export")


# -- lm-eval task files -----------------------------------------------------------------------
UTILS_HEADER = '''"""Written by benchmarks/bench_eval.py: prompts, document selection and metrics of the
ROOTS tasks, for lm-evaluation-harness."""
import json
from pathlib import Path

SPEC = json.loads((Path(__file__).parent / "spec.json").read_text(encoding="utf-8"))


def _select(name, dataset):
    wanted = SPEC[name]["doc_ids"]
    position = {doc_id: i for i, doc_id in enumerate(dataset["id"])}
    return dataset.select([position[doc_id] for doc_id in wanted])


def _rouge(name, doc, results):
    from rouge_score import rouge_scorer

    spec = SPEC[name]
    scorer = rouge_scorer.RougeScorer(spec["rouge_types"], use_stemmer=spec["use_stemmer"])
    refs = [r.format(**doc) for r in spec["references"]]
    scores = scorer.score_multi(refs, results[0].strip())
    return {t: 100.0 * scores[t].fmeasure for t in spec["rouge_types"]}


def _mt(name, doc, results):
    refs = [r.format(**doc) for r in SPEC[name]["references"]]
    prediction = results[0].strip()
    return {"bleu": (refs, prediction), "chrf": (refs, prediction)}
'''

UTILS_TASK = '''

def process_docs_{py}(dataset):
    return _select({name!r}, dataset)


def doc_to_text_{py}(doc):
    return SPEC[{name!r}]["prompt"].format(**doc)
'''


def write_lm_eval_tasks(folder: Path, tasks, limits, max_new_tokens: int) -> dict:
    """One YAML per task + utils.py + spec.json; returns {task: lm-eval task name}."""
    folder.mkdir(parents=True, exist_ok=True)
    spec, names, utils = {}, {}, [UTILS_HEADER]
    for task in tasks:
        py = task.name.replace("-", "_").replace(".", "_")
        lm_name = f"roots_{py}"
        names[task.name] = lm_name
        pool = task.load_docs()
        if task.filter:
            raise SystemExit(f"{task.name}: row filters are not mirrored in the lm-eval task")
        docs = task.select(pool, limits[task.name])
        entry = {"prompt": task.prompt, "doc_ids": [d["id"] for d in docs]}
        lines = [
            f"task: {lm_name}",
            "dataset_path: json",
            f"dataset_kwargs: {{data_files: {{test: {json.dumps(str(task.data_path()))}}}}}",
            "test_split: test",
            f"process_docs: !function utils.process_docs_{py}",
            f"doc_to_text: !function utils.doc_to_text_{py}",
            "num_fewshot: 0",
        ]
        utils.append(UTILS_TASK.format(py=py, name=task.name))
        if task.output_type == "multiple_choice":
            choices = task.choices()
            entry["labels"] = [str(v) for v, _ in choices]
            lines += [
                "output_type: multiple_choice",
                f"doc_to_choice: {json.dumps([w for _, w in choices])}",
                f"doc_to_target: !function utils.doc_to_target_{py}",
                f"target_delimiter: {json.dumps(task.choice_prefix)}",
                "metric_list:",
                "  - {metric: acc, aggregation: mean, higher_is_better: true}",
                "  - {metric: acc_norm, aggregation: mean, higher_is_better: true}",
            ]
            utils.append(f'''

def doc_to_target_{py}(doc):
    return SPEC[{task.name!r}]["labels"].index(str(doc[{task.label_field!r}]))
''')
        else:
            if task.references_field:
                raise SystemExit(f"{task.name}: references_field is not mirrored in the lm-eval task")
            entry["references"] = task.references
            budget = min(task.max_new_tokens, max_new_tokens)
            lines += [
                "output_type: generate_until",
                f"doc_to_target: {json.dumps('{{' + _first_field(task.references[0]) + '}}')}",
                f"process_results: !function utils.process_results_{py}",
                "generation_kwargs:",
                f"  until: {json.dumps(task.until)}",
                f"  max_gen_toks: {budget}",
                "  do_sample: false",
                "  temperature: 0.0",
                "metric_list:",
            ]
            kinds = {m.name for m in task.metrics}
            if "rouge" in kinds:
                args = next(m.args for m in task.metrics if m.name == "rouge")
                if args.get("tokenizer", "default") != "default":
                    raise SystemExit(f"{task.name}: only rouge-score's default tokenizer is mirrored")
                entry["rouge_types"] = list(args.get("rouge_types") or ["rouge1", "rouge2", "rougeL"])
                entry["use_stemmer"] = bool(args.get("use_stemmer", False))
                lines += [f"  - {{metric: {t}, aggregation: mean, higher_is_better: true}}" for t in entry["rouge_types"]]
                utils.append(f"\n\ndef process_results_{py}(doc, results):\n    return _rouge({task.name!r}, doc, results)\n")
            else:
                bleu_args = next((m.args for m in task.metrics if m.name == "sacrebleu"), {})
                if bleu_args.get("tokenize", "13a") != "13a":
                    raise SystemExit(f"{task.name}: lm-eval's bleu uses sacrebleu's 13a tokenizer only")
                lines += ["  - {metric: bleu, aggregation: bleu, higher_is_better: true}",
                          "  - {metric: chrf, aggregation: chrf, higher_is_better: true}"]
                utils.append(f"\n\ndef process_results_{py}(doc, results):\n    return _mt({task.name!r}, doc, results)\n")
        lines.append("metadata: {version: 1.0}")
        (folder / f"{lm_name}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        spec[task.name] = entry
    (folder / "spec.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    (folder / "utils.py").write_text("".join(utils), encoding="utf-8")
    return names


def _first_field(template: str) -> str:
    from roots_eval.task import template_fields

    return sorted(template_fields(template))[0]


# -- runs -------------------------------------------------------------------------------------
def timed(cmd, env, log: Path) -> float:
    started = time.perf_counter()
    with open(log, "w", encoding="utf-8") as handle:
        proc = subprocess.run(cmd, env=env, stdout=handle, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(map(str, cmd))}\n{tail}")
    return wall


def run_roots(model: Path, model_type: str, task: str, limit: int, args, out: Path, env) -> tuple[float, dict, list]:
    output = out / f"{model_type}_{task}.json"
    cmd = [sys.executable, "-m", "roots_eval.cli", "run", "--model", str(model), "--model-type", model_type,
           "--tasks", task, "--limit", str(limit), "--num-fewshot", "0", "--max-new-tokens", str(args.max_new_tokens),
           "--batch-size", str(args.batch_size), "--device", "cpu", "--no-cache", "--output", str(output)]
    wall = timed(cmd, env, out / f"{model_type}_{task}.log")
    data = json.loads(output.read_text(encoding="utf-8"))
    if data["errors"]:
        raise SystemExit(f"roots-eval {model_type} {task}: {data['errors']}")
    entry = data["results"][task]
    samples = [json.loads(line) for line in (output.parent / entry["samples_file"]).read_text(encoding="utf-8").splitlines()]
    return wall, entry, samples


def run_lm_eval(hf_dir: Path, lm_task: str, task_dir: Path, args, out: Path, env) -> tuple[float, dict, list]:
    target = out / f"lm_eval_{lm_task}"
    shutil.rmtree(target, ignore_errors=True)
    cmd = [sys.executable, "-m", "lm_eval", "run", "--model", "hf",
           "--model_args", f"pretrained={hf_dir},add_bos_token=True,dtype=float32",
           "--tasks", lm_task, "--include_path", str(task_dir), "--device", "cpu",
           "--batch_size", str(args.batch_size),
           "--output_path", str(target), "--log_samples"]
    wall = timed(cmd, env, out / f"lm_eval_{lm_task}.log")
    results_files = sorted(target.rglob("results_*.json"))
    samples_files = sorted(target.rglob(f"samples_{lm_task}_*.jsonl"))
    if not results_files or not samples_files:
        raise SystemExit(f"lm-eval wrote no results/samples under {target}")
    results = json.loads(results_files[-1].read_text(encoding="utf-8"))["results"][lm_task]
    samples = [json.loads(line) for line in samples_files[-1].read_text(encoding="utf-8").splitlines()]
    return wall, results, samples


# -- agreement --------------------------------------------------------------------------------
def lm_eval_metrics(results: dict, wanted: list[str]) -> dict:
    out = {}
    for name in wanted:
        key = {"accuracy": "acc", "acc_norm": "acc_norm"}.get(name, name)
        value = results.get(f"{key},none")
        if value is None:
            continue
        out[name] = 100.0 * value if key in ("acc", "acc_norm") else float(value)
    return out


def compare(task, ours: dict, ours_samples: list, lm_results: dict, lm_samples: list, wanted) -> tuple[dict, list[str]]:
    """lm-eval's metric values and the disagreements with roots-eval (empty: they agree)."""
    problems = []
    theirs = lm_eval_metrics(lm_results, wanted)
    for name in wanted:
        a = ours["metrics"].get(name, {}).get("value")
        b = theirs.get(name)
        if a is None or b is None:
            problems.append(f"{name} missing")
            continue
        tol = 1e-9 if name in EXACT else METRIC_TOL
        if not math.isclose(a, b, rel_tol=0, abs_tol=tol):
            problems.append(f"{name} {a:.6f} vs {b:.6f}")
    by_id = {s["doc"]["id"]: s for s in lm_samples}
    if set(by_id) != {s["doc_id"] for s in ours_samples}:
        problems.append("different documents")
        return theirs, problems
    prompts = outputs = lls = 0
    for s in ours_samples:
        other = by_id[s["doc_id"]]
        if _lm_eval_context(other["arguments"]) != s["prompt"]:
            prompts += 1
        if task.output_type == "multiple_choice":
            their_lls = [float(r[0]) for r in other["filtered_resps"]]
            if any(abs(x - y) > LL_TOL for x, y in zip(their_lls, s["loglikelihoods"])):
                lls += 1
            if max(range(len(their_lls)), key=their_lls.__getitem__) != max(
                    range(len(s["loglikelihoods"])), key=s["loglikelihoods"].__getitem__):
                outputs += 1
        else:
            resp = other["filtered_resps"][0]
            resp = resp[0] if isinstance(resp, list) else resp
            if resp.strip() != s["output"]:
                outputs += 1
    for count, what in ((prompts, "prompts"), (outputs, "outputs"), (lls, "log-likelihoods")):
        if count:
            problems.append(f"{count} {what} differ")
    return theirs, problems


def _lm_eval_context(arguments) -> str:
    """The context of a logged lm-eval request ({"gen_args_0": {"arg_0": context, ...}} in 0.4.13)."""
    first = next(iter(arguments.values())) if isinstance(arguments, dict) else arguments[0]
    return first["arg_0"] if isinstance(first, dict) else first[0]


def fmt_metrics(values: dict, wanted) -> str:
    return ", ".join(f"{k} {values[k]:.4f}" for k in wanted if k in values)


def main(argv=None) -> int:
    args = parse_args(argv)
    for var, value in (("HF_HUB_OFFLINE", "1"), ("HF_DATASETS_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"),
                       ("TOKENIZERS_PARALLELISM", "false"), ("TQDM_DISABLE", "1")):
        os.environ[var] = value
    try:
        os.nice(5)  # two CPU cores shared with other people
    except OSError:
        pass
    try:
        import lm_eval  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        raise SystemExit(f"needs transformers==5.23.0 and lm-eval==0.4.13 ({exc})")
    from importlib.metadata import version

    from roots_eval.task import load_tasks

    names = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = [n for n in names if n not in TASKS]
    if unknown:
        raise SystemExit(f"unknown task(s) {unknown}; choose from {', '.join(TASKS)}")
    tasks, errors = load_tasks(",".join(names))
    if errors:
        raise SystemExit(f"tasks: {errors}")
    limits = {t.name: getattr(args, TASKS[t.name][0]) for t in tasks}

    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench-eval-"))
    work.mkdir(parents=True, exist_ok=True)
    out = work / "runs"
    out.mkdir(exist_ok=True)
    env = dict(os.environ, HF_DATASETS_CACHE=str(work / "hf_datasets"), HF_HOME=str(work / "hf_home"))
    os.environ.update(HF_DATASETS_CACHE=env["HF_DATASETS_CACHE"], HF_HOME=env["HF_HOME"])
    started = time.perf_counter()
    try:
        t0 = time.perf_counter()
        checkpoint, hf_dir = make_model(work, args.steps)
        print(f"[bench] tiny checkpoint ({args.steps} steps) trained and exported in {time.perf_counter() - t0:.1f} s",
              file=sys.stderr)
        task_dir = work / "lm_eval_tasks"
        lm_names = write_lm_eval_tasks(task_dir, tasks, limits, args.max_new_tokens)
        import datasets

        for task in tasks:  # fill the datasets cache once, untimed, as a second lm-eval run would find it
            datasets.load_dataset("json", data_files={"test": str(task.data_path())})

        rows, all_agree = [], True
        for task in tasks:
            wanted = TASKS[task.name][1]
            runs = {"roots-eval (native)": [], "roots-eval (hf)": [], "lm-eval 0.4.13 (hf)": []}
            for _ in range(args.repeats):
                for label, fn in (
                    ("lm-eval 0.4.13 (hf)", lambda: run_lm_eval(hf_dir, lm_names[task.name], task_dir, args, out, env)),
                    ("roots-eval (hf)", lambda: run_roots(hf_dir, "hf", task.name, limits[task.name], args, out, env)),
                    ("roots-eval (native)", lambda: run_roots(checkpoint, "roots", task.name, limits[task.name], args, out, env)),
                ):
                    runs[label].append(fn())
                    print(f"[bench] {task.name} {label}: {runs[label][-1][0]:.1f} s", file=sys.stderr)
            lm_wall = statistics.median(r[0] for r in runs["lm-eval 0.4.13 (hf)"])
            _, lm_results, lm_samples = runs["lm-eval 0.4.13 (hf)"][-1]
            lm_n = len(lm_samples)
            lm_values = None
            for label in ("roots-eval (native)", "roots-eval (hf)"):
                wall = statistics.median(r[0] for r in runs[label])
                _, entry, samples = runs[label][-1]
                lm_values, problems = compare(task, entry, samples, lm_results, lm_samples, wanted)
                all_agree &= not problems
                values = {k: v["value"] for k, v in entry["metrics"].items()}
                shown = fmt_metrics(values, wanted)
                if task.output_type != "multiple_choice":  # how much text the comparison rests on
                    shown += f" ({sum(bool(s['output']) for s in samples)}/{len(samples)} outputs non-empty)"
                rows.append([task.name, label, entry["n"], wall, entry["n"] / wall, shown,
                             "yes" if not problems else "NO: " + "; ".join(problems), lm_wall / wall])
            rows.append([task.name, "lm-eval 0.4.13 (hf)", lm_n, lm_wall, lm_n / lm_wall,
                         fmt_metrics(lm_values, wanted), "(reference)", 1.0])
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)

    print(f"\nroots-eval vs lm-evaluation-harness {version('lm-eval')} (transformers {version('transformers')}, "
          f"torch {version('torch')}), CPU ({os.cpu_count()} cores, torch threads {_threads()}), batch size "
          f"{args.batch_size}, 0-shot, generation capped at {args.max_new_tokens} new tokens; model: tiny roots_model "
          f"checkpoint ({args.steps} steps), exported to a Hugging Face Llama folder. Wall s = one fresh CLI process "
          f"per (tool, task){f', median of {args.repeats}' if args.repeats > 1 else ''}. agree? = metric values "
          f"(accuracy exactly, BLEU/chrF/ROUGE to {METRIC_TOL:g}), prompts, outputs and choice log-likelihoods "
          f"(to {LL_TOL:g}) vs lm-eval.\n")
    print("| task | tool | n examples | wall s | examples/s | vs lm-eval | metric values | agree? |")
    print("|---|---|---:|---:|---:|---:|---|---|")
    for task, tool, n, wall, rate, metrics, agree, speedup in rows:
        print(f"| {task} | {tool} | {n} | {wall:.1f} | {rate:.2f} | {speedup:.2f}x | {metrics} | {agree} |")
    print(f"\ntotal benchmark time {time.perf_counter() - started:.0f} s; target: >= 2x lm-eval's examples/s")
    return 0 if all_agree else 1


def _threads() -> int:
    import torch

    return torch.get_num_threads()


if __name__ == "__main__":
    sys.exit(main())
