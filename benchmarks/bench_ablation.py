"""Data ablation: does the corpus pipeline make a better language model for the same compute?

The same tiny Transformer (preset `tiny`, same seed, same tokenizer, same token budget) is
pretrained on three versions of the shared corpus_web_mixed, as FineWeb and DCLM judge their
recipes:

  raw       the corpus as it is: no cleaning, no language ID, no filters, no dedup
  roots2022 `roots-pipeline run` with the zh/en bounds copied from BigScience ROOTS, as the
            pipeline's defaults were before issue 13 (benchmarks/configs/roots_2022_thresholds.yaml;
            its header says what a config cannot restore), dedup on
  tuned     `roots-pipeline run` with today's defaults (bounds re-derived on quality_eval), dedup on

and scored on held-out clean text that no arm trained on: bits per byte (tokenizer-independent,
lower is better) and word perplexity on FLORES-200 dev zh and en (`lm_flores200_zh/en`), plus
the zero-shot classification tasks of the eval suite (label log-likelihood). Every step runs
the product's own CLI in a child process, as `roots-demo` does:

  roots-pipeline run -> roots-train tokenizer (once, on the raw corpus: the union of what the
  three arms hold) -> roots-train prepare (per arm) -> roots-train pretrain (per arm and seed)
  -> roots-eval run (per arm and seed)

    python benchmarks/bench_ablation.py --output out/ablation [--seeds 1,2,3] [--steps 200]

Prints a table, writes OUT/ablation.json and OUT/ablation.png. `--reuse` skips every step whose
command already succeeded under OUT (a longer --seeds list adds seeds to a finished run).
Children run with OMP_NUM_THREADS=--threads (1 by default: on a shared 2-core machine one
thread per process trains faster than two).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ARMS = ("raw", "roots2022", "tuned")
ARM_LABELS = {"raw": "(1) raw corpus", "roots2022": "(2) ROOTS 2022 thresholds + dedup",
              "tuned": "(3) tuned defaults + dedup"}
ARM_CONFIG = {"roots2022": REPO / "benchmarks" / "configs" / "roots_2022_thresholds.yaml", "tuned": None}
LM_TASKS = ("lm_flores200_zh", "lm_flores200_en")
CLS_TASKS = ("cls_chnsenticorp", "cls_thucnews_titles", "cls_tnews", "cls_sst2", "cls_agnews")


class StepFailed(RuntimeError):
    pass


class Runner:
    """Runs one CLI step in a child process, logs it, and (with --reuse) skips a step whose
    exact command already succeeded: a marker file holds the command line."""

    def __init__(self, out: Path, threads: int, reuse: bool):
        self.out, self.reuse = out, reuse
        self.logs, self.marks = out / "logs", out / ".done"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.marks.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
                    "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")}
        self.timings: dict[str, float] = {}

    def __call__(self, name: str, argv: list[str]) -> float:
        key = hashlib.sha256(json.dumps(argv).encode()).hexdigest()
        mark = self.marks / f"{name}.json"
        if self.reuse and mark.exists():
            saved = json.loads(mark.read_text())
            if saved.get("key") == key:
                print(f"  {name}: reused ({saved['wall_s']:.0f} s when run)", flush=True)
                self.timings[name] = saved["wall_s"]
                return saved["wall_s"]
        mark.unlink(missing_ok=True)
        log = self.logs / f"{name}.log"
        print(f"  {name} ...", end="", flush=True)
        started = time.perf_counter()
        with log.open("w") as f:
            f.write(" ".join(argv) + "\n\n")
            f.flush()
            rc = subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT, env=self.env, cwd=REPO).returncode
        wall = time.perf_counter() - started
        if rc != 0:
            tail = log.read_text(errors="replace").splitlines()[-20:]
            print(f" FAILED (exit {rc})\n" + "\n".join(tail), file=sys.stderr)
            raise StepFailed(f"{name} failed; log: {log}")
        print(f" {wall:.0f} s", flush=True)
        mark.write_text(json.dumps({"key": key, "argv": argv, "wall_s": round(wall, 1)}))
        self.timings[name] = round(wall, 1)
        return wall


def _corpus_stats(arm: str, corpus: Path, tokens: Path) -> dict:
    manifest = json.loads((tokens / "manifest.json").read_text())
    train = sum(e["shards"]["train"]["tokens"] for e in manifest["files"].values())
    info = {"train_tokens": train}
    stats = corpus / "stats.json"
    if arm != "raw" and stats.exists():
        s = json.loads(stats.read_text())
        info.update(docs=s["kept"], mb=round(s["bytes"]["kept"] / 1e6, 2), read_docs=s["read"],
                    dropped=s["dropped"],
                    lang_mb={k: round(v.get("kept_bytes", 0) / 1e6, 2) for k, v in s["languages"].items()
                             if v.get("kept_bytes")})
    else:
        from roots_model.documents import iter_documents

        docs = n_bytes = 0
        for doc in iter_documents(corpus):
            docs += 1
            n_bytes += len(doc["text"].encode("utf-8"))
        info.update(docs=docs, mb=round(n_bytes / 1e6, 2))
        info["lang_mb"] = None  # filled from a pipeline run's stats (language ID of every document read)
    return info


def _raw_languages(stats_path: Path) -> dict:
    """MB of the raw corpus per language (the pipeline's language ID, every document read)."""
    langs = json.loads(stats_path.read_text())["languages"]
    return {k: round(v.get("read_bytes", 0) / 1e6, 2) for k, v in langs.items() if v.get("read_bytes")}


def _share(lang_mb: dict | None, lang: str) -> float | None:
    if not lang_mb:
        return None
    return lang_mb.get(lang, 0.0) / sum(lang_mb.values())


def _task_metric(results: Path, task: str, metric: str) -> float | None:
    entry = json.loads(results.read_text())["results"].get(task)
    return entry["metrics"][metric]["value"] if entry else None


def _per_sentence_bpb(results: Path, task: str) -> dict[str, float]:
    from roots_eval.significance import sample_scores

    return sample_scores(results, task)[1]


def _mean_sd(values: list[float]) -> tuple[float, float]:
    vals = [v for v in values if v is not None]
    if not vals:
        return float("nan"), float("nan")
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)


def _paired(results: dict, arm_a: str, arm_b: str, task: str) -> dict:
    """Paired bootstrap over the FLORES sentences of the seed-averaged per-sentence bits per
    byte: delta = B - A (positive: A has fewer bits per byte, i.e. A is better)."""
    from roots_eval.significance import paired_bootstrap

    def averaged(arm):
        runs = [_per_sentence_bpb(p, task) for p in results[arm]]
        ids = sorted(set.intersection(*(set(r) for r in runs)))
        return {i: statistics.fmean(r[i] for r in runs) for i in ids}

    a, b = averaged(arm_a), averaged(arm_b)
    ids = sorted(set(a) & set(b))
    return paired_bootstrap([b[i] for i in ids], [a[i] for i in ids])


def _seed_level(summary: dict, arm_a: str, arm_b: str, task: str) -> dict:
    """Training noise: the bits/byte saved by A (mean over seeds, B - A) against its standard
    error from the seed-to-seed spread of both arms (Welch); |delta| < 2 se is within noise."""
    ra = summary["arms"][arm_a]["scores"][task]["bits_per_byte"]
    rb = summary["arms"][arm_b]["scores"][task]["bits_per_byte"]
    n_a, n_b = len(ra["per_seed"]), len(rb["per_seed"])
    delta = rb["mean"] - ra["mean"]
    se = (ra["sd"] ** 2 / n_a + rb["sd"] ** 2 / n_b) ** 0.5
    return {"delta": delta, "se": se, "within_noise": bool(abs(delta) < 2 * se) if se else None}


def _chart(summary: dict, seeds: list[int], path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    colors = {"raw": "#9e9e9e", "roots2022": "#6baed6", "tuned": "#08519c"}
    for ax, task, title in zip(axes, LM_TASKS, ("FLORES-200 dev zh", "FLORES-200 dev en")):
        for x, arm in enumerate(ARMS):
            row = summary["arms"][arm]["scores"][task]
            ax.bar(x, row["bits_per_byte"]["mean"], yerr=row["bits_per_byte"]["sd"], color=colors[arm],
                   capsize=4, width=0.65)
            ax.scatter([x] * len(row["bits_per_byte"]["per_seed"]), row["bits_per_byte"]["per_seed"],
                       color="black", s=10, zorder=3)
        values = [v for arm in ARMS for v in summary["arms"][arm]["scores"][task]["bits_per_byte"]["per_seed"]]
        lo, hi = min(values), max(values)
        bottom = lo - 0.6 * (hi - lo + 0.02)
        ax.set_ylim(bottom, hi + 0.5 * (hi - lo + 0.02))
        for x, arm in enumerate(ARMS):
            mean = summary["arms"][arm]["scores"][task]["bits_per_byte"]["mean"]
            ax.text(x, bottom + 0.04 * (hi - bottom), f"{mean:.3f}", ha="center", va="bottom", fontsize=9,
                    color="white", fontweight="bold")
        ax.set_xticks(range(len(ARMS)), ["raw", "ROOTS 2022\n+ dedup", "tuned\n+ dedup"])
        ax.set_title(title)
        ax.set_ylabel("bits per byte (lower is better)")
    b = summary["budget"]
    fig.suptitle(f"Same tiny model, same {b['tokens']:,} training tokens; mean of seeds {seeds} (dots: each seed)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--output", required=True, help="folder for every output (corpora, tokens, checkpoints, results)")
    p.add_argument("--input", default=None, help="raw corpus folder or JSONL file (default: $ROOTS_DATA_DIR/corpus_web_mixed)")
    p.add_argument("--seeds", default="1,2,3", help="comma-separated training seeds (model init and data order)")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--vocab-size", type=int, default=8000)
    p.add_argument("--preset", default="tiny", help="model preset of every arm (tiny on CPU; 124m on a GPU)")
    p.add_argument("--device", default="cpu", help="training and evaluation device (cpu, cuda)")
    p.add_argument("--cls-limit", type=int, default=300, help="examples per classification task (0: skip them)")
    p.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of every child process")
    p.add_argument("--workers", type=int, default=1, help="local Beam workers of the pipeline runs")
    p.add_argument("--reuse", action="store_true", help="skip steps whose exact command already succeeded under --output")
    args = p.parse_args(argv)

    from pipelines.datadir import DataDirError, data_dir

    try:
        raw = Path(args.input) if args.input else data_dir() / "corpus_web_mixed"
    except DataDirError as e:
        print(f"bench_ablation: error: {e}", file=sys.stderr)
        return 2
    if not raw.exists():
        print(f"bench_ablation: error: {raw} does not exist", file=sys.stderr)
        return 2
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    out = Path(args.output).resolve()
    out.mkdir(parents=True, exist_ok=True)
    run = Runner(out, args.threads, args.reuse)
    py = sys.executable
    started = time.perf_counter()
    tokens_per_run = args.steps * args.batch_size * args.seq_len
    print(f"bench_ablation: raw corpus {raw}; {len(ARMS)} arms x seeds {seeds}; "
          f"{args.steps} steps x {args.batch_size} x {args.seq_len} = {tokens_per_run:,} tokens per run", flush=True)

    try:
        # 1. The two pipeline outputs (dedup on: the default).
        corpus = {"raw": raw}
        pipeline_input = str(raw / "*.jsonl") if raw.is_dir() else str(raw)
        for arm, config in ARM_CONFIG.items():
            corpus[arm] = out / "corpus" / arm
            run(f"pipeline-{arm}", [py, "-m", "pipelines", "run", f"--input={pipeline_input}", f"--output={corpus[arm]}",
                                    "--overwrite", "--no_progress", f"--direct_num_workers={args.workers}",
                                    *([f"--config={config}"] if config else [])])
        # 2. One tokenizer for every arm, trained on the raw corpus: the union of the three training
        #    sets (the pipeline outputs are subsets of it), fitted to none of the filtered selections.
        tok = out / "tokenizer"
        run("tokenizer", [py, "-m", "roots_model.cli", "tokenizer", "--data", str(raw),
                          "--vocab-size", str(args.vocab_size), "--output", str(tok)])
        # 3. Token shards per arm, once (every seed reads the same ones).
        tokens = {arm: out / "tokens" / arm for arm in ARMS}
        for arm in ARMS:
            run(f"prepare-{arm}", [py, "-m", "roots_model.cli", "prepare", "--data", str(corpus[arm]),
                                   "--tokenizer", str(tok), "--output", str(tokens[arm]), "--workers", "1"])
        # 4. Pretrain + evaluate; arms interleaved within a seed so that drift in machine load
        #    falls on all arms alike.
        results: dict[str, list[Path]] = {arm: [] for arm in ARMS}
        for seed in seeds:
            for arm in ARMS:
                ckpt = out / "runs" / f"{arm}-seed{seed}"
                run(f"pretrain-{arm}-seed{seed}", [
                    py, "-m", "roots_model.cli", "pretrain", "--data", str(tokens[arm]), "--tokenizer", str(tok),
                    "--preset", args.preset, "--max-steps", str(args.steps), "--batch-size", str(args.batch_size),
                    "--seq-len", str(args.seq_len), "--seed", str(seed), "--output", str(ckpt),
                    "--eval-interval", str(args.steps), "--checkpoint-interval", str(args.steps),
                    "--keep-checkpoints", "1", "--device", args.device, "--no-progress", "--no-tensorboard"])
                res = out / "results" / f"{arm}-seed{seed}.json"
                tasks = list(LM_TASKS)
                run(f"eval-lm-{arm}-seed{seed}", [py, "-m", "roots_eval.cli", "run", "--model", str(ckpt),
                                                  "--tasks", ",".join(tasks), "--output", str(res),
                                                  "--device", args.device, "--no-cache"])
                if args.cls_limit:
                    cres = out / "results" / f"{arm}-seed{seed}-cls.json"
                    run(f"eval-cls-{arm}-seed{seed}", [py, "-m", "roots_eval.cli", "run", "--model", str(ckpt),
                                                       "--tasks", ",".join(CLS_TASKS), "--limit", str(args.cls_limit),
                                                       "--output", str(cres), "--device", args.device, "--no-cache"])
                results[arm].append(res)
        if args.cls_limit:  # majority / random class on the same rows: what "at chance" means
            run("eval-cls-baselines", [py, "-m", "roots_eval.cli", "baselines", "--tasks", ",".join(CLS_TASKS),
                                       "--limit", str(args.cls_limit), "--output", str(out / "results" / "baselines")])
    except StepFailed as e:
        print(f"bench_ablation: {e}", file=sys.stderr)
        return 1

    # 5. Summary.
    git = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.splitlines()
    summary = {"git": {"commit": git, "modified_files": len(dirty)},
               "budget": {"steps": args.steps, "batch_size": args.batch_size, "seq_len": args.seq_len,
                          "tokens": tokens_per_run, "preset": args.preset, "device": args.device, "vocab_size": args.vocab_size,
                          "tokenizer_trained_on": str(raw), "threads": args.threads},
               "seeds": seeds, "arms": {}, "paired_bootstrap": {}, "timings_s": run.timings}
    tok_report = out / "tokenizer" / "tokenizer_report.json"
    for arm in ARMS:
        info = _corpus_stats(arm, corpus[arm], tokens[arm])
        info["epochs"] = round(tokens_per_run / info["train_tokens"], 3)
        if arm == "raw" and (corpus["tuned"] / "stats.json").exists():
            info["lang_mb"] = _raw_languages(corpus["tuned"] / "stats.json")
        info["zh_share"], info["en_share"] = _share(info["lang_mb"], "zh"), _share(info["lang_mb"], "en")
        scores = {}
        for task in LM_TASKS:
            scores[task] = {}
            for metric in ("bits_per_byte", "word_perplexity"):
                vals = [_task_metric(r, task, metric) for r in results[arm]]
                m, sd = _mean_sd(vals)
                scores[task][metric] = {"mean": m, "sd": sd, "per_seed": vals}
        if args.cls_limit:
            for task in CLS_TASKS:
                vals = [_task_metric(r.with_name(r.stem + "-cls.json"), task, "accuracy") for r in results[arm]]
                m, sd = _mean_sd(vals)
                scores[task] = {"accuracy": {"mean": m, "sd": sd, "per_seed": vals}}
        train_loss = []
        for seed in seeds:
            metrics = (out / "runs" / f"{arm}-seed{seed}" / "metrics.jsonl").read_text().splitlines()
            rows = [json.loads(line) for line in metrics if line.strip()]
            train_loss.append(rows[-1]["loss"] if rows else None)
        info["final_train_loss"] = train_loss
        summary["arms"][arm] = {"label": ARM_LABELS[arm], "config": str(ARM_CONFIG.get(arm) or
                                ("pipelines/config/default.yaml" if arm == "tuned" else "none")),
                                "corpus": info, "scores": scores}
    summary["seed_level"] = {}
    for a, b in (("tuned", "raw"), ("roots2022", "raw"), ("tuned", "roots2022")):
        for task in LM_TASKS:
            summary["paired_bootstrap"][f"{a}_vs_{b}:{task}"] = _paired(results, a, b, task)
            summary["seed_level"][f"{a}_vs_{b}:{task}"] = _seed_level(summary, a, b, task)
    summary["total_wall_s"] = round(time.perf_counter() - started, 1)
    # With --reuse, the wall time of every step when it ran (this invocation's total is then small).
    summary["steps_wall_s"] = round(sum(run.timings.values()), 1)
    if tok_report.exists():
        summary["budget"]["tokenizer_report"] = json.loads(tok_report.read_text())

    # Table.
    print()
    head = ("| arm | docs | MB | zh / en / other bytes | train tokens | epochs | zh bits/byte | en bits/byte "
            "| zh word ppl | en word ppl |")
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for arm in ARMS:
        a = summary["arms"][arm]
        c, s = a["corpus"], a["scores"]
        cell = lambda t, m, f: f"{s[t][m]['mean']:{f}} ± {s[t][m]['sd']:{f}}"  # noqa: E731
        mix = (f"{c['zh_share']:.0%} / {c['en_share']:.0%} / {max(0.0, 1 - c['zh_share'] - c['en_share']):.0%}"
               if c["zh_share"] is not None else "")
        lines.append(f"| {a['label']} | {c['docs']:,} | {c['mb']:.1f} | {mix} | {c['train_tokens']:,} | {c['epochs']:.2f} | "
                     f"{cell('lm_flores200_zh', 'bits_per_byte', '.3f')} | {cell('lm_flores200_en', 'bits_per_byte', '.3f')} | "
                     f"{cell('lm_flores200_zh', 'word_perplexity', ',.0f')} | {cell('lm_flores200_en', 'word_perplexity', ',.0f')} |")
    if args.cls_limit:
        lines += ["", "| arm | " + " | ".join(CLS_TASKS) + " |", "|---|" + "---:|" * len(CLS_TASKS)]
        for arm in ARMS:
            s = summary["arms"][arm]["scores"]
            lines.append(f"| {ARM_LABELS[arm]} | " + " | ".join(
                f"{s[t]['accuracy']['mean']:.1f} ± {s[t]['accuracy']['sd']:.1f}" for t in CLS_TASKS) + " |")
        for kind in ("majority", "random"):
            path = out / "results" / "baselines" / f"baseline-{kind}.json"
            if path.exists():
                accs = {t: _task_metric(path, t, "accuracy") for t in CLS_TASKS}
                summary.setdefault("cls_baselines", {})[kind] = accs
                lines.append(f"| {kind} class | " + " | ".join(
                    f"{accs[t]:.1f}" if accs[t] is not None else "" for t in CLS_TASKS) + " |")
    lines += ["", "bits/byte saved by the first arm (B - A; positive: the first arm is better). seeds: mean over seeds"
              " +- standard error from the seed spread (training noise; 'noise' when |delta| < 2 se); sentences:"
              " paired bootstrap over the 997 FLORES sentences of seed-averaged per-sentence bits/byte (text"
              " sampling noise only), 95% CI and p = P(no saving):"]
    for name, r in summary["paired_bootstrap"].items():
        sl = summary["seed_level"][name]
        verdict = "noise" if sl["within_noise"] else ("beyond seed noise" if sl["within_noise"] is False else "one seed")
        lines.append(f"  {name}: seeds {sl['delta']:+.4f} +- {sl['se']:.4f} ({verdict}); sentences "
                     f"{r['delta']:+.4f} (95% CI {r['ci95'][0]:+.4f} .. {r['ci95'][1]:+.4f}), p = {r['p_value']:.4f}")
    table = "\n".join(lines)
    print(table)
    summary["table_markdown"] = table
    (out / "ablation.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False))
    _chart(summary, seeds, out / "ablation.png")
    print(f"\nbench_ablation: {summary['total_wall_s'] / 60:.1f} min (steps: {summary['steps_wall_s'] / 60:.1f} min when "
          f"they ran); {out / 'ablation.json'}, {out / 'ablation.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
