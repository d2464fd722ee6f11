"""The one interface every model is scored through (lm-evaluation-harness style)."""
from __future__ import annotations

import hashlib
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


class LanguageModel:
    """Subclasses implement loglikelihood and generate; a classifier implements classify."""

    model_id: str = "model"
    kind: str = "lm"

    def fingerprint(self) -> str:
        """Identifies the weights (and anything else that changes outputs) for the output cache."""
        return self.model_id

    def metadata(self) -> dict:
        return {"id": self.model_id, "type": self.kind, "checkpoint_hash": self.fingerprint()}

    def loglikelihood(self, requests: list[LoglikelihoodRequest]) -> list[tuple[float, bool]]:
        """(sum of log-probs of the continuation tokens given the context, whether greedy decoding produces them)."""
        raise NotImplementedError

    def generate(self, requests: list[GenerationRequest]) -> list[str]:
        """Greedy continuations, cut before the first stop string."""
        raise NotImplementedError

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
