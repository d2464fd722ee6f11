"""DDP and FSDP2 under torchrun on CPU (gloo, 2 processes) train like one process with the
same global batch."""
import json
import os
import signal
import socket
import subprocess
import sys

import pytest
import torch

from roots_model.testing import tiny_train_config, tiny_workspace
from roots_model.train import pretrain

torch.set_num_threads(1)
STEPS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_group(command, timeout, env):
    """Run torchrun in its own process group so that a hang kills its workers too."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"torchrun did not finish in {timeout} s:\n{err[-3000:]}")
    return proc.returncode, out, err


def losses(output):
    return [json.loads(line)["loss"] for line in (output / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def single_process(tmp_path_factory):
    output = tmp_path_factory.mktemp("single")
    # One process, two micro-batches of 4: the global batch of 2 processes x 4.
    pretrain(tiny_train_config(output, steps=STEPS, batch_size=4, grad_accum=2, seq_len=64, log_interval=1))
    return output


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_processes_match_one(strategy, single_process, tmp_path):
    ws = tiny_workspace()
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
               "-m", "roots_model", "pretrain", "--data", str(ws.tokens), "--tokenizer", str(ws.tokenizer),
               "--output", str(tmp_path), "--max-steps", str(STEPS), "--batch-size", "4", "--seq-len", "64",
               "--lr", "3e-3", "--warmup-steps", str(STEPS), "--seed", "0", "--log-interval", "1",
               "--eval-interval", str(STEPS), "--eval-batches", "2", "--checkpoint-interval", str(STEPS),
               "--strategy", strategy, "--no-progress", "--no-tensorboard"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    returncode, out, err = run_group(command, 180, env)
    assert returncode == 0, err[-3000:]
    assert f"{strategy} on 2 x cpu" in out + err
    assert losses(tmp_path) == pytest.approx(losses(single_process), rel=1e-4)
    from roots_model import checkpoint

    one, two = checkpoint.load(single_process), checkpoint.load(tmp_path)
    assert one.state["samples_seen"] == two.state["samples_seen"] == STEPS * 8
    for (name, p), q in zip(one.model.state_dict().items(), two.model.state_dict().values()):
        torch.testing.assert_close(p, q, rtol=1e-3, atol=1e-4, msg=name)


def torchrun(output, strategy, steps, *extra):
    ws = tiny_workspace()
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
            "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
            "-m", "roots_model", "pretrain", "--data", str(ws.tokens), "--tokenizer", str(ws.tokenizer),
            "--output", str(output), "--max-steps", str(steps), "--batch-size", "2", "--seq-len", "32",
            "--lr", "3e-3", "--warmup-steps", "1", "--seed", "0", "--log-interval", "1", "--dropout", "0.2",
            "--eval-interval", "100", "--eval-batches", "1", "--checkpoint-interval", "2",
            "--strategy", strategy, "--no-progress", "--no-tensorboard", *extra]


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_resume_after_kill_is_exact_on_every_rank(strategy, tmp_path):
    """Dropout draws differ per process, so each process's own RNG state must come back."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    for command in (torchrun(straight, strategy, 4), torchrun(killed, strategy, 4, "--stop-after-step", "3"),
                    torchrun(killed, strategy, 4, "--resume")):
        returncode, out, err = run_group(command, 180, env)
        assert returncode == 0, err[-3000:]
    assert "resumed at step 2" in out + err
    assert losses(killed) == losses(straight)  # bit for bit
    from safetensors.torch import load_file

    from roots_model import checkpoint

    shards = sorted((checkpoint.resolve(killed) / "train_state").glob("*.safetensors"))
    assert len(shards) == 2  # each process wrote its own part
    rng = {k: v for shard in shards for k, v in load_file(shard).items() if k.startswith("rng.torch.")}
    assert set(rng) == {"rng.torch.rank0", "rng.torch.rank1"} and not torch.equal(*rng.values())
    one, two = checkpoint.load(straight), checkpoint.load(killed)
    for (name, p), q in zip(one.model.state_dict().items(), two.model.state_dict().values()):
        assert torch.equal(p, q), name
