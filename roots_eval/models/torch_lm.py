"""Shared log-likelihood scoring for causal LMs that expose `logits = forward(ids)`."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from tqdm import tqdm

from roots_eval.models.base import EvalModel, LoglikelihoodRequest

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
_TRAINED_NAMES = {"bf16": "bfloat16", "bfloat16": "bfloat16", "fp16": "float16", "float16": "float16"}
AUTO_BATCH_START = 256  # where --batch-size auto starts halving on a GPU


def choose_dtype(requested: str, device: str, trained: str | None) -> torch.dtype:
    """The dtype to score in. "auto": on a GPU, the half precision the model was trained in
    (the checkpoint says so); float32 on CPU, where bf16 matmuls are slow and fp32 is exact."""
    if requested != "auto":
        if requested not in DTYPES:
            raise ValueError(f"dtype must be auto or one of {', '.join(DTYPES)}, got {requested!r}")
        return DTYPES[requested]
    half = _TRAINED_NAMES.get(str(trained or "").replace("torch.", ""))
    if half and str(device).startswith("cuda"):
        return DTYPES[half]
    return torch.float32


def device_kind(device) -> str:
    """What the output cache keys on: the kind of device, not its index (cuda:0 and cuda:1 of one
    machine give the same numbers; an H100 and a CPU need not)."""
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return device.type


def largest_fitting_batch(probe, start: int) -> int:
    """The largest of start, start/2, ... 1 for which `probe(size)` runs without a CUDA OOM."""
    size = start
    while size > 1:
        try:
            probe(size)
            return size
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            size //= 2
    return 1


class TorchCausalLM(EvalModel):
    """Subclasses provide encode/decode, `forward_logits` and `max_length`."""

    device: str = "cpu"
    batch_size: int | str = 8
    max_length: int = 1024
    show_progress: bool = True
    prepend_bos: bool = False  # whether every context starts with bos_id() (as the model saw in training)
    _auto_batch: bool = False  # batch_size was "auto": an OOM later on halves it again

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError

    def forward_logits(self, ids: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def precision_metadata(self) -> dict:
        """The real dtype and device the numbers were computed with (results.json records them)."""
        return {"dtype": str(self.dtype).replace("torch.", ""), "device": str(self.device),
                "device_kind": device_kind(self.device)}

    def cache_identity(self) -> dict:
        return {**super().cache_identity(), "prepend_bos": bool(self.prepend_bos), "max_length": int(self.max_length),
                "dtype": str(self.dtype), "device": device_kind(self.device), "torch": torch.__version__}

    # -- batch size ------------------------------------------------------------------------
    def probes_memory(self) -> bool:
        """Whether "auto" searches for the largest batch that fits (GPUs); a CPU never runs out
        the way a GPU does and bigger is not faster there."""
        return str(self.device).startswith("cuda")

    def resolve_batch_size(self, probe) -> int:
        """An int batch size; "auto" halves from 256 until `probe(bs)` fits in GPU memory."""
        if self.batch_size != "auto":
            return int(self.batch_size)
        self._auto_batch = True
        self.batch_size = largest_fitting_batch(probe, AUTO_BATCH_START) if self.probes_memory() else 8
        return self.batch_size

    def fill_in_batches(self, indices: list[int], run, results: list, bar) -> None:
        """results[i] = run(batch)[k] for each index i, batch by batch. `indices` come longest
        first, so the first batch is also the memory probe of batch_size="auto"."""
        batch_size = self.resolve_batch_size(lambda bs: run(indices[:1] * bs))
        start = 0
        while start < len(indices):
            chunk = indices[start : start + batch_size]
            try:
                values = run(chunk)
            except torch.cuda.OutOfMemoryError:
                # the probe's longest request came from one cache chunk; a later chunk can be longer
                if not self._auto_batch or batch_size == 1:
                    raise
                torch.cuda.empty_cache()
                batch_size = self.batch_size = max(1, batch_size // 2)
                continue
            for i, value in zip(chunk, values):
                results[i] = value
            bar.update(len(chunk))
            start += len(chunk)

    # -- log-likelihood --------------------------------------------------------------------
    def _tokenize_pair(self, request: LoglikelihoodRequest) -> tuple[list[int], int]:
        """(tokens, number of continuation tokens at their end), as lm-evaluation-harness does:
        the pair is encoded as one string and the continuation is what follows the context's
        tokens. Encoded alone, a continuation gains pieces the model never sees in running text
        (SentencePiece's leading "▁", a merge across the boundary)."""
        context, continuation = request.context, request.continuation
        # trailing whitespace of the context belongs to the continuation's first token
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces:
            context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
        if not continuation:
            raise ValueError(f"empty continuation for loglikelihood request {request!r}")
        context_ids = self.encode(context) if context else []
        whole = self.encode(context + continuation)
        if whole[: len(context_ids)] == context_ids and len(whole) > len(context_ids):
            continuation_ids = whole[len(context_ids):]
        else:  # a token spans the boundary: the continuation alone is the best that can be scored
            continuation_ids = self.encode(continuation)
        if not continuation_ids:
            raise ValueError(f"continuation of loglikelihood request {request!r} encodes to no tokens")
        if self.prepend_bos or not context_ids:
            context_ids = [self.bos_id()] + context_ids
        # left-truncate: the model sees at most max_length tokens, the continuation is kept whole
        tokens = (context_ids + continuation_ids)[-(self.max_length + 1):]
        return tokens, len(continuation_ids)

    def bos_id(self) -> int:
        raise NotImplementedError

    @torch.no_grad()
    def masked_loglikelihood(self, request: LoglikelihoodRequest, mask_id: int) -> tuple[float, bool]:
        """A bidirectional (masked-LM) model, ROOTS or Hugging Face: the continuation is scored
        left to right, each token with itself and the continuation tokens after it masked and
        the context visible (a pseudo-log-likelihood that never shows a label its own later
        pieces). The whole row is the model's input, so it keeps its last max_length tokens."""
        tokens, n_cont = self._tokenize_pair(request)
        tokens = tokens[-self.max_length:]
        n_cont = min(n_cont, len(tokens))
        ids = torch.tensor(tokens, device=self.device)
        first = len(tokens) - n_cont
        rows = ids.repeat(n_cont, 1)
        for k in range(n_cont):
            rows[k, first + k:] = mask_id
        logp = self.forward_logits(rows).float().log_softmax(-1)
        picked = logp[torch.arange(n_cont), first + torch.arange(n_cont)]
        targets = ids[first:]
        total = picked.gather(1, targets[:, None]).sum().item()
        return float(total), bool((picked.argmax(-1) == targets).all())

    @torch.no_grad()
    def loglikelihood_rolling(self, texts: list[str]) -> list[tuple[float, int]]:
        """Rolling windows of max_length tokens (roots_model.lm.rolling_windows): every token
        scored once, from as much preceding text as fits; one window per forward."""
        from roots_model.lm import rolling_loglikelihood

        def logits(ids):
            return self.forward_logits(ids.to(self.device))

        out = []
        for text in tqdm(texts, desc="loglikelihood_rolling", unit="text", disable=not self.show_progress, leave=False):
            tokens = self.encode(text)
            out.append((rolling_loglikelihood(logits, tokens, self.bos_id(), self.max_length), len(tokens)))
        return out

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
            logits = self.forward_logits(ids.to(self.device))
            sums, greedy = [], []
            for row, i in enumerate(indices):
                tokens, n_cont = pairs[i]
                n_in = len(tokens) - 1
                target = torch.tensor(tokens[-n_cont:], device=logits.device)
                # only the continuation's positions, in float32, on the device: a [batch, len, vocab]
                # float32 copy on the host would cost more than the forward pass
                scores = F.log_softmax(logits[row, n_in - n_cont : n_in].float(), dim=-1)
                sums.append(scores.gather(1, target[:, None]).sum())
                greedy.append((scores.argmax(-1) == target).all())
            sums, greedy = torch.stack(sums).double().cpu().tolist(), torch.stack(greedy).cpu().tolist()
            return [(float(s), bool(g)) for s, g in zip(sums, greedy)]

        if not order:
            return []
        results: list = [None] * len(requests)
        bar = tqdm(total=len(order), desc="loglikelihood", unit="req", disable=not self.show_progress, leave=False)
        self.fill_in_batches(order, run, results, bar)
        bar.close()
        return results
