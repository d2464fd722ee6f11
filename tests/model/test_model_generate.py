"""Generation with a KV cache: same tokens as without it, batching with left padding,
sampling controls and stop strings."""
import pytest
import torch

from roots_model import checkpoint
from roots_model.generate import generate, sample_next
from roots_model.model import GPT, ModelConfig
from roots_model.testing import tiny_checkpoint

torch.set_num_threads(1)
PROMPTS = ["这家酒店的服务", "The history of the city", "我们"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return checkpoint.load(tiny_checkpoint(tmp_path_factory.mktemp("gen")))


@pytest.fixture(scope="module")
def random_model(trained):
    # Untrained weights with a wide init give varied, prompt-dependent tokens: a harder
    # check of the cache than a tiny trained model that repeats one token.
    torch.manual_seed(0)
    config = ModelConfig(**{**trained.config.to_dict(), "n_layer": 2})
    model = GPT(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(0, 0.2)
    return model


def test_cache_equals_no_cache_greedy(random_model, trained):
    with_cache = generate(random_model, trained.tokenizer, PROMPTS, 12)
    without = generate(random_model, trained.tokenizer, PROMPTS, 12, use_cache=False)
    assert with_cache == without
    assert len(set(with_cache)) == len(PROMPTS) and all(with_cache)


def test_cache_equals_no_cache_sampled(random_model, trained):
    kwargs = dict(temperature=0.9, top_k=50, top_p=0.95, seed=7)
    assert generate(random_model, trained.tokenizer, PROMPTS, 12, **kwargs) == \
        generate(random_model, trained.tokenizer, PROMPTS, 12, use_cache=False, **kwargs)


def test_batch_equals_one_by_one(random_model, trained):
    batched = generate(random_model, trained.tokenizer, PROMPTS, 10)
    assert batched == [generate(random_model, trained.tokenizer, [p], 10)[0] for p in PROMPTS]


def test_seed_makes_sampling_repeatable(random_model, trained):
    a = generate(random_model, trained.tokenizer, PROMPTS, 10, temperature=1.0, seed=1)
    b = generate(random_model, trained.tokenizer, PROMPTS, 10, temperature=1.0, seed=1)
    c = generate(random_model, trained.tokenizer, PROMPTS, 10, temperature=1.0, seed=2)
    assert a == b and a != c


def test_stop_strings_cut_the_continuation(random_model, trained):
    full = generate(random_model, trained.tokenizer, PROMPTS[:1], 12)[0]
    stop = full[3:5]
    cut = generate(random_model, trained.tokenizer, PROMPTS[:1], 12, stop=[stop])[0]
    assert cut == full[:full.index(stop)]


def test_trained_checkpoint_generates_text(trained):
    texts = generate(trained.model, trained.tokenizer, PROMPTS, 8)
    assert len(texts) == 3 and all(isinstance(t, str) for t in texts)
    assert generate(trained.model, trained.tokenizer, [], 8) == []
    with pytest.raises(ValueError, match="block_size"):
        generate(trained.model, trained.tokenizer, PROMPTS, trained.config.block_size)


def test_top_k_and_top_p_restrict_the_choice():
    logits = torch.tensor([[5.0, 4.0, 1.0, 0.0, -1.0]]).repeat(200, 1)
    g = torch.Generator().manual_seed(0)
    assert set(sample_next(logits, 1.0, 2, None, g).tolist()) <= {0, 1}
    # p(0) ~ 0.71: top_p=0.5 keeps only the first token.
    assert set(sample_next(logits, 1.0, None, 0.5, g).tolist()) == {0}
    assert sample_next(logits[:1], 0.0, None, None, None).item() == 0
