"""Batched text generation with a KV cache.

Prompts are encoded behind "<|endoftext|>" (the token every training document follows),
left-padded to a common length, and masked so that no token ever attends to padding;
RoPE positions count from each prompt's own first token, so a padded prompt computes
what it would alone. Each step then feeds one new token per row and reuses the cached
keys and values of everything before it.
"""
from __future__ import annotations

import torch

from roots_model.model import GPT, KVCache
from roots_model.tokenizer import encode, eos_id


def sample_next(logits: torch.Tensor, temperature: float, top_k: int | None, top_p: float | None,
                generator: torch.Generator | None) -> torch.Tensor:
    """One token id per row of `logits` [B, V]: argmax at temperature 0, else a sample
    from the temperature-scaled distribution cut to the top k tokens and/or the smallest
    set whose probability reaches top_p."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = sorted_logits.softmax(dim=-1)
        # Drop a token when the tokens ranked above it already reach top_p (the first
        # token always stays).
        drop = probs.cumsum(dim=-1) - probs >= top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    probs = logits.softmax(dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


@torch.inference_mode()
def generate(model: GPT, tokenizer, prompts: list[str], max_new_tokens: int, temperature: float = 0.0,
             top_k: int | None = None, top_p: float | None = None, stop: list[str] | None = None,
             seed: int | None = None, use_cache: bool = True) -> list[str]:
    """The continuation of each prompt (without the prompt, cut before the first stop
    string; generation of a row also ends at <|endoftext|>). `use_cache=False`
    recomputes the whole sequence every step (slow; for checking the cache)."""
    if not prompts:
        return []
    if max_new_tokens < 1:
        return [""] * len(prompts)
    config = model.config
    if max_new_tokens >= config.block_size:
        raise ValueError(f"max_new_tokens={max_new_tokens} must be below the model's block_size={config.block_size}")
    was_training = model.training
    model.eval()
    device = model.embed_tokens.weight.device
    eos = eos_id(tokenizer)
    room = config.block_size - max_new_tokens
    # Too long a prompt loses its beginning: the end is what the continuation depends on.
    encoded = [([eos] + encode(tokenizer, p))[-room:] for p in prompts]
    B, L = len(encoded), max(len(ids) for ids in encoded)
    idx = torch.full((B, L), eos, dtype=torch.long, device=device)
    real = torch.zeros((B, L), dtype=torch.bool, device=device)
    for row, ids in enumerate(encoded):
        idx[row, L - len(ids):] = torch.tensor(ids, device=device)
        real[row, L - len(ids):] = True
    positions = (real.long().cumsum(dim=1) - 1).clamp(min=0)
    cache = KVCache(config, B, L + max_new_tokens, device, model.embed_tokens.weight.dtype) if use_cache else None
    generator = torch.Generator(device=device).manual_seed(seed) if seed is not None else None
    vocab = tokenizer.get_vocab_size()  # the model's padded ids above this are never valid

    new_tokens: list[list[int]] = [[] for _ in range(B)]
    finished = [False] * B
    logits = model(idx, positions=positions, key_padding_mask=real, cache=cache)[:, -1]
    for _ in range(max_new_tokens):
        logits[:, vocab:] = float("-inf")
        token = sample_next(logits, temperature, top_k, top_p, generator)
        for row, t in enumerate(token.tolist()):
            if finished[row]:
                continue
            if t == eos:
                finished[row] = True
                continue
            new_tokens[row].append(t)
            if stop and _stop_at(tokenizer.decode(new_tokens[row]), stop) is not None:
                finished[row] = True
        if all(finished):
            break
        next_position = positions[:, -1:] + 1
        real = torch.cat([real, torch.ones((B, 1), dtype=torch.bool, device=device)], dim=1)
        if cache is not None:
            positions = next_position
            logits = model(token[:, None], positions=positions, key_padding_mask=real, cache=cache)[:, -1]
        else:
            idx = torch.cat([idx, token[:, None]], dim=1)
            positions = torch.cat([positions, next_position], dim=1)
            logits = model(idx, positions=positions, key_padding_mask=real)[:, -1]
    model.train(was_training)
    texts = [tokenizer.decode(ids) for ids in new_tokens]
    if stop:
        texts = [text[:_stop_at(text, stop)] for text in texts]
    return texts


def _stop_at(text: str, stop: list[str]) -> int | None:
    """Where the earliest stop string starts in `text`, or None."""
    hits = [text.find(s) for s in stop if s and s in text]
    return min(hits) if hits else None
