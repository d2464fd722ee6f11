"""Checkpoints: a folder that loads without pickle.

    model.safetensors        weights (float32; a tied output matrix is stored once)
    config.json              the ModelConfig
    tokenizer.json           the tokenizer the model was trained with
    state.json               optional: training position, hyper-parameters, data fingerprint
    train_state/             optional: AdamW moments and per-process RNG states, one
                             safetensors file per training process (roots_model.train_state)
    compression.json         optional: written by roots_model.compress; "int8-dynamic" means
                             model.safetensors holds int8 weights + scales (see compress.quantize)
    checkpoint.json          written last: size and SHA-256 of every other file

A folder is written as a hidden temporary sibling and renamed into place, so a crash
leaves the previous checkpoint or none, never half of one. `load` checks every file
(subfolders included) against checkpoint.json before it trusts any of them.

A training run keeps its checkpoints in OUTPUT/checkpoints/step-NNNNNNNN/; `load(OUTPUT)`
picks the newest complete one.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer

from pipelines.files import sha256_hex
from roots_model.model import GPT, ModelConfig
from roots_model.quantized import METHODS, build_quantized_model
from roots_model.tokenizer import load_tokenizer

FORMAT = "roots-checkpoint/1"
MANIFEST = "checkpoint.json"
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
TOKENIZER = "tokenizer.json"
STATE_JSON = "state.json"
TRAIN_STATE = "train_state"
COMPRESSION = "compression.json"
RUN_SUBDIR = "checkpoints"


class CheckpointError(ValueError):
    pass


@dataclass
class LoadedCheckpoint:
    model: GPT
    tokenizer: Tokenizer
    config: ModelConfig
    path: Path
    state: dict = field(default_factory=dict)  # state.json (empty for a weights-only checkpoint)
    compression: dict = field(default_factory=dict)  # compression.json (empty for an uncompressed model)


def clean_state_dict(state_dict: dict, config: ModelConfig) -> dict:
    """Plain parameter names (no DDP `module.` or torch.compile `_orig_mod.` prefixes),
    contiguous CPU tensors, the tied output matrix dropped."""
    out = {}
    for name, tensor in state_dict.items():
        for prefix in ("module.", "_orig_mod."):
            name = name.replace(prefix, "")
        if config.tie_embeddings and name == "lm_head.weight":
            continue
        out[name] = tensor.detach().to("cpu").contiguous()
    return out


def save(path, model: nn.Module | dict, tokenizer: Tokenizer, config: ModelConfig, extra_state: dict | None = None,
         extra_files: dict[str, str] | None = None) -> Path:
    """Write a checkpoint folder atomically. `model` is a module or its (full) state dict;
    `extra_state` (JSON values) goes to state.json; `extra_files` ({name: text}, e.g.
    compression.json) are written and checksummed too."""
    path = Path(path)
    with atomic_directory(path) as tmp:
        state_dict = model.state_dict() if isinstance(model, nn.Module) else model
        save_file(clean_state_dict(state_dict, config), tmp / WEIGHTS, metadata={"format": "pt"})
        finish(tmp, tokenizer, config, extra_state, extra_files)
    return path


def finish(tmp: Path, tokenizer: Tokenizer, config: ModelConfig, extra_state: dict | None = None,
           extra_files: dict[str, str] | None = None):
    """Everything but the weights (already in `tmp`), then the manifest, written last."""
    (tmp / CONFIG).write_text(json.dumps(config.to_dict(), indent=1))
    tokenizer.save(str(tmp / TOKENIZER))
    if extra_state:
        (tmp / STATE_JSON).write_text(json.dumps(extra_state))
    for name, text in (extra_files or {}).items():
        (tmp / name).write_text(text, encoding="utf-8")
    files = {p.relative_to(tmp).as_posix(): {"bytes": p.stat().st_size, "sha256": _sha256(p)}
             for p in sorted(tmp.rglob("*")) if p.is_file()}
    (tmp / MANIFEST).write_text(json.dumps({"format": FORMAT, "files": files}, indent=1))
    _fsync_tree(tmp)


@contextmanager
def atomic_directory(path: Path, tmp_name: str | None = None):
    """Yield a hidden temporary sibling of `path` to fill; on success it replaces `path`
    (an existing folder is moved aside first), on any error it is removed. Processes that
    fill one folder together pass the same `tmp_name` (see roots_model.train_state)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / (tmp_name or f".{path.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        publish(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def publish(tmp: Path, path: Path):
    """Rename a finished temporary folder into place (the old folder moved aside first)."""
    old = path.parent / f".{path.name}.old-{os.getpid()}"
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)


def resolve(path) -> Path:
    """A checkpoint folder, or the newest complete checkpoint of a training run folder."""
    path = Path(path)
    if (path / MANIFEST).is_file():
        return path
    runs = path / RUN_SUBDIR
    candidates = sorted(p for p in runs.glob("step-*") if (p / MANIFEST).is_file()) if runs.is_dir() else []
    if candidates:
        return candidates[-1]
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    raise CheckpointError(f"{path} is not a checkpoint: no {MANIFEST} (incomplete or not written by roots_model)")


def verify(path: Path) -> dict:
    """Check every file against the manifest; returns the manifest."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"checkpoint {path}: unreadable {MANIFEST} ({e})") from None
    if manifest.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path}: unknown format {manifest.get('format')!r}, expected {FORMAT!r}")
    for name, expected in manifest["files"].items():
        file = path / name
        if not file.is_file():
            raise CheckpointError(f"checkpoint {path}: {name} is missing")
        size = file.stat().st_size
        if size != expected["bytes"]:
            raise CheckpointError(f"checkpoint {path}: {name} is {size} bytes, expected {expected['bytes']} (truncated?)")
        if _sha256(file) != expected["sha256"]:
            raise CheckpointError(f"checkpoint {path}: {name} does not match its checksum (corrupt)")
    return manifest


def digest(path) -> str:
    """A checkpoint's identity: the SHA-256 of its checkpoint.json, which holds the SHA-256 of
    every other file (so the weights need not be read again)."""
    digest = hashlib.sha256((Path(path) / MANIFEST).read_bytes())
    return "sha256:" + digest.hexdigest()


def load(path, device="cpu", verify_files: bool = True) -> LoadedCheckpoint:
    """The model (eval mode, on `device`), tokenizer and config of a checkpoint."""
    path = resolve(path)
    if verify_files:
        verify(path)
    try:
        config = ModelConfig.from_dict(json.loads((path / CONFIG).read_text()))
        tokenizer = load_tokenizer(path / TOKENIZER)
        state_dict = load_file(path / WEIGHTS)
        state = json.loads((path / STATE_JSON).read_text()) if (path / STATE_JSON).exists() else {}
        compression = json.loads((path / COMPRESSION).read_text()) if (path / COMPRESSION).exists() else {}
    except Exception as e:  # json, safetensors and tokenizers each raise their own
        raise CheckpointError(f"checkpoint {path} cannot be read: {e}") from None
    if compression.get("quantization"):
        model = _load_quantized(path, config, state_dict, compression, device)
        return LoadedCheckpoint(model=model, tokenizer=tokenizer, config=config, path=path, state=state,
                                compression=compression)
    model = GPT(config)
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    missing = [m for m in missing if not (config.tie_embeddings and m == "lm_head.weight")]
    if missing or unexpected:
        raise CheckpointError(f"checkpoint {path} does not fit its config: missing {missing}, unexpected {unexpected}")
    model.to(device).eval()
    return LoadedCheckpoint(model=model, tokenizer=tokenizer, config=config, path=path, state=state,
                            compression=compression)


def _load_quantized(path: Path, config: ModelConfig, tensors: dict, compression: dict, device) -> GPT:
    method = compression["quantization"]
    if method not in METHODS:
        raise CheckpointError(f"checkpoint {path}: unknown quantization {method!r} (known: {', '.join(METHODS)})")
    if torch.device(device).type != "cpu":
        raise CheckpointError(f"checkpoint {path} is {method}: it runs on CPU only, not {device}")
    try:
        return build_quantized_model(config, tensors)
    except ValueError as e:
        raise CheckpointError(f"checkpoint {path} does not fit its config: {e}") from None


def run_checkpoint_path(output, step: int) -> Path:
    return Path(output) / RUN_SUBDIR / f"step-{step:08d}"


def prune(output, keep: int):
    """Delete all but the newest `keep` complete checkpoints of a run."""
    runs = sorted(p for p in (Path(output) / RUN_SUBDIR).glob("step-*") if (p / MANIFEST).is_file())
    for old in runs[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return sha256_hex(f)


def _fsync_tree(path: Path):
    for file in path.rglob("*"):
        if file.is_file():
            with open(file, "rb") as f:
                os.fsync(f.fileno())
