"""Measure a checkpoint the same way before and after compression, and write report.json.

Each figure is taken with the same data, prompt and thread count for both models:

- size on disk: bytes of model.safetensors (the weights; training state excluded),
- parameters: weights stored (int8 matrices count one per element),
- CPU tokens/s: greedy decoding of a fixed number of tokens with the KV cache, batch 1,
  without stopping at <|endoftext|> (so both models decode the same number of tokens),
- validation perplexity: exp(mean next-token loss) over the first windows of the token
  shards' validation split,

Harness scores for both models are added to report.json from the evaluation side
(`roots-eval compression OUTPUT --tasks ...`, roots_eval.compress_report): the model
package does not depend on the evaluation package.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch

from roots_model import checkpoint
from roots_model.compress.quantize import count_parameters
from roots_model.data import PackedSequences, is_token_folder
from roots_model.model import KVCache, loss_fn
from roots_model.tokenizer import encode, eos_id

SPEED_PROMPT = "北京是中国的首都，也是一座历史悠久的城市。The city of London is"


def default_token_dir(path) -> Path | None:
    """The token shards a pretraining checkpoint was trained on (from its state.json), or None."""
    state = checkpoint.load(path, verify_files=False).state if path else {}
    train_config = state.get("train_config") or {}
    for candidate in (train_config.get("data"), train_config.get("output") and Path(train_config["output"]) / "tokens"):
        if candidate and is_token_folder(candidate):
            return Path(candidate)
    return None


@torch.no_grad()
def validation_perplexity(model, token_dir, seq_len: int = 128, windows: int = 64, batch_size: int = 8) -> float:
    """exp(mean loss) over the first `windows` validation windows of `seq_len` tokens."""
    val = PackedSequences(token_dir, "val", seq_len, sequential=True)
    windows = min(windows, val.num_windows)
    total = 0.0
    for first in range(0, windows, batch_size):
        x, y = val.batch(first, min(batch_size, windows - first))
        total += loss_fn(model(x), y).item() * x.shape[0]
    return math.exp(total / windows)


@torch.inference_mode()
def generation_tokens_per_s(model, tokenizer, new_tokens: int = 64, repeats: int = 3, prompt: str = SPEED_PROMPT) -> float:
    """Greedy KV-cache decoding speed on CPU (best of `repeats`), batch 1."""
    ids = torch.tensor([[eos_id(tokenizer)] + encode(tokenizer, prompt)])
    new_tokens = min(new_tokens, model.config.block_size - ids.shape[1])
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        cache = KVCache(model.config, 1, ids.shape[1] + new_tokens, "cpu", torch.float32)
        logits = model(ids, cache=cache)[:, -1]
        for _ in range(new_tokens - 1):
            logits = model(logits.argmax(-1, keepdim=True), cache=cache)[:, -1]
        best = min(best, time.perf_counter() - started)
    return new_tokens / best


def measure(path, token_dir=None, new_tokens: int = 64) -> dict:
    """Every figure of one checkpoint (loaded on CPU)."""
    loaded = checkpoint.load(path)
    figures = {"path": str(loaded.path), "model_bytes": (loaded.path / checkpoint.WEIGHTS).stat().st_size,
               "parameters": count_parameters(loaded.model), "config": loaded.config.to_dict(),
               "cpu_threads": torch.get_num_threads(),
               "cpu_tokens_per_s": round(generation_tokens_per_s(loaded.model, loaded.tokenizer, new_tokens), 1),
               "val_perplexity": None}
    if token_dir is not None:
        figures["val_perplexity"] = round(validation_perplexity(loaded.model, token_dir), 4)
    return figures


def compare(original: dict, compressed: dict) -> dict:
    """Ratios of the compressed figures to the original's (None where one is missing)."""
    def ratio(key):
        a, b = original.get(key), compressed.get(key)
        return round(b / a, 4) if a and b is not None else None

    return {"size_ratio": ratio("model_bytes"), "parameter_ratio": ratio("parameters"),
            "speedup": ratio("cpu_tokens_per_s"), "perplexity_ratio": ratio("val_perplexity")}


def write_report(output, original_path, compressed_path, compression: dict, token_dir=None) -> dict:
    """Measure both checkpoints and write OUTPUT/report.json; returns the report."""
    output = Path(output)
    original = measure(original_path, token_dir)
    compressed = measure(compressed_path, token_dir)
    report = {"compression": compression, "token_dir": str(token_dir) if token_dir else None,
              "original": original, "compressed": compressed, "ratios": compare(original, compressed)}
    if token_dir is None:
        report["note"] = "no validation token shards given (--data) or found in the original's state.json: no perplexity"
    (output / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
    return report


def summary_line(report: dict) -> str:
    o, c, r = report["original"], report["compressed"], report["ratios"]
    ppl = (f"ppl {o['val_perplexity']:.2f} -> {c['val_perplexity']:.2f}" if c["val_perplexity"] is not None else "ppl n/a")
    return (f"size {o['model_bytes'] / 1e6:.2f} -> {c['model_bytes'] / 1e6:.2f} MB, params {o['parameters']:,} -> "
            f"{c['parameters']:,}, CPU tokens/s {o['cpu_tokens_per_s']:.0f} -> {c['cpu_tokens_per_s']:.0f} "
            f"(x{r['speedup']}), {ppl}")
