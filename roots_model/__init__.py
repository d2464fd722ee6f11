"""ROOTS models: `from roots_model import LanguageModel, TextClassifier`.

    lm = LanguageModel.from_pretrained("ckpt/")   # a ROOTS checkpoint (AR or MLM) or a local HF folder
    clf = TextClassifier.from_pretrained("ckpt/", labels=["neg", "pos"])

The names resolve on first use: they need torch, and `roots_model.data` / `roots_model.documents`
must import without it (tokenizer workers start from them).
"""
from pipelines.lazy import lazy_exports

_EXPORTS = {"LanguageModel": "roots_model.lm", "TextClassifier": "roots_model.classifier"}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
