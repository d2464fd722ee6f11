"""Hugging Face transformers causal LMs from a local folder (optional extra `roots[hf]`).

Scored the way `RootsLM` scores a roots_model checkpoint, so that an exported checkpoint
(`roots_model.export.export_llama`) gets the same numbers through either backend:

- every context starts with the model's BOS token when it has one (an exported roots model's
  BOS is `<|endoftext|>`, the token every training document follows; Llama-style models
  expect their `<s>`); models without a BOS get one only before an empty context (their EOS);
- special-token strings typed in a dataset are text, never control tokens;
- greedy generation stops per row at EOS or at the first stop string, and never picks a
  padded embedding row the tokenizer has no token for.
"""
from __future__ import annotations

from pathlib import Path

import torch

from roots_eval.models.base import GenerationRequest, ModelLoadError, cut_at_stop, hash_path
from roots_eval.models.torch_lm import TorchCausalLM, choose_dtype


class HFFolderModel:
    """What every model read from a local Hugging Face folder shares (mixed in before
    TorchCausalLM): the folder's hash is its fingerprint, and cached scores are also keyed by
    the transformers version."""

    def fingerprint(self) -> str:
        return self._fingerprint

    def cache_identity(self) -> dict:
        import transformers

        return {**super().cache_identity(), "transformers": transformers.__version__}


def hf_folder_metadata(model) -> dict:
    """The results-file description of a model loaded from a local HF folder."""
    return {"id": model.model_id, "type": model.kind, "path": str(model.path), "checkpoint_hash": model.fingerprint(),
            "parameters": sum(p.numel() for p in model.model.parameters()), "block_size": model.max_length,
            **model.precision_metadata()}


class HFCausalLM(HFFolderModel, TorchCausalLM):
    kind = "hf"

    def __init__(self, path: str | Path, device: str = "cpu", batch_size: int | str = 8, show_progress: bool = True,
                 prepend_bos: bool | None = None, dtype: str = "auto"):
        try:
            import transformers
        except ImportError as exc:
            raise ModelLoadError("Hugging Face models need the optional extra: pip install 'roots[hf]'") from exc
        self.path = Path(path)
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            config = transformers.AutoConfig.from_pretrained(str(path), local_files_only=True)
            # config.json's dtype is the precision the weights were saved (trained) in
            trained = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
            self.model = transformers.AutoModelForCausalLM.from_pretrained(
                str(path), local_files_only=True, dtype=choose_dtype(dtype, device, trained)
            ).to(device).eval()
        except (OSError, ValueError, KeyError) as exc:
            raise ModelLoadError(f"cannot load Hugging Face model from {path}: {exc}") from exc
        self.prepend_bos = self.tokenizer.bos_token_id is not None if prepend_bos is None else bool(prepend_bos)
        self.device, self.batch_size, self.show_progress = device, batch_size, show_progress
        self.max_length = int(getattr(self.model.config, "max_position_embeddings", 2048) or 2048)
        self.model_id = self.path.resolve().name
        self._fingerprint = hash_path(self.path)

    def metadata(self) -> dict:
        return {**hf_folder_metadata(self), "prepend_bos": self.prepend_bos}

    def encode(self, text: str) -> list[int]:
        # split_special_tokens: "<|endoftext|>" typed inside a document is text, not a control token
        return self.tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]

    def decode(self, ids) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def bos_id(self) -> int:
        token = self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None else self.tokenizer.eos_token_id
        if token is None:
            raise ModelLoadError(f"{self.path}: the tokenizer has neither a BOS nor an EOS token to start a context with")
        return int(token)

    def forward_logits(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=ids).logits

    def _prompt_ids(self, context: str) -> list[int]:
        ids = self.encode(context)
        return [self.bos_id()] + ids if self.prepend_bos or not ids else ids

    @torch.no_grad()
    def generate(self, requests: list[GenerationRequest]) -> list[str]:
        from tqdm import tqdm

        out: list = [None] * len(requests)
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault((tuple(r.until), r.max_new_tokens), []).append(i)
        bar = tqdm(total=len(requests), desc="generate", unit="req", disable=not self.show_progress, leave=False)
        for (until, max_new), indices in groups.items():
            budget = min(max_new, self.max_length - 1)
            full = {i: self._prompt_ids(requests[i].context) for i in indices}
            indices.sort(key=lambda i: -len(full[i]))  # longest first: little padding per batch
            # an over-long prompt keeps its end: that is what the continuation depends on
            prompts = {i: full[i][-(self.max_length - budget):] for i in indices}

            def run(chunk):
                return self._generate_batch([prompts[i] for i in chunk], until, budget)

            self.fill_in_batches(indices, run, out, bar)
        bar.close()
        return out

    def _generate_batch(self, prompts: list[list[int]], until: tuple[str, ...], budget: int) -> list[str]:
        import transformers

        if budget < 1:
            return [""] * len(prompts)
        tok = self.tokenizer
        eos = tok.eos_token_id
        pad = tok.pad_token_id if tok.pad_token_id is not None else (eos if eos is not None else 0)
        vocab = int(self.model.get_output_embeddings().weight.shape[0])
        # ids the tokenizer cannot decode (embedding rows padded to a round size) are never chosen
        suppress = list(range(len(tok), vocab)) or None
        width = max(len(p) for p in prompts)
        # left padding, masked: positions count from each row's own first token
        ids = torch.full((len(prompts), width), pad, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, p in enumerate(prompts):
            ids[row, width - len(p):] = torch.tensor(p)
            mask[row, width - len(p):] = 1
        criteria = transformers.StoppingCriteriaList([_StopStrings(self, [s for s in until if s], len(prompts), width)])
        generated = self.model.generate(
            input_ids=ids.to(self.device), attention_mask=mask.to(self.device), max_new_tokens=budget,
            do_sample=False, num_beams=1, temperature=None, top_p=None, top_k=None,
            pad_token_id=pad, eos_token_id=eos, suppress_tokens=suppress, stopping_criteria=criteria)
        texts = []
        for row in range(len(prompts)):
            new = generated[row, width:].tolist()
            if eos is not None and eos in new:
                new = new[: new.index(eos)]
            texts.append(cut_at_stop(self.decode(new), until))
        return texts


class _StopStrings:
    """A row is done once its decoded continuation holds one of its stop strings."""

    def __init__(self, lm: HFCausalLM, stops: list[str], rows: int, prompt_width: int):
        self.lm, self.stops, self.width = lm, stops, prompt_width
        self.done = [False] * rows

    def __call__(self, input_ids: torch.Tensor, scores, **kwargs) -> torch.Tensor:
        for row in range(len(self.done)):
            if not self.done[row] and self.stops:
                text = self.lm.decode(input_ids[row, self.width:].tolist())
                self.done[row] = any(s in text for s in self.stops)
        return torch.tensor(self.done, dtype=torch.bool, device=input_ids.device)
