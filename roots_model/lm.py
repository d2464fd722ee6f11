"""One short API over every model ROOTS can load:

    lm = LanguageModel.from_pretrained("ckpt/")     # ROOTS checkpoint (AR or MLM), or a local
                                                    # Hugging Face folder (BERT, GPT-2, Llama)
    lm.perplexity(["北京是中国的首都。"])             # decoders: exact; MLM: pseudo-perplexity
    lm.generate(["北京是"], max_new_tokens=16)      # decoders only
    clf = lm.finetune(texts, labels, epochs=3)     # -> TextClassifier (the fine-tuned type)
    clf.predict("这家酒店很好"); clf.predict_proba([...])
    lm.save_pretrained("copy/"); clf.save_pretrained("clf/")
    LanguageModel.from_pretrained("clf/")           # a saved classifier loads as TextClassifier

Perplexity of a decoder is scored over rolling windows (`rolling_windows`, the scheme of
lm-evaluation-harness's wikitext task): each token is predicted once, from as much
preceding text as fits the model. An MLM scores each token with it alone masked and the
rest of its window visible (pseudo-log-likelihood, Salazar et al. 2020); the two are not
comparable numbers, and `perplexity` says which it computed.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch

from roots_model import checkpoint
from roots_model.classifier import META_FILE, TextClassifier, checkpoint_source
from roots_model.tokenizer import encode, eos_id


def rolling_windows(tokens: list[int], prefix: int, max_len: int, context_len: int = 1):
    """(inputs, targets) pairs that score every token of `tokens` exactly once: the last
    len(targets) positions of `inputs` predict `targets`. The first window starts with
    `prefix` (the document-start token); each later one predicts up to
    max_len - context_len + 1 new tokens and fills the rest of its max_len inputs with the
    text before them (lm-evaluation-harness's `get_rolling_token_windows`)."""
    stream = [prefix] + list(tokens)  # stream[k] is the input that predicts tokens[k]
    pred_len = max_len - context_len + 1
    windows, done = [], 0
    while done < len(tokens):
        n = min(len(tokens) - done, max_len if done == 0 else pred_len)
        end = done + n
        windows.append((stream[max(end - max_len, 0):end], list(tokens[done:end])))
        done = end
    return windows


def rolling_loglikelihood(logits_fn, tokens: list[int], prefix: int, max_len: int) -> float:
    """Sum of log p(token | preceding text) over `tokens`, window by window."""
    total = 0.0
    for inputs, targets in rolling_windows(tokens, prefix, max_len):
        logits = logits_fn(torch.tensor([inputs]))[0, -len(targets):].float()
        total += logits.log_softmax(-1).gather(-1, torch.tensor(targets, device=logits.device)[:, None]).sum().item()
    return total


class LanguageModel:
    """A pretrained backbone (roots_model `GPT` or `HFBackbone`) with its tokenizer."""

    def __init__(self, backbone, tokenizer, path: Path | None = None, kind: str = "roots"):
        self.backbone, self.tokenizer, self.path, self.kind = backbone, tokenizer, path, kind

    @classmethod
    def from_pretrained(cls, path, device="cpu"):
        path = Path(path)
        if (path / META_FILE).is_file():
            return TextClassifier.load(path, device=device)
        from roots_model.hf_backbone import HFBackbone, HFTokenizer, is_hf_folder

        if is_hf_folder(path) and not (path / checkpoint.MANIFEST).exists():
            backbone = HFBackbone.from_pretrained(path, device)
            return cls(backbone, HFTokenizer(backbone.hf_tokenizer), path, "hf")
        loaded = checkpoint.load(path, device=device)
        return cls(loaded.model, loaded.tokenizer, loaded.path, "roots")

    @property
    def config(self):
        return self.backbone.config

    @property
    def is_decoder(self) -> bool:
        return bool(self.backbone.config.causal)

    @property
    def device(self):
        return next(self.backbone.parameters()).device

    def _logits(self, idx):
        return self.backbone(idx.to(self.device))

    @torch.no_grad()
    def loglikelihood(self, text: str) -> tuple[float, int]:
        """(sum of token log-probs, number of tokens) of `text` from a document start:
        exact for a decoder (rolling windows), pseudo-log-likelihood for an MLM."""
        self.backbone.eval()
        tokens = encode(self.tokenizer, text)
        start = eos_id(self.tokenizer)
        if self.is_decoder:
            return rolling_loglikelihood(self._logits, tokens, start, self.config.block_size), len(tokens)
        return self._pseudo_loglikelihood(tokens, start), len(tokens)

    def _pseudo_loglikelihood(self, tokens, start, batch: int = 32) -> float:
        mask_id = self.config.mask_token_id
        if mask_id is None:
            raise ValueError("this encoder has no mask token: pseudo-log-likelihood needs one")
        width = self.config.block_size - 1
        total = 0.0
        for lo in range(0, len(tokens), width):
            ids = torch.tensor([start] + tokens[lo:lo + width])
            positions = list(range(1, len(ids)))
            for b in range(0, len(positions), batch):
                chunk = positions[b:b + batch]
                rows = ids.repeat(len(chunk), 1)
                rows[torch.arange(len(chunk)), chunk] = mask_id
                logits = self._logits(rows).float().log_softmax(-1)
                total += logits[torch.arange(len(chunk)), chunk, ids[chunk]].sum().item()
        return total

    def perplexity(self, texts) -> dict:
        """exp(mean negative log-likelihood per token) over all texts, with its parts."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        scores = [self.loglikelihood(t) for t in texts]
        ll, n = sum(s for s, _ in scores), sum(c for _, c in scores)
        return {"perplexity": math.exp(-ll / max(n, 1)), "loglikelihood": ll, "tokens": n,
                "kind": "perplexity" if self.is_decoder else "pseudo-perplexity"}

    def generate(self, prompts, max_new_tokens: int = 32, **kwargs):
        if not self.is_decoder:
            raise ValueError("generate needs a decoder (an AR model); this is a bidirectional (MLM) encoder")
        single = isinstance(prompts, str)
        prompts = [prompts] if single else list(prompts)
        if self.kind == "hf":
            out = self._generate_hf(prompts, max_new_tokens)
        else:
            from roots_model.generate import generate

            out = generate(self.backbone, self.tokenizer, prompts, max_new_tokens, **kwargs)
        return out[0] if single else out

    @torch.no_grad()
    def _generate_hf(self, prompts, max_new_tokens):
        model, out = self.backbone.model, []
        for prompt in prompts:  # one at a time: no padding side to get wrong
            ids = torch.tensor([[self.tokenizer.start_id()] + encode(self.tokenizer, prompt)], device=self.device)
            gen = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                                 do_sample=False, pad_token_id=self.tokenizer.start_id())
            out.append(self.tokenizer.decode(gen[0, ids.shape[1]:].tolist()))
        return out

    def finetune(self, texts, labels, labels_order: list | None = None, max_length: int = 128,
                 pooling: str | None = None, **kwargs) -> TextClassifier:
        """A TextClassifier on this backbone (trained in place; the backbone is shared).
        `pooling`: "last" (decoder default) or "mean" (encoder default)."""
        clf = TextClassifier(self.backbone, self.tokenizer, labels_order, max_length, pooling)
        if self.kind == "roots" and self.path is not None:
            clf.base = checkpoint_source(self.path)
        clf.finetune(texts, labels, **kwargs)
        return clf

    def predict(self, *args, **kwargs):
        raise ValueError("a pretrained language model has no classes: `clf = lm.finetune(texts, labels)`, "
                         "then `clf.predict(...)`")

    def save_pretrained(self, directory) -> Path:
        directory = Path(directory)
        if self.kind == "hf":
            directory.mkdir(parents=True, exist_ok=True)
            self.backbone.save(directory)
            return directory
        return checkpoint.save(directory, self.backbone, self.tokenizer, self.backbone.config) or directory
