"""Fine-tune a pretrained checkpoint into a text classifier.

    clf = TextClassifier.from_pretrained("ckpt/")
    clf.finetune(texts, labels, epochs=3)
    clf.predict("这家酒店很好")          # -> a label, as given to finetune
    clf.save("clf/"); TextClassifier.load("clf/")

The text is encoded behind "<|endoftext|>" (as in pretraining), run through the whole
Transformer, and its final hidden states are pooled into one vector for a linear head:

- a decoder (AR, causal) uses the hidden state of the text's last token, the only
  position that has read the whole text (GPT-style sequence classification);
- a bidirectional (MLM) encoder, whose every position has read the whole text, averages
  the hidden states of the text's tokens.

`pooling="mean"` or `"last"` overrides the choice (a barely trained decoder's last token
sums up a text poorly: the demo's 300-step checkpoint classifies better with the mean).
Batches are right-padded: with causal attention no real token can see the padding after
it, so no attention mask is needed (a bidirectional backbone is given the padding mask,
and the padding is left out of its average). Backbone and head are trained together. The
backbone may be a roots_model `GPT` (AR or MLM) or a local Hugging Face model
(`roots_model.hf_backbone`); `roots_model.lm.LanguageModel.finetune` builds one for any of them.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from roots_model import checkpoint
from roots_model.tokenizer import encode, eos_id

HEAD_FILE = "classifier.safetensors"
POOLINGS = ("last", "mean")
META_FILE = "classifier.json"
BACKBONE_DIR = "backbone"


def default_pooling(backbone) -> str:
    return "last" if getattr(backbone.config, "causal", True) else "mean"


def checkpoint_source(path) -> dict:
    """{path, checkpoint_hash} of a roots_model checkpoint folder."""
    return {"path": str(Path(path).resolve()), "checkpoint_hash": checkpoint.digest(path)}


class TextClassifier(nn.Module):
    def __init__(self, backbone, tokenizer, labels: list | None = None, max_length: int = 128,
                 pooling: str | None = None):
        super().__init__()
        self.backbone, self.tokenizer = backbone, tokenizer
        self.max_length = min(max_length, backbone.config.block_size)
        # default: last token for a decoder, mean for an encoder (see the module docstring)
        self.pooling = pooling or default_pooling(backbone)
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        self.labels: list | None = None
        self.head: nn.Linear | None = None
        # The pretrained checkpoint this was fine-tuned from ({path, checkpoint_hash}), saved with
        # it: the link `roots-eval lineage` follows from a classifier back to its corpus.
        self.base: dict | None = None
        if labels is not None:
            self._make_head(list(labels))

    @classmethod
    def from_pretrained(cls, ckpt_path, num_labels: int | None = None, labels: list | None = None,
                        max_length: int = 128, device="cpu", pooling: str | None = None) -> "TextClassifier":
        """`labels` names the classes (any JSON values); `num_labels=n` means 0..n-1;
        with neither, the classes are the distinct labels first given to finetune."""
        if labels is None and num_labels is not None:
            labels = list(range(num_labels))
        loaded = checkpoint.load(ckpt_path, device=device)
        model = cls(loaded.model, loaded.tokenizer, labels, max_length, pooling)
        model.base = checkpoint_source(loaded.path)
        return model

    def _make_head(self, labels: list):
        if len(labels) < 2:
            raise ValueError(f"a classifier needs at least 2 labels, got {labels}")
        self.labels = labels
        device = self.device
        self.head = nn.Linear(self.backbone.config.n_embd, len(labels)).to(device)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    @property
    def device(self):
        return next(self.backbone.parameters()).device

    def _batch(self, texts: list[str]):
        eos = eos_id(self.tokenizer)
        rows = [([eos] + encode(self.tokenizer, t))[: self.max_length] for t in texts]
        lengths = torch.tensor([len(r) for r in rows], device=self.device)
        idx = torch.full((len(rows), int(lengths.max())), eos, dtype=torch.long, device=self.device)
        for i, r in enumerate(rows):
            idx[i, : len(r)] = torch.tensor(r, device=self.device)
        return idx, lengths

    def forward(self, idx, lengths):
        return self.head(self.pooled(idx, lengths))

    def pooled(self, idx, lengths):
        """The one vector per text the head reads (`pooling`)."""
        real = torch.arange(idx.shape[1], device=idx.device)[None, :] < lengths[:, None]
        # a bidirectional (MLM) backbone would attend to the padding: mask it out
        causal = getattr(self.backbone.config, "causal", True)
        hidden = self.backbone.hidden_states(idx) if causal else self.backbone.hidden_states(idx, key_padding_mask=real)
        if self.pooling == "last":
            return hidden[torch.arange(idx.shape[0], device=idx.device), lengths - 1]
        return (hidden * real.unsqueeze(-1)).sum(dim=1) / lengths[:, None]

    def finetune(self, texts: list[str], labels: list, epochs: int = 3, lr: float | None = None, head_lr: float | None = None,
                 batch_size: int = 16, weight_decay: float = 0.01, seed: int = 0, progress: bool = True) -> list[float]:
        """Train on (text, label) pairs; returns the mean loss of each epoch. The new head
        starts at zero and learns faster (head_lr, default 10 x lr) than the pretrained
        backbone (lr, default 2e-3 x 128 / n_embd: 2e-3 for `tiny`, 3.3e-4 for `124m`;
        wider models want smaller steps)."""
        lr = lr if lr is not None else 2e-3 * 128 / self.backbone.config.n_embd
        head_lr = head_lr if head_lr is not None else 10 * lr
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        if not texts:
            raise ValueError("no training examples")
        if self.head is None:
            self._make_head(sorted(set(labels), key=str))
        index = {label: i for i, label in enumerate(self.labels)}
        unknown = {label for label in labels if label not in index}
        if unknown:
            raise ValueError(f"labels {sorted(unknown, key=str)} are not among the classifier's {self.labels}")
        targets = [index[label] for label in labels]
        torch.manual_seed(seed)
        order = list(range(len(texts)))
        shuffle = random.Random(seed)
        optimizer = torch.optim.AdamW([{"params": self.backbone.parameters(), "lr": lr},
                                       {"params": self.head.parameters(), "lr": head_lr}], weight_decay=weight_decay)
        steps = epochs * ((len(texts) + batch_size - 1) // batch_size)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 - s / steps)
        self.train()
        history = []
        with tqdm(total=steps, desc="finetune", unit="step", disable=not progress) as bar:
            for _ in range(epochs):
                shuffle.shuffle(order)
                total = 0.0
                for start in range(0, len(order), batch_size):
                    chosen = order[start:start + batch_size]
                    idx, lengths = self._batch([texts[i] for i in chosen])
                    y = torch.tensor([targets[i] for i in chosen], device=self.device)
                    loss = F.cross_entropy(self(idx, lengths), y)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(self.parameters(), 1.0)
                    optimizer.step()
                    schedule.step()
                    total += loss.item() * len(chosen)
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss.item():.3f}")
                history.append(total / len(texts))
        self.eval()
        return history

    @torch.no_grad()
    def predict_proba(self, texts_or_text, batch_size: int = 32):
        """Class probabilities, in the order of `.labels` (a list per text, or one list)."""
        if self.head is None:
            raise ValueError("the classifier has no labels yet: finetune it first")
        single = isinstance(texts_or_text, str)
        texts = [texts_or_text] if single else list(texts_or_text)
        self.eval()
        probs = []
        for start in range(0, len(texts), batch_size):
            idx, lengths = self._batch(texts[start:start + batch_size])
            probs.extend(self(idx, lengths).float().softmax(dim=-1).tolist())
        return probs[0] if single else probs

    def predict(self, texts_or_text, batch_size: int = 32):
        """The most probable label (per text, or of one text)."""
        probs = self.predict_proba(texts_or_text, batch_size)
        if isinstance(texts_or_text, str):
            return self.labels[max(range(len(probs)), key=probs.__getitem__)]
        return [self.labels[max(range(len(p)), key=p.__getitem__)] for p in probs]

    def save(self, directory) -> Path:
        if self.head is None:
            raise ValueError("nothing to save: the classifier has no head yet (finetune it first)")
        directory = Path(directory)
        with checkpoint.atomic_directory(directory) as tmp:
            if hasattr(self.backbone, "save"):  # a Hugging Face backbone (roots_model.hf_backbone)
                self.backbone.save(tmp / BACKBONE_DIR)
            else:
                checkpoint.save(tmp / BACKBONE_DIR, self.backbone, self.tokenizer, self.backbone.config)
            save_file({k: v.detach().cpu().contiguous() for k, v in self.head.state_dict().items()}, tmp / HEAD_FILE)
            meta = {"labels": self.labels, "max_length": self.max_length, "pooling": self.pooling, "base": self.base}
            (tmp / META_FILE).write_text(json.dumps(meta, ensure_ascii=False))
        return directory

    save_pretrained = save  # the name Hugging Face users reach for

    @classmethod
    def load(cls, directory, device="cpu") -> "TextClassifier":
        directory = Path(directory)
        try:
            meta = json.loads((directory / META_FILE).read_text())
            head = load_file(directory / HEAD_FILE)
        except Exception as e:
            raise checkpoint.CheckpointError(f"{directory} is not a saved TextClassifier: {e}") from None
        if (directory / BACKBONE_DIR / checkpoint.MANIFEST).exists():
            loaded = checkpoint.load(directory / BACKBONE_DIR, device=device)
            backbone, tokenizer = loaded.model, loaded.tokenizer
        else:
            from roots_model.hf_backbone import HFBackbone, HFTokenizer

            backbone = HFBackbone.from_pretrained(directory / BACKBONE_DIR, device)
            tokenizer = HFTokenizer(backbone.hf_tokenizer)
        # classifiers saved before `pooling` was recorded averaged the hidden states
        model = cls(backbone, tokenizer, meta["labels"], meta["max_length"], meta.get("pooling", "mean"))
        model.head.load_state_dict(head)
        model.base = meta.get("base")
        return model.eval()
