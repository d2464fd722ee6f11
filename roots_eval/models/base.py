"""The one interface every model is scored through (lm-evaluation-harness style)."""
from __future__ import annotations

import functools
import hashlib
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path


class ModelLoadError(ValueError):
    """A model or checkpoint could not be loaded; the message names the path."""


@dataclass(frozen=True)
class LoglikelihoodRequest:
    context: str
    continuation: str


@dataclass(frozen=True)
class GenerationRequest:
    context: str
    until: tuple[str, ...] = ("\n",)
    max_new_tokens: int = 64


class EvalModel:
    """What the harness scores (lm-evaluation-harness's `LM`): subclasses implement
    loglikelihood and generate; a classifier implements classify. Not roots_model's
    `LanguageModel` (the user API), which `HFMaskedLM` wraps behind this one."""

    model_id: str = "model"
    kind: str = "lm"

    def fingerprint(self) -> str:
        """Identifies the weights (and anything else that changes outputs) for the output cache."""
        return self.model_id

    def metadata(self) -> dict:
        return {"id": self.model_id, "type": self.kind, "checkpoint_hash": self.fingerprint()}

    # Modules besides the class's own (and its bases') whose code decides the outputs.
    code_modules: tuple[str, ...] = ()

    def cache_identity(self) -> dict:
        """Everything besides the request that decides an output: the output cache keys on it, so
        new weights, a scoring fix, another dtype or device never reuse an old output."""
        return {"weights": self.fingerprint(), "backend": self.kind,
                "code": scoring_code_version(type(self), self.code_modules)}

    def loglikelihood(self, requests: list[LoglikelihoodRequest]) -> list[tuple[float, bool]]:
        """(sum of log-probs of the continuation tokens given the context, whether greedy decoding produces them)."""
        raise NotImplementedError

    def generate(self, requests: list[GenerationRequest]) -> list[str]:
        """Greedy continuations, cut before the first stop string."""
        raise NotImplementedError

    def loglikelihood_rolling(self, texts: list[str]) -> list[tuple[float, int]]:
        """(sum of token log-probs, tokens) of each whole text from a document start
        (perplexity tasks); decoders only."""
        raise NotImplementedError(f"{type(self).__name__} cannot score whole texts (perplexity needs a decoder)")

    # Only classifiers with their own head implement this: class probabilities per text, in
    # the order of `class_labels()`.
    def classify(self, texts: list[str]) -> list[list[float]]:
        raise NotImplementedError

    def class_labels(self) -> list:
        raise NotImplementedError

    @property
    def is_classifier(self) -> bool:
        return False


def cut_at_stop(text: str, until) -> str:
    """The text before the earliest stop string (generation may overshoot by a few tokens)."""
    end = len(text)
    for stop in until:
        if stop:
            i = text.find(stop)
            if i != -1:
                end = min(end, i)
    return text[:end]


def hash_path(path: str | Path) -> str:
    """sha256 over a file, or over every file of a folder (relative names and contents)."""
    path = Path(path)
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        digest.update(str(f.relative_to(path) if f != path else f.name).encode())
        with open(f, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def scoring_code_version(cls: type, extra_modules: tuple[str, ...] = ()) -> str:
    """sha256 over the source of every roots module that defines `cls` or one of its bases,
    plus `extra_modules`: editing the scoring code changes it, a comment included (a needless
    cache miss is cheap; a stale output is not)."""
    names = {c.__module__ for c in cls.__mro__ if c.__module__.split(".")[0] not in ("builtins", "abc")}
    return _source_digest(tuple(sorted(names | set(extra_modules))))


@functools.lru_cache(maxsize=None)
def _source_digest(module_names: tuple[str, ...]) -> str:
    import importlib

    digest = hashlib.sha256()
    for name in module_names:
        module = sys.modules.get(name) or importlib.import_module(name)
        try:
            source = inspect.getsource(module)
        except (OSError, TypeError):  # no source on disk (frozen, interactive): its name stands in
            source = name
        digest.update(name.encode() + b"\0" + source.encode() + b"\0")
    return "sha256:" + digest.hexdigest()[:16]
