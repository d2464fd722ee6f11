"""Reference models for tests and sanity checks: one that answers with the gold reference
(must score 100) and one that answers nothing or always the wrong class (must score 0)."""
from __future__ import annotations

from roots_eval.models.base import LanguageModel
from roots_eval.task import Task


class _ScriptedModel(LanguageModel):
    """Knows, for every prompt of the given tasks, the gold answer; counts what it is asked."""

    def __init__(self, tasks: list[Task], limit: int | None = None, num_fewshot: int | None = None, model_id="scripted"):
        import dataclasses

        self.model_id = model_id
        self.gold_generation: dict[str, str] = {}
        self.gold_choice: dict[str, str] = {}
        self.calls = {"loglikelihood": 0, "generate": 0}
        for task in tasks:
            if num_fewshot is not None:
                task = dataclasses.replace(task, num_fewshot=num_fewshot)
            if task.output_type == "loglikelihood_rolling":
                continue  # perplexity has no gold answer to copy
            pool = task.load_docs()
            choices = task.choices() if task.output_type == "multiple_choice" else None
            for doc in task.select(pool, limit):
                context = task.context(doc, pool, choices)
                if choices:
                    self.gold_choice[context] = task.choice_prefix + choices[task.gold_index(doc, choices)][1]
                else:
                    self.gold_generation[context] = task.reference_list(doc)[0]

    def fingerprint(self):
        return f"{type(self).__name__}:{self.model_id}"

    def loglikelihood(self, requests):
        self.calls["loglikelihood"] += len(requests)
        return [self._loglikelihood(r.continuation == self.gold_choice[r.context]) for r in requests]

    def generate(self, requests):
        self.calls["generate"] += len(requests)
        return [self._answer(self.gold_generation[r.context]) for r in requests]


class ReferenceCopyModel(_ScriptedModel):
    def _loglikelihood(self, is_gold):
        return (0.0, True) if is_gold else (-50.0, False)

    def _answer(self, reference):
        return reference + "\nand then some text after the stop sequence"


class EmptyModel(_ScriptedModel):
    def _loglikelihood(self, is_gold):
        return (-50.0, False) if is_gold else (0.0, True)

    def _answer(self, reference):
        return ""
