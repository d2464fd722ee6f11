"""Int8 models for CPU inference, stored without pickle (what `roots-train quantize` writes
and `roots_model.checkpoint.load` rebuilds; the command itself is roots_model.compress.quantize).

Every `nn.Linear` of the model (the attention and SwiGLU projections and the output matrix)
becomes an `Int8Linear`: int8 weights with one float32 scale per output row (symmetric, so
no zero points), multiplied by PyTorch's fbgemm kernel `quantized::linear_dynamic`, which
quantizes each activation row to 8 bits on the fly and accumulates in int32. That is the
kernel `torch.ao.quantization.quantize_dynamic` uses; we call it directly because
quantize_dynamic's modules keep their weights in opaque packed objects that safetensors
cannot store, and it defaults to one scale per matrix, which loses more precision.

The checkpoint holds `<name>.weight_int8` + `<name>.weight_scale` per quantized matrix; the
packed form is rebuilt on load. In memory, matrices that read the same input are fused (q/k/v,
and gate/up): per-row scales make the concatenation exact, and at generation shapes each
kernel call, with its activation quantization, costs more than the arithmetic. With tied embeddings the one int8 matrix serves as both
the output projection and (dequantized once at load) the embedding table, so the file is
about a quarter of the float32 one.

Why not weight-only int8 (`aten._weight_int8pack_mm`)? On this CPU build it is 5-30x
slower than float32 for float32 activations (measured); dynamic int8 is 2-5x faster than
float32 at generation shapes (M = 1..8 rows).
"""
from __future__ import annotations

import warnings

import torch
import torch.nn as nn

from roots_model.model import GPT, MLP, Attention, ModelConfig, rope_tables

METHODS = ("int8-dynamic",)


def quantize_rows(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-row int8: (int8 [N, K], float32 scale [N]) with weight ≈ q * scale."""
    weight = weight.detach().float()
    scale = (weight.abs().amax(dim=1) / 127.0).clamp(min=1e-12)
    q = torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return q, scale


def dequantize_rows(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return q.float() * scale[:, None]


def _pack(q: torch.Tensor, scale: torch.Tensor):
    # fbgemm wants a per-channel quantized tensor to prepack; creating one warns that the
    # quantized dtypes are deprecated (they still work in torch 2.13, and are only used
    # here, in memory, never saved).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        zero_points = torch.zeros(q.shape[0], dtype=torch.long)
        qweight = torch._make_per_channel_quantized_tensor(q, scale.double(), zero_points, 0)
        return torch.ops.quantized.linear_prepack(qweight, None)


class Int8Linear(nn.Module):
    """y = x @ dequant(W).T with int8 W and 8-bit dynamic activations (CPU only, no bias)."""

    def __init__(self, q: torch.Tensor, scale: torch.Tensor):
        super().__init__()
        if q.dtype != torch.int8 or q.dim() != 2 or scale.shape != (q.shape[0],):
            raise ValueError(f"Int8Linear needs int8 [N, K] weights and [N] scales, got {q.dtype} {tuple(q.shape)}, "
                             f"{tuple(scale.shape)}")
        self.out_features, self.in_features = q.shape
        self.register_buffer("weight_int8", q.contiguous())
        self.register_buffer("weight_scale", scale.float().contiguous())
        self._packed = _pack(self.weight_int8, self.weight_scale)

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> "Int8Linear":
        if linear.bias is not None:
            raise ValueError("Int8Linear has no bias (the GPT projections have none)")
        return cls(*quantize_rows(linear.weight))

    def forward(self, x):
        # reduce_range=True: activations use 7 bits, so fbgemm's int16 pair sums cannot
        # saturate on CPUs without VNNI (the setting quantize_dynamic uses on x86).
        return torch.ops.quantized.linear_dynamic(x.float().contiguous(), self._packed, True)

    def _apply(self, fn, recurse=True):
        super()._apply(fn, recurse)
        if self.weight_int8.device.type != "cpu":
            raise ValueError("int8 models run on CPU only (fbgemm kernels)")
        return self

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 per-row scales"


class Int8Attention(Attention):
    """Attention whose q, k and v come from one fused Int8Linear."""

    def project_qkv(self, x):
        return self.qkv_proj(x).split(self.qkv_sizes, dim=-1)


class Int8MLP(MLP):
    """SwiGLU whose gate and up projections are one fused Int8Linear."""

    def project_gate_up(self, x):
        return self.gate_up_proj(x).chunk(2, dim=-1)


def _fuse(module: nn.Module, names: tuple[str, ...], fused_name: str, cls: type) -> list[int]:
    parts = [getattr(module, n) for n in names]
    fused = Int8Linear(torch.cat([p.weight_int8 for p in parts]), torch.cat([p.weight_scale for p in parts]))
    for n in names:
        delattr(module, n)
    setattr(module, fused_name, fused)
    module.__class__ = cls
    return [p.out_features for p in parts]


def quantize_state_dict(state_dict: dict, config: ModelConfig) -> dict:
    """float32 GPT state dict -> the tensors an int8 checkpoint stores: every 2-D projection
    weight (and the embedding, which doubles as the output matrix when tied) as
    `.weight_int8` + `.weight_scale`; norms stay float32."""
    out = {}
    for name, tensor in state_dict.items():
        if config.tie_embeddings and name == "lm_head.weight":
            continue  # the same matrix as embed_tokens.weight
        if tensor.dim() == 2:
            q, scale = quantize_rows(tensor)
            stem = name.removesuffix(".weight")
            out[f"{stem}.weight_int8"], out[f"{stem}.weight_scale"] = q, scale
        else:
            out[name] = tensor.float().contiguous()
    return out


def build_quantized_model(config: ModelConfig, tensors: dict) -> GPT:
    """Rebuild the quantized GPT from the tensors of `quantize_state_dict` (as loaded from
    safetensors). Raises ValueError when they do not fit the config."""
    with torch.device("meta"):
        model = GPT(config)  # shapes only: every weight is replaced below
    tensors = dict(tensors)
    head = "embed_tokens" if config.tie_embeddings else "lm_head"
    for module_name, module in list(model.named_modules()):
        if isinstance(module, nn.Linear):
            stem = head if module_name == "lm_head" else module_name
            q, scale = _take(tensors, stem, module.weight.shape, keep=stem == "embed_tokens")
            _set_submodule(model, module_name, Int8Linear(q, scale))
    q, scale = _take(tensors, "embed_tokens", model.embed_tokens.weight.shape)
    # The lookup reads single rows: keep the table dequantized in memory (the file holds int8).
    model.embed_tokens = nn.Embedding.from_pretrained(dequantize_rows(q, scale), freeze=True)
    rest = dict(tensors)  # now only the float tensors (norm weights)
    for name, param in list(model.named_parameters()):
        if name == "embed_tokens.weight":
            continue
        if name not in rest:
            raise ValueError(f"missing tensor {name}")
        t = rest.pop(name)
        if t.shape != param.shape:
            raise ValueError(f"{name} has shape {tuple(t.shape)}, the config needs {tuple(param.shape)}")
        module_name, _, attr = name.rpartition(".")
        setattr(model.get_submodule(module_name), attr, nn.Parameter(t.float(), requires_grad=False))
    if rest:
        raise ValueError(f"unexpected tensors {sorted(rest)}")
    model.rope_cos, model.rope_sin = rope_tables(config)  # non-persistent buffers, made on meta
    for layer in model.layers:
        layer.self_attn.qkv_sizes = _fuse(layer.self_attn, ("q_proj", "k_proj", "v_proj"), "qkv_proj", Int8Attention)
        _fuse(layer.mlp, ("gate_proj", "up_proj"), "gate_up_proj", Int8MLP)
    return model.eval()


def _take(tensors: dict, stem: str, shape, keep: bool = False):
    names = (f"{stem}.weight_int8", f"{stem}.weight_scale")
    if any(n not in tensors for n in names):
        raise ValueError(f"missing tensor {names[0]} or {names[1]}")
    q, scale = (tensors[n] if keep else tensors.pop(n) for n in names)
    if tuple(q.shape) != tuple(shape) or q.dtype != torch.int8:
        raise ValueError(f"{names[0]} is {q.dtype} {tuple(q.shape)}, the config needs int8 {tuple(shape)}")
    return q, scale


def _set_submodule(model: nn.Module, name: str, module: nn.Module):
    parent, _, attr = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, attr, module)


def count_parameters(model: nn.Module) -> int:
    """Weights of a float, pruned or int8 model (int8 matrices count one per element; a
    tied matrix once)."""
    seen, total = set(), 0
    for t in list(model.parameters()) + [b for n, b in model.named_buffers() if n.endswith("weight_int8")]:
        if id(t) not in seen:
            seen.add(id(t))
            total += t.numel()
    if isinstance(model, GPT) and model.config.tie_embeddings and isinstance(model.lm_head, Int8Linear):
        total -= model.lm_head.weight_int8.numel()  # stored once, counted as the embedding
    return total
