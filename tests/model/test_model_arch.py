"""The Transformer itself: shapes, causality, padding, GQA, the KV cache, presets."""
import pytest
import torch

from roots_model.model import GPT, KVCache, ModelConfig, PRESETS, flops_per_token, preset

torch.set_num_threads(1)


def small_config(**overrides):
    values = dict(vocab_size=320, block_size=64, n_layer=2, n_head=4, n_kv_head=2, n_embd=64)
    return ModelConfig(**{**values, **overrides})


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GPT(small_config()).eval()


def test_logits_shape_and_param_count(model):
    idx = torch.randint(0, 320, (3, 17))
    assert model(idx).shape == (3, 17, 320)
    assert model.num_params() == model.config.num_params()


def test_future_tokens_do_not_change_past_logits(model):
    idx = torch.randint(0, 320, (2, 20))
    changed = idx.clone()
    changed[:, 12:] = torch.randint(0, 320, (2, 8))
    a, b = model(idx), model(changed)
    torch.testing.assert_close(a[:, :12], b[:, :12])
    assert not torch.allclose(a[:, 12:], b[:, 12:])


def test_left_padding_is_invisible(model):
    tokens = torch.randint(0, 320, (1, 10))
    alone = model(tokens)
    padded = torch.cat([torch.zeros(1, 5, dtype=torch.long), tokens], dim=1)
    real = torch.cat([torch.zeros(1, 5, dtype=torch.bool), torch.ones(1, 10, dtype=torch.bool)], dim=1)
    positions = (real.long().cumsum(1) - 1).clamp(min=0)
    out = model(padded, positions=positions, key_padding_mask=real)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[:, 5:], alone, atol=1e-5, rtol=1e-4)


def test_kv_cache_step_by_step_equals_full_forward(model):
    idx = torch.randint(0, 320, (2, 12))
    full = model(idx)
    cache = KVCache(model.config, 2, 12, "cpu", torch.float32)
    pieces = [model(idx[:, :7], cache=cache)]
    for t in range(7, 12):
        pieces.append(model(idx[:, t:t + 1], cache=cache))
    assert cache.length == 12
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=1e-4)


def test_grouped_query_attention_has_fewer_kv_weights():
    gqa, mha = GPT(small_config(n_kv_head=1)), GPT(small_config(n_kv_head=4))
    assert gqa.layers[0].self_attn.k_proj.weight.shape == (16, 64)
    assert gqa.num_params() < mha.num_params()


def test_tied_embeddings_share_one_matrix(model):
    assert model.lm_head.weight is model.embed_tokens.weight
    untied = GPT(small_config(tie_embeddings=False))
    assert untied.lm_head.weight is not untied.embed_tokens.weight


def test_sequence_longer_than_block_size_is_refused(model):
    with pytest.raises(ValueError, match="block_size"):
        model(torch.zeros(1, 65, dtype=torch.long))


@pytest.mark.parametrize("name,low,high", [("124m", 100e6, 135e6), ("350m", 300e6, 380e6), ("1b", 1.0e9, 1.2e9)])
def test_preset_sizes(name, low, high):
    config = preset(name, 32000)
    assert low < config.num_params() < high
    with torch.device("meta"):
        assert GPT(config).num_params() == config.num_params()
    assert flops_per_token(config, 1024) > 6 * 0.8 * low


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="divisible"):
        ModelConfig(n_embd=100, n_head=3, n_kv_head=3)
    with pytest.raises(ValueError, match="multiple"):
        ModelConfig(n_head=12, n_kv_head=5)
    with pytest.raises(ValueError, match="unknown preset"):
        preset("7b", 32000)
    assert set(PRESETS) == {"tiny", "124m", "350m", "1b"}
    assert preset("tiny", 2000).vocab_size == 2048  # padded to a multiple of 64
