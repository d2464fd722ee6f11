"""Pretraining loop: one process, or many under torchrun with DDP or FSDP2.

    roots-train pretrain --data out/ --tokenizer tok/ --preset tiny --output ckpt/
    torchrun --nproc_per_node 8 -m roots_model pretrain ... --preset 124m --strategy fsdp

The batch of step s is the same whatever the number of processes: the global batch
(batch_size x grad_accum x world_size sequences) is cut out of the seeded sample order
at position `samples_seen`, and process r takes its slices of it. That is why one
process with grad_accum=2 and two processes with grad_accum=1 see the same loss, and why
a checkpoint only needs `samples_seen` to resume the data exactly.

OUTPUT/ receives metrics.jsonl (one object per logged step), tensorboard/, loss.png,
tokens/ (when --data holds documents rather than prepared token shards) and
checkpoints/step-NNNNNNNN/ (see roots_model.checkpoint and roots_model.train_state).

`fit` is the one training loop: pretraining runs it with next-token cross-entropy,
distillation and pruning recovery (roots_model.compress) with their own `Objective`, so
all of them get the same devices, bf16 autocast, DDP/FSDP2, checkpoints and exact resume.
"""
from __future__ import annotations

import gc
import hashlib
import json
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import MISSING, asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm import tqdm

from pipelines.errors import ConfigError
from pipelines.files import atomic_write, read_jsonl
from roots_model import checkpoint, train_state
from roots_model.data import MANIFEST, PackedSequences, is_token_folder, prepare_tokens
from roots_model.documents import DataError
from roots_model.model import GPT, PRESETS, ModelConfig, flops_per_token, preset
from roots_model.mlm import MaskedLM, mlm_model_overrides
from roots_model.objectives import Objective
from roots_model.tokenizer import load_tokenizer
from roots_model.train_state import unwrap


# Training defaults per preset (command-line flags override them).
PRESET_TRAINING = {
    "tiny": dict(batch_size=16, seq_len=256, lr=2e-3, warmup_steps=20),
    "124m": dict(batch_size=16, seq_len=1024, lr=6e-4, warmup_steps=700),
    "350m": dict(batch_size=8, seq_len=1024, lr=3e-4, warmup_steps=700),
    "1b": dict(batch_size=4, seq_len=2048, lr=3e-4, warmup_steps=1000),
}
assert set(PRESET_TRAINING) == set(PRESETS)

# Dense bf16 peak FLOP/s for the MFU figure, by a substring of the device name.
PEAK_FLOPS = {"H100": 989e12, "H200": 989e12, "GH200": 989e12, "A100": 312e12, "L40S": 362e12,
              "L4": 121e12, "A10G": 125e12, "4090": 165e12, "3090": 71e12, "V100": 125e12}

# What a resumed run must share with the run that wrote the checkpoint: together with the
# token shards they fix which sequences `samples_seen` points to.
RESUME_MUST_MATCH = ("seq_len", "seed", "val_fraction", "preset", "model_overrides", "objective")


STRATEGIES = ("auto", "none", "ddp", "fsdp")
DTYPES = ("auto", "float32", "bfloat16")
OBJECTIVES = ("ar", "mlm")
CORPUS_RELEASE_HELP = ("the corpus release (folder or manifest.json, local or gs://) --data is a copy of; found "
                       "by itself when --data is a release folder. Every file is checked against it")


def setting(default=MISSING, help=None, choices=None, cli=True, default_factory=MISSING):
    """A TrainConfig field with what `roots-train pretrain` needs to make its flag (roots_model.cli
    builds the flags from these fields: a setting's default and help are written once, here).
    cli: True (a flag --NAME), False (no flag), "hidden" (a flag left out of --help), "negative"
    (a setting on by default, turned off by --no-NAME)."""
    metadata = {"help": help, "choices": choices, "cli": cli}
    return field(default=default, default_factory=default_factory, metadata=metadata)


@dataclass
class TrainConfig:
    # The flags of `roots-train pretrain` in this order; see `setting`.
    data: str = setting(help="document folder or file (parquet, jsonl, jsonl.gz), token folder from `prepare`, or a "
                             "datasets source with a `text` column: csv/json file, save_to_disk folder, hub id, or a "
                             "JSON mapping of load_dataset arguments")
    tokenizer: str = setting()
    output: str = setting()
    preset: str = setting("tiny", choices=tuple(PRESETS))
    objective: str = setting("ar", choices=OBJECTIVES,  # ar: causal; mlm: bidirectional, roots_model.mlm
                             help="ar: next token (decoder); mlm: masked tokens, 15%% 80/10/10 (bidirectional encoder)")
    whole_word_mask: bool = setting(True, help="mlm: mask whole words (jieba for Chinese) rather than single tokens")
    max_steps: int = 1000
    batch_size: int | None = setting(None, help="sequences per process per micro-step")
    grad_accum: int = 1
    seq_len: int | None = None
    lr: float | None = None
    min_lr_ratio: float = 0.1
    warmup_steps: int | None = None  # default: the preset's, at most a tenth of max_steps
    weight_decay: float = 0.1
    beta1: float = setting(0.9, cli=False)
    beta2: float = setting(0.95, cli=False)
    grad_clip: float = 1.0
    dropout: float = 0.0
    seed: int = 1337
    val_fraction: float = 0.01
    log_interval: int = 10
    eval_interval: int = 200
    eval_batches: int = 8
    checkpoint_interval: int = 500
    keep_checkpoints: int = 2
    resume: bool = setting(False, help="continue from the newest checkpoint in --output")
    # None: on for CUDA, off on CPU (compiling costs more than it saves there)
    compile: bool | None = setting(None, help="torch.compile the model (default: on for CUDA, off on CPU)")
    strategy: str = setting("auto", choices=STRATEGIES)
    device: str = "auto"
    dtype: str = setting("auto", choices=DTYPES)  # auto: bf16 on GPU, fp32 on CPU
    peak_tflops: float | None = setting(None, help="device peak for MFU when not known")  # not in PEAK_FLOPS
    workers: int | None = setting(None, help="tokenizer processes")  # when --data holds documents
    corpus_release: str | None = setting(None, help=CORPUS_RELEASE_HELP)
    # leave as if killed after this step (tests, preemption drills)
    stop_after_step: int | None = setting(None, cli="hidden")
    progress: bool = setting(True, cli="negative")
    tensorboard: bool = setting(True, cli="negative")
    model_overrides: dict = setting(default_factory=dict, cli=False)

    def __post_init__(self):
        if self.preset not in PRESET_TRAINING:
            raise ConfigError(f"unknown preset {self.preset!r}; choose one of {', '.join(PRESET_TRAINING)}")
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"unknown strategy {self.strategy!r}: auto, none, ddp or fsdp")
        if self.objective not in OBJECTIVES:
            raise ConfigError(f"unknown objective {self.objective!r}: ar or mlm")
        if self.dtype not in DTYPES:
            raise ConfigError(f"unknown dtype {self.dtype!r}: auto, float32 or bfloat16")
        defaults = PRESET_TRAINING[self.preset]
        if self.warmup_steps is None:
            # The preset's warmup is sized for its full-length runs; a short run warms up
            # for a tenth of its steps instead (said in the start-up line).
            self.warmup_steps = min(defaults["warmup_steps"], max(self.max_steps // 10, 1))
        for name, value in defaults.items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        if self.max_steps < 1 or self.batch_size < 1 or self.grad_accum < 1 or self.seq_len < 1:
            raise ConfigError("max_steps, batch_size, grad_accum and seq_len must be positive")
        if not 0 <= self.warmup_steps <= self.max_steps:
            raise ConfigError(f"warmup_steps={self.warmup_steps} must be between 0 and max_steps={self.max_steps}")


def learning_rate(step: int, cfg: TrainConfig) -> float:
    """Linear warmup, then cosine decay to min_lr_ratio * lr at max_steps."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min((step - cfg.warmup_steps) / max(cfg.max_steps - cfg.warmup_steps, 1), 1.0)
    min_lr = cfg.lr * cfg.min_lr_ratio
    return min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (cfg.lr - min_lr)


def estimate_training_memory(config: ModelConfig, cfg: TrainConfig, world_size: int, strategy: str) -> dict:
    """A rough lower bound on per-process training memory, in bytes."""
    params = config.num_params()
    state = params * 16  # fp32 weights, grads, AdamW first and second moments
    if strategy == "fsdp":
        state /= world_size
    tokens = cfg.batch_size * cfg.seq_len
    act_bytes = 2 if cfg.dtype == "bfloat16" else 4
    # Per layer and token about 16 saved tensors of width n_embd, plus the attention and
    # SwiGLU intermediates; the logits are kept in float32 for the loss and its gradient.
    activations = tokens * config.n_layer * (16 * config.n_embd + 3 * config.intermediate_size) * act_bytes
    logits = tokens * config.vocab_size * 4 * 3
    return {"parameters": params, "state": state, "activations": activations, "logits": logits,
            "total": state + activations + logits}


def available_memory(device: torch.device) -> int:
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return free
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_memory(config: ModelConfig, cfg: TrainConfig, device, world_size=1, strategy="none", available=None):
    """Raise ConfigError, before anything is allocated, when the run cannot fit."""
    need = estimate_training_memory(config, cfg, world_size, strategy)
    available = available_memory(torch.device(device)) if available is None else available
    if need["total"] > available:
        gib = 2**30
        raise ConfigError(
            f"preset {cfg.preset!r} ({need['parameters'] / 1e6:.0f}M parameters) with batch_size={cfg.batch_size} "
            f"x seq_len={cfg.seq_len} needs about {need['total'] / gib:.1f} GiB per process "
            f"(weights+grads+AdamW {need['state'] / gib:.1f}, activations {need['activations'] / gib:.1f}, "
            f"logits {need['logits'] / gib:.1f}) but {device} has {available / gib:.1f} GiB free; "
            "use a smaller --batch-size (with --grad-accum), a shorter --seq-len, a smaller preset, "
            "or --strategy fsdp over more processes")
    return need


@dataclass
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self):
        if self.world_size > 1:
            dist.barrier()

    def sum(self, value: torch.Tensor) -> torch.Tensor:
        if self.world_size > 1:
            dist.all_reduce(value, op=dist.ReduceOp.SUM)
        return value

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        return self.sum(value) / self.world_size


def setup_distributed(device_name: str) -> tuple[Distributed, torch.device]:
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    env = Distributed(int(os.environ.get("RANK", "0")), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    if device_name == "auto":
        device_name = "cuda" if torch.cuda.is_available() else "cpu"
    if device_name == "cuda" and world_size > 1:
        device_name = f"cuda:{env.local_rank}"
    device = torch.device(device_name)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        # TF32 for the float32 matmuls that autocast leaves (optimizer-side, the loss).
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo", device_id=device if device.type == "cuda" else None)
    return env, device


def token_folder(cfg: TrainConfig, env: Distributed) -> Path:
    """Prepared token shards: --data itself, or OUTPUT/tokens made from its documents (a
    datasets source is first written out as OUTPUT/documents/documents.jsonl)."""
    if is_token_folder(cfg.data):
        return Path(cfg.data)
    tokens = Path(cfg.output) / "tokens"
    if env.main:
        data = cfg.data
        if is_datasets_source(cfg.data):
            from roots_model.hfdata import parse_source, write_documents

            try:
                data = write_documents(parse_source(cfg.data), Path(cfg.output) / "documents")
            except Exception as exc:  # datasets raises its own types for an unknown or unreadable source
                raise DataError(f"--data {cfg.data}: not a document folder, token folder or readable "
                                f"datasets source ({type(exc).__name__}: {exc})") from exc
        prepare_tokens(data, cfg.tokenizer, tokens, val_fraction=cfg.val_fraction, workers=cfg.workers,
                       corpus_release=cfg.corpus_release)
    env.barrier()
    return tokens


def is_datasets_source(data: str) -> bool:
    """Whether --data is for `datasets` (a load_dataset JSON mapping, a save_to_disk folder,
    a csv/tsv/json file, a hub id) rather than documents `roots_model.documents` reads
    itself (a folder or file of parquet / jsonl / jsonl.gz, streamed file by file)."""
    from roots_model.hfdata import is_saved_folder

    if data.lstrip().startswith("{") or is_saved_folder(data):
        return True
    path = Path(data)
    if path.is_file():
        return not (path.suffix in (".parquet", ".jsonl") or path.name.endswith(".jsonl.gz"))
    return not path.exists()


def data_fingerprint(token_dir: Path) -> str:
    """What the token shards hold: the tokenizer and every source file with its split sizes."""
    manifest = json.loads((Path(token_dir) / MANIFEST).read_text())
    content = {"tokenizer": manifest["tokenizer_sha256"], "val_fraction": manifest["val_fraction"],
               "files": sorted((e["fingerprint"], e["shards"]["train"]["tokens"], e["shards"]["val"]["tokens"])
                               for e in manifest["files"].values())}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def check_resumable(saved: dict, cfg: TrainConfig, env: Distributed, fingerprint: str, path) -> None:
    """Refuse to resume where the saved data position would point at other sequences."""
    before = saved.get("train_config") or {}
    problems = [f"{key}: {before[key]!r} -> {getattr(cfg, key)!r}" for key in RESUME_MUST_MATCH
                if key in before and before[key] != getattr(cfg, key)]
    old_batch = before.get("batch_size", 0) * before.get("grad_accum", 0) * saved.get("world_size", 1)
    new_batch = cfg.batch_size * cfg.grad_accum * env.world_size
    if old_batch != new_batch:
        problems.append(f"global batch (batch_size x grad_accum x processes): {old_batch} -> {new_batch}")
    if saved.get("data_fingerprint") not in (None, fingerprint):
        problems.append("the token shards differ (another tokenizer, or input files added, removed or changed)")
    if problems:
        raise ConfigError(f"cannot resume from {path}: " + "; ".join(problems)
                          + ". Resume with the settings the run was started with, or start a new --output")


def _jsonable(cfg: TrainConfig) -> dict:
    return asdict(cfg)


def build_optimizer(model, cfg: TrainConfig, device: torch.device):
    # No weight decay on norms (1-D weights): decaying them toward 0 only hurts.
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=device.type == "cuda")


def wrap_model(model: GPT, strategy: str, device: torch.device, dtype: str = "float32"):
    """Apply DDP or FSDP2 from outside (the model knows nothing of parallelism)."""
    if strategy == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if strategy == "fsdp":
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        # bf16 runs gather bf16 parameters (half the all-gather traffic and memory) and
        # reduce gradients in fp32; the sharded master weights and AdamW stay fp32.
        mp = (MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
              if dtype == "bfloat16" else MixedPrecisionPolicy())
        for block in model.layers:
            fully_shard(block, mp_policy=mp)
        fully_shard(model, mp_policy=mp)  # the root keeps the (tied) embeddings and the final norm
    return model


class MetricsLog:
    """metrics.jsonl (+ TensorBoard) on the main process; on resume, lines past the
    checkpoint's step (written by the run that died) are dropped."""

    def __init__(self, output: Path, start_step: int, tensorboard: bool):
        self.path = output / "metrics.jsonl"
        kept = []
        if self.path.exists():
            kept = [line for line in self.path.read_text().splitlines()
                    if line.strip() and json.loads(line)["step"] <= start_step]
        atomic_write(self.path, "".join(line + "\n" for line in kept))
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(output / "tensorboard"), purge_step=start_step + 1)

    def write(self, record: dict):
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.writer:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)) and value is not None:
                    self.writer.add_scalar(f"train/{key}" if not key.startswith("val") else f"val/{key}", value, record["step"])

    def close(self):
        if self.writer:
            self.writer.close()


def plot_loss(metrics_path: Path, png_path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = list(read_jsonl(metrics_path))
    if not records:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([r["step"] for r in records], [r["loss"] for r in records], label="train")
    val = [r for r in records if r.get("val_loss") is not None]
    if val:
        ax.plot([r["step"] for r in val], [r["val_loss"] for r in val], "o-", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)


@torch.no_grad()
def evaluate(model, val: PackedSequences, cfg: TrainConfig, env: Distributed, device, autocast,
             objective: Objective | None = None) -> float | None:
    """Mean validation loss (the objective's: next-token, or masked tokens) over the first
    eval_batches global batches of validation windows (the same windows whatever the number
    of processes). Process r scores windows r, r + world_size, ...; the loss sums and their
    weights (`Objective.eval_sums`: windows, or masked tokens) are added up across
    processes, so no window is lost to rounding and the number does not depend on the
    process count. None when there is no window at all."""
    model.eval()
    total = min(val.num_windows, cfg.eval_batches * cfg.batch_size * cfg.grad_accum * env.world_size)
    mine = list(range(env.rank, total, env.world_size))
    # Every process runs the same number of forwards (under FSDP each one is a collective):
    # one with fewer windows runs its last ones on window 0 and does not count them.
    batches = math.ceil(math.ceil(total / env.world_size) / cfg.batch_size)
    sums = torch.zeros(2, device=device, dtype=torch.float64)  # (loss sum, weight)
    for b in range(batches):
        rows = mine[b * cfg.batch_size:(b + 1) * cfg.batch_size]
        x, y = val.rows(rows or [0])
        with autocast:
            total_loss, weight = (objective or Objective()).eval_sums(model, x.to(device), y.to(device), rows or [0])
        if rows:
            sums[0] += total_loss.double()
            sums[1] += weight
    model.train()
    sums = env.sum(sums)
    return (sums[0] / sums[1]).item() if sums[1] > 0 else None


class Prefetcher:
    """Reads the next batch from the memory-mapped shards (and pins it on CUDA) in a
    background thread while the current step runs."""

    def __init__(self, data: PackedSequences, device: torch.device):
        self.data, self.device = data, device
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="prefetch")
        self.pending: dict[tuple[int, int], object] = {}

    def _load(self, first: int, size: int):
        x, y = self.data.batch(first, size)
        if self.device.type == "cuda":
            x, y = x.pin_memory(), y.pin_memory()
        return x, y

    def prefetch(self, first: int, size: int):
        if (first, size) not in self.pending:
            self.pending[(first, size)] = self.pool.submit(self._load, first, size)

    def get(self, first: int, size: int):
        self.prefetch(first, size)
        x, y = self.pending.pop((first, size)).result()
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)


def objective_for(name: str, tokenizer, whole_word: bool = True) -> tuple[Objective, dict]:
    """The pretraining objective called `name` and the model config fields it needs."""
    if name == "ar":
        return Objective(), {}
    if name == "mlm":
        overrides = mlm_model_overrides(tokenizer.get_vocab_size())
        return MaskedLM(tokenizer, overrides["mask_token_id"], whole_word), overrides
    raise ValueError(f"unknown objective {name!r}: ar or mlm")


def pretrain(cfg: TrainConfig) -> dict:
    """Train (or resume) a model from a preset with cfg.objective and return a summary:
    final step, last losses, checkpoint path."""
    objective, overrides = objective_for(cfg.objective, load_tokenizer(cfg.tokenizer), cfg.whole_word_mask)
    # the objective's model fields (MLM: bidirectional, a [MASK] id) go into model_overrides,
    # so they are saved with the run and a resume with other ones is refused
    cfg.model_overrides = {**overrides, **cfg.model_overrides}
    return fit(cfg, objective=objective)


def fit(cfg: TrainConfig, model: GPT | None = None, objective: Objective | None = None,
        extra_files: dict[str, str] | None = None) -> dict:
    """The training loop. `model` (default: a fresh `cfg.preset` model) is trained on the
    token shards of cfg.data with `objective` (default: next-token cross-entropy); each
    checkpoint also carries `extra_files`. With cfg.resume the newest checkpoint in
    cfg.output replaces the weights and the run continues exactly where it stopped."""
    env, device = setup_distributed(cfg.device)
    finished = False
    try:
        result = _fit(cfg, env, device, model, objective or Objective(), extra_files)
        finished = True
        return result
    finally:
        if env.world_size > 1 and dist.is_initialized():
            # _fit's DDP reducer and gloo work items sit in reference cycles; freed after the
            # group is destroyed they deadlock gloo's worker thread against the GIL. So: free
            # them, wait until every process has, then leave.
            gc.collect()
            if finished:
                dist.barrier()
            dist.destroy_process_group()


def _resume_point(cfg: TrainConfig) -> Path | None:
    if not cfg.resume:
        return None
    try:
        return checkpoint.resolve(cfg.output)
    except checkpoint.CheckpointError:
        return None  # nothing saved yet: start from scratch


@dataclass
class _Run:
    """What the loop works with, set up once by `_start`: the (wrapped) model and its optimizer,
    the data, and where the run stands (`step`, `samples_seen`: enough to resume exactly)."""
    cfg: TrainConfig
    env: Distributed
    device: torch.device
    strategy: str  # none | ddp | fsdp
    compiled: bool
    output: Path
    tokenizer: object
    config: ModelConfig
    model: torch.nn.Module  # under DDP/FSDP: the wrapper
    train_model: torch.nn.Module  # `model`, or its torch.compile
    objective: Objective
    optimizer: torch.optim.Optimizer
    autocast: object
    train_data: PackedSequences
    val_data: PackedSequences
    fingerprint: str  # of the token shards: a resume on other data is refused
    lineage: dict
    extra_files: dict | None
    step: int = 0
    samples_seen: int = 0

    @property
    def global_batch(self) -> int:
        return self.cfg.batch_size * self.cfg.grad_accum * self.env.world_size

    def micro_batch_start(self, position: int, micro: int) -> int:
        return position + (micro * self.env.world_size + self.env.rank) * self.cfg.batch_size


def _saved_state(cfg: TrainConfig, env: Distributed, fingerprint: str, model: GPT | None):
    """(checkpoint, its training state, its ModelConfig) to resume from, or (None, {}, None)."""
    resume_from = _resume_point(cfg)
    if resume_from is None:
        return None, {}, None
    checkpoint.verify(resume_from)
    saved = json.loads((resume_from / checkpoint.STATE_JSON).read_text()) \
        if (resume_from / checkpoint.STATE_JSON).exists() else {}
    if "step" not in saved:
        raise checkpoint.CheckpointError(f"{resume_from} has no training state to resume from")
    check_resumable(saved, cfg, env, fingerprint, resume_from)
    saved_config = ModelConfig.from_dict(json.loads((resume_from / checkpoint.CONFIG).read_text()))
    if model is not None and model.config != saved_config:
        raise checkpoint.CheckpointError(f"{resume_from} holds a {saved_config} model, this run trains {model.config}")
    return resume_from, saved, saved_config


def _start(cfg: TrainConfig, env: Distributed, device: torch.device, model: GPT | None, objective: Objective,
           extra_files: dict | None) -> _Run:
    """Settle the run's settings, check it fits, build (or restore) model and optimizer."""
    strategy = cfg.strategy if cfg.strategy != "auto" else ("ddp" if env.world_size > 1 else "none")
    if strategy != "none" and env.world_size == 1:
        strategy = "none"  # DDP/FSDP of one process is the plain loop, minus the overhead
    if cfg.dtype == "auto":
        cfg.dtype = "bfloat16" if device.type == "cuda" else "float32"
    compile_model = device.type == "cuda" if cfg.compile is None else cfg.compile
    output = Path(cfg.output)
    output.mkdir(parents=True, exist_ok=True)
    tokenizer = load_tokenizer(cfg.tokenizer)
    tokens = token_folder(cfg, env)
    fingerprint = data_fingerprint(tokens)
    # The checkpoint names the token shards' manifest by digest (`roots-eval lineage` follows it
    # on to the tokenizer and the corpus release).
    token_manifest = (tokens / MANIFEST).resolve()
    lineage = {"tokens": {"manifest": str(token_manifest),
                          "sha256": hashlib.sha256(token_manifest.read_bytes()).hexdigest()}}
    train_data = PackedSequences(tokens, "train", cfg.seq_len, seed=cfg.seed)
    val_data = PackedSequences(tokens, "val", cfg.seq_len, sequential=True)

    resume_from, saved, config = _saved_state(cfg, env, fingerprint, model)
    if resume_from is None:
        config = model.config if model is not None else preset(cfg.preset, tokenizer.get_vocab_size(),
                                                               dropout=cfg.dropout, **cfg.model_overrides)
    if cfg.seq_len > config.block_size:
        raise ConfigError(f"seq_len={cfg.seq_len} is longer than the model's block_size={config.block_size}")
    check_memory(config, cfg, device, env.world_size, strategy)

    if model is None:
        torch.manual_seed(cfg.seed)  # the same initial weights on every process
        model = GPT(config)
    model.to(device).train()
    model = wrap_model(model, strategy, device, cfg.dtype)
    objective.setup(model, device)
    optimizer = build_optimizer(model, cfg, device)
    step, samples_seen = 0, 0
    if resume_from is not None:
        train_state.load_weights(model, resume_from)
        if not train_state.restore(optimizer, model, resume_from, env.rank):
            tqdm.write(f"rank {env.rank}: {resume_from} has no RNG state for this rank (the run had "
                       f"{saved.get('world_size')} processes); seeding it afresh")
            torch.manual_seed(cfg.seed + env.rank)
        step, samples_seen = saved["step"], saved["samples_seen"]
    else:
        torch.manual_seed(cfg.seed + env.rank)  # dropout draws differ per process
    train_model = torch.compile(model) if compile_model else model
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if cfg.dtype == "bfloat16" else nullcontext()
    return _Run(cfg, env, device, strategy, compile_model, output, tokenizer, config, model, train_model, objective,
                optimizer, autocast, train_data, val_data, fingerprint, lineage, extra_files, step, samples_seen)


def _train_step(run: _Run, loader: Prefetcher, lr: float):
    """One optimizer step at `lr` over grad_accum micro-batches; advances run.step and
    run.samples_seen. Returns the step's loss (a device tensor, unsynced) and gradient norm."""
    cfg, model = run.cfg, run.model
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    loss_sum = torch.zeros((), device=run.device)
    for micro in range(cfg.grad_accum):
        x, y = loader.get(run.micro_batch_start(run.samples_seen, micro), cfg.batch_size)
        # the next micro-batch (or the next step's first) is read while this one runs
        following = (run.samples_seen, micro + 1) if micro + 1 < cfg.grad_accum else (run.samples_seen + run.global_batch, 0)
        loader.prefetch(run.micro_batch_start(*following), cfg.batch_size)
        sync = micro == cfg.grad_accum - 1
        if run.strategy == "fsdp":
            unwrap(model).set_requires_gradient_sync(sync)
        no_sync = model.no_sync() if run.strategy == "ddp" and not sync else nullcontext()
        with no_sync:
            with run.autocast:
                loss = run.objective.loss(run.train_model, x, y) / cfg.grad_accum
            loss.backward()
        loss_sum += loss.detach()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    run.optimizer.step()
    run.optimizer.zero_grad(set_to_none=True)
    run.objective.after_step(model)
    run.step += 1
    run.samples_seen += run.global_batch
    return loss_sum, grad_norm


def _validate(run: _Run) -> dict:
    """{val_loss, val_perplexity} now (None where there is no validation window)."""
    val_loss = evaluate(run.train_model, run.val_data, run.cfg, run.env, run.device, run.autocast, run.objective)
    return {"val_loss": val_loss, "val_perplexity": math.exp(min(val_loss, 50)) if val_loss is not None else None}


def _save_checkpoint(run: _Run, metrics: MetricsLog | None) -> Path:
    """checkpoints/step-N: weights, optimizer, RNG and where the data stands; older ones pruned."""
    cfg = run.cfg
    state = {"step": run.step, "samples_seen": run.samples_seen, "train_config": _jsonable(cfg),
             "world_size": run.env.world_size, "data_fingerprint": run.fingerprint, "lineage": run.lineage,
             "scheduler": {"name": "warmup_cosine", "step": run.step, "lr": cfg.lr, "warmup_steps": cfg.warmup_steps,
                           "max_steps": cfg.max_steps, "min_lr_ratio": cfg.min_lr_ratio}}
    path = train_state.save(checkpoint.run_checkpoint_path(run.output, run.step), run.model, run.optimizer,
                            run.tokenizer, run.config, state, run.env.rank, run.extra_files)
    if run.env.main:
        checkpoint.prune(run.output, cfg.keep_checkpoints)
        plot_loss(metrics.path, run.output / "loss.png")
    run.env.barrier()
    return path


def _fit(cfg: TrainConfig, env: Distributed, device: torch.device, model: GPT | None, objective: Objective,
         extra_files: dict | None) -> dict:
    run = _start(cfg, env, device, model, objective, extra_files)
    metrics = MetricsLog(run.output, run.step, cfg.tensorboard) if env.main else None
    tokens_per_step = run.global_batch * cfg.seq_len
    peak = _peak_flops(device, cfg)
    flops_step = flops_per_token(run.config, cfg.seq_len) * tokens_per_step
    if env.main:
        tqdm.write(f"model: {unwrap(run.model).num_params() / 1e6:.2f}M parameters, {run.config}\n"
                   f"train: {run.train_data.num_tokens:,} tokens, {run.train_data.num_windows:,} sequences; "
                   f"val: {run.val_data.num_windows:,} sequences; global batch {run.global_batch} x {cfg.seq_len} "
                   f"tokens; warmup {cfg.warmup_steps} of {cfg.max_steps} steps; {cfg.dtype}"
                   f"{', compiled' if run.compiled else ''}; {run.strategy} on {env.world_size} x {device}"
                   + (f"; resumed at step {run.step}" if run.step else ""))
    bar = tqdm(total=cfg.max_steps, initial=run.step, desc="train", unit="step",
               disable=not (env.main and cfg.progress))
    last = {"loss": None, "val_loss": None}
    interval_start, interval_steps = time.perf_counter(), 0
    saved_path = None
    loader = Prefetcher(run.train_data, device)
    try:
        while run.step < cfg.max_steps:
            lr = learning_rate(run.step, cfg)
            loss_sum, grad_norm = _train_step(run, loader, lr)
            step = run.step
            interval_steps += 1
            bar.update(1)

            do_eval = step % cfg.eval_interval == 0 or step == cfg.max_steps
            if step % cfg.log_interval == 0 or do_eval:
                loss_value = env.mean(loss_sum).item()  # the only host sync of a logged step
                if hasattr(grad_norm, "full_tensor"):
                    grad_norm = grad_norm.full_tensor()
                elapsed = time.perf_counter() - interval_start
                tokens_per_s = interval_steps * tokens_per_step / elapsed
                record = {"step": step, "loss": loss_value, "lr": lr, "tokens_per_s": round(tokens_per_s, 1),
                          "mfu": round(flops_step * interval_steps / elapsed / (peak * env.world_size), 4) if peak else None,
                          "grad_norm": float(grad_norm), "tokens_seen": run.samples_seen * cfg.seq_len}
                if do_eval:
                    record.update(_validate(run))
                    last["val_loss"] = record["val_loss"]
                last["loss"] = loss_value
                if env.main:
                    metrics.write(record)
                    bar.set_postfix(loss=f"{loss_value:.3f}")
                    mfu = f"{record['mfu']:.1%}" if record["mfu"] is not None else "n/a"
                    val = (f" val {record['val_loss']:.4f} ppl {record['val_perplexity']:.1f}"
                           if do_eval and record["val_loss"] is not None else "")
                    tqdm.write(f"step {step}/{cfg.max_steps} loss {loss_value:.4f} lr {lr:.2e} "
                               f"tokens/s {tokens_per_s:,.0f} mfu {mfu}{val}")
                interval_start, interval_steps = time.perf_counter(), 0

            if cfg.stop_after_step is not None and step >= cfg.stop_after_step and step < cfg.max_steps:
                break  # simulated kill: no final checkpoint
            if step % cfg.checkpoint_interval == 0 or step == cfg.max_steps:
                saved_path = _save_checkpoint(run, metrics)
                interval_start = time.perf_counter()  # saving is not training time
    except torch.OutOfMemoryError as e:
        raise ConfigError(f"out of memory at step {run.step + 1} (preset {cfg.preset}, batch_size={cfg.batch_size}, "
                          f"seq_len={cfg.seq_len}); use a smaller --batch-size with more --grad-accum: {e}") from None
    finally:
        loader.close()
        bar.close()
        if metrics:
            metrics.close()
    return {"step": run.step, "loss": last["loss"], "val_loss": last["val_loss"],
            "checkpoint": str(saved_path) if saved_path else None, "output": str(run.output)}


def _peak_flops(device: torch.device, cfg: TrainConfig) -> float | None:
    if cfg.peak_tflops:
        return cfg.peak_tflops * 1e12
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, flops in PEAK_FLOPS.items():
            if key in name:
                return flops
    return None  # CPU peak depends on the part and its vector units: pass --peak-tflops
