"""Reference rows computed from the data, so a leaderboard says what a score means.

    roots-eval baselines --tasks all --limit 20 --output results/

writes `baseline-majority.json` and `baseline-random.json`, scored through the same task
code, metrics, bootstrap errors and per-sample logs as any model:

- classification: the majority class of the scored rows (the accuracy any model gets by
  ignoring the text), or a uniformly random class per row (seeded by the row id; expected
  accuracy 100 / number of classes);
- translation: the source sentence copied unchanged (BLEU credits shared names and numbers);
- summarization: the lead, i.e. the first sentence of the document;
- QA: the first sentence of the passage as the answer span.

The generation baselines are the same in both files. Perplexity tasks have no baseline row.
The source text is the prompt's first field (`{zh}`, `{document}`, `{context}`).
"""
from __future__ import annotations

import random
import re
import string
from collections import Counter
from pathlib import Path

from roots_eval.evaluator import EvalConfig
from roots_eval.models.base import EvalModel
from roots_eval.task import Task

STRATEGIES = ("majority", "random")
# English sentences end at . ! ? followed by a space ("U.S. officials" is one sentence);
# Chinese ones at 。！？ with no space after them
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])\s*")


def first_sentence(text: str) -> str:
    """The first sentence of the first non-empty line (a line break ends a paragraph, and
    generation tasks stop at one)."""
    text = next((line.strip() for line in text.splitlines() if line.strip()), "")
    parts = [p for p in _SENTENCE_END.split(text) if p.strip()]
    return parts[0].strip() if parts else text


def source_field(task: Task) -> str:
    for _, name, _, _ in string.Formatter().parse(task.prompt):
        if name:
            return name.split("[")[0].split(".")[0]
    raise ValueError(f"{task.name}: the prompt has no field to take a source text from")


def generation_baseline(task: Task, doc: dict) -> str:
    source = str(doc[source_field(task)])
    if task.category == "translation":
        return source  # copy the source
    if task.category in ("summarization", "qa"):
        return first_sentence(source)  # lead sentence / first sentence of the passage
    raise ValueError(f"{task.name}: no baseline for category {task.category!r}")


def majority_index(task: Task, docs: list[dict], choices) -> int:
    counts = Counter(task.gold_index(d, choices) for d in docs)
    return max(sorted(counts), key=lambda i: counts[i])  # ties: the first class


class BaselineModel(EvalModel):
    """Answers every request of the given tasks by its rule (see the module docstring)."""

    kind = "baseline"

    def __init__(self, tasks: list[Task], strategy: str, config: EvalConfig, seed: int = 0):
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown baseline {strategy!r}: {', '.join(STRATEGIES)}")
        self.model_id, self.strategy = f"baseline-{strategy}", strategy
        self.favoured: dict[str, str] = {}  # context -> the continuation this baseline picks
        self.answers: dict[str, str] = {}  # context -> generated text
        for task in tasks:
            pool = task.load_docs()
            docs = task.select(pool, config.limit)
            if task.output_type == "multiple_choice":
                choices = task.choices()
                majority = majority_index(task, docs, choices)
                for doc in docs:
                    context = task.context(doc, pool, choices)
                    pick = majority if strategy == "majority" else random.Random(f"{seed}:{doc['id']}").randrange(len(choices))
                    self.favoured[context] = task.choice_prefix + choices[pick][1]
            elif task.output_type == "generate_until":
                for doc in docs:
                    self.answers[task.context(doc, pool)] = generation_baseline(task, doc)

    def fingerprint(self) -> str:
        return self.model_id

    def metadata(self) -> dict:
        return {"id": self.model_id, "type": self.kind, "checkpoint_hash": self.model_id, "parameters": 0,
                "baseline": self.strategy}

    def loglikelihood(self, requests):
        return [(0.0, True) if self.favoured[r.context] == r.continuation else (-1.0, False) for r in requests]

    def generate(self, requests):
        return [self.answers[r.context] for r in requests]


def applicable(tasks: list[Task]) -> list[Task]:
    return [t for t in tasks if t.output_type in ("multiple_choice", "generate_until")]


def write_baselines(tasks: list[Task], output_dir, config: EvalConfig, extra_config: dict | None = None) -> list[Path]:
    from roots_eval.runner import run

    tasks = applicable(tasks)
    paths = []
    for strategy in STRATEGIES:
        path = Path(output_dir) / f"baseline-{strategy}.json"
        run(BaselineModel(tasks, strategy, config), tasks, path, config, use_cache=False, extra_config=extra_config)
        paths.append(path)
    return paths
