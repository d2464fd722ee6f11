"""Compression trade-offs on one checkpoint, in one run: size, CPU tokens/s and validation
perplexity of the original vs int8 vs pruned vs distilled.

    python benchmarks/bench_compress.py [--steps 200] [--wide-steps 60] [--threads 1]

1. Pretrains the `tiny` preset on 2,500 documents of corpus_web_mixed (2k-token BPE).
2. From it: int8-dynamic; 50% magnitude pruning (with and without recovery); 50%
   mlp-channels (structured) pruning with recovery; a distilled half-width student.
   Because the base model is itself short-trained, recovery steps also just train it more:
   "original + N steps" (the unpruned model fine-tuned the same N steps) is the fair
   reference for the recovered rows.
3. The tiny model is too small for int8 to pay (per-token Python/dispatch overhead
   dominates its 128-wide matmuls), so a wider config (n_embd 512) is trained briefly and
   measured the same way.

Targets (issue 7): int8 >= 1.5x CPU generation speed at <= 2% perplexity increase; 50%
structured pruning + recovery within 10% perplexity.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from roots_model import checkpoint
from roots_model.compress.commands import distill, prune, quantize
from roots_model.compress.config import DistillConfig, PruneConfig
from roots_model.compress.finetune import train_compressed
from roots_model.compress.report import measure
from roots_model.testing import tiny_train_config, tiny_workspace
from roots_model.train import pretrain


def pretrain_base(work: Path, steps: int, **model_overrides) -> Path:
    cfg = tiny_train_config(work, steps=steps, eval_batches=8, progress=False, model_overrides=model_overrides,
                            log_interval=max(steps // 4, 1))
    pretrain(cfg)
    return checkpoint.resolve(work)


def continued(base: Path, out: Path, steps: int, tokens: Path) -> Path:
    """The unpruned model fine-tuned like the recovered ones (the fair reference)."""
    loaded = checkpoint.load(base)
    cfg = tiny_train_config(out, steps=steps, data=str(tokens), lr=1e-3, eval_batches=8, progress=False)
    train_compressed(loaded.model.train(), cfg)
    return out


def row(name: str, figures: dict, base: dict) -> dict:
    return {"model": name, "MB": figures["model_bytes"] / 1e6, "params_M": figures["parameters"] / 1e6,
            "tok_s": figures["cpu_tokens_per_s"], "speedup": figures["cpu_tokens_per_s"] / base["cpu_tokens_per_s"],
            "ppl": figures["val_perplexity"], "ppl_change": figures["val_perplexity"] / base["val_perplexity"] - 1}


def print_table(title: str, rows: list[dict]):
    print(f"\n## {title}\n")
    print("| model | size MB | params M | CPU tok/s | speed vs orig | val ppl | ppl vs orig |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['MB']:.2f} | {r['params_M']:.3f} | {r['tok_s']:.0f} | {r['speedup']:.2f}x "
              f"| {r['ppl']:.2f} | {r['ppl_change']:+.1%} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200, help="pretraining steps of the tiny base")
    parser.add_argument("--recovery-steps", type=int, default=50)
    parser.add_argument("--wide-steps", type=int, default=60, help="pretraining steps of the wide config (0: skip)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for every measurement")
    parser.add_argument("--output", default=None, help="keep the checkpoints here (default: a temp folder)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(args.output or tempfile.mkdtemp(prefix="bench-compress-"))
    tokens = tiny_workspace().tokens
    started = time.perf_counter()
    measure_opts = dict(token_dir=tokens, new_tokens=64)
    results = {}

    base = pretrain_base(work / "base", args.steps)
    orig = measure(base, **measure_opts)
    n = args.recovery_steps
    quantize(base, work / "int8", report=False)
    prune(PruneConfig(base, work / "mag50", 0.5, "magnitude", report=False))
    prune(PruneConfig(base, work / "mag50-ft", 0.5, "magnitude", finetune_steps=n, data=tokens, report=False,
                      progress=False))
    prune(PruneConfig(base, work / "mlp50", 0.5, "mlp-channels", data=tokens, report=False))
    prune(PruneConfig(base, work / "mlp50-ft", 0.5, "mlp-channels", finetune_steps=n, data=tokens, report=False,
                      progress=False))
    continued(base, work / "orig-ft", n, tokens)
    student = {"n_embd": 64, "n_head": 2, "n_kv_head": 1}
    distill(DistillConfig(base, tokens, work / "student", "tiny", student, temperature=1.0, alpha=0.9, report=False,
                          max_steps=args.steps, batch_size=8, seq_len=128, lr=3e-3, seed=0, eval_interval=args.steps,
                          checkpoint_interval=args.steps, progress=False))
    cfg = tiny_train_config(work / "student-plain", steps=args.steps, progress=False)
    torch.manual_seed(cfg.seed)
    from roots_model.model import GPT, preset

    tok = checkpoint.load(base).tokenizer
    train_compressed(GPT(preset("tiny", tok.get_vocab_size(), **student)), cfg)

    rows = [row("original (tiny)", orig, orig)]
    for name, path in [("int8-dynamic", "int8"), ("magnitude 50%", "mag50"), (f"magnitude 50% + {n} steps", "mag50-ft"),
                       ("mlp-channels 50%", "mlp50"), (f"mlp-channels 50% + {n} steps", "mlp50-ft"),
                       (f"original + {n} steps (reference)", "orig-ft"),
                       ("distilled student (n_embd 64)", "student"), ("same student, no teacher", "student-plain")]:
        rows.append(row(name, measure(work / path, **measure_opts), orig))
    print_table(f"tiny preset, {args.steps} pretraining steps, {args.threads} CPU thread(s)", rows)
    results["tiny"] = rows

    if args.wide_steps:
        wide = dict(n_embd=512, n_head=8, n_kv_head=4)
        wide_base = pretrain_base(work / "wide", args.wide_steps, **wide)
        wide_orig = measure(wide_base, **measure_opts)
        quantize(wide_base, work / "wide-int8", report=False)
        prune(PruneConfig(wide_base, work / "wide-mlp50-ft", 0.5, "mlp-channels", finetune_steps=n, data=tokens,
                          report=False, progress=False))
        continued(wide_base, work / "wide-orig-ft", n, tokens)
        wide_rows = [row("original (n_embd 512)", wide_orig, wide_orig)]
        for name, path in [("int8-dynamic", "wide-int8"), (f"mlp-channels 50% + {n} steps", "wide-mlp50-ft"),
                           (f"original + {n} steps (reference)", "wide-orig-ft")]:
            wide_rows.append(row(name, measure(work / path, **measure_opts), wide_orig))
        print_table(f"wide config (4 layers x 512, {args.wide_steps} steps), {args.threads} CPU thread(s)", wide_rows)
        results["wide"] = wide_rows

    (work / "bench_compress.json").write_text(json.dumps(results, indent=1))
    print(f"\n{time.perf_counter() - started:.0f} s; checkpoints and bench_compress.json in {work}")


if __name__ == "__main__":
    main()
