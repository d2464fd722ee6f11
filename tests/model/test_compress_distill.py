"""Distillation on the real corpus: a student trained on the teacher's soft targets beats
the same student trained on the hard labels alone for the same steps; runs resume."""
import json

import torch

from roots_model import checkpoint
from roots_model.compress.commands import distill
from roots_model.compress.config import DistillConfig
from roots_model.compress.finetune import train_compressed
from roots_model.model import GPT, preset
from roots_model.testing import tiny_train_config, tiny_workspace

STUDENT = {"n_layer": 2, "n_embd": 64, "n_head": 2, "n_kv_head": 1}


def _train_options(steps, **extra):
    return dict(max_steps=steps, batch_size=8, seq_len=128, lr=3e-3, warmup_steps=5, seed=0, eval_interval=steps,
                checkpoint_interval=steps, progress=False, train={"eval_batches": 8}) | extra


def _distill(tiny_ckpt, output, **settings):
    return distill(DistillConfig(teacher=tiny_ckpt, data=tiny_workspace().tokens, output=output, student_config=STUDENT,
                                 report=False, **settings))


def test_distilled_student_beats_the_same_student_without_teacher(tiny_ckpt, tmp_path):
    steps = 40
    distilled = _distill(tiny_ckpt, tmp_path / "kd", temperature=1.0, alpha=0.9, **_train_options(steps))
    cfg = tiny_train_config(tmp_path / "plain", steps=steps, eval_batches=8, progress=False)
    torch.manual_seed(cfg.seed)
    student = GPT(preset("tiny", checkpoint.load(tiny_ckpt).tokenizer.get_vocab_size(), **STUDENT))
    plain = train_compressed(student, cfg)
    kd_loss, plain_loss = distilled["compression"]["train"]["val_loss"], plain["val_loss"]
    print(f"student val loss after {steps} steps: distilled {kd_loss:.4f}, hard labels only {plain_loss:.4f}")
    assert kd_loss < plain_loss - 0.02
    loaded = checkpoint.load(tmp_path / "kd")
    assert loaded.config.n_layer == 2 and loaded.compression["distillation"]["alpha"] == 0.9


def test_distillation_resumes_like_an_uninterrupted_run(tiny_ckpt, tmp_path):
    opts = _train_options(8, checkpoint_interval=4)
    _distill(tiny_ckpt, tmp_path / "full", **opts)
    _distill(tiny_ckpt, tmp_path / "cut", **opts | {"train": {"eval_batches": 8, "stop_after_step": 6}})
    _distill(tiny_ckpt, tmp_path / "cut", resume=True, **opts)

    def losses(run):
        return [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]

    assert losses(tmp_path / "cut") == losses(tmp_path / "full")
    full, cut = checkpoint.load(tmp_path / "full"), checkpoint.load(tmp_path / "cut")
    for (name, a), b in zip(full.model.state_dict().items(), cut.model.state_dict().values()):
        assert torch.equal(a, b), name
