"""Training checkpoints written by every process at once and read back on any number of them.

A run checkpoint is an ordinary checkpoint folder (roots_model.checkpoint) plus:

    state.json                                 step, samples_seen, train_config, data fingerprint
    train_state/shard-NNNNN-model-00001-of-00001.safetensors
                                               one file per process: its part of the AdamW
                                               moments and its own torch (CPU and CUDA) RNG states

Both the weights and train_state/ go through torch.distributed.checkpoint (DCP) with its
safetensors storage (`HuggingFaceStorageWriter`/`Reader`): each process writes only the
shard it holds, with the shard's offsets in the file header, so nothing is gathered onto
one process and nothing is pickled. Under FSDP the weight shards are consolidated into one
full `model.safetensors` (the file inference and export read); under DDP or one process the
weights are whole already and rank 0 writes them. DCP writes a tensor replicated on every
process (DDP's moments) once, and on reading it re-shards for the current world size.

Every process calls `save` and `restore`: they are collective.
"""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from safetensors.torch import save_file
from torch.distributed.checkpoint import HuggingFaceStorageReader, HuggingFaceStorageWriter

from roots_model import checkpoint

CONSOLIDATED = "model-00001-of-00001.safetensors"  # the name DCP's consolidation gives one file


def unwrap(model):
    """The GPT inside torch.compile and DDP wrappers (FSDP2 shards the module in place)."""
    model = getattr(model, "_orig_mod", model)
    return getattr(model, "module", model)


def _reshard(model):
    """FSDP2 leaves the root module's parameters gathered after a forward (they are needed
    again at once); put every module back to its shards so that the parameters are the
    sharded ones the optimizer holds."""
    from torch.distributed.fsdp import FSDPModule

    for module in unwrap(model).modules():
        if isinstance(module, FSDPModule):
            module.reshard()


def _is_sharded(model) -> bool:
    _reshard(model)
    return any(hasattr(p, "device_mesh") for p in unwrap(model).parameters())


def weight_state(model) -> dict:
    """The model's state dict as the checkpoint stores it: the tied output matrix once."""
    _reshard(model)
    raw = unwrap(model)
    return {k: v for k, v in raw.state_dict().items() if not (raw.config.tie_embeddings and k == "lm_head.weight")}


def _param_names(model) -> dict:
    _reshard(model)
    return {p: name for name, p in unwrap(model).named_parameters()}


def optimizer_state(optimizer, model, rank: int) -> dict:
    """Flat {name: tensor} of this process's AdamW moments and RNG states."""
    names = _param_names(model)
    out = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            for key, value in optimizer.state.get(p, {}).items():
                out[f"optim.{names[p]}.{key}"] = value
    out[f"rng.torch.rank{rank}"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out[f"rng.cuda.rank{rank}"] = torch.cuda.get_rng_state()
    return out


def _barrier():
    if dist.is_initialized():
        dist.barrier()


def save(path, model, optimizer, tokenizer, config, state: dict, rank: int, extra_files: dict | None = None) -> Path:
    """Write run checkpoint `path` atomically, every process together; returns the path."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.tmp"  # one name for all processes
    if rank == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    _barrier()
    try:
        dcp.save(optimizer_state(optimizer, model, rank),
                 storage_writer=HuggingFaceStorageWriter(str(tmp / checkpoint.TRAIN_STATE), save_distributed=True))
        if _is_sharded(model):
            # Each process writes its shard; rank 0 (DCP's coordinator) then merges them.
            dcp.save(weight_state(model), storage_writer=HuggingFaceStorageWriter(
                str(tmp / "weights"), save_distributed=True, enable_consolidation=True))
        _barrier()
        if rank == 0:
            if _is_sharded(model):
                (tmp / "weights" / CONSOLIDATED).replace(tmp / checkpoint.WEIGHTS)
                shutil.rmtree(tmp / "weights")
            else:
                weights = checkpoint.clean_state_dict(unwrap(model).state_dict(), config)
                save_file(weights, tmp / checkpoint.WEIGHTS, metadata={"format": "pt"})
            checkpoint.finish(tmp, tokenizer, config, state, extra_files)
            checkpoint.publish(tmp, path)
    except BaseException:
        if rank == 0:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    _barrier()
    return path


def _saved_keys(folder: Path) -> set[str]:
    return set(HuggingFaceStorageReader(str(folder)).read_metadata().state_dict_metadata)


def load_weights(model, path):
    """Load checkpoint `path`'s weights into `model` (wrapped or not): each process reads
    only its own shard under FSDP."""
    weights = weight_state(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # DCP warns that it runs without a process group
        dcp.load(weights, storage_reader=HuggingFaceStorageReader(str(path)))


def restore(optimizer, model, path, rank: int) -> bool:
    """Load AdamW moments and this process's RNG states; returns False when the checkpoint
    has no RNG state for this rank (the run now has more processes than it was saved with)."""
    folder = Path(path) / checkpoint.TRAIN_STATE
    if not folder.is_dir():
        raise checkpoint.CheckpointError(f"{path} has no {checkpoint.TRAIN_STATE}/ to resume from "
                                         "(written by an older roots_model, or weights only)")
    saved = _saved_keys(folder)
    names = _param_names(model)
    target, moments = {}, {}
    for group in optimizer.param_groups:
        on_device = group.get("fused") or group.get("capturable")
        for p in group["params"]:
            moments[p] = {"step": torch.zeros((), dtype=torch.float32, device=p.device if on_device else "cpu"),
                          "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                          "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format)}
            for key, t in moments[p].items():
                target[f"optim.{names[p]}.{key}"] = t
    missing = sorted(set(target) - saved)
    if missing:
        raise checkpoint.CheckpointError(f"{path}: optimizer state {missing[0]} is missing "
                                         f"({len(missing)} of {len(target)} tensors)")
    rng_keys = [k for k in (f"rng.torch.rank{rank}", f"rng.cuda.rank{rank}") if k in saved]
    rng = {k: torch.empty_like(torch.get_rng_state()) if "torch" in k else torch.empty_like(torch.cuda.get_rng_state())
           for k in rng_keys if "torch" in k or torch.cuda.is_available()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        dcp.load(target | rng, storage_reader=HuggingFaceStorageReader(str(folder)))
    for p, state in moments.items():
        optimizer.state[p] = state
    if f"rng.torch.rank{rank}" in rng:
        torch.set_rng_state(rng[f"rng.torch.rank{rank}"])
    if f"rng.cuda.rank{rank}" in rng:
        torch.cuda.set_rng_state(rng[f"rng.cuda.rank{rank}"])
    return f"rng.torch.rank{rank}" in rng
