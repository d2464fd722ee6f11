"""Distillation and recovery fine-tuning after pruning, as objectives of the one training
loop (roots_model.train.fit): the same token shards, devices, bf16 autocast, DDP/FSDP2,
checkpoints and exact resume (`--resume`: weights, AdamW moments, step, data position and
every process's RNG states) as pretraining.

- Distillation: the loss is  alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE,
  with both distributions softened by temperature T (Hinton et al. 2015; the T^2 keeps the
  soft-target gradients on the scale of the hard-label ones).
- Pruning masks are re-applied after every optimizer step so pruned weights stay zero.
"""
from __future__ import annotations

import json

import torch
import torch.nn.functional as F

from roots_model import checkpoint
from roots_model.compress.prune import apply_masks
from roots_model.model import GPT, loss_fn
from roots_model.train import Objective, TrainConfig, fit, unwrap


def distillation_loss(student_logits, teacher_logits, targets, temperature: float, alpha: float, vocab: int):
    """Mixed soft/hard loss per token. Only the tokenizer's `vocab` ids take part in the KL:
    the padded ids above it are never targets and the teacher's values there are noise."""
    hard = loss_fn(student_logits, targets)
    s = student_logits[..., :vocab].float().flatten(0, -2) / temperature
    t = teacher_logits[..., :vocab].float().flatten(0, -2) / temperature
    kl = F.kl_div(F.log_softmax(s, dim=-1), F.log_softmax(t, dim=-1), log_target=True, reduction="batchmean")
    return alpha * temperature**2 * kl + (1 - alpha) * hard


class Distillation(Objective):
    """Train a student on a frozen teacher's softened next-token distributions."""

    def __init__(self, teacher: GPT, vocab: int, temperature: float = 2.0, alpha: float = 0.5):
        self.teacher, self.vocab, self.temperature, self.alpha = teacher, vocab, temperature, alpha

    def setup(self, model, device):
        self.teacher = self.teacher.to(device).eval().requires_grad_(False)

    def loss(self, model, x, y):
        with torch.no_grad():
            teacher_logits = self.teacher(x)
        return distillation_loss(model(x), teacher_logits, y, self.temperature, self.alpha, self.vocab)


class MaskedRecovery(Objective):
    """Next-token loss; pruned weights are zeroed again after each step (AdamW's update and
    weight decay would otherwise revive them)."""

    def __init__(self, masks: dict[str, torch.Tensor]):
        self.masks = masks

    def setup(self, model, device):
        from torch.distributed.tensor import distribute_tensor

        params = dict(unwrap(model).named_parameters())
        for name, mask in self.masks.items():
            p = params[name]
            mask = mask.to(p.device if not hasattr(p, "device_mesh") else "cpu")
            # under FSDP each process keeps the part of the mask that matches its shard
            self.masks[name] = distribute_tensor(mask, p.device_mesh, p.placements) if hasattr(p, "device_mesh") else mask

    def after_step(self, model):
        apply_masks(unwrap(model), self.masks)


def train_compressed(model: GPT, cfg: TrainConfig, objective: Objective | None = None,
                     compression: dict | None = None) -> dict:
    """Train `model` (the student, or the pruned model) and save run checkpoints under
    cfg.output/checkpoints/, each carrying compression.json."""
    return fit(cfg, model, objective, extra_files={checkpoint.COMPRESSION: json.dumps(compression or {}, indent=1)})
