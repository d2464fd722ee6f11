"""Chinese scoring done naively vs right, on the shared data with human-written "systems".

    python -m roots_eval.zh_scoring_report [--limit N]

- BLEU: WMT21 en->zh reference B scored against reference A, with sacrebleu's 13a tokenizer
  (what English-default harnesses do) and with tokenize='zh';
- ROUGE: LCSTS lead baseline (the post's first clause) against the headline, with
  rouge-score's default tokenizer and on characters;
- CMRC 2018: where annotators disagree, a later answer against the first, by exact match
  alone and by the official F1.
The numbers in docs/eval.md come from this script.
"""
from __future__ import annotations

import argparse
import os
import re


def rows(task_name, limit):
    from roots_eval.task import load_tasks

    task = load_tasks(task_name)[0][0]
    docs = task.load_docs()
    return docs[:limit] if limit else docs


def report(limit: int | None = None) -> list[tuple[str, str, float, float]]:
    from roots_eval import metrics

    out = []
    wmt = rows("mt_wmt21_newstest_en-zh", limit)
    bleu = metrics.load("sacrebleu")
    hyps, refs = [d["zh_ref_b"] for d in wmt], [[d["zh"]] for d in wmt]
    out.append(("BLEU, WMT21 en→zh ref B vs ref A", f"n={len(wmt)}",
                bleu.compute(predictions=hyps, references=refs, tokenize="13a")["bleu"],
                bleu.compute(predictions=hyps, references=refs, tokenize="zh")["bleu"]))
    lcsts = rows("sum_lcsts", limit)
    rouge = metrics.load("rouge")
    lead = [re.split(r"[，。！？；]", d["document"], maxsplit=1)[0] for d in lcsts]
    refs = [[d["summary"]] for d in lcsts]
    out.append(("ROUGE-L, LCSTS lead clause vs headline", f"n={len(lcsts)}",
                rouge.compute(predictions=lead, references=refs)["rougeL"],
                rouge.compute(predictions=lead, references=refs, tokenizer="zh_char")["rougeL"]))
    # questions where the annotators disagree: a later answer scored against the first
    pairs = []
    for d in rows("qa_cmrc2018_dev", limit):
        texts = [a["text"] for a in d["answers"]]
        other = next((t for t in texts[1:] if t != texts[0]), None)
        if other is not None:
            pairs.append((other, texts[0]))
    scores = metrics.load("cmrc2018").compute(predictions=[p for p, _ in pairs], references=[[g] for _, g in pairs])
    out.append(("CMRC 2018, disagreeing annotators", f"n={len(pairs)}", scores["exact_match"], scores["f1"]))
    return out


def main(argv=None) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args(argv)
    print("| comparison | n | naive (13a BLEU / default ROUGE / EM only) | ROOTS (zh BLEU / char ROUGE / CMRC F1) |")
    print("|---|---|---|---|")
    for name, n, naive, right in report(args.limit):
        print(f"| {name} | {n.removeprefix('n=')} | {naive:.2f} | {right:.2f} |")


if __name__ == "__main__":
    main()
