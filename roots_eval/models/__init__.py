"""Model adapters: roots_model checkpoints, roots_model classifiers, Hugging Face causal LMs and
masked-LM encoders (a folder's config.json model_type says which)."""
from __future__ import annotations

import json
from pathlib import Path

from roots_eval.models.base import (
    EvalModel,
    GenerationRequest,
    LoglikelihoodRequest,
    ModelLoadError,
)

MODEL_TYPES = ("auto", "roots", "classifier", "hf")

__all__ = ["EvalModel", "GenerationRequest", "LoglikelihoodRequest", "ModelLoadError", "load_model", "MODEL_TYPES"]


def detect_type(path: Path) -> str:
    if not path.exists():
        raise ModelLoadError(f"model path {path} does not exist")
    if (path / "classifier.json").is_file():
        return "classifier"
    if (path / "checkpoint.json").is_file() or (path / "checkpoints").is_dir():
        return "roots"
    config = path / "config.json"
    if config.is_file():
        try:
            if "model_type" in json.loads(config.read_text()):
                return "hf"
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelLoadError(f"model path {path}: config.json is unreadable ({exc})") from exc
    raise ModelLoadError(
        f"model path {path}: not a roots_model checkpoint (no checkpoint.json), classifier (no classifier.json) "
        "or Hugging Face model (no config.json with model_type); pass --model-type to force one"
    )


def load_model(path: str | Path, model_type: str = "auto", device: str = "cpu", batch_size: int | str = 8,
               show_progress: bool = True, dtype: str = "auto") -> EvalModel:
    """`dtype`: "auto" (the checkpoint's training precision on a GPU, float32 on CPU) or a dtype name."""
    path = Path(path)
    kind = detect_type(path) if model_type == "auto" else model_type
    if kind == "roots":
        from roots_eval.models.roots import RootsLM

        return RootsLM(path, device=device, batch_size=batch_size, show_progress=show_progress, dtype=dtype)
    if kind == "classifier":
        from roots_eval.models.classifier import RootsClassifier

        return RootsClassifier(path, device=device, batch_size=batch_size)
    if kind == "hf":
        if _hf_model_type(path) in _encoder_types():
            from roots_eval.models.encoder import HFMaskedLM

            return HFMaskedLM(path, device=device, batch_size=batch_size, show_progress=show_progress, dtype=dtype)
        from roots_eval.models.hf import HFCausalLM

        return HFCausalLM(path, device=device, batch_size=batch_size, show_progress=show_progress, dtype=dtype)
    raise ModelLoadError(f"unknown model type {kind!r}; choose from {', '.join(MODEL_TYPES)}")


def _hf_model_type(path: Path) -> str | None:
    try:
        return json.loads((path / "config.json").read_text()).get("model_type")
    except (OSError, json.JSONDecodeError):
        return None  # the loader reports the problem


def _encoder_types() -> set[str]:
    from roots_model.hf_backbone import ENCODERS

    return ENCODERS
