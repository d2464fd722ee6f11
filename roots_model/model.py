"""A Transformer (Llama family), in one readable file: a decoder, or with
`causal=False` the same blocks as a bidirectional encoder (masked-LM pretraining).

RoPE positions, RMSNorm, SwiGLU feed-forward, optional grouped-query attention (fewer
key/value heads than query heads), tied input/output embeddings and PyTorch's fused
scaled-dot-product attention. The layer names follow Hugging Face's Llama so that export
(`roots_model.export`) is a rename, not a conversion.

`GPT(config)(idx)` returns logits `[B, T, vocab]`. Generation passes a `KVCache` and a
`key_padding_mask` (left-padded batches); training passes neither and gets the fast
`is_causal` attention path.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class ModelConfig:
    vocab_size: int = 32000
    block_size: int = 1024  # longest sequence the model is trained for (RoPE table length)
    n_layer: int = 12
    n_head: int = 12
    n_kv_head: int = 12  # < n_head: grouped-query attention
    n_embd: int = 768
    intermediate_size: int = 0  # SwiGLU hidden width; 0 = 8/3 * n_embd rounded up to 64
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    dropout: float = 0.0
    tie_embeddings: bool = True
    causal: bool = True  # False: every token attends to every other (an MLM encoder)
    mask_token_id: int | None = None  # the [MASK] id of an MLM model (an id above the tokenizer's)

    def __post_init__(self):
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} is not divisible by n_head={self.n_head}")
        if self.n_head % self.n_kv_head:
            raise ValueError(f"n_head={self.n_head} is not a multiple of n_kv_head={self.n_kv_head}")
        if (self.n_embd // self.n_head) % 2:
            raise ValueError("the head size must be even for rotary embeddings")
        if not self.intermediate_size:
            self.intermediate_size = _round_up(int(8 * self.n_embd / 3), 64)

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown model config fields: {sorted(unknown)}")
        return cls(**values)

    def num_params(self) -> int:
        """Parameter count without building the model (memory checks, MFU)."""
        c, h = self.n_embd, self.intermediate_size
        kv = self.n_kv_head * self.head_dim
        attention = 2 * c * c + 2 * c * kv
        per_layer = attention + 3 * c * h + 2 * c
        embeddings = self.vocab_size * c * (1 if self.tie_embeddings else 2)
        return self.n_layer * per_layer + embeddings + c


# The shapes; the vocabulary comes from the tokenizer (see `preset`).
PRESETS = {
    "tiny": dict(block_size=256, n_layer=4, n_head=4, n_kv_head=2, n_embd=128),  # CPU minutes
    "124m": dict(block_size=1024, n_layer=12, n_head=12, n_kv_head=12, n_embd=768),  # GPT-2 small
    "350m": dict(block_size=1024, n_layer=24, n_head=16, n_kv_head=16, n_embd=1024),  # GPT-2 medium
    "1b": dict(block_size=2048, n_layer=22, n_head=32, n_kv_head=4, n_embd=2048,
               intermediate_size=5632),  # TinyLlama-1.1B shape
}


def preset(name: str, vocab_size: int, **overrides) -> ModelConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    # A multiple of 64 keeps the embedding and output matmuls on fast kernels; the extra
    # ids are never produced by the tokenizer. An MLM model's [MASK] id is one of them.
    if overrides.get("mask_token_id") is not None:
        vocab_size = max(vocab_size, overrides["mask_token_id"] + 1)
    values = {**PRESETS[name], "vocab_size": _round_up(vocab_size, 64), **overrides}
    return ModelConfig(**values)


def _round_up(n: int, multiple: int) -> int:
    return (n + multiple - 1) // multiple * multiple


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        # Normalise in float32: bf16 sums of squares lose too much precision.
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.type_as(x)


def rope_tables(config: ModelConfig):
    inv_freq = 1.0 / (config.rope_theta ** (torch.arange(0, config.head_dim, 2).float() / config.head_dim))
    angles = torch.outer(torch.arange(config.block_size).float(), inv_freq)
    return angles.cos(), angles.sin()  # [block_size, head_dim / 2] each


def apply_rope(x, cos, sin):
    """x: [B, H, T, D]; cos/sin: [B, T, D/2]. Pairs dimension i with i + D/2 (the Llama /
    Hugging Face convention), so exported weights need no permutation."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half].float(), x[..., half:].float()
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1).type_as(x)


class KVCache:
    """Keys and values of every layer for a batch being generated, preallocated to
    `max_len` positions; `length` is how many are filled."""

    def __init__(self, config: ModelConfig, batch_size: int, max_len: int, device, dtype):
        shape = (config.n_layer, batch_size, config.n_kv_head, max_len, config.head_dim)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.length = 0

    @property
    def max_len(self) -> int:
        return self.k.shape[3]


class Attention(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.n_head, self.n_kv_head, self.head_dim = config.n_head, config.n_kv_head, config.head_dim
        self.q_proj = nn.Linear(config.n_embd, config.n_head * config.head_dim, bias=False)
        self.k_proj = nn.Linear(config.n_embd, config.n_kv_head * config.head_dim, bias=False)
        self.v_proj = nn.Linear(config.n_embd, config.n_kv_head * config.head_dim, bias=False)
        self.o_proj = nn.Linear(config.n_head * config.head_dim, config.n_embd, bias=False)
        self.dropout = config.dropout
        self.causal = config.causal

    def forward(self, x, cos, sin, mask=None, cache: KVCache | None = None, layer: int = 0):
        B, T, _ = x.shape
        q, k, v = self.project_qkv(x)
        q = q.view(B, T, self.n_head, self.head_dim).transpose(1, 2)
        k = k.view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)
        v = v.view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:
            start = cache.length
            cache.k[layer, :, :, start:start + T] = k
            cache.v[layer, :, :, start:start + T] = v
            k, v = cache.k[layer, :, :, :start + T], cache.v[layer, :, :, :start + T]
        y = F.scaled_dot_product_attention(
            q, k, v,
            attn_mask=mask,
            is_causal=mask is None and self.causal,
            dropout_p=self.dropout if self.training else 0.0,
            enable_gqa=self.n_kv_head != self.n_head,
        )
        return self.o_proj(y.transpose(1, 2).reshape(B, T, -1))

    def project_qkv(self, x):
        # A method so that the int8 model (compress/quantize.py) can fuse the three matmuls.
        return self.q_proj(x), self.k_proj(x), self.v_proj(x)


class MLP(nn.Module):
    """SwiGLU: down(silu(gate(x)) * up(x))."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.gate_proj = nn.Linear(config.n_embd, config.intermediate_size, bias=False)
        self.up_proj = nn.Linear(config.n_embd, config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.n_embd, bias=False)

    def forward(self, x):
        gate, up = self.project_gate_up(x)
        return self.down_proj(F.silu(gate) * up)

    def project_gate_up(self, x):
        return self.gate_proj(x), self.up_proj(x)


class Block(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.input_layernorm = RMSNorm(config.n_embd, config.norm_eps)
        self.self_attn = Attention(config)
        self.post_attention_layernorm = RMSNorm(config.n_embd, config.norm_eps)
        self.mlp = MLP(config)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x, cos, sin, mask=None, cache=None, layer=0):
        x = x + self.dropout(self.self_attn(self.input_layernorm(x), cos, sin, mask, cache, layer))
        return x + self.dropout(self.mlp(self.post_attention_layernorm(x)))


class GPT(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.n_embd)
        self.layers = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.norm = RMSNorm(config.n_embd, config.norm_eps)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_embeddings:
            self.lm_head.weight = self.embed_tokens.weight
        cos, sin = rope_tables(config)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init_weights)
        # GPT-2: scale the projections that add into the residual stream by depth, so its
        # variance does not grow with the number of layers.
        for name, p in self.named_parameters():
            if name.endswith(("o_proj.weight", "down_proj.weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def hidden_states(self, idx, positions=None, key_padding_mask=None, cache: KVCache | None = None):
        """Final normalised hidden states [B, T, n_embd].

        positions: [B, T] RoPE positions (default: cache.length + 0..T-1).
        key_padding_mask: [B, S] bool, True for real tokens, S = cache.length + T (or T
        without a cache); padded keys are never attended to.
        """
        B, T = idx.shape
        start = cache.length if cache is not None else 0
        if start + T > self.config.block_size:
            raise ValueError(f"sequence of {start + T} tokens exceeds block_size={self.config.block_size}")
        if positions is None:
            positions = torch.arange(start, start + T, device=idx.device).expand(B, T)
        cos, sin = self.rope_cos[positions], self.rope_sin[positions]
        mask = None
        if cache is not None and not self.config.causal:
            raise ValueError("a bidirectional (MLM) model cannot generate with a KV cache")
        if cache is not None or key_padding_mask is not None:
            mask = self._attention_mask(B, T, start, key_padding_mask, idx.device, self.config.causal)
        x = self.embed_tokens(idx)
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, mask, cache, i)
        if cache is not None:
            cache.length += T
        return self.norm(x)

    @staticmethod
    def _attention_mask(B, T, start, key_padding_mask, device, causal=True):
        query_pos = torch.arange(start, start + T, device=device)[:, None]
        key_pos = torch.arange(start + T, device=device)[None, :]
        mask = (key_pos <= query_pos) if causal else torch.ones(T, start + T, dtype=torch.bool, device=device)
        mask = mask.expand(B, 1, T, start + T)
        if key_padding_mask is not None:
            mask = mask & key_padding_mask[:, None, None, :].bool()
            # A padding query would otherwise see no key at all and attention would return
            # NaN, which then leaks through the cache; let every token see itself.
            mask = mask | (key_pos == query_pos)
        return mask

    def forward(self, idx, positions=None, key_padding_mask=None, cache: KVCache | None = None):
        return self.lm_head(self.hidden_states(idx, positions, key_padding_mask, cache))


def loss_fn(logits, targets):
    return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1))


def flops_per_token(config: ModelConfig, seq_len: int) -> float:
    """Training FLOPs per token (forward + backward): 6N for the weights plus the attention
    score/value matmuls (PaLM appendix B), N without the embedding lookup."""
    n = config.num_params() - config.vocab_size * config.n_embd * (0 if config.tie_embeddings else 1)
    return 6 * n + 12 * config.n_layer * config.n_embd * seq_len
