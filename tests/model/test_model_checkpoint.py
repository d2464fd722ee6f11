"""Checkpoints: round trip, atomic writes, corruption and truncation detected."""
import json

import pytest
import torch

from roots_model import checkpoint
from roots_model.checkpoint import CheckpointError
from roots_model.testing import tiny_checkpoint

torch.set_num_threads(1)


@pytest.fixture()
def ckpt(tmp_path):
    return tiny_checkpoint(tmp_path)


def test_save_load_round_trip(ckpt, tmp_path):
    loaded = checkpoint.load(ckpt)
    assert not loaded.model.training and loaded.path == ckpt
    idx = torch.tensor([[0, 10, 20, 30]])
    again = checkpoint.load(checkpoint.save(tmp_path / "copy", loaded.model, loaded.tokenizer, loaded.config))
    torch.testing.assert_close(again.model(idx), loaded.model(idx), rtol=0, atol=0)
    assert again.tokenizer.encode("你好 world").ids == loaded.tokenizer.encode("你好 world").ids
    assert again.config == loaded.config and again.state == {}


def test_flipped_byte_is_detected(ckpt):
    weights = ckpt / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum"):
        checkpoint.load(ckpt)


def test_truncated_file_is_detected(ckpt):
    weights = ckpt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="truncated"):
        checkpoint.load(ckpt)
    # Without the manifest check, safetensors' own parse error is still a CheckpointError.
    with pytest.raises(CheckpointError, match="cannot be read"):
        checkpoint.load(ckpt, verify_files=False)


def test_missing_pieces(ckpt, tmp_path):
    (ckpt / "config.json").unlink()
    with pytest.raises(CheckpointError, match="config.json is missing"):
        checkpoint.load(ckpt)
    (ckpt / "checkpoint.json").unlink()
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        checkpoint.load(ckpt)
    with pytest.raises(CheckpointError, match="does not exist"):
        checkpoint.load(tmp_path / "nowhere")
    assert issubclass(CheckpointError, ValueError)


def test_failed_save_leaves_nothing_behind(ckpt, tmp_path, monkeypatch):
    loaded = checkpoint.load(ckpt)
    target = tmp_path / "out" / "step-00000001"

    def broken_tokenizer_save(path):
        raise OSError("disk full")

    class Broken:
        save = staticmethod(broken_tokenizer_save)

    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(target, loaded.model, Broken(), loaded.config)
    assert list((tmp_path / "out").iterdir()) == []
    # An existing checkpoint survives a failed overwrite.
    checkpoint.save(target, loaded.model, loaded.tokenizer, loaded.config)
    with pytest.raises(OSError):
        checkpoint.save(target, loaded.model, Broken(), loaded.config)
    assert checkpoint.load(target).config == loaded.config
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["step-00000001"]


def test_run_folder_resolves_to_newest_complete_checkpoint(ckpt, tmp_path):
    loaded = checkpoint.load(ckpt)
    run = tmp_path / "run"
    for step in (10, 20):
        checkpoint.save(checkpoint.run_checkpoint_path(run, step), loaded.model, loaded.tokenizer, loaded.config,
                        {"step": step, "note": "x"})
    (run / "checkpoints" / "step-00000030").mkdir()  # a crash mid-write would leave no manifest
    found = checkpoint.load(run)
    assert found.path.name == "step-00000020" and found.state["step"] == 20
    assert found.state["note"] == "x"
    checkpoint.prune(run, keep=1)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-00000020", "step-00000030"]
    manifest = json.loads((ckpt / "checkpoint.json").read_text())
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= set(manifest["files"])
