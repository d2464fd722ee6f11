"""roots_model checkpoints behind the EvalModel interface."""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import torch
from tqdm import tqdm

from roots_eval.models.base import GenerationRequest, ModelLoadError, cut_at_stop, hash_path
from roots_eval.models.torch_lm import TorchCausalLM, choose_dtype


def checkpoint_fingerprint(path: Path) -> str:
    from roots_model import checkpoint as ckpt

    return ckpt.digest(path) if (path / ckpt.MANIFEST).is_file() else hash_path(path)


def _is_quantized(path) -> bool:
    from roots_model import checkpoint as ckpt

    try:
        info = ckpt.resolve(path) / ckpt.COMPRESSION
        return info.is_file() and bool(json.loads(info.read_text()).get("quantization"))
    except (ckpt.CheckpointError, OSError, json.JSONDecodeError):
        return False  # load() reports the problem


def _compression_summary(compression: dict) -> str | None:
    """One short label for leaderboards: "int8-dynamic", "magnitude 50%", "distilled from X"."""
    if compression.get("quantization"):
        return compression["quantization"]
    if compression.get("pruning"):
        return f"{compression['pruning']} {compression['sparsity']:.0%}"
    if compression.get("distillation"):
        return f"distilled from {Path(compression['distillation']['teacher']).name}"
    return None


def trained_dtype(state) -> str | None:
    """The precision training ran in, from the checkpoint's state.json (train_config.dtype)."""
    config = state.get("train_config") if isinstance(state, dict) else None
    return config.get("dtype") if isinstance(config, dict) else None


class RootsLM(TorchCausalLM):
    kind = "roots"
    prepend_bos = True  # training documents follow <|endoftext|>; roots_model.generate prepends it too

    # the model, its tokenizer and generation are roots_model code: a change there changes outputs
    code_modules = ("roots_model.model", "roots_model.tokenizer", "roots_model.generate")

    def __init__(self, path: str | Path, device: str = "cpu", batch_size: int | str = 8, show_progress: bool = True,
                 dtype: str = "auto"):
        from roots_model import checkpoint as ckpt

        try:
            quantized = _is_quantized(path)
            if device != "cpu" and quantized:
                device = "cpu"  # int8 checkpoints (roots_model.compress) run on fbgemm CPU kernels only
            loaded = ckpt.load(path, device=device)
        except ckpt.CheckpointError as exc:
            raise ModelLoadError(f"cannot load roots_model checkpoint {path}: {exc}") from exc
        if not quantized:
            target = choose_dtype(dtype, device, trained_dtype(loaded.state))
            if target != torch.float32:
                loaded.model.to(target)
        self.loaded = loaded
        self.model, self.tokenizer, self.config = loaded.model, loaded.tokenizer, loaded.config
        self.path = Path(loaded.path)
        self.device, self.batch_size, self.show_progress = device, batch_size, show_progress
        self.max_length = int(self.config.block_size)
        given = Path(path).resolve()
        self.model_id = given.name if given.name not in ("", ".") else self.path.name
        self._fingerprint = checkpoint_fingerprint(self.path)

    def fingerprint(self) -> str:
        return self._fingerprint

    def metadata(self) -> dict:
        from roots_model.compress.quantize import count_parameters

        return {
            "id": self.model_id,
            "type": self.kind,
            "path": str(self.path.resolve()),  # absolute: `roots-eval lineage` follows it from anywhere
            "checkpoint_hash": self._fingerprint,
            "parameters": count_parameters(self.model),  # int8 weights are buffers, not parameters
            "block_size": self.max_length,
            "vocab_size": int(self.config.vocab_size),
            "step": self.loaded.state.get("step") if isinstance(self.loaded.state, dict) else None,
            "compression": _compression_summary(self.loaded.compression),
            "trained_dtype": trained_dtype(self.loaded.state),
            **self.precision_metadata(),
        }

    @property
    def dtype(self) -> torch.dtype:
        # an int8 model's weights are buffers; its activations (and scores) are float32
        floats = [p.dtype for p in self.model.parameters() if p.is_floating_point()]
        return floats[0] if floats else torch.float32

    def encode(self, text: str) -> list[int]:
        from roots_model.tokenizer import encode

        return encode(self.tokenizer, text)

    def bos_id(self) -> int:
        from roots_model.tokenizer import eos_id

        return eos_id(self.tokenizer)  # documents are separated by <|endoftext|> in training

    def forward_logits(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model(ids)

    @property
    def is_encoder(self) -> bool:
        return not getattr(self.config, "causal", True)

    @torch.no_grad()
    def loglikelihood(self, requests):
        if not self.is_encoder:
            return super().loglikelihood(requests)
        return [self.masked_loglikelihood(r, self.config.mask_token_id) for r in requests]

    def loglikelihood_rolling(self, texts):
        if self.is_encoder:
            raise NotImplementedError("perplexity needs a decoder; this checkpoint is a bidirectional (MLM) encoder")
        return super().loglikelihood_rolling(texts)

    @torch.no_grad()
    def generate(self, requests: list[GenerationRequest]) -> list[str]:
        if self.is_encoder:
            raise NotImplementedError("generation needs a decoder; this checkpoint is a bidirectional (MLM) encoder")
        from roots_model.generate import generate

        out: list = [None] * len(requests)
        groups = defaultdict(list)
        for i, r in enumerate(requests):
            groups[(r.until, r.max_new_tokens)].append(i)
        bar = tqdm(total=len(requests), desc="generate", unit="req", disable=not self.show_progress, leave=False)
        for (until, max_new), indices in groups.items():
            max_new = min(max_new, self.max_length - 1)
            # roots_model.generate keeps the end of an over-long prompt and pads on the left
            lengths = {i: len(self.encode(requests[i].context)) for i in indices}
            indices.sort(key=lambda i: -lengths[i])

            def run(chunk):
                prompts = [requests[i].context for i in chunk]
                texts = generate(self.model, self.tokenizer, prompts, max_new_tokens=max_new,
                                 temperature=0.0, stop=list(until) or None)
                return [cut_at_stop(text, until) for text in texts]

            self.fill_in_batches(indices, run, out, bar)
        bar.close()
        return out
