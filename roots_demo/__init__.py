"""`roots-demo`: the whole chain on the real shared data, on a CPU, in minutes.

    corpus pipeline (clean, language ID, filters, dedup) -> tokenizer -> tiny Transformer
    -> evaluation on every built-in task -> fine-tuning as a sentiment classifier
    (ChnSentiCorp + SST-2; scored rows never trained on) -> the pretrained row, the
    fine-tuned row and the baselines scored on the same rows -> leaderboard page
    (with paired-bootstrap significance and a lineage page per row) -> every row's
    lineage verified down to the corpus release and its input files

Each stage runs the product's own CLI in a child process (so its peak memory can be measured
alone), logs to OUT/logs/<stage>.log, and prints one line when it ends. The timings and peak
memory of every stage go to OUT/demo_report.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Stage:
    name: str
    argv: list[str]
    output: str


def stages(out: Path, args) -> list[Stage]:
    py = sys.executable
    # The checkpoint folder name becomes the model id on the leaderboard.
    corpus, tok, model = out / "corpus", out / "tokenizer", out / "roots-tiny-demo"
    clf = out / "roots-tiny-demo-clf"
    results, site = out / "results", out / "site"
    pipeline_input = [f"--input={p}" for p in args.input] if args.input else []
    return [
        Stage("corpus pipeline", [py, "-m", "pipelines", "run", *pipeline_input, f"--output={corpus}", "--overwrite",
                                  "--no_progress", f"--direct_num_workers={args.workers}"], f"{corpus}/"),
        Stage("tokenizer", [py, "-m", "roots_model.cli", "tokenizer", "--data", str(corpus),
                            "--vocab-size", str(args.vocab_size), "--output", str(tok)], f"{tok}/"),
        Stage("pretraining", [py, "-m", "roots_model.cli", "pretrain", "--data", str(corpus), "--tokenizer", str(tok),
                              "--preset", "tiny", "--max-steps", str(args.steps), "--output", str(model),
                              "--no-progress", "--no-tensorboard"], f"{model}/"),
        Stage("evaluation", [py, "-m", "roots_eval.cli", "run", "--model", str(model), "--tasks", "all",
                             "--limit", str(args.limit), "--max-new-tokens", str(args.max_new_tokens),
                             "--output", str(results / "roots-tiny-demo.json")], f"{results}/roots-tiny-demo.json"),
        Stage("fine-tuning", [py, "-m", "roots_demo.sentiment", "train", "--checkpoint", str(model), "--output", str(clf),
                              "--scored", str(args.sentiment_limit), "--epochs", str(args.finetune_epochs)], f"{clf}/"),
        Stage("sentiment evaluation", [py, "-m", "roots_demo.sentiment", "evaluate", "--checkpoint", str(model),
                                       "--classifier", str(clf), "--results", str(results / "sentiment"),
                                       "--scored", str(args.sentiment_limit)], f"{results}/sentiment/"),
        # argv filled in when the stage starts: every results file then present gets a row, so
        # checkpoints evaluated earlier stay on the board without being re-run.
        Stage("leaderboard", [py, "-m", "roots_eval.cli", "leaderboard"], f"{site}/index.html"),
        # Every row's score traced back and re-hashed: results -> checkpoint -> token shards ->
        # corpus release -> config and input files (roots_eval.lineage).
        Stage("lineage", [py, "-m", "roots_eval.cli", "lineage", str(site), "--verify"], f"{site}/lineage/"),
    ]


def _finetuned_vs_majority(board_path: Path) -> dict:
    """The fine-tuned classifier against the majority-class row on each sentiment task."""
    from roots_eval.significance import compare

    board = json.loads(board_path.read_text())
    out = {}
    results = board_path.parent.parent / "results" / "sentiment"
    finetuned, majority = results / "finetuned-sentiment.json", results / "sentiment-baselines" / "baseline-majority.json"
    for task in ("cls_chnsenticorp", "cls_sst2"):
        test = compare(finetuned, majority, task, iters=10000)
        scores = {m["id"]: m["scores"].get(task) for m in board["models"]}
        out[task] = {"finetuned": scores.get("roots-tiny-demo-clf"), "majority": scores.get("baseline-majority"),
                     "p_value": test["p_value"], "delta": test["delta"], "n": test["n"]}
    return out


def run_stage(stage: Stage, log_path: Path) -> dict:
    """Run one stage as a child process; wall time and the child's own peak RSS (wait4)."""
    started = time.perf_counter()  # monotonic: a clock step must not make a stage negative
    with log_path.open("w") as log:
        proc = subprocess.Popen(stage.argv, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"stage": stage.name, "returncode": proc.returncode, "wall_s": round(time.perf_counter() - started, 3),
            # ru_maxrss is in KiB on Linux; it covers the child and the workers it waited for.
            "peak_rss_mib": round(usage.ru_maxrss / 1024, 1), "output": stage.output, "log": str(log_path)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="roots-demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default="out/demo", help="folder for every stage's outputs (replaced)")
    parser.add_argument("--input", action="append", help="raw corpus glob (default: the shared corpus_web_mixed)")
    parser.add_argument("--steps", type=int, default=300, help="pretraining steps of the tiny model")
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--limit", type=int, default=20, help="examples per evaluation task")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="local Beam workers")
    parser.add_argument("--sentiment-limit", type=int, default=200,
                        help="ChnSentiCorp and SST-2 rows scored per task; the classifier trains on the rest")
    parser.add_argument("--finetune-epochs", type=int, default=8)
    args = parser.parse_args(argv)

    from pipelines.datadir import DataDirError, data_dir

    try:
        print(f"roots-demo: data from {data_dir()}", flush=True)
    except DataDirError as e:
        print(f"roots-demo: error: {e}", file=sys.stderr)
        return 2
    out = Path(args.output)
    for sub in ("tokenizer", "roots-tiny-demo", "roots-tiny-demo-clf", "results/sentiment", "site", "logs"):
        shutil.rmtree(out / sub, ignore_errors=True)
    (out / "logs").mkdir(parents=True, exist_ok=True)

    plan = stages(out, args)
    report = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "args": vars(args), "stages": []}
    total = time.perf_counter()
    for i, stage in enumerate(plan, 1):
        if stage.name == "leaderboard":
            stage.argv += [*sorted(map(str, (out / "results").rglob("*.json"))), "--output", str(out / "site")]
        print(f"[{i}/{len(plan)}] {stage.name} ...", flush=True)
        result = run_stage(stage, out / "logs" / f"{i}-{stage.name.replace(' ', '-')}.log")
        report["stages"].append(result)
        if result["returncode"] != 0:
            tail = Path(result["log"]).read_text(errors="replace").splitlines()[-25:]
            print("\n".join(tail), file=sys.stderr)
            print(f"roots-demo: stage '{stage.name}' failed (exit {result['returncode']}); log: {result['log']}",
                  file=sys.stderr)
            return 1
        print(f"[{i}/{len(plan)}] {stage.name}: done in {result['wall_s']:.0f} s, peak {result['peak_rss_mib']:.0f} MiB"
              f" -> {stage.output}", flush=True)
    report["total_wall_s"] = round(time.perf_counter() - total, 3)
    report["finetuned_vs_majority"] = _finetuned_vs_majority(out / "site" / "leaderboard.json")
    for task, test in report["finetuned_vs_majority"].items():
        print(f"roots-demo: {task}: fine-tuned {test['finetuned']:.1f} vs majority class {test['majority']:.1f} "
              f"accuracy, paired bootstrap p = {test['p_value']:.4f}", flush=True)
    (out / "demo_report.json").write_text(json.dumps(report, indent=2))
    print(f"roots-demo: finished in {report['total_wall_s'] / 60:.1f} min; open {out / 'site' / 'index.html'}; "
          f"timings in {out / 'demo_report.json'}", flush=True)
    return 0
