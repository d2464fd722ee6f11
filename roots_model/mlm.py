"""Masked-language-model pretraining (BERT-style) as an objective of the one training loop.

The model is the same `GPT` blocks with `causal=False` (every token sees the whole window);
a training window of the same token shards is corrupted and the loss is cross-entropy on
the corrupted positions only:

- dynamic masking: a fresh choice every time a window is seen (RoBERTa), drawn from torch's
  RNG, whose per-process state the checkpoints save, so a resumed run masks exactly as an
  uninterrupted one;
- 15% of the tokens are chosen; of those 80% become [MASK], 10% a random token, 10% stay;
- whole-word masking (default): the choice is made per word, jieba words for Chinese (the
  "wwm" of Chinese BERT: masking a single character of 中华人民共和国 is a spelling test,
  masking the word is a language test) and space-delimited words for English, so a word's
  BPE pieces are masked together. Words are taken in random order until 15% of the window's
  tokens are chosen.

[MASK] is the first id above the tokenizer's vocabulary (the byte-level BPE has only
`<|endoftext|>`); `mlm_model_overrides` records it in the
model config (`preset` sizes the embedding for it), so checkpoints, resume checks and
`LanguageModel` know it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from roots_model.objectives import Objective

IGNORE = -100
MASK_PROB = 0.15


def mlm_model_overrides(tokenizer_vocab: int) -> dict:
    """Model config fields of an MLM model: bidirectional, and one more id for [MASK]."""
    return {"causal": False, "mask_token_id": tokenizer_vocab}  # `preset` makes room for it


def _token_bytes(tokenizer) -> list[bytes]:
    """The bytes each id stands for. Byte-level BPE tokens are strings in GPT-2's
    byte-to-printable-character map; this inverts it."""
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    byte_of, shifted = {}, 0
    for b in range(256):
        if b in printable:
            byte_of[chr(b)] = b
        else:
            byte_of[chr(256 + shifted)] = b
            shifted += 1
    table = {}
    for token, i in tokenizer.get_vocab().items():
        try:
            table[i] = bytes(byte_of[c] for c in token)
        except KeyError:  # a special token such as <|endoftext|>
            table[i] = b""
    return [table.get(i, b"") for i in range(max(table) + 1)]


class WordGroups:
    """Which tokens of a window belong to the same word (jieba segmentation of the
    window's decoded text; a token spanning two words joins them)."""

    def __init__(self, tokenizer):
        import jieba

        jieba.setLogLevel(60)
        jieba.initialize()
        self.jieba = jieba
        self.token_bytes = _token_bytes(tokenizer)

    def __call__(self, ids: list[int]) -> list[int]:
        pieces = [self.token_bytes[i] if i < len(self.token_bytes) else b"" for i in ids]
        text = b"".join(pieces).decode("utf-8", errors="surrogateescape")
        # word index of every byte
        word_of_byte = []
        for w, word in enumerate(self.jieba.cut(text, HMM=False)):
            word_of_byte.extend([w if word.strip() else -1] * len(word.encode("utf-8", errors="surrogateescape")))
        groups, group, pos, last_word = [], -1, 0, None
        for piece in pieces:
            words = [w for w in word_of_byte[pos:pos + len(piece)] if w >= 0]
            pos += len(piece)
            if not words or words[0] != last_word:  # starts a new word (or is a special token)
                group += 1
            groups.append(group)
            last_word = words[-1] if words else None
        return groups


class MaskedLM(Objective):
    """Cross-entropy on masked tokens of a bidirectional model (see the module docstring)."""

    def __init__(self, tokenizer, mask_token_id: int, whole_word: bool = True, mask_prob: float = MASK_PROB,
                 eval_seed: int = 0):
        self.vocab = tokenizer.get_vocab_size()  # random replacements are real tokens
        self.mask_token_id, self.mask_prob, self.eval_seed = mask_token_id, mask_prob, eval_seed
        self.words = WordGroups(tokenizer) if whole_word else None
        from roots_model.tokenizer import eos_id

        self.special = eos_id(tokenizer)  # the document separator is never a target

    def corrupt(self, x: torch.Tensor, generator: torch.Generator | None = None):
        """(inputs, targets): targets hold the original id at chosen positions, IGNORE elsewhere.
        Drawn on the CPU from `generator` (default: torch's global CPU RNG)."""
        ids = x.detach().cpu()
        B, T = ids.shape
        chosen = torch.zeros(B, T, dtype=torch.bool)
        for b in range(B):
            chosen[b] = self._choose(ids[b], generator)
        chosen &= ids != self.special
        rolls = torch.rand(B, T, generator=generator)
        random_ids = torch.randint(0, self.vocab, (B, T), generator=generator)
        inputs = ids.clone()
        inputs[chosen & (rolls < 0.8)] = self.mask_token_id
        swap = chosen & (rolls >= 0.8) & (rolls < 0.9)
        inputs[swap] = random_ids[swap]
        targets = torch.where(chosen, ids, torch.full_like(ids, IGNORE))
        return inputs.to(x.device), targets.to(x.device)

    def _choose(self, row: torch.Tensor, generator) -> torch.Tensor:
        T = row.numel()
        budget = max(1, round(self.mask_prob * T))
        if self.words is None:
            order = torch.randperm(T, generator=generator)
            chosen = torch.zeros(T, dtype=torch.bool)
            chosen[order[:budget]] = True
            return chosen
        groups = torch.tensor(self.words(row.tolist()))
        n_groups = int(groups.max()) + 1
        sizes = torch.bincount(groups, minlength=n_groups)
        picked = torch.zeros(n_groups, dtype=torch.bool)
        total = 0
        for g in torch.randperm(n_groups, generator=generator).tolist():
            if total >= budget:
                break
            if total + sizes[g] > budget * 1.5 and total > 0:
                continue  # a long word would overshoot: try shorter ones
            picked[g] = True
            total += int(sizes[g])
        return picked[groups]

    def _loss(self, model, inputs, targets, reduction="mean"):
        logits = model(inputs)
        return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=IGNORE,
                               reduction=reduction)

    def loss(self, model, x, y):
        return self._loss(model, *self.corrupt(x))

    def _eval_batch(self, x, windows: list[int]):
        """Validation masks: each window's own, from a private generator seeded by the window's
        index, so they are the same at every evaluation, in any batch, on any process, and the
        training RNG is untouched."""
        rows = [self.corrupt(x[i:i + 1], torch.Generator().manual_seed(self.eval_seed * 2**32 + w))
                for i, w in enumerate(windows)]
        return torch.cat([r[0] for r in rows]), torch.cat([r[1] for r in rows])

    def eval_loss(self, model, x, y, windows: list[int] | None = None):
        inputs, targets = self._eval_batch(x, windows if windows is not None else list(range(len(x))))
        return self._loss(model, inputs, targets)

    def eval_sums(self, model, x, y, windows):
        # a sum over masked tokens and their count: windows hold different numbers of masked
        # tokens, and a mean per batch would weigh them by how batches happen to be cut
        inputs, targets = self._eval_batch(x, windows)
        return self._loss(model, inputs, targets, reduction="sum"), int((targets != IGNORE).sum())
