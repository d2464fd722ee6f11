"""A local Hugging Face masked-LM encoder folder (BERT-style: bert, roberta, ernie, ...) behind
the LanguageModel interface, loaded through `roots_model.lm.LanguageModel` (its HF backend,
`roots_model.hf_backbone`), so `roots-eval` and `LanguageModel.finetune` read the folder the
same way.

An encoder is no decoder: it scores classification (multiple-choice) tasks by
pseudo-log-likelihood (`TorchCausalLM.masked_loglikelihood`, as a ROOTS MLM checkpoint is
scored) and refuses generation and perplexity tasks. Every text starts with the model's own
first token ([CLS]). A classifier fine-tuned on it (`roots_model.classifier.TextClassifier`)
is scored through its head instead (`roots_eval.models.classifier`).
"""
from __future__ import annotations

from pathlib import Path

import torch

from roots_eval.models.base import ModelLoadError, hash_path
from roots_eval.models.hf import HFFolderModel, hf_folder_metadata
from roots_eval.models.torch_lm import TorchCausalLM, choose_dtype


class HFMaskedLM(HFFolderModel, TorchCausalLM):
    kind = "hf-encoder"
    prepend_bos = True  # [CLS] starts every text the encoder was trained on
    # the folder is read and run by roots_model's HF backend: a change there changes outputs
    code_modules = ("roots_model.lm", "roots_model.hf_backbone", "roots_model.tokenizer")

    def __init__(self, path: str | Path, device: str = "cpu", batch_size: int | str = 8, show_progress: bool = True,
                 dtype: str = "auto"):
        from roots_model.lm import LanguageModel

        try:
            self.lm = LanguageModel.from_pretrained(path, device=device)
        except ImportError as exc:
            raise ModelLoadError(str(exc)) from exc
        except (OSError, ValueError, KeyError) as exc:
            raise ModelLoadError(f"cannot load Hugging Face encoder from {path}: {exc}") from exc
        if self.lm.is_decoder or self.lm.config.mask_token_id is None:
            raise ModelLoadError(f"{path}: not a masked-LM encoder with a mask token")
        target = choose_dtype(dtype, device, None)
        if target != torch.float32:
            self.lm.backbone.to(target)
        self.model = self.lm.backbone
        self.path = Path(path)
        self.device, self.batch_size, self.show_progress = device, batch_size, show_progress
        self.max_length = int(self.lm.config.block_size)
        self.model_id = self.path.resolve().name
        self._fingerprint = hash_path(self.path)

    def metadata(self) -> dict:
        return hf_folder_metadata(self)

    def encode(self, text: str) -> list[int]:
        from roots_model.tokenizer import encode

        return encode(self.lm.tokenizer, text)

    def bos_id(self) -> int:
        return self.lm.tokenizer.start_id()

    def forward_logits(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model(ids.to(self.device))

    @torch.no_grad()
    def loglikelihood(self, requests):
        return [self.masked_loglikelihood(r, self.lm.config.mask_token_id) for r in requests]

    def loglikelihood_rolling(self, texts):
        raise NotImplementedError("perplexity needs a decoder; this is a bidirectional (masked-LM) encoder")

    def generate(self, requests):
        raise NotImplementedError("generation needs a decoder; this is a bidirectional (masked-LM) encoder")
