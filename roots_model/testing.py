"""Small real artefacts for tests (here and in roots_eval), made the real way: a slice of
the shared corpus, a tokenizer trained on it, token shards, and the `tiny` preset
pretrained for a few dozen steps (well under a minute on two CPU cores).

    from roots_model.testing import tiny_checkpoint
    path = tiny_checkpoint(tmp_path)          # -> tmp_path / "tiny_checkpoint"
    loaded = roots_model.checkpoint.load(path)

Within one process each artefact is made once and reused (tiny_checkpoint copies it).
"""
from __future__ import annotations

import atexit
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

CORPUS = "corpus_web_mixed"
_workspaces: dict[tuple, "TinyWorkspace"] = {}
_runs: dict[tuple, Path] = {}
_SCRATCH = Path(tempfile.mkdtemp(prefix="roots-model-testing-"))
atexit.register(shutil.rmtree, _SCRATCH, ignore_errors=True)


@dataclass
class TinyWorkspace:
    data: Path  # a folder with slice.jsonl
    tokenizer: Path  # a folder with tokenizer.json
    tokens: Path  # prepared token shards


def corpus_slice(output_dir, max_docs: int = 2500, corpus_file: str = "docs-00000-of-00006.jsonl") -> Path:
    """The first `max_docs` documents of one corpus file as a jsonl folder (a mix of
    Chinese reviews, titles, abstracts and English web text)."""
    from pipelines.datadir import dataset_path

    source = dataset_path(CORPUS) / corpus_file
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open(source, encoding="utf-8") as f, open(out / "slice.jsonl", "w", encoding="utf-8") as w:
        for i, line in enumerate(f):
            if i >= max_docs:
                break
            w.write(line)
    return out


def tiny_workspace(vocab_size: int = 2048, max_docs: int = 2500) -> TinyWorkspace:
    """Corpus slice + tokenizer + token shards (5% of documents held out), made once."""
    from roots_model.data import prepare_tokens
    from roots_model.tokenizer import train_from_corpus

    key = (vocab_size, max_docs)
    if key not in _workspaces or not (_workspaces[key].tokens / "manifest.json").exists():
        work = Path(tempfile.mkdtemp(prefix="workspace-", dir=_SCRATCH))
        data = corpus_slice(work / "data", max_docs)
        train_from_corpus(data, work / "tok", vocab_size, heldout_fraction=0.05)
        prepare_tokens(data, work / "tok", work / "tokens", val_fraction=0.05, workers=1)
        _workspaces[key] = TinyWorkspace(data, work / "tok", work / "tokens")
    return _workspaces[key]


def tiny_train_config(output, steps: int = 40, seed: int = 0, **overrides):
    """The TrainConfig of the tiny test runs (batch 8 x 128 tokens)."""
    from roots_model.train import TrainConfig

    ws = tiny_workspace()
    values = dict(data=str(ws.tokens), tokenizer=str(ws.tokenizer), output=str(output), preset="tiny",
                  max_steps=steps, batch_size=8, seq_len=128, lr=3e-3, warmup_steps=min(5, steps), seed=seed,
                  log_interval=5, eval_interval=steps, eval_batches=2, checkpoint_interval=steps,
                  progress=False, tensorboard=False)
    return TrainConfig(**{**values, **overrides})


def tiny_run(steps: int = 40, seed: int = 0) -> Path:
    """The output folder of a finished tiny pretraining run (metrics.jsonl, checkpoints/)."""
    from roots_model.train import pretrain

    key = (steps, seed)
    if key not in _runs or not (_runs[key] / "metrics.jsonl").exists():
        output = Path(tempfile.mkdtemp(prefix="run-", dir=_SCRATCH))
        threads = torch.get_num_threads()
        # One thread: on a busy shared CPU a second one mostly waits at barriers.
        torch.set_num_threads(1)
        try:
            pretrain(tiny_train_config(output, steps, seed))
        finally:
            torch.set_num_threads(threads)
        _runs[key] = output
    return _runs[key]


def tiny_checkpoint(tmp_dir, steps: int = 40, seed: int = 0) -> Path:
    """Train the `tiny` preset for `steps` steps (once per process); returns a copy of its
    final checkpoint at tmp_dir/tiny_checkpoint."""
    from roots_model.checkpoint import resolve

    source = resolve(tiny_run(steps, seed))
    target = Path(tmp_dir) / "tiny_checkpoint"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    return target
