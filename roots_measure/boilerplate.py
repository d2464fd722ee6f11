"""Boilerplate-line filter quality on ../shared/data/boilerplate_eval (ROOTS_DATA_DIR).

Main-text retention: share of labeled main-text snippets (and gold main-text lines) still in
the cleaned text. Boilerplate removal: share of labeled boilerplate snippets (and non-gold
lines) removed. Pages dropped whole: real article pages the remover judged to be boilerplate
as a whole (their main text is counted as lost above too). Printed by
benchmarks/boilerplate_eval.py, checked by tests/pipelines/test_text_core.py.
"""
from __future__ import annotations

import re

from pipelines.datadir import dataset_path
from pipelines.files import read_jsonl
from pipelines.text.boilerplate import BoilerplateConfig, BoilerplateRemover
from pipelines.text.normalize import normalize


_WS = re.compile(r"\s+")


def _squash(s: str) -> str:
    return _WS.sub(" ", s).strip()


def evaluate(config: BoilerplateConfig = BoilerplateConfig()) -> dict:
    labels = list(read_jsonl(dataset_path("boilerplate_eval") / "labels.jsonl"))
    wanted = {r["id"] for r in labels}
    docs = {}
    for path in sorted(dataset_path("corpus_web_mixed").glob("*.jsonl")):
        for d in read_jsonl(path):
            if d["id"] in wanted:
                docs[d["id"]] = d["text"]
    remover = BoilerplateRemover(config)
    c = dict(main_total=0, main_kept=0, boiler_total=0, boiler_removed=0,
             gold_lines=0, gold_kept=0, other_lines=0, other_removed=0, pages=0, pages_dropped=0)
    for r in labels:
        raw = normalize(docs[r["id"]])
        cleaned, _ = remover(raw)
        c["pages"] += 1
        c["pages_dropped"] += bool(raw.strip()) and not cleaned
        before, after = _squash(raw), _squash(cleaned)
        for s in r["main_text_snippets"] or []:
            if _squash(s) in before:
                c["main_total"] += 1
                c["main_kept"] += _squash(s) in after
        for s in r["boilerplate_snippets"] or []:
            if _squash(s) in before:
                c["boiler_total"] += 1
                c["boiler_removed"] += _squash(s) not in after
        if r.get("gold_main_text"):
            gold = {_squash(l) for l in normalize(r["gold_main_text"]).split("\n") if l.strip()}
            kept_lines = {_squash(l) for l in cleaned.split("\n") if l.strip()}
            for l in {_squash(l) for l in raw.split("\n") if l.strip()}:
                if l in gold:
                    c["gold_lines"] += 1
                    c["gold_kept"] += l in kept_lines
                else:
                    c["other_lines"] += 1
                    c["other_removed"] += l not in kept_lines
    return {
        "main_snippet_retention": c["main_kept"] / max(c["main_total"], 1),
        "boilerplate_snippet_removal": c["boiler_removed"] / max(c["boiler_total"], 1),
        "gold_line_retention": c["gold_kept"] / max(c["gold_lines"], 1),
        "non_gold_line_removal": c["other_removed"] / max(c["other_lines"], 1),
        **c,
    }

