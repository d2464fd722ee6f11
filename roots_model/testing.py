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


def in_gloo_group(rank: int, world_size: int, store, work, timeout_s: int = 120):
    """Run `work()` (which returns plain values) in process `rank` of a CPU (gloo) group,
    then leave it cleanly; for tests that `torch.multiprocessing.spawn` their processes.

    The group meets at a file store, not a TCP port: a port picked free can be taken by
    another process before the group binds it, and the group then waits for peers that
    never come. Every torch object of the work is gone before the group is destroyed: a DDP
    reducer or a gloo work item freed after that deadlocks gloo's worker thread against the
    GIL. (`roots_model.train.fit` joins and leaves a group itself: call it outside this.)"""
    import gc
    from datetime import timedelta

    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world_size,
                            timeout=timedelta(seconds=timeout_s))
    try:
        result = work()
        gc.collect()
        dist.barrier()
        return result
    finally:
        dist.destroy_process_group()


def tiny_hf_model(kind: str, output) -> Path:
    """A local Hugging Face folder of `kind` ("gpt2", "llama" or "bert"): a tiny config with
    random weights (seeded) and the tiny workspace's tokenizer, written with save_pretrained.
    Nothing is downloaded. Needs the optional extra roots[hf]."""
    import transformers

    tok = transformers.PreTrainedTokenizerFast(
        tokenizer_file=str(tiny_workspace().tokenizer / "tokenizer.json"),
        bos_token="<|endoftext|>", eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    torch.manual_seed(0)
    if kind == "gpt2":
        model = transformers.GPT2LMHeadModel(transformers.GPT2Config(
            vocab_size=len(tok), n_embd=32, n_layer=2, n_head=2, n_positions=64, bos_token_id=0, eos_token_id=0))
    elif kind == "llama":
        model = transformers.LlamaForCausalLM(transformers.LlamaConfig(
            vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
            num_key_value_heads=2, max_position_embeddings=64, bos_token_id=0, eos_token_id=0))
    elif kind == "bert":  # a BERT-style vocabulary: [CLS] starts a text, [MASK] is predicted
        tok.add_special_tokens({"cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]", "pad_token": "[PAD]"})
        model = transformers.BertForMaskedLM(transformers.BertConfig(
            vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
            max_position_embeddings=64, pad_token_id=tok.pad_token_id))
    else:
        raise ValueError(f"unknown tiny Hugging Face model {kind!r}: gpt2, llama or bert")
    output = Path(output)
    model.save_pretrained(output)
    tok.save_pretrained(output)
    return output


def read_metrics(run) -> list[dict]:
    """What a training run logged, one record per logged step (RUN/metrics.jsonl)."""
    from pipelines.files import read_jsonl

    return list(read_jsonl(Path(run) / "metrics.jsonl"))
