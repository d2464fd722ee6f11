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
               "-m", "roots_model.train", "pretrain", "--data", str(ws.tokens), "--tokenizer", str(ws.tokenizer),
               "--output", str(tmp_path), "--max-steps", str(STEPS), "--batch-size", "4", "--seq-len", "64",
               "--lr", "3e-3", "--warmup-steps", "5", "--seed", "0", "--log-interval", "1",
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
