"""Fixtures shared by the model tests (tests/model/); tests/conftest.py holds those of every group."""
import pytest


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    """A copy of the tiny pretraining run's final checkpoint (trained once per process), one
    per test module: a module may change its copy, never another module's."""
    import torch

    from roots_model.testing import tiny_checkpoint

    torch.set_num_threads(1)
    return tiny_checkpoint(tmp_path_factory.mktemp("tiny_ckpt"))
