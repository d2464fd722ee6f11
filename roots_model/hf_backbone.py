"""A local Hugging Face folder (BERT-style encoder, GPT-2/Llama-style decoder) shaped like a
roots_model backbone, so `LanguageModel` and `TextClassifier` treat both alike.

Needs the optional extra `roots[hf]`. Only local folders are read (`local_files_only`):
nothing is downloaded.

`HFBackbone` offers what the classifier and `LanguageModel` use of a `GPT`: `config`
(`n_embd`, `block_size`, `causal`, `mask_token_id`), `hidden_states(idx,
key_padding_mask)` and `forward(idx, key_padding_mask) -> logits`. `HFTokenizer` offers
what `roots_model.tokenizer.encode/eos_id` use of a `tokenizers.Tokenizer`; the
"document start" token is the model's own ([CLS] for BERT, BOS for Llama/GPT-2).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn


@dataclass
class HFConfigView:
    n_embd: int
    block_size: int
    causal: bool
    mask_token_id: int | None
    vocab_size: int


class _Encoded:
    def __init__(self, ids):
        self.ids = ids


class HFTokenizer:
    def __init__(self, tokenizer):
        self.hf = tokenizer

    def encode(self, text: str, add_special_tokens: bool = False) -> _Encoded:
        # split_special_tokens: a "[SEP]" typed in a document is text, not a control token
        return _Encoded(self.hf(text, add_special_tokens=add_special_tokens, split_special_tokens=True)["input_ids"])

    def start_id(self) -> int:
        for token_id in (self.hf.cls_token_id, self.hf.bos_token_id, self.hf.eos_token_id):
            if token_id is not None:
                return token_id
        raise ValueError("the tokenizer has no CLS, BOS or EOS token to start a text with")

    def token_to_id(self, token: str):
        # roots_model.tokenizer.eos_id asks for <|endoftext|>: the token every text starts after
        return self.start_id()

    def decode(self, ids) -> str:
        return self.hf.decode(ids, skip_special_tokens=True)

    def get_vocab_size(self) -> int:
        return len(self.hf)


def is_hf_folder(path) -> bool:
    import json

    config = Path(path) / "config.json"
    try:
        return config.is_file() and "model_type" in json.loads(config.read_text())
    except ValueError:
        return False


class HFBackbone(nn.Module):
    def __init__(self, model, tokenizer):
        super().__init__()
        self.model, self.hf_tokenizer = model, tokenizer
        c = model.config
        causal = not (getattr(c, "is_encoder_decoder", False) or c.model_type in ENCODERS)
        self.config = HFConfigView(
            n_embd=c.hidden_size, block_size=int(getattr(c, "max_position_embeddings", 512) or 512), causal=causal,
            mask_token_id=None if causal else tokenizer.mask_token_id, vocab_size=c.vocab_size)

    @classmethod
    def from_pretrained(cls, path, device="cpu") -> "HFBackbone":
        try:
            import transformers
        except ImportError as exc:
            raise ImportError("Hugging Face folders need the optional extra: pip install 'roots[hf]'") from exc
        config = transformers.AutoConfig.from_pretrained(str(path), local_files_only=True)
        auto = transformers.AutoModelForMaskedLM if config.model_type in ENCODERS else transformers.AutoModelForCausalLM
        model = auto.from_pretrained(str(path), local_files_only=True).to(device).eval()
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        return cls(model, tokenizer)

    def _attention(self, idx, key_padding_mask):
        return key_padding_mask.long() if key_padding_mask is not None else torch.ones_like(idx)

    def hidden_states(self, idx, key_padding_mask=None):
        out = self.model(input_ids=idx, attention_mask=self._attention(idx, key_padding_mask), output_hidden_states=True)
        return out.hidden_states[-1]

    def forward(self, idx, key_padding_mask=None):
        return self.model(input_ids=idx, attention_mask=self._attention(idx, key_padding_mask)).logits

    def save(self, directory):
        self.model.save_pretrained(str(directory))
        self.hf_tokenizer.save_pretrained(str(directory))


# model types loaded as masked-LM encoders (bidirectional); everything else as a decoder
ENCODERS = {"bert", "roberta", "xlm-roberta", "distilbert", "albert", "electra", "deberta", "deberta-v2",
            "megatron-bert", "ernie", "nezha", "modernbert"}
