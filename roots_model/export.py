"""Export a checkpoint as a Hugging Face transformers Llama folder.

The model already uses Llama's layer names and RoPE pairing (dimension i with i + D/2),
so export only prefixes the names with `model.` and writes config.json, the weights as
model.safetensors, and the tokenizer files. Load it with
`transformers.LlamaForCausalLM.from_pretrained(folder)` and
`transformers.PreTrainedTokenizerFast.from_pretrained(folder)`.
"""
from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import save_file

from roots_model import checkpoint
from roots_model.tokenizer import EOS


def llama_config(config, eos: int) -> dict:
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": config.vocab_size,
        "hidden_size": config.n_embd,
        "intermediate_size": config.intermediate_size,
        "num_hidden_layers": config.n_layer,
        "num_attention_heads": config.n_head,
        "num_key_value_heads": config.n_kv_head,
        "head_dim": config.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": config.block_size,
        "rms_norm_eps": config.norm_eps,
        "rope_theta": config.rope_theta,
        "attention_bias": False,
        "mlp_bias": False,
        "tie_word_embeddings": config.tie_embeddings,
        "bos_token_id": eos,
        "eos_token_id": eos,
        "pad_token_id": eos,
        "torch_dtype": "float32",
    }


def llama_state_dict(model) -> dict:
    out = {}
    for name, tensor in model.state_dict().items():
        if name == "lm_head.weight":
            if not model.config.tie_embeddings:
                out[name] = tensor
            continue  # a tied output matrix is the embedding; transformers re-ties it
        out[f"model.{name}"] = tensor
    return {k: v.detach().cpu().contiguous() for k, v in out.items()}


def export_llama(ckpt_path, output) -> Path:
    loaded = checkpoint.load(ckpt_path)
    if not loaded.config.causal:
        # Llama is a decoder: a bidirectional MLM model exported as one would score nonsense
        raise checkpoint.CheckpointError(f"{ckpt_path} is a bidirectional (MLM) model; only decoders export as Llama")
    eos = loaded.tokenizer.token_to_id(EOS)
    output = Path(output)
    with checkpoint.atomic_directory(output) as tmp:
        save_file(llama_state_dict(loaded.model), tmp / "model.safetensors", metadata={"format": "pt"})
        (tmp / "config.json").write_text(json.dumps(llama_config(loaded.config, eos), indent=1))
        (tmp / "generation_config.json").write_text(json.dumps(
            {"bos_token_id": eos, "eos_token_id": eos, "pad_token_id": eos}, indent=1))
        loaded.tokenizer.save(str(tmp / "tokenizer.json"))
        (tmp / "tokenizer_config.json").write_text(json.dumps({
            "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": EOS, "eos_token": EOS,
            "pad_token": EOS, "unk_token": None, "add_bos_token": False, "add_eos_token": False,
            "model_max_length": loaded.config.block_size}, indent=1))
        (tmp / "special_tokens_map.json").write_text(json.dumps(
            {"bos_token": EOS, "eos_token": EOS, "pad_token": EOS}, indent=1))
    return output
