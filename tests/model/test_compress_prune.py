"""Pruning: the requested sparsity is reached (counted), structured pruning shrinks the
tensors and the model still runs, recovery fine-tuning keeps pruned weights at zero."""
import json

import pytest
import torch

from roots_model import checkpoint
from roots_model.compress.commands import prune
from roots_model.compress.config import PruneConfig
from roots_model.compress.prune import measured_sparsity, prunable_weights
from roots_model.generate import generate
from roots_model.testing import tiny_workspace


def _prune(path, output, sparsity, method, **settings):
    return prune(PruneConfig(checkpoint=path, output=output, sparsity=sparsity, method=method, **settings))


@pytest.mark.parametrize("sparsity", [0.3, 0.5, 0.9])
def test_magnitude_pruning_reaches_the_requested_sparsity(tiny_ckpt, tmp_path, sparsity):
    _prune(tiny_ckpt, tmp_path / "p", sparsity, "magnitude", report=False)
    pruned, dense = checkpoint.load(tmp_path / "p"), checkpoint.load(tiny_ckpt)
    for name, weight in prunable_weights(pruned.model).items():
        zeros = int((weight == 0).sum())
        assert zeros == round(sparsity * weight.numel()), name  # counted per matrix
        kept = weight != 0
        dense_weight = dict(dense.model.named_parameters())[name]
        # the survivors are the largest |w| and unchanged
        assert torch.equal(weight[kept], dense_weight[kept])
        assert dense_weight[kept].abs().min() >= dense_weight[~kept].abs().max()
    assert torch.equal(pruned.model.embed_tokens.weight, dense.model.embed_tokens.weight)


def test_structured_pruning_shrinks_tensors_and_the_model_runs(tiny_ckpt, tmp_path):
    report = _prune(tiny_ckpt, tmp_path / "s", 0.5, "mlp-channels", data=tiny_workspace().tokens)
    loaded = checkpoint.load(tmp_path / "s")
    before = checkpoint.load(tiny_ckpt).config
    assert loaded.config.intermediate_size == before.intermediate_size // 2
    assert json.loads((tmp_path / "s" / "config.json").read_text())["intermediate_size"] == before.intermediate_size // 2
    mlp = loaded.model.layers[0].mlp
    assert mlp.gate_proj.weight.shape == (before.intermediate_size // 2, before.n_embd)
    assert mlp.down_proj.weight.shape == (before.n_embd, before.intermediate_size // 2)
    assert report["compressed"]["parameters"] < report["original"]["parameters"] - 3 * before.n_embd * 192 * before.n_layer + 1
    assert report["compressed"]["model_bytes"] < report["original"]["model_bytes"]
    assert report["compressed"]["val_perplexity"] < 1.5 * report["original"]["val_perplexity"]
    assert generate(loaded.model, loaded.tokenizer, ["北京是"], max_new_tokens=5)[0] is not None


def test_recovery_finetuning_keeps_the_zeros_and_lowers_loss(tiny_ckpt, tmp_path):
    tokens = tiny_workspace().tokens
    plain = _prune(tiny_ckpt, tmp_path / "plain", 0.7, "magnitude", data=tokens)
    tuned = _prune(tiny_ckpt, tmp_path / "tuned", 0.7, "magnitude", finetune_steps=12, data=tokens, progress=False)
    loaded = checkpoint.load(tmp_path / "tuned")  # the run folder: its newest checkpoint
    assert loaded.compression["pruning"] == "magnitude"
    assert measured_sparsity(loaded.model)["prunable_sparsity"] == pytest.approx(0.7, abs=1e-4)
    assert tuned["compressed"]["val_perplexity"] < plain["compressed"]["val_perplexity"]
