"""What a training step of `roots_model.train.fit` minimises.

`Objective` is next-token cross-entropy (autoregressive pretraining); `roots_model.mlm`
(masked LM) and `roots_model.compress.finetune` (distillation, pruning recovery) subclass it.
"""
from __future__ import annotations

import torch

from roots_model.model import loss_fn


class Objective:
    """What a training step minimises: next-token cross-entropy. Distillation and pruning
    recovery (roots_model.compress.finetune) subclass it."""

    def setup(self, model, device: torch.device):
        """Called once the model is on its device and wrapped."""

    def loss(self, model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return loss_fn(model(x), y)

    def eval_loss(self, model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The validation loss of a batch (mean per target): next-token cross-entropy,
        whatever `loss` trains with; the MLM objective scores masked tokens instead."""
        return loss_fn(model(x), y)

    def eval_sums(self, model, x: torch.Tensor, y: torch.Tensor, windows: list[int]) -> tuple[torch.Tensor, int]:
        """(loss sum, weight) of a validation batch whose rows are the validation windows
        `windows`; `roots_model.train.evaluate` adds both up over batches and processes and
        divides. Next-token loss: every window has seq_len targets, so each counts once."""
        return self.eval_loss(model, x, y) * len(windows), len(windows)

    def after_step(self, model):
        """Called after every optimizer step."""

