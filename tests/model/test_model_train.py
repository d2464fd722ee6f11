"""Pretraining on the real corpus: the loss falls, resume is exact, outputs are complete,
and bad input fails early with a clear message."""
import gzip
import json
import math
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from safetensors import safe_open

from roots_model import checkpoint
from roots_model.cli import main
from roots_model.data import DataError, PackedSequences, iter_documents, prepare_tokens
from roots_model.testing import corpus_slice, read_metrics, tiny_run, tiny_train_config, tiny_workspace
from roots_model.train import ConfigError, check_memory, learning_rate, pretrain
from roots_model.model import preset

torch.set_num_threads(1)


def test_loss_falls_on_real_corpus():
    output = tiny_run(steps=40)
    records = read_metrics(output)
    assert [r["step"] for r in records] == list(range(5, 41, 5))
    assert {"step", "loss", "lr", "tokens_per_s", "mfu"} <= set(records[0])
    assert all(r["tokens_per_s"] > 0 for r in records)
    assert records[-1]["loss"] < records[0]["loss"] - 0.5
    final = records[-1]
    # Better than a uniform guess over the 2,048 tokens, and perplexity matches the loss.
    assert final["val_loss"] < math.log(2048) - 0.5
    assert final["val_perplexity"] == pytest.approx(math.exp(final["val_loss"]))
    assert (output / "loss.png").stat().st_size > 1000
    loaded = checkpoint.load(output)
    assert loaded.state["step"] == 40 and loaded.path.name == "step-00000040"


@pytest.mark.slow
def test_resume_after_kill_repeats_the_same_losses(tmp_path):
    common = dict(steps=8, seq_len=64, batch_size=4, log_interval=1, eval_interval=4, checkpoint_interval=4)
    pretrain(tiny_train_config(tmp_path / "straight", **common))
    killed = tiny_train_config(tmp_path / "killed", stop_after_step=6, **common)
    assert pretrain(killed)["step"] == 6
    assert [r["step"] for r in read_metrics(tmp_path / "killed")] == [1, 2, 3, 4, 5, 6]
    resumed = pretrain(tiny_train_config(tmp_path / "killed", resume=True, **common))
    assert resumed["step"] == 8
    straight, again = read_metrics(tmp_path / "straight"), read_metrics(tmp_path / "killed")
    assert [r["step"] for r in again] == list(range(1, 9))
    # Bit-identical on CPU: losses, learning rates and validation losses.
    for key in ("loss", "lr", "grad_norm", "val_loss"):
        assert [r.get(key) for r in again] == [r.get(key) for r in straight], key
    a, b = checkpoint.load(tmp_path / "straight"), checkpoint.load(tmp_path / "killed")
    for (name, p), q in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(p, q), name


def test_checkpoint_holds_training_state():
    path = checkpoint.resolve(tiny_run(steps=40))
    state = json.loads((path / "state.json").read_text())
    assert state["samples_seen"] == 40 * 8 and state["scheduler"]["step"] == 40
    shards = sorted((path / "train_state").glob("*.safetensors"))
    assert len(shards) == 1  # one process, one shard file
    with safe_open(shards[0], "pt") as f:
        keys = set(f.keys())
    assert {"optim.embed_tokens.weight.exp_avg", "optim.embed_tokens.weight.exp_avg_sq", "rng.torch.rank0"} <= keys
    listed = json.loads((path / "checkpoint.json").read_text())["files"]
    assert f"train_state/{shards[0].name}" in listed  # checksummed like every other file


def test_warmup_then_cosine_schedule():
    cfg = tiny_train_config("unused", steps=100, warmup_steps=10, lr=1e-3)
    lrs = [learning_rate(s, cfg) for s in range(100)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:]))
    assert lrs[-1] == pytest.approx(1e-4, rel=0.05)


def test_config_that_does_not_fit_memory_fails_before_training(tmp_path, monkeypatch):
    cfg = tiny_train_config(tmp_path / "big", preset="1b", batch_size=4, seq_len=2048)
    with pytest.raises(ConfigError, match="needs about .* GiB"):
        check_memory(preset("1b", 32000), cfg, "cpu", available=8 * 2**30)
    monkeypatch.setattr("roots_model.train.available_memory", lambda device: 4 * 2**30)
    with pytest.raises(ConfigError, match="--batch-size"):
        pretrain(cfg)
    assert not (tmp_path / "big" / "checkpoints").exists()


def test_prepare_reads_parquet_and_jsonl_gz_and_resumes(tmp_path):
    ws = tiny_workspace()
    rows = [json.loads(line) for line in (ws.data / "slice.jsonl").read_text().splitlines()[:300]]
    data = tmp_path / "out" / "data"
    data.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([{**r, "lang": "x"} for r in rows[:150]]), data / "part-0.parquet")
    with gzip.open(data / "part-1.jsonl.gz", "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows[150:])
    assert len(list(iter_documents(tmp_path / "out"))) == 300
    tokens = tmp_path / "tokens"
    first = prepare_tokens(tmp_path / "out", ws.tokenizer, tokens, val_fraction=0.1, workers=1)
    assert len(first["files"]) == 2
    parquet, jsonl = (tokens / first["files"][str(data / name)]["shards"]["train"]["file"]
                      for name in ("part-0.parquet", "part-1.jsonl.gz"))
    stamp = parquet.stat().st_mtime_ns
    jsonl.unlink()  # as if killed before the second file finished
    second = prepare_tokens(tmp_path / "out", ws.tokenizer, tokens, val_fraction=0.1, workers=1)
    assert parquet.stat().st_mtime_ns == stamp  # not redone
    assert second["files"] == first["files"]
    windows = PackedSequences(tokens, "train", 32, seed=0)
    x, y = windows.batch(0, 4)
    assert x.shape == (4, 32) and torch.equal(x[:, 1:], y[:, :-1])


def test_tiny_or_empty_corpus_is_a_clear_error(tmp_path):
    ws = tiny_workspace()
    small = corpus_slice(tmp_path / "small", max_docs=3)
    with pytest.raises(DataError, match="not one sequence"):
        pretrain(tiny_train_config(tmp_path / "run", data=str(small), tokenizer=str(ws.tokenizer)))
    (tmp_path / "empty").mkdir()
    rc = main(["pretrain", "--data", str(tmp_path / "empty"), "--tokenizer", str(ws.tokenizer),
               "--output", str(tmp_path / "run2"), "--max-steps", "2"])
    assert rc == 2
    assert not (tmp_path / "run2" / "checkpoints").exists()


def test_cli_pretrain_writes_a_loadable_checkpoint(tmp_path, capsys):
    ws = tiny_workspace()
    rc = main(["pretrain", "--data", str(ws.tokens), "--tokenizer", str(ws.tokenizer), "--output", str(tmp_path),
               "--max-steps", "2", "--batch-size", "2", "--seq-len", "32", "--log-interval", "1", "--no-progress"])
    assert rc == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["step"] == 2
    assert (tmp_path / "tensorboard").is_dir() and (tmp_path / "loss.png").exists()
    loaded = checkpoint.load(tmp_path)
    assert loaded.model(torch.tensor([[0, 5, 6]])).shape == (1, 3, 2048)
    shutil.rmtree(tmp_path / "checkpoints")
