"""`roots-train pretrain`'s flags are made from TrainConfig's fields: the flags, their types,
choices and defaults must stay what the hand-written parser had. The expected configs below are
written out by hand (not read from TrainConfig), so a changed default or flag shows here."""
import dataclasses

import pytest

from roots_model.cli import build_parser, config_from_args
from roots_model.train import TrainConfig

REQUIRED = ["--data", "d", "--tokenizer", "t", "--output", "o"]
# Every setting as `roots-train pretrain --data d --tokenizer t --output o` leaves it (tiny
# preset: batch 16, seq 256, lr 2e-3, warmup 20).
DEFAULTS = dict(data="d", tokenizer="t", output="o", preset="tiny", objective="ar", whole_word_mask=True,
                max_steps=1000, batch_size=16, grad_accum=1, seq_len=256, lr=2e-3, min_lr_ratio=0.1, warmup_steps=20,
                weight_decay=0.1, beta1=0.9, beta2=0.95, grad_clip=1.0, dropout=0.0, seed=1337, val_fraction=0.01,
                log_interval=10, eval_interval=200, eval_batches=8, checkpoint_interval=500, keep_checkpoints=2,
                resume=False, compile=None, strategy="auto", device="auto", dtype="auto", peak_tflops=None,
                workers=None, corpus_release=None, stop_after_step=None, progress=True, tensorboard=True,
                model_overrides={})
EVERY_FLAG = ["--preset", "124m", "--objective", "mlm", "--no-whole-word-mask", "--max-steps", "50", "--batch-size", "4",
              "--grad-accum", "2", "--seq-len", "64", "--lr", "1e-3", "--min-lr-ratio", "0.2", "--warmup-steps", "5",
              "--weight-decay", "0", "--grad-clip", "0.5", "--dropout", "0.1", "--seed", "7", "--val-fraction", "0.05",
              "--log-interval", "1", "--eval-interval", "3", "--eval-batches", "2", "--checkpoint-interval", "4",
              "--keep-checkpoints", "1", "--resume", "--compile", "--strategy", "ddp", "--device", "cpu",
              "--dtype", "float32", "--peak-tflops", "12.5", "--workers", "3", "--corpus-release", "rel/",
              "--stop-after-step", "9", "--no-progress", "--no-tensorboard"]
EVERY_VALUE = dict(DEFAULTS, preset="124m", objective="mlm", whole_word_mask=False, max_steps=50, batch_size=4,
                   grad_accum=2, seq_len=64, lr=1e-3, min_lr_ratio=0.2, warmup_steps=5, weight_decay=0.0,
                   grad_clip=0.5, dropout=0.1, seed=7, val_fraction=0.05, log_interval=1, eval_interval=3,
                   eval_batches=2, checkpoint_interval=4, keep_checkpoints=1, resume=True, compile=True,
                   strategy="ddp", device="cpu", dtype="float32", peak_tflops=12.5, workers=3, corpus_release="rel/",
                   stop_after_step=9, progress=False, tensorboard=False)


def parse(argv) -> dict:
    return dataclasses.asdict(config_from_args(TrainConfig, build_parser().parse_args(["pretrain", *argv])))


@pytest.mark.parametrize("argv, expected", [
    (REQUIRED, DEFAULTS),
    (REQUIRED + EVERY_FLAG, EVERY_VALUE),
    (REQUIRED + ["--preset", "350m", "--max-steps", "100"],  # the preset's training defaults; warmup <= a tenth
     dict(DEFAULTS, preset="350m", max_steps=100, batch_size=8, seq_len=1024, lr=3e-4, warmup_steps=10)),
    (REQUIRED + ["--no-compile", "--whole-word-mask"], dict(DEFAULTS, compile=False)),
])
def test_flags_parse_to_the_config(argv, expected):
    got = parse(argv)
    assert got == expected
    assert {k: type(v) for k, v in got.items()} == {k: type(v) for k, v in expected.items()}  # 50, not 50.0


@pytest.mark.parametrize("argv", [
    ["--tokenizer", "t", "--output", "o"],  # --data is required
    REQUIRED + ["--preset", "7b"], REQUIRED + ["--strategy", "tp"], REQUIRED + ["--dtype", "float16"],
    REQUIRED + ["--objective", "clm"],
    REQUIRED + ["--max-steps", "1.5"], REQUIRED + ["--lr", "fast"],
    REQUIRED + ["--beta1", "0.8"], REQUIRED + ["--model-overrides", "{}"],  # not flags
    REQUIRED + ["--progress"], REQUIRED + ["--no-resume"],  # only --no-progress; --resume has no negative
])
def test_bad_flags_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["pretrain", *argv])
    assert exit_.value.code == 2


def test_stop_after_step_is_a_flag_left_out_of_help(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["pretrain", "--help"])
    text = capsys.readouterr().out
    assert "--stop-after-step" not in text
    assert "--corpus-release" in text and "--no-whole-word-mask" in text and "--no-tensorboard" in text
