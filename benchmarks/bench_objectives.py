"""Pretraining objective comparison: autoregressive (next token, causal) vs masked LM
(15% whole-word masking, bidirectional), the same `tiny` shape, the same token budget, then
each fine-tuned the same way on the six classification tasks; accuracy side by side.

    python benchmarks/bench_objectives.py [--steps 300] [--train-rows 600] [--scored 300] [--epochs 3]
                                          [--json out/bench_objectives.json] [--figure docs/objective_comparison.png]

- Pretraining: `roots_model.testing.tiny_workspace()` (2,500 documents of corpus_web_mixed,
  2k-token BPE), `tiny` preset, batch 8 x 128 tokens, `--steps` steps, lr 3e-3, seed 0, for
  both objectives (the MLM model has one extra embedding row block for [MASK]: +8k of ~1.06M
  parameters). The token budget is identical; MLM gets a loss on 15% of them.
- Fine-tuning: for each task, the first `--scored` rows of the task's stable subset (what
  `roots-eval run --limit` scores) are held out; the classifier (`LanguageModel.finetune`,
  mean-pooled final hidden states -> linear head, for both objectives alike; `--pooling
  default` gives the AR model its own default, last-token pooling) trains on up to `--train-rows` of the rest,
  `--epochs` epochs, batch 16, max 96 tokens, seed 0.
- Reported: accuracy on the held-out rows, the majority-class accuracy of those rows, and a
  paired bootstrap p-value for the better objective over the other (roots_eval.significance).
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch

TASKS = ("cls_sst2", "cls_agnews", "cls_chnsenticorp", "cls_tnews", "cls_iflytek", "cls_thucnews_titles")


def split(task, scored: int, train_rows: int):
    ordered = task.select(task.load_docs(), None)
    held, rest = ordered[:scored], ordered[scored:scored + train_rows]
    return held, rest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--train-rows", type=int, default=600)
    parser.add_argument("--scored", type=int, default=300)
    # the README figure pools both objectives alike (mean); "default": last token for the AR model
    parser.add_argument("--pooling", choices=["mean", "last", "default"], default="mean")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default="out/bench_objectives.json")
    parser.add_argument("--figure", default="docs/objective_comparison.png")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from roots_eval.significance import paired_bootstrap
    from roots_eval.task import load_tasks
    from roots_model.lm import LanguageModel
    from roots_model.testing import tiny_train_config
    from roots_model.train import pretrain

    work = Path(tempfile.mkdtemp(prefix="bench-objectives-"))
    runs = {}
    for objective in ("ar", "mlm"):
        started = time.perf_counter()
        result = pretrain(tiny_train_config(work / objective, steps=args.steps, objective=objective,
                                            eval_interval=args.steps))
        lm = LanguageModel.from_pretrained(work / objective)
        runs[objective] = {"pretrain_s": round(time.perf_counter() - started, 1), "val_loss": result["val_loss"],
                           "parameters": sum(p.numel() for p in lm.backbone.parameters()),
                           "tokens": args.steps * 8 * 128}
        print(f"{objective}: {runs[objective]}", flush=True)

    tasks = {t.name: t for t in load_tasks(",".join(TASKS))[0]}
    rows = []
    for name in TASKS:
        task = tasks[name]
        held, train = split(task, args.scored, args.train_rows)
        gold = [d[task.label_field] for d in held]
        row = {"task": name, "language": task.language, "classes": len(task.choices()), "train": len(train),
               "scored": len(held), "majority": 100 * max(Counter(map(str, gold)).values()) / len(gold)}
        correct = {}
        for objective in ("ar", "mlm"):
            lm = LanguageModel.from_pretrained(work / objective)  # a fresh copy: finetune trains in place
            clf = lm.finetune([d["text"] for d in train], [d[task.label_field] for d in train], epochs=args.epochs,
                              batch_size=16, max_length=96, seed=0, progress=False,
                              pooling=None if args.pooling == "default" else args.pooling)
            predicted = clf.predict([d["text"] for d in held])
            correct[objective] = [float(str(p) == str(g)) for p, g in zip(predicted, gold)]
            row[objective] = 100 * sum(correct[objective]) / len(gold)
        better, worse = ("ar", "mlm") if row["ar"] >= row["mlm"] else ("mlm", "ar")
        row["p_better"] = paired_bootstrap(correct[better], correct[worse], iters=10000)["p_value"]
        rows.append(row)
        print(json.dumps(row), flush=True)

    out = {"settings": vars(args), "pretraining": runs, "tasks": rows}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1))
    _figure(rows, runs, args, Path(args.figure))
    print("\n| task | lang | classes | majority | AR | MLM | p (better > other) |\n|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['task']} | {r['language']} | {r['classes']} | {r['majority']:.1f} | {r['ar']:.1f} | "
              f"{r['mlm']:.1f} | {r['p_better']:.3f} |")
    return 0


def _figure(rows, runs, args, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.8))
    xs = range(len(rows))
    ax.bar([x - 0.27 for x in xs], [r["majority"] for r in rows], 0.27, label="majority class", color="#bbbbbb")
    ax.bar(list(xs), [r["ar"] for r in rows], 0.27, label=f"AR ({runs['ar']['parameters'] / 1e6:.2f}M)")
    ax.bar([x + 0.27 for x in xs], [r["mlm"] for r in rows], 0.27, label=f"MLM ({runs['mlm']['parameters'] / 1e6:.2f}M)")
    ax.set_xticks(list(xs), [r["task"].removeprefix("cls_") for r in rows], fontsize=8)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"tiny preset, {args.steps} steps x 1,024 tokens each objective; fine-tuned {args.epochs} epochs",
                 fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
