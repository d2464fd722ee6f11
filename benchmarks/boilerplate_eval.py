"""Boilerplate-line filter quality on ../shared/data/boilerplate_eval (ROOTS_DATA_DIR), without
the filter and with it (roots_measure.boilerplate measures; its docstring says what).

    python benchmarks/boilerplate_eval.py
"""
from __future__ import annotations

from pipelines.text.boilerplate import BoilerplateConfig
from roots_measure.boilerplate import evaluate


if __name__ == "__main__":
    off = evaluate(BoilerplateConfig(enabled=False))
    on = evaluate()
    print(f"{'metric':32s} {'no filter':>10s} {'ROOTS':>10s}")
    for key in ("main_snippet_retention", "boilerplate_snippet_removal", "gold_line_retention", "non_gold_line_removal"):
        print(f"{key:32s} {off[key]:10.3f} {on[key]:10.3f}")
    print(f"{'pages_dropped_whole':32s} {off['pages_dropped']:10d} {on['pages_dropped']:10d}   (of {on['pages']})")
