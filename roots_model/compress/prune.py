"""Pruning: unstructured magnitude pruning and structured SwiGLU-channel pruning.

`magnitude`: in every projection matrix of every block (attention q/k/v/o, MLP
gate/up/down) the fraction `sparsity` of weights with the smallest |w| is set to zero.
Per matrix rather than one global threshold, so no layer is emptied. The embedding (which
is also the output matrix) is left dense: every row of it is a token, and zeroing parts
of rare tokens' rows costs far more perplexity than it saves. The zeros are plain values
in the float32 weights: the saved checkpoint has the same shapes and loads anywhere;
recovery fine-tuning re-applies the masks after every optimizer step so they stay zero.

`mlp-channels`: removes the fraction `sparsity` of SwiGLU hidden channels in every layer
(rows of gate/up, columns of down), so `intermediate_size` and the weight tensors really
shrink. The same number per layer, because ModelConfig has one intermediate_size.
Channels are ranked by mean |silu(gate x) * up x| over calibration tokens times the norm
of the channel's column of down_proj, i.e. how much each channel adds to the residual
stream on real text (weight norms alone when no calibration data is given).

Attention heads are not pruned: ModelConfig derives head_dim as n_embd / n_head, so a
model with fewer heads of the same size cannot be described by its config.
"""
from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from roots_model.compress import CompressError
from roots_model.model import GPT, ModelConfig

METHODS = ("magnitude", "mlp-channels")
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def check_sparsity(sparsity: float):
    if not 0.0 < sparsity < 1.0:
        raise CompressError(f"sparsity must be strictly between 0 and 1, got {sparsity}")


def check_method(method: str):
    if method not in METHODS:
        hint = " (attention heads cannot be pruned: head_dim is n_embd / n_head in ModelConfig)" if "head" in method else ""
        raise CompressError(f"unknown pruning method {method!r}; supported: {', '.join(METHODS)}{hint}")


def prunable_weights(model: GPT) -> dict[str, torch.Tensor]:
    """name -> weight of every block projection (what `magnitude` prunes)."""
    return {name: p for name, p in model.named_parameters()
            if name.startswith("layers.") and name.removesuffix(".weight").rsplit(".", 1)[-1] in PROJECTIONS}


def magnitude_masks(model: GPT, sparsity: float) -> dict[str, torch.Tensor]:
    """name -> bool mask keeping the largest-|w| (1 - sparsity) of each projection matrix."""
    check_sparsity(sparsity)
    masks = {}
    for name, weight in prunable_weights(model).items():
        n_pruned = int(round(sparsity * weight.numel()))
        flat = weight.detach().abs().flatten()
        mask = torch.ones_like(flat, dtype=torch.bool)
        mask[torch.topk(flat, n_pruned, largest=False).indices] = False  # exact count, ties included
        masks[name] = mask.view_as(weight)
    return masks


@torch.no_grad()
def apply_masks(model: GPT, masks: dict[str, torch.Tensor]):
    params = dict(model.named_parameters())
    for name, mask in masks.items():
        params[name].mul_(mask.to(params[name].device))


def measured_sparsity(model: GPT) -> dict:
    """Counted zeros in the prunable matrices, and in all weights."""
    weights = prunable_weights(model)
    zeros = sum(int((w == 0).sum()) for w in weights.values())
    total = sum(w.numel() for w in weights.values())
    all_zeros = sum(int((p == 0).sum()) for p in model.parameters())
    return {"prunable_sparsity": zeros / total, "prunable_weights": total,
            "overall_sparsity": all_zeros / model.num_params(), "zeros": zeros}


@torch.no_grad()
def channel_scores(model: GPT, calibration: torch.Tensor | None = None) -> list[torch.Tensor]:
    """Per layer, the importance of each SwiGLU channel [intermediate_size]."""
    scores = [layer.mlp.down_proj.weight.norm(dim=0) for layer in model.layers]
    if calibration is None:
        return [s * layer.mlp.gate_proj.weight.norm(dim=1) * layer.mlp.up_proj.weight.norm(dim=1)
                for s, layer in zip(scores, model.layers)]
    activations = [torch.zeros_like(s) for s in scores]

    def hook(i):
        def record(mlp, inputs, _output):
            x = inputs[0]
            hidden = F.silu(mlp.gate_proj(x)) * mlp.up_proj(x)
            activations[i] += hidden.abs().flatten(0, -2).mean(0)
        return record

    handles = [layer.mlp.register_forward_hook(hook(i)) for i, layer in enumerate(model.layers)]
    try:
        was_training = model.training
        model.eval()
        model(calibration)
        model.train(was_training)
    finally:
        for h in handles:
            h.remove()
    return [s * a for s, a in zip(scores, activations)]


def kept_channels(config: ModelConfig, sparsity: float) -> int:
    """Channels left per layer: (1 - sparsity) of intermediate_size, at least 8, a multiple of 8
    (vector-friendly matmul widths)."""
    check_sparsity(sparsity)
    return max(8, int(round((1 - sparsity) * config.intermediate_size / 8)) * 8)


@torch.no_grad()
def prune_mlp_channels(model: GPT, sparsity: float, calibration: torch.Tensor | None = None) -> GPT:
    """A new, smaller GPT keeping the most important SwiGLU channels of every layer."""
    config = model.config
    keep = kept_channels(config, sparsity)
    if keep >= config.intermediate_size:
        raise CompressError(f"sparsity {sparsity} removes no channel of intermediate_size={config.intermediate_size}")
    new_config = dataclasses.replace(config, intermediate_size=keep)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    for i, scores in enumerate(channel_scores(model, calibration)):
        index = torch.topk(scores, keep).indices.sort().values  # keep the original order
        prefix = f"layers.{i}.mlp."
        for proj in ("gate_proj", "up_proj"):
            state[f"{prefix}{proj}.weight"] = state[f"{prefix}{proj}.weight"][index]
        state[f"{prefix}down_proj.weight"] = state[f"{prefix}down_proj.weight"][:, index]
    pruned = GPT(new_config)
    pruned.load_state_dict({k: v.contiguous() for k, v in state.items()})
    return pruned.train(model.training)
