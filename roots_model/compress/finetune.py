"""The training loop of distillation and of recovery fine-tuning after pruning.

It is pretraining's loop (roots_model.train) with two additions, and reuses its parts:
the token shards and `PackedSequences`, `TrainConfig`, the learning-rate schedule,
AdamW setup, `evaluate`, `training_state` / `restore_optimizer` / RNG restore,
`MetricsLog` and checkpoint layout. So a run resumes the way pretraining does
(`--resume`: weights, AdamW moments, step, data position and RNG states).

The additions:
- a teacher: the loss is  alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE,
  with both distributions softened by temperature T (Hinton et al. 2015; the T^2 keeps the
  soft-target gradients on the scale of the hard-label ones);
- pruning masks, re-applied after every optimizer step so pruned weights stay zero.

One process (no DDP/FSDP): compression runs are small next to pretraining.
"""
from __future__ import annotations

import json
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from roots_model import checkpoint
from roots_model.compress.prune import apply_masks
from roots_model.data import PackedSequences
from roots_model.model import GPT, ModelConfig, loss_fn
from roots_model.train import (Distributed, MetricsLog, TrainConfig, _restore_rng, build_optimizer, evaluate,
                               learning_rate, plot_loss, restore_optimizer, token_folder, training_state)


@dataclass
class Distillation:
    teacher: GPT
    temperature: float = 2.0
    alpha: float = 0.5  # weight of the soft-target term; 1 - alpha goes to the hard labels


def distillation_loss(student_logits, teacher_logits, targets, temperature: float, alpha: float, vocab: int):
    """Mixed soft/hard loss per token. Only the tokenizer's `vocab` ids take part in the KL:
    the padded ids above it are never targets and the teacher's values there are noise."""
    hard = loss_fn(student_logits, targets)
    s = student_logits[..., :vocab].float().flatten(0, -2) / temperature
    t = teacher_logits[..., :vocab].float().flatten(0, -2) / temperature
    kl = F.kl_div(F.log_softmax(s, dim=-1), F.log_softmax(t, dim=-1), log_target=True, reduction="batchmean")
    return alpha * temperature**2 * kl + (1 - alpha) * hard


def train_compressed(model: GPT, cfg: TrainConfig, tokenizer, distill: Distillation | None = None,
                     masks: dict | None = None, compression: dict | None = None) -> dict:
    """Train `model` (the student, or the pruned model) and save run checkpoints under
    cfg.output/checkpoints/, each carrying compression.json. With cfg.resume the newest
    checkpoint there replaces `model`'s weights and the run continues from its step."""
    env, device = Distributed(), torch.device("cpu" if cfg.device == "auto" else cfg.device)
    output = Path(cfg.output)
    output.mkdir(parents=True, exist_ok=True)
    tokens = token_folder(cfg, env)
    train_data = PackedSequences(tokens, "train", cfg.seq_len, seed=cfg.seed)
    val_data = PackedSequences(tokens, "val", cfg.seq_len, sequential=True)
    config: ModelConfig = model.config
    vocab = tokenizer.get_vocab_size()
    extra_files = {checkpoint.COMPRESSION: json.dumps(compression or {}, indent=1)}

    resume_from = _newest_run_checkpoint(output) if cfg.resume else None
    torch.manual_seed(cfg.seed)
    model.to(device).train()
    optimizer = build_optimizer(model, cfg, device)
    step, samples_seen = 0, 0
    if resume_from is not None:
        loaded = checkpoint.load(resume_from)
        if loaded.config != config:
            raise checkpoint.CheckpointError(f"{resume_from} holds a {loaded.config} model, this run trains {config}")
        model.load_state_dict(loaded.model.state_dict())
        tensors = checkpoint.load_state_tensors(resume_from)
        restore_optimizer(optimizer, model, tensors, resume_from)
        step, samples_seen = loaded.state["step"], loaded.state["samples_seen"]
        _restore_rng(loaded.state, tensors, env)
    teacher = distill.teacher.to(device).eval() if distill else None

    metrics = MetricsLog(output, step, cfg.tensorboard)
    last = {"loss": None, "val_loss": None}
    saved, interval_start, interval_steps = None, time.perf_counter(), 0
    try:
        while step < cfg.max_steps:
            lr = learning_rate(step, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss_sum = 0.0
            for micro in range(cfg.grad_accum):
                x, y = train_data.batch(samples_seen + micro * cfg.batch_size, cfg.batch_size)
                x, y = x.to(device), y.to(device)
                logits = model(x)
                if teacher is not None:
                    with torch.no_grad():
                        teacher_logits = teacher(x)
                    loss = distillation_loss(logits, teacher_logits, y, distill.temperature, distill.alpha, vocab)
                else:
                    loss = loss_fn(logits, y)
                (loss / cfg.grad_accum).backward()
                loss_sum += loss.item() / cfg.grad_accum
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if masks:
                apply_masks(model, masks)  # AdamW's update (and decay) would revive pruned weights
            step += 1
            samples_seen += cfg.batch_size * cfg.grad_accum
            interval_steps += 1

            do_eval = step % cfg.eval_interval == 0 or step == cfg.max_steps
            if step % cfg.log_interval == 0 or do_eval:
                elapsed = time.perf_counter() - interval_start
                record = {"step": step, "loss": loss_sum, "lr": lr, "grad_norm": float(grad_norm),
                          "tokens_per_s": round(interval_steps * cfg.batch_size * cfg.grad_accum * cfg.seq_len / elapsed, 1),
                          "tokens_seen": samples_seen * cfg.seq_len}
                if do_eval:
                    record["val_loss"] = evaluate(model, val_data, cfg, env, device, nullcontext())
                    record["val_perplexity"] = math.exp(min(record["val_loss"], 50))
                    last["val_loss"] = record["val_loss"]
                last["loss"] = loss_sum
                metrics.write(record)
                if cfg.progress:
                    val = f" val {record['val_loss']:.4f}" if do_eval else ""
                    print(f"step {step}/{cfg.max_steps} loss {loss_sum:.4f} lr {lr:.2e}{val}", flush=True)
                interval_start, interval_steps = time.perf_counter(), 0
            if cfg.stop_after_step is not None and cfg.stop_after_step <= step < cfg.max_steps:
                break  # simulated kill (tests): no final checkpoint
            if step % cfg.checkpoint_interval == 0 or step == cfg.max_steps:
                weights, extra = training_state(model, optimizer, cfg, env, step, samples_seen)
                saved = checkpoint.save(checkpoint.run_checkpoint_path(output, step), weights, tokenizer, config,
                                        extra, extra_files=extra_files)
                checkpoint.prune(output, cfg.keep_checkpoints)
                plot_loss(metrics.path, output / "loss.png")
                interval_start = time.perf_counter()
    finally:
        metrics.close()
    return {"step": step, "loss": last["loss"], "val_loss": last["val_loss"],
            "checkpoint": str(saved) if saved else None, "output": str(output)}


def _newest_run_checkpoint(output: Path) -> Path | None:
    runs = sorted(p for p in (output / checkpoint.RUN_SUBDIR).glob("step-*") if (p / checkpoint.MANIFEST).is_file())
    return runs[-1] if runs else None

