"""PII redaction precision and recall on a planted set built from real text
(roots_measure.pii builds the set and scores it; its docstring says how).

    python benchmarks/pii_eval.py [--per-kind 400] [--seed 13]
"""
from __future__ import annotations

import argparse
import sys

from roots_measure.pii import build_planted_set, evaluate, misses


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-kind", type=int, default=400, help="planted positives per kind (negatives: half per family)")
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args(argv)
    items = build_planted_set(args.per_kind, args.seed)
    rep = evaluate(items)
    print(f"planted set: {rep['n_items']} documents from real zh/en sentences, seed {args.seed}; "
          f"{rep['mchars_per_s']:.2f} M chars/s")
    print(f"\n| kind | planted | TP | FP | FN | precision | recall |\n|---|---:|---:|---:|---:|---:|---:|")
    for k, c in rep["per_kind"].items():
        print(f"| {k} | {c['tp'] + c['fn']} | {c['tp']} | {c['fp']} | {c['fn']} | {c['precision']:.3f} | {c['recall']:.3f} |")
    print("\n| near-miss negative | n | redacted |\n|---|---:|---:|")
    for f, c in rep["negatives"].items():
        print(f"| {f} | {c['n']} | {c['fired']} |")
    print(f"\ndetections in the unplanted real text: {len(rep['background'])}")
    for kind, value in rep["background"][:20]:
        print(f"  {kind}: {value}")
    for kind, value in misses(items)[:20]:
        print(f"  missed {kind}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
