"""Language-ID accuracy on labelled sentences (langid_eval: text, lang, label3 zh/en/other).
One function for every contender (benchmarks/bench_langid.py) and tests/pipelines/test_langid.py, so
all are scored the same way."""
from __future__ import annotations

from typing import Callable, Sequence


def evaluate_langid(predict: Callable[[list[str]], list[tuple[str, float]]], rows: Sequence[dict]) -> dict:
    """3-way (zh/en/other) accuracy per label3 class, plus per-language accuracy."""
    per_class: dict[str, list[int]] = {}
    per_lang: dict[str, list[int]] = {}
    preds = predict([r["text"] for r in rows])
    for row, (lang, _) in zip(rows, preds):
        pred3 = lang if lang in ("zh", "en") else "other"
        ok = int(pred3 == row["label3"])
        per_class.setdefault(row["label3"], []).append(ok)
        per_lang.setdefault(row["lang"], []).append(int(lang == row["lang"]))
    return {
        "label3": {k: sum(v) / len(v) for k, v in sorted(per_class.items())},
        "lang": {k: sum(v) / len(v) for k, v in sorted(per_lang.items())},
        "n": len(rows),
    }
