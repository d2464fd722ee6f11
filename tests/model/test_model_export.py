"""Export to a Hugging Face Llama folder; logits round-trip when transformers is there."""
import json

import pytest
import torch
from safetensors.torch import load_file

from roots_model import checkpoint
from roots_model.export import export_llama
from roots_model.testing import tiny_checkpoint

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    ckpt = tiny_checkpoint(tmp)
    return checkpoint.load(ckpt), export_llama(ckpt, tmp / "hf")


def test_folder_layout_and_weights(exported):
    loaded, folder = exported
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "llama" and config["num_key_value_heads"] == loaded.config.n_kv_head
    assert config["tie_word_embeddings"] is True
    weights = load_file(folder / "model.safetensors")
    assert "lm_head.weight" not in weights
    assert torch.equal(weights["model.embed_tokens.weight"], loaded.model.embed_tokens.weight)
    assert torch.equal(weights["model.layers.1.mlp.down_proj.weight"], loaded.model.layers[1].mlp.down_proj.weight)
    assert len(weights) == len(loaded.model.state_dict()) - 1
    assert (folder / "tokenizer.json").exists() and (folder / "tokenizer_config.json").exists()


def test_transformers_llama_gives_the_same_logits(exported):
    transformers = pytest.importorskip(
        "transformers", reason="transformers is not installed (pip install 'roots[hf]'): HF round trip not checked")
    loaded, folder = exported
    hf = transformers.LlamaForCausalLM.from_pretrained(folder, torch_dtype=torch.float32).eval()
    idx = torch.tensor([[0, 17, 300, 42, 1000, 5]])
    with torch.no_grad():
        torch.testing.assert_close(hf(idx).logits, loaded.model(idx), atol=1e-4, rtol=1e-4)
    tokenizer = transformers.PreTrainedTokenizerFast.from_pretrained(folder)
    assert tokenizer.encode("你好, world") == loaded.tokenizer.encode("你好, world").ids
