"""roots-train quantize / distill / prune: a working run through the CLI, and bad input
rejected with a clear message before any work (exit status 2, nothing written)."""
import json
import shutil

import pytest

from roots_model.cli import main
from roots_model.testing import tiny_workspace


def _fails(capsys, argv, message, output):
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not output.exists()


def test_quantize_then_generate_and_score_through_the_clis(tiny_ckpt, tmp_path, capsys):
    from roots_eval.cli import main as eval_main

    out = tmp_path / "ckpt-int8"
    assert main(["quantize", "--checkpoint", str(tiny_ckpt), "--output", str(out), "--no-report"]) == 0
    assert main(["generate", "--checkpoint", str(out), "--prompt", "北京是", "--max-new-tokens", "4"]) == 0
    assert "completion" in capsys.readouterr().out
    results = tmp_path / "int8.json"
    assert eval_main(["run", "--model", str(out), "--tasks", "cls_chnsenticorp", "--limit", "4", "--output",
                      str(results), "--bootstrap-iters", "20", "--device", "cpu"]) == 0
    scored = json.loads(results.read_text())
    assert scored["model"]["compression"] == "int8-dynamic"
    assert "cls_chnsenticorp" in scored["results"]


@pytest.mark.parametrize("argv, message", [
    (["quantize", "--method", "int4-awq"], "unknown quantization method 'int4-awq'"),
    (["prune", "--sparsity", "1.0"], "sparsity must be strictly between 0 and 1"),
    (["prune", "--sparsity", "0"], "sparsity must be strictly between 0 and 1"),
    (["prune", "--sparsity", "-0.2"], "sparsity must be strictly between 0 and 1"),
    (["prune", "--sparsity", "0.5", "--method", "attention-heads"], "attention heads cannot be pruned"),
    (["prune", "--sparsity", "0.5", "--finetune-steps", "-1"], "--finetune-steps must be >= 0"),
])
def test_bad_quantize_and_prune_arguments(tiny_ckpt, tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    _fails(capsys, [argv[0], "--checkpoint", str(tiny_ckpt), "--output", str(out), *argv[1:]], message, out)


def test_bad_distill_arguments(tiny_ckpt, tmp_path, capsys):
    tokens, out = tiny_workspace().tokens, tmp_path / "student"
    base = ["distill", "--teacher", str(tiny_ckpt), "--output", str(out), "--max-steps", "2"]
    _fails(capsys, [*base, "--data", str(tokens), "--preset", "7b"], "unknown student preset '7b'", out)
    _fails(capsys, [*base, "--data", str(tokens), "--preset", "124m"], "is not smaller than the teacher", out)
    _fails(capsys, [*base, "--data", str(tokens), "--temperature", "0"], "temperature > 0", out)

    # a student tokenizer that differs from the teacher's (two token ids swapped)
    other = json.loads((tiny_ckpt / "tokenizer.json").read_text())
    vocab = other["model"]["vocab"]
    a, b = (next(t for t, i in vocab.items() if i == n) for n in (500, 501))
    vocab[a], vocab[b] = vocab[b], vocab[a]
    (tmp_path / "tok").mkdir()
    (tmp_path / "tok" / "tokenizer.json").write_text(json.dumps(other))
    _fails(capsys, [*base, "--data", str(tokens), "--tokenizer", str(tmp_path / "tok")],
           "differs from the teacher's", out)

    # token shards made with another tokenizer
    shards = tmp_path / "tokens"
    shutil.copytree(tokens, shards)
    manifest = json.loads((shards / "manifest.json").read_text())
    manifest["tokenizer_sha256"] = "0" * 64
    (shards / "manifest.json").write_text(json.dumps(manifest))
    _fails(capsys, [*base, "--data", str(shards)], "made with a different tokenizer", out)


def test_an_int8_checkpoint_is_not_compressed_again(tiny_ckpt, tmp_path, capsys):
    out = tmp_path / "q"
    assert main(["quantize", "--checkpoint", str(tiny_ckpt), "--output", str(out), "--no-report"]) == 0
    _fails(capsys, ["prune", "--checkpoint", str(out), "--output", str(tmp_path / "p"), "--sparsity", "0.5"],
           "is already int8-dynamic", tmp_path / "p")


def _parsed(argv):
    from roots_model.cli import build_parser, config_from_args
    from roots_model.compress.config import DistillConfig, PruneConfig

    return config_from_args({"distill": DistillConfig, "prune": PruneConfig}[argv[0]], build_parser().parse_args(argv))


def test_distill_and_prune_flags_are_their_configs():
    # The defaults the hand-written flags had (and prune's recovery fine-tuning used), by hand.
    d = _parsed(["distill", "--teacher", "t", "--data", "d", "--output", "o"])
    assert (d.preset, d.student_config, d.tokenizer, d.temperature, d.alpha) == ("tiny", None, None, 2.0, 0.5)
    assert (d.max_steps, d.batch_size, d.seq_len, d.lr, d.warmup_steps) == (1000, None, None, None, None)
    assert (d.seed, d.eval_interval, d.checkpoint_interval) == (1337, 200, 500)
    assert (d.resume, d.progress, d.report, d.tensorboard, d.train) == (False, True, True, False, {})
    d = _parsed(["distill", "--teacher", "t", "--data", "d", "--output", "o", "--student-config", '{"n_layer": 2}',
                 "--max-steps", "7", "--lr", "0.01", "--resume", "--no-progress", "--no-report"])
    assert (d.student_config, d.max_steps, d.lr, d.resume, d.progress, d.report) == ({"n_layer": 2}, 7, 0.01, True,
                                                                                     False, False)
    p = _parsed(["prune", "--checkpoint", "c", "--output", "o", "--sparsity", "0.5"])
    assert (p.sparsity, p.method, p.finetune_steps, p.data, p.lr, p.batch_size) == (0.5, "magnitude", 0, None, 1e-3, 8)
    assert (p.resume, p.progress, p.report, p.tensorboard) == (False, True, True, False)
    p = _parsed(["prune", "--checkpoint", "c", "--output", "o", "--sparsity", "0.5", "--batch-size", "4",
                 "--no-progress"])
    assert (p.batch_size, p.progress) == (4, False)
