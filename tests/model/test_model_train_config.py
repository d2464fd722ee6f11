"""Training settings that used to be wrong without a word: an unknown preset, a capped
warmup, a resume with other settings, token shards overwritten by an added input file,
and a validation loss of 0.0 when processes outnumber validation windows."""
import json
import shutil

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from roots_model.data import PackedSequences, prepare_tokens
from roots_model.model import GPT, ModelConfig, loss_fn
from roots_model.testing import in_gloo_group, tiny_train_config, tiny_workspace
from roots_model.train import ConfigError, Distributed, TrainConfig, evaluate, pretrain, wrap_model

torch.set_num_threads(1)


def test_unknown_preset_is_an_error_not_124m_defaults():
    with pytest.raises(ConfigError, match="unknown preset '7b'"):
        TrainConfig(data="d", tokenizer="t", output="o", preset="7b")


def test_warmup_is_what_was_asked_for():
    assert TrainConfig(data="d", tokenizer="t", output="o", max_steps=100, warmup_steps=50).warmup_steps == 50
    with pytest.raises(ConfigError, match="warmup_steps=150 must be between 0 and max_steps=100"):
        TrainConfig(data="d", tokenizer="t", output="o", max_steps=100, warmup_steps=150)
    # Not given: the preset's default, at most a tenth of a short run (and said at start-up).
    assert TrainConfig(data="d", tokenizer="t", output="o", preset="124m", max_steps=100).warmup_steps == 10
    assert TrainConfig(data="d", tokenizer="t", output="o", preset="124m", max_steps=100_000).warmup_steps == 700


def _data_folder(tmp_path, names, docs_per_file=400):
    """JSONL input files cut from the real corpus slice, one per name."""
    rows = (tiny_workspace().data / "slice.jsonl").read_text(encoding="utf-8").splitlines()
    folder = tmp_path / "docs"
    folder.mkdir(exist_ok=True)
    for i, name in enumerate(names):
        start = (ord(name[0]) - ord("a")) * docs_per_file
        (folder / f"{name}.jsonl").write_text("\n".join(rows[start:start + docs_per_file]) + "\n", encoding="utf-8")
    return folder


def test_an_added_input_file_leaves_the_other_shards_alone(tmp_path):
    tokenizer, tokens = tiny_workspace().tokenizer, tmp_path / "tokens"
    folder = _data_folder(tmp_path, ["a", "c"])
    first = prepare_tokens(folder, tokenizer, tokens, val_fraction=0.05, workers=1)
    c_shard = tokens / first["files"][str(folder / "c.jsonl")]["shards"]["train"]["file"]
    c_bytes = c_shard.read_bytes()
    _data_folder(tmp_path, ["b"])  # sorts between a and c
    second = prepare_tokens(folder, tokenizer, tokens, val_fraction=0.05, workers=1)
    assert len(second["files"]) == 3
    assert second["files"][str(folder / "c.jsonl")] == first["files"][str(folder / "c.jsonl")]
    assert c_shard.read_bytes() == c_bytes
    names = [e["shards"]["train"]["file"] for e in second["files"].values()]
    assert len(set(names)) == 3
    # Every shard has the size its manifest entry says (what PackedSequences checks).
    windows = PackedSequences(tokens, "train", 64, seed=0)
    assert windows.num_tokens == sum(e["shards"]["train"]["tokens"] for e in second["files"].values())
    # A removed input file takes its shards (and its tokens) with it.
    (folder / "a.jsonl").unlink()
    third = prepare_tokens(folder, tokenizer, tokens, val_fraction=0.05, workers=1)
    assert sorted(third["files"]) == [str(folder / "b.jsonl"), str(folder / "c.jsonl")]
    assert len(list(tokens.glob("train-*.bin"))) == 2


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    output = tmp_path_factory.mktemp("run")
    pretrain(tiny_train_config(output, steps=2, batch_size=2, seq_len=32, checkpoint_interval=2))
    return output


@pytest.mark.parametrize("change, message", [
    (dict(seq_len=64), "seq_len: 32 -> 64"),
    (dict(seed=1), "seed: 0 -> 1"),
    (dict(batch_size=4), "global batch .*: 2 -> 4"),
    (dict(batch_size=1, grad_accum=2), None),  # the same global batch: allowed
])
def test_resume_refuses_settings_that_move_the_data_position(saved_run, tmp_path, change, message):
    output = tmp_path / "run"
    shutil.copytree(saved_run, output)
    settings = dict(batch_size=2, seq_len=32, checkpoint_interval=3, resume=True) | change
    cfg = tiny_train_config(output, steps=3, **settings)
    if message is None:
        assert pretrain(cfg)["step"] == 3
        return
    with pytest.raises(ConfigError, match=message):
        pretrain(cfg)
    assert not (output / "checkpoints" / "step-00000003").exists()


def test_resume_refuses_other_token_shards(saved_run, tmp_path):
    output = tmp_path / "run"
    shutil.copytree(saved_run, output)
    tokens = tmp_path / "tokens"
    shutil.copytree(tiny_workspace().tokens, tokens)
    manifest = json.loads((tokens / "manifest.json").read_text())
    entry = next(iter(manifest["files"].values()))
    entry["fingerprint"] = "1:2"  # as if the input file had changed since
    (tokens / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match="token shards differ"):
        pretrain(tiny_train_config(output, steps=3, batch_size=2, seq_len=32, resume=True, data=str(tokens)))


def _tiny_val(folder, windows: int, seq_len: int = 16):
    """A token folder whose val split holds exactly `windows` windows."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    np.concatenate([rng.integers(0, 64, 50, dtype=np.uint16)]).tofile(folder / "train-x.bin")
    rng.integers(0, 64, windows * seq_len + 1, dtype=np.uint16).tofile(folder / "val-x.bin")
    manifest = {"version": 1, "tokenizer_sha256": "-", "dtype": "uint16", "val_fraction": 0.5, "files": {
        "x": {"source": "x", "fingerprint": "-", "shards": {
            "train": {"file": "train-x.bin", "tokens": 50, "documents": 1},
            "val": {"file": "val-x.bin", "tokens": windows * seq_len + 1, "documents": 1}}}}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return PackedSequences(folder, "val", seq_len, sequential=True)


def _model():
    torch.manual_seed(0)
    return GPT(ModelConfig(vocab_size=64, block_size=16, n_layer=1, n_head=2, n_kv_head=2, n_embd=16,
                           intermediate_size=32))


def _evaluate_in_group(rank, world_size, folder, strategy) -> float | None:
    val = PackedSequences(folder, "val", 16, sequential=True)
    model = wrap_model(_model(), strategy, torch.device("cpu"))
    cfg = TrainConfig(data="d", tokenizer="t", output="o", batch_size=2, seq_len=16, eval_batches=4)
    return evaluate(model, val, cfg, Distributed(rank, world_size), torch.device("cpu"), torch.autocast("cpu", enabled=False))


def _eval_worker(rank, world_size, folder, strategy, out):
    value = in_gloo_group(rank, world_size, out / "store",
                          lambda: _evaluate_in_group(rank, world_size, folder, strategy))
    (out / f"rank{rank}.json").write_text(json.dumps(value))


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_validation_loss_with_fewer_windows_than_processes(tmp_path, strategy):
    val = _tiny_val(tmp_path / "tokens", windows=1)
    x, y = val.rows([0])
    with torch.no_grad():
        expected = loss_fn(_model()(x), y).item()  # the one window, scored directly
    mp.spawn(_eval_worker, args=(2, tmp_path / "tokens", strategy, tmp_path), nprocs=2)
    for rank in range(2):
        assert json.loads((tmp_path / f"rank{rank}.json").read_text()) == pytest.approx(expected, rel=1e-5)


def test_validation_loss_is_the_mean_over_every_window(tmp_path):
    """Three windows over two processes: none dropped by rounding (one process scores two)."""
    val = _tiny_val(tmp_path / "tokens", windows=3)
    x, y = val.rows([0, 1, 2])
    with torch.no_grad():
        logits = _model()(x)
    expected = np.mean([loss_fn(logits[i:i + 1], y[i:i + 1]).item() for i in range(3)])
    mp.spawn(_eval_worker, args=(2, tmp_path / "tokens", "ddp", tmp_path), nprocs=2)
    assert json.loads((tmp_path / "rank0.json").read_text()) == pytest.approx(expected, rel=1e-5)


def _dtypes_in_group(dtype) -> dict:
    model = wrap_model(_model(), "fsdp", torch.device("cpu"), dtype)
    seen = {}
    model.layers[0].mlp.register_forward_pre_hook(lambda m, args: seen.update(dtype=str(m.gate_proj.weight.dtype)))
    master = str(next(model.parameters()).dtype)  # the sharded parameters, before a forward gathers them
    model(torch.tensor([[1, 2, 3]]))
    return {"compute": seen["dtype"], "master": master}


def _mp_worker(rank, world_size, dtype, out):
    seen = in_gloo_group(rank, world_size, out / f"store-{dtype}", lambda: _dtypes_in_group(dtype))
    (out / f"{dtype}-{rank}.json").write_text(json.dumps(seen))


@pytest.mark.parametrize("dtype, compute", [("bfloat16", "torch.bfloat16"), ("float32", "torch.float32")])
def test_fsdp_gathers_bf16_parameters_for_bf16_runs(tmp_path, dtype, compute):
    mp.spawn(_mp_worker, args=(2, dtype, tmp_path), nprocs=2)
    for rank in range(2):
        seen = json.loads((tmp_path / f"{dtype}-{rank}.json").read_text())
        assert seen == {"compute": compute, "master": "torch.float32"}  # sharded master weights stay fp32
