"""Reference models for tests and sanity checks: one that answers with the gold reference
(must score 100) and one that answers nothing or always the wrong class (must score 0)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from roots_eval.models.base import EvalModel
from roots_eval.task import Task


class _ScriptedModel(EvalModel):
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


# -- a whole lineage chain, made by the real tools on a slice of the real corpus --------------
@dataclass
class LineageChain:
    corpus: Path  # a pipeline output folder: a corpus release (manifest.json)
    tokenizer: Path
    run: Path  # the pretraining run folder (tokens/, metrics.jsonl, checkpoints/)
    results: Path  # a results file of the run's checkpoint
    site: Path  # a leaderboard over `results`
    model_id: str


def lineage_chain(work, docs: int = 600, steps: int = 4, task: str = "cls_chnsenticorp",
                  limit: int = 5) -> LineageChain:
    """corpus slice -> `roots-pipeline run` (1 worker) -> tokenizer -> `tiny` pretraining for
    `steps` steps -> `roots-eval run` on one task -> leaderboard, under `work` (~30 s)."""
    import subprocess
    import sys

    from roots_eval.cli import main as roots_eval
    from roots_model.testing import corpus_slice
    from roots_model.tokenizer import train_from_corpus
    from roots_model.train import TrainConfig, pretrain

    work = Path(work)
    raw = corpus_slice(work / "raw", docs, corpus_file="docs-00005-of-00006.jsonl")
    corpus = work / "corpus"
    subprocess.run([sys.executable, "-m", "pipelines", "run", f"--input={raw}/slice.jsonl", f"--output={corpus}",
                    "--no_progress", "--direct_num_workers=1"], check=True, capture_output=True)
    train_from_corpus(corpus, work / "tok", 1024, heldout_fraction=0.05)
    run = work / "tiny-lineage"
    pretrain(TrainConfig(data=str(corpus), tokenizer=str(work / "tok"), output=str(run), preset="tiny",
                         max_steps=steps, batch_size=8, seq_len=128, lr=3e-3, warmup_steps=1, seed=0, log_interval=1,
                         eval_interval=steps, eval_batches=2, checkpoint_interval=steps, val_fraction=0.05, workers=1,
                         progress=False, tensorboard=False))
    results = work / "results" / f"{run.name}.json"
    code = roots_eval(["run", "--model", str(run), "--tasks", task, "--limit", str(limit), "--bootstrap-iters", "50",
                       "--output", str(results), "--device", "cpu"])
    if code != 0:
        raise RuntimeError(f"roots-eval run exited {code}")
    roots_eval(["leaderboard", str(results), "--output", str(work / "site")])
    return LineageChain(corpus, work / "tok", run, results, work / "site", run.name)


def sha256_hex(path) -> str:
    """A file's sha256, straight from hashlib: tests check the digests that lineage, manifests
    and cards record against this, never against the code that wrote them."""
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
