"""The settings of `roots-train distill` and `roots-train prune`, declared once.

roots_model.cli makes each command's flags from these fields (`add_config_flags`, as for
`pretrain` from TrainConfig): a setting's default and help are written here only. A training
setting the command shares with `pretrain` (`train_setting`) takes TrainConfig's field, default
and help included, and is handed to the TrainConfig of the run; `train` passes further
TrainConfig fields (eval_batches, stop_after_step, ...) from Python.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from roots_model.model import PRESETS
from roots_model.train import TrainConfig, setting

_TRAIN_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}
# Harness scores for both models: `roots-eval compression OUTPUT --tasks ...` afterwards.
REPORT_HELP = "skip report.json (no speed/perplexity measurement)"


def train_setting(name: str, default=dataclasses.MISSING, **metadata):
    """TrainConfig's setting `name`, marked to be passed on to the TrainConfig of the run: its
    default unless `default` is given, its help and flag kind unless `metadata` says otherwise
    (help=..., cli=...: see roots_model.train.setting)."""
    f = _TRAIN_FIELDS[name]
    default = f.default if default is dataclasses.MISSING else default
    return dataclasses.field(default=default, default_factory=f.default_factory,
                             metadata={"cli": True} | dict(f.metadata) | metadata | {"train": True})


def train_options(config) -> dict:
    """The TrainConfig fields a compression config carries: its training settings, then `train`."""
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.metadata.get("train")} | config.train


@dataclass
class DistillConfig:
    # The flags of `roots-train distill`, in this order.
    teacher: str = setting()
    data: str = setting(help="token folder from `prepare`, or documents")
    output: str = setting()
    preset: str = setting("tiny", help=f"student preset: {', '.join(PRESETS)}")
    # A dict from Python, JSON text from the flag.
    student_config: str | dict | None = setting(None, help='JSON ModelConfig overrides, e.g. \'{"n_layer": 2}\'')
    tokenizer: str | None = setting(None, help="the student's tokenizer (must equal the teacher's)")
    temperature: float = 2.0
    alpha: float = setting(0.5, help="weight of the soft-target (KL) term")
    max_steps: int = train_setting("max_steps")
    batch_size: int | None = train_setting("batch_size")
    seq_len: int | None = train_setting("seq_len")
    lr: float | None = train_setting("lr")
    warmup_steps: int | None = train_setting("warmup_steps")
    seed: int = train_setting("seed")
    eval_interval: int = train_setting("eval_interval")
    checkpoint_interval: int = train_setting("checkpoint_interval")
    resume: bool = train_setting("resume")
    progress: bool = train_setting("progress")
    report: bool = setting(True, cli="negative", help=REPORT_HELP)
    tensorboard: bool = train_setting("tensorboard", False, cli=False)  # compression runs log to metrics.jsonl only
    train: dict = setting(default_factory=dict, cli=False)

    def __post_init__(self):
        if isinstance(self.student_config, str):
            self.student_config = json.loads(self.student_config)


@dataclass
class PruneConfig:
    # The flags of `roots-train prune`, in this order.
    checkpoint: str = setting()
    output: str = setting()
    sparsity: float = setting(help="fraction removed, in (0, 1)")
    method: str = setting("magnitude", help="magnitude | mlp-channels")  # checked by compress.prune, with advice
    finetune_steps: int = setting(0, help="recovery fine-tuning steps")
    data: str | None = setting(None, help="token folder (fine-tuning, calibration, perplexity)")
    # Recovery fine-tuning (--finetune-steps); sequence length, warmup and intervals follow
    # the model and the step count (compress.commands.prune).
    lr: float = train_setting("lr", 1e-3)
    batch_size: int = train_setting("batch_size", 8)
    resume: bool = train_setting("resume")
    progress: bool = train_setting("progress")
    tensorboard: bool = train_setting("tensorboard", False, cli=False)
    report: bool = setting(True, cli="negative", help=REPORT_HELP)
    train: dict = setting(default_factory=dict, cli=False)
