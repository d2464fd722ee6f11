"""Shared log-likelihood scoring for causal LMs that expose `logits = forward(ids)`."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from tqdm import tqdm

from roots_eval.models.base import LanguageModel, LoglikelihoodRequest


class TorchCausalLM(LanguageModel):
    """Subclasses provide encode/decode, `forward_logits` and `max_length`."""

    device: str = "cpu"
    batch_size: int | str = 8
    max_length: int = 1024
    show_progress: bool = True
    prepend_bos: bool = False  # whether every context starts with bos_id() (as the model saw in training)

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError

    def forward_logits(self, ids: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # -- batch size ------------------------------------------------------------------------
    def resolve_batch_size(self, probe) -> int:
        """An int batch size; "auto" halves from 256 until `probe(bs)` fits in GPU memory."""
        if self.batch_size != "auto":
            return int(self.batch_size)
        if not str(self.device).startswith("cuda"):
            self.batch_size = 8  # a CPU never runs out the way a GPU does; bigger is not faster
            return 8
        size = 256
        while size > 1:
            try:
                probe(size)
                break
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
                size //= 2
        self.batch_size = size
        return size

    def fill_in_batches(self, indices: list[int], run, results: list, bar) -> None:
        """results[i] = run(batch)[k] for each index i, batch by batch. `indices` come longest
        first, so the first batch is also the memory probe of batch_size="auto"."""
        batch_size = self.resolve_batch_size(lambda bs: run(indices[:1] * bs))
        for start in range(0, len(indices), batch_size):
            chunk = indices[start : start + batch_size]
            for i, value in zip(chunk, run(chunk)):
                results[i] = value
            bar.update(len(chunk))

    # -- log-likelihood --------------------------------------------------------------------
    def _tokenize_pair(self, request: LoglikelihoodRequest) -> tuple[list[int], int]:
        context = self.encode(request.context) if request.context else []
        continuation = self.encode(request.continuation)
        if not continuation:
            raise ValueError(f"empty continuation for loglikelihood request {request!r}")
        if self.prepend_bos or not context:
            context = [self.bos_id()] + context
        # left-truncate: the model sees at most max_length tokens, the continuation is kept whole
        tokens = (context + continuation)[-(self.max_length + 1):]
        return tokens, len(continuation)

    def bos_id(self) -> int:
        raise NotImplementedError

    @torch.no_grad()
    def loglikelihood(self, requests):
        pairs = [self._tokenize_pair(r) for r in requests]
        # longest first: padding waste stays small and the first batch is the memory probe
        order = sorted(range(len(pairs)), key=lambda i: -len(pairs[i][0]))

        def run(indices):
            inputs = [pairs[i][0][:-1] for i in indices]
            width = max(len(x) for x in inputs)
            # right padding: a causal model's logits at real positions never see the pad
            ids = torch.zeros(len(inputs), width, dtype=torch.long)
            for row, x in enumerate(inputs):
                ids[row, : len(x)] = torch.tensor(x)
            logits = self.forward_logits(ids.to(self.device)).float()
            logprobs = F.log_softmax(logits, dim=-1).cpu()
            out = []
            for row, i in enumerate(indices):
                tokens, n_cont = pairs[i]
                n_in = len(tokens) - 1
                target = torch.tensor(tokens[-n_cont:])
                scores = logprobs[row, n_in - n_cont : n_in]
                out.append(
                    (float(scores.gather(1, target[:, None]).sum()), bool((scores.argmax(-1) == target).all()))
                )
            return out

        if not order:
            return []
        results: list = [None] * len(requests)
        bar = tqdm(total=len(order), desc="loglikelihood", unit="req", disable=not self.show_progress, leave=False)
        self.fill_in_batches(order, run, results, bar)
        bar.close()
        return results
