"""Masked-LM pretraining over two processes (DDP on gloo, spawned with a file store): a run
killed after step 3 and resumed from its step-2 checkpoint repeats the uninterrupted run's
losses bit for bit, each process resuming its own masking RNG; and the MLM validation loss
is the same number for one process and for two on the same windows."""
import hashlib
import json
import os

import pytest
import torch
import torch.multiprocessing as mp

from roots_model import checkpoint
from roots_model.data import PackedSequences
from roots_model.mlm import MaskedLM, mlm_model_overrides
from roots_model.model import GPT, ModelConfig
from roots_model.testing import in_gloo_group, tiny_train_config, tiny_workspace
from roots_model.tokenizer import load_tokenizer
from roots_model.train import Distributed, TrainConfig, evaluate

torch.set_num_threads(1)
SEQ = 32
RUN = dict(steps=4, seq_len=SEQ, batch_size=2, log_interval=1, eval_interval=2, checkpoint_interval=2,
           objective="mlm", dropout=0.1, strategy="ddp")


def _rng_digest() -> str:
    return hashlib.sha256(torch.get_rng_state().numpy().tobytes()).hexdigest()


def _train_worker(rank, world_size, out):
    """Three runs in a row: uninterrupted, killed after step 3, resumed. `fit` joins and leaves
    the group of each (a fresh file store per run)."""
    import torch.distributed as dist
    from datetime import timedelta

    from roots_model.train import pretrain

    torch.set_num_threads(1)
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size))
    for name, output, extra in [("straight", out / "straight", {}), ("killed", out / "killed", {"stop_after_step": 3}),
                                ("resumed", out / "killed", {"resume": True})]:
        dist.init_process_group("gloo", init_method=f"file://{out / f'store-{name}'}", rank=rank,
                                world_size=world_size, timeout=timedelta(seconds=120))
        result = pretrain(tiny_train_config(output, **RUN, **extra))
        assert not dist.is_initialized()  # fit left the group after freeing its DDP objects
        # this process's RNG after the run: every mask and dropout draw it made since the start
        (out / f"{name}-rank{rank}.json").write_text(json.dumps({"step": result["step"], "rng": _rng_digest()}))


def _metrics(output):
    return [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_two_process_mlm_resume_is_exact_on_every_rank(tmp_path):
    mp.spawn(_train_worker, args=(2, tmp_path), nprocs=2)
    views = {(name, rank): json.loads((tmp_path / f"{name}-rank{rank}.json").read_text())
             for name in ("straight", "killed", "resumed") for rank in range(2)}
    assert [views[("killed", r)]["step"] for r in range(2)] == [3, 3]
    for rank in range(2):
        assert views[("resumed", rank)] == views[("straight", rank)], rank
    assert views[("straight", 0)]["rng"] != views[("straight", 1)]["rng"]  # each process masks differently
    straight, resumed = _metrics(tmp_path / "straight"), _metrics(tmp_path / "killed")
    assert [r["step"] for r in resumed] == [1, 2, 3, 4]
    for key in ("loss", "grad_norm", "val_loss"):
        assert [r.get(key) for r in resumed] == [r.get(key) for r in straight], key
    # the loss is the masked-token cross-entropy of a fresh model: near ln(vocab) at the start
    assert all(0 < r["loss"] < 2 * torch.log(torch.tensor(2049.0)).item() for r in straight)
    one, two = checkpoint.load(tmp_path / "straight"), checkpoint.load(tmp_path / "killed")
    assert one.config.causal is False and one.state["world_size"] == 2
    for (name, p), q in zip(one.model.state_dict().items(), two.model.state_dict().values()):
        assert torch.equal(p, q), name


# -- validation loss and the number of processes ------------------------------------------------
def _mlm_setup():
    ws = tiny_workspace()
    tokenizer = load_tokenizer(ws.tokenizer)
    overrides = mlm_model_overrides(tokenizer.get_vocab_size())
    torch.manual_seed(0)
    model = GPT(ModelConfig(vocab_size=tokenizer.get_vocab_size() + 1, block_size=SEQ, n_layer=1, n_head=2,
                            n_kv_head=2, n_embd=16, intermediate_size=32, **overrides)).eval()
    objective = MaskedLM(tokenizer, overrides["mask_token_id"])
    return model, objective, PackedSequences(ws.tokens, "val", SEQ, sequential=True)


def _val_loss(rank, world_size, batch_size, grad_accum, eval_batches=3):
    model, objective, val = _mlm_setup()
    cfg = TrainConfig(data="d", tokenizer="t", output="o", batch_size=batch_size, grad_accum=grad_accum,
                      seq_len=SEQ, eval_batches=eval_batches)
    return evaluate(model, val, cfg, Distributed(rank, world_size), torch.device("cpu"),
                    torch.autocast("cpu", enabled=False), objective)


def _val_worker(rank, world_size, out):
    value = in_gloo_group(rank, world_size, out / "store", lambda: _val_loss(rank, world_size, 2, 1))
    (out / f"val-rank{rank}.json").write_text(json.dumps(value))


def test_mlm_validation_loss_does_not_depend_on_the_number_of_processes(tmp_path):
    # the same 12 windows (3 global batches of 4) each time, cut into batches differently
    one = _val_loss(0, 1, 2, 2)
    assert one == pytest.approx(_val_loss(0, 1, 4, 1), rel=1e-6)
    assert one == pytest.approx(_val_loss(0, 1, 6, 1, eval_batches=2), rel=1e-6)
    mp.spawn(_val_worker, args=(2, tmp_path), nprocs=2)
    for rank in range(2):
        assert json.loads((tmp_path / f"val-rank{rank}.json").read_text()) == pytest.approx(one, rel=1e-6)
