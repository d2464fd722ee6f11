"""A fine-tuned roots_model TextClassifier, scored through its own classification head."""
from __future__ import annotations

from pathlib import Path

from roots_eval.models.base import EvalModel, ModelLoadError, hash_path


class RootsClassifier(EvalModel):
    kind = "classifier"

    def __init__(self, path: str | Path, device: str = "cpu", batch_size: int | str = 32):
        from roots_model.classifier import TextClassifier

        try:
            self.classifier = TextClassifier.load(path, device=device)
        except Exception as exc:  # a broken folder can fail in json, safetensors or the checkpoint loader
            raise ModelLoadError(f"cannot load TextClassifier from {path}: {exc}") from exc
        self.path = Path(path)
        self.model_id = self.path.resolve().name
        self.batch_size = 32 if batch_size == "auto" else int(batch_size)
        self._fingerprint = hash_path(self.path)

    @property
    def is_classifier(self) -> bool:
        return True

    def fingerprint(self) -> str:
        return self._fingerprint

    def metadata(self) -> dict:
        return {"id": self.model_id, "type": self.kind, "path": str(self.path.resolve()),
                "checkpoint_hash": self._fingerprint, "base": self.classifier.base,
                "parameters": sum(p.numel() for p in self.classifier.parameters()), "labels": self.class_labels()}

    def class_labels(self) -> list:
        return list(self.classifier.labels)

    def classify(self, texts: list[str]) -> list[list[float]]:
        return [list(map(float, row)) for row in self.classifier.predict_proba(list(texts), batch_size=self.batch_size)]

    def loglikelihood(self, requests):
        raise NotImplementedError("a TextClassifier checkpoint scores classification tasks only, through its head")

    def generate(self, requests):
        raise NotImplementedError("a TextClassifier checkpoint scores classification tasks only, through its head")
