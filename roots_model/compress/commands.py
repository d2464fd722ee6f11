"""The three compression commands as functions: quantize, distill, prune.

Each one checks all of its inputs first (method, sparsity, preset, tokenizers, data) and
raises CompressError or CheckpointError before it trains or writes anything; then it
writes the compressed checkpoint (with compression.json) and OUTPUT/report.json. distill and
prune take their config (roots_model.compress.config: the flags of `roots-train distill` and
`prune` are made from it), as `pretrain` takes a TrainConfig.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from roots_model import checkpoint
from roots_model.compress import CompressError
from roots_model.compress import prune as pruning
from roots_model.compress.config import DistillConfig, PruneConfig, train_options
from roots_model.compress.finetune import Distillation, MaskedRecovery, train_compressed
from roots_model.compress.quantize import METHODS as QUANT_METHODS
from roots_model.compress.quantize import build_quantized_model, quantize_state_dict
from roots_model.compress.report import SPEED_PROMPT, default_token_dir, write_report
from roots_model.data import MANIFEST, PackedSequences, is_token_folder
from roots_model.model import GPT, PRESETS, preset
from roots_model.tokenizer import encode, eos_id, load_tokenizer
from roots_model.train import TrainConfig


def quantize(checkpoint_path, output, method: str = "int8-dynamic", data=None, report: bool = True) -> dict:
    """Write an int8 copy of a checkpoint to `output`; returns the report (or compression info)."""
    if method not in QUANT_METHODS:
        raise CompressError(f"unknown quantization method {method!r}; supported: {', '.join(QUANT_METHODS)}")
    original = checkpoint.load(checkpoint_path)
    _check_uncompressed(original)
    token_dir = _token_dir(data, original.path)
    tensors = quantize_state_dict(original.model.state_dict(), original.config)
    quantized = build_quantized_model(original.config, tensors)
    info = {"quantization": method, "source": str(original.path),
            "max_logit_error": _max_logit_error(original.model, quantized, original.tokenizer)}
    checkpoint.save(output, tensors, original.tokenizer, original.config, extra_files=_compression_file(info))
    return _finish(output, original.path, output, info, token_dir, report)


def distill(config: DistillConfig) -> dict:
    """Train a `config.preset` student on the teacher's soft targets over the token shards of
    `config.data` (a token folder, or documents tokenized into OUTPUT/tokens). Resumable with
    resume=True."""
    teacher_path, output, data, preset_name = config.teacher, config.output, config.data, config.preset
    student_overrides, tokenizer_path = config.student_config, config.tokenizer
    temperature, alpha = config.temperature, config.alpha
    if preset_name not in PRESETS:
        raise CompressError(f"unknown student preset {preset_name!r}; choose one of {', '.join(PRESETS)}")
    if temperature <= 0 or not 0.0 <= alpha <= 1.0:
        raise CompressError(f"need temperature > 0 and 0 <= alpha <= 1, got temperature={temperature}, alpha={alpha}")
    teacher = checkpoint.load(teacher_path)
    _check_uncompressed(teacher)
    if tokenizer_path is not None and not same_tokenizer(load_tokenizer(tokenizer_path), teacher.tokenizer):
        raise CompressError(f"the student's tokenizer {tokenizer_path} differs from the teacher's ({teacher.path}): "
                            "distillation compares next-token distributions, so both must use the same vocabulary")
    _check_token_shards(data, teacher.path)
    student_config = preset(preset_name, teacher.tokenizer.get_vocab_size(), **(student_overrides or {}))
    if student_config.vocab_size != teacher.config.vocab_size:
        raise CompressError(f"student vocab_size {student_config.vocab_size} != teacher's {teacher.config.vocab_size}")
    if student_config.num_params() >= teacher.config.num_params():
        raise CompressError(f"student preset {preset_name!r} ({student_config.num_params() / 1e6:.1f}M parameters) is not "
                            f"smaller than the teacher ({teacher.config.num_params() / 1e6:.1f}M): pick a smaller preset "
                            "or --student-config")
    cfg = TrainConfig(data=str(data), tokenizer=str(teacher.path), output=str(output), preset=preset_name,
                      model_overrides=student_overrides or {}, **train_options(config))
    if cfg.seq_len > min(student_config.block_size, teacher.config.block_size):
        raise CompressError(f"seq_len={cfg.seq_len} exceeds the student's or teacher's block_size")
    torch.manual_seed(cfg.seed)
    student = GPT(student_config)
    info = {"distillation": {"teacher": str(teacher.path), "preset": preset_name, "overrides": student_overrides or {},
                             "temperature": temperature, "alpha": alpha, "max_steps": cfg.max_steps}}
    objective = Distillation(teacher.model, teacher.tokenizer.get_vocab_size(), temperature, alpha)
    result = train_compressed(student, cfg, objective, compression=info)
    token_dir = _token_dir(_tokens_of(cfg), None)
    return _finish(output, teacher.path, output, info | {"train": result}, token_dir, config.report)


def prune(config: PruneConfig) -> dict:
    """Prune a checkpoint (see compress.prune), optionally fine-tune `finetune_steps` steps to
    recover (resumable with resume=True), and write it to `output`."""
    checkpoint_path, output, sparsity, method = config.checkpoint, config.output, config.sparsity, config.method
    finetune_steps, data = config.finetune_steps, config.data
    pruning.check_sparsity(sparsity)
    pruning.check_method(method)
    if finetune_steps < 0:
        raise CompressError(f"--finetune-steps must be >= 0, got {finetune_steps}")
    original = checkpoint.load(checkpoint_path)
    _check_uncompressed(original)
    token_dir = _token_dir(data, original.path)
    if data is not None:
        _check_token_shards(token_dir, original.path)
    if finetune_steps and token_dir is None:
        raise CompressError("recovery fine-tuning needs token shards: pass --data (a `roots-train prepare` folder)")
    model = original.model.train()
    masks = None
    if method == "magnitude":
        masks = pruning.magnitude_masks(model, sparsity)
        pruning.apply_masks(model, masks)
    else:
        calibration = PackedSequences(token_dir, "train", 128, seed=0).batch(0, 16)[0] if token_dir else None
        model = pruning.prune_mlp_channels(model, sparsity, calibration)
    info = {"pruning": method, "sparsity": sparsity, "source": str(original.path), "finetune_steps": finetune_steps,
            "intermediate_size": [original.config.intermediate_size, model.config.intermediate_size]}
    if finetune_steps:
        # What follows from the model and the step count (train options may still set it).
        derived = dict(seq_len=min(128, model.config.block_size), warmup_steps=max(finetune_steps // 10, 1),
                       eval_interval=finetune_steps, checkpoint_interval=finetune_steps)
        cfg = TrainConfig(data=str(token_dir), tokenizer=str(original.path), output=str(output), preset="tiny",
                          max_steps=finetune_steps, **(derived | train_options(config)))
        info["train"] = train_compressed(model, cfg, MaskedRecovery(masks) if masks else None, compression=info)
    info["measured"] = pruning.measured_sparsity(model)
    if not finetune_steps:
        checkpoint.save(output, model, original.tokenizer, model.config, extra_files=_compression_file(info))
    return _finish(output, original.path, output, info, token_dir, config.report)


def same_tokenizer(a, b) -> bool:
    return json.loads(a.to_str()) == json.loads(b.to_str())


def _check_uncompressed(loaded):
    if loaded.compression.get("quantization"):
        raise CompressError(f"{loaded.path} is already {loaded.compression['quantization']}: compress the float checkpoint")


def _check_token_shards(data, checkpoint_path):
    """Token shards made with another tokenizer would feed the model ids it never learned."""
    manifest_path = Path(data) / MANIFEST
    if not is_token_folder(data):
        return  # a document folder: it is tokenized with the checkpoint's own tokenizer
    made_with = json.loads(manifest_path.read_text()).get("tokenizer_sha256")
    ours = hashlib.sha256((Path(checkpoint_path) / checkpoint.TOKENIZER).read_bytes()).hexdigest()
    if made_with != ours:
        raise CompressError(f"the token shards in {data} were made with a different tokenizer than {checkpoint_path}'s "
                            "(tokenizer_sha256 differs): re-run `roots-train prepare` with the checkpoint's tokenizer")


def _token_dir(data, checkpoint_path) -> Path | None:
    if data is not None:
        if not is_token_folder(data):
            raise CompressError(f"--data {data} holds no token manifest: run `roots-train prepare` first")
        return Path(data)
    return default_token_dir(checkpoint_path) if checkpoint_path else None


def _tokens_of(cfg: TrainConfig) -> Path:
    return Path(cfg.data) if is_token_folder(cfg.data) else Path(cfg.output) / "tokens"


@torch.no_grad()
def _max_logit_error(original: GPT, quantized: GPT, tokenizer) -> float:
    ids = torch.tensor([[eos_id(tokenizer)] + encode(tokenizer, SPEED_PROMPT)])
    vocab = tokenizer.get_vocab_size()
    return round((original(ids)[..., :vocab] - quantized(ids)[..., :vocab]).abs().max().item(), 5)


def _compression_file(info: dict) -> dict:
    return {checkpoint.COMPRESSION: json.dumps(info, indent=1)}


def _finish(output, original_path, compressed_path, info, token_dir, report: bool) -> dict:
    if not report:
        return {"compression": info}
    return write_report(output, original_path, compressed_path, info, token_dir)
