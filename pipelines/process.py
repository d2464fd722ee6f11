"""Document processing steps: small classes with one job and one interface.

`step(doc) -> None | reason` mutates the document and returns a drop reason to stop it.
`DocumentProcessor` chains them; counting and routing belong to the caller (the Beam DoFn),
not to the steps. Nothing here knows about Beam.
"""
from __future__ import annotations

from .config import PipelineConfig
from .langid import LanguageIdentifier, shared_identifier
from .text import segment
from .text.boilerplate import BoilerplateRemover
from .text.filters import first_failure
from .text.normalize import normalize
from .text.script import is_chinese
from .text.signals import compute_signals


class Step:
    name = "step"

    def setup(self) -> None:
        """Load expensive resources; called once per worker."""

    def __call__(self, doc: dict) -> str | None:
        raise NotImplementedError


class RejectTooLong(Step):
    name = "doc_too_long"

    def __init__(self, max_chars: int):
        self.max_chars = max_chars

    def __call__(self, doc):
        # Before normalization: ftfy on a 50 MB blob is the expensive way to learn it is not text.
        return self.name if len(doc["text"]) > self.max_chars else None


class Normalize(Step):
    name = "normalize"

    def __call__(self, doc):
        doc["text"] = normalize(doc["text"])


class RemoveBoilerplate(Step):
    name = "boilerplate"

    def __init__(self, remover: BoilerplateRemover):
        self.remover = remover

    def __call__(self, doc):
        doc["text"], doc["boilerplate_lines_removed"] = self.remover(doc["text"])


class RejectEmpty(Step):
    name = "empty"

    def __call__(self, doc):
        return self.name if not doc["text"].strip() else None


class IdentifyLanguage(Step):
    name = "language"

    def __init__(self, config: PipelineConfig):
        self.config = config
        self.identifier: LanguageIdentifier | None = None

    def setup(self):
        if self.identifier is None:
            lid = self.config.langid
            model = lid.get("model")
            self.identifier = shared_identifier(
                None if model in (None, "bundled") else model,
                max_chars=int(lid.get("max_chars", 2000)),
                use_script_rules=bool(lid.get("script_rules", True)),
            )

    def __call__(self, doc):
        doc["lang"], doc["lang_score"] = self.identifier.predict_one(doc["text"])
        if doc["lang"] not in self.config.languages:
            return "language"
        if doc["lang_score"] < self.config.min_lang_score(doc["lang"]):
            return "language_score"


class ComputeSignals(Step):
    name = "signals"

    def __init__(self, config: PipelineConfig):
        self.config = config

    def setup(self):
        if any(is_chinese(l) for l in self.config.languages):
            segment.load_jieba()

    def __call__(self, doc):
        char_n, word_n = self.config.ngram_sizes(doc["lang"])
        words = segment.words(doc["text"], doc["lang"])
        doc["signals"] = compute_signals(doc["text"], words, doc["lang"], char_n, word_n)


class ApplyQualityFilters(Step):
    name = "quality"

    def __init__(self, config: PipelineConfig):
        self.filters = config.filters()

    def __call__(self, doc):
        return first_failure(self.filters, doc["signals"], doc["lang"])


class DocumentProcessor:
    """Clean -> identify language -> segment -> score -> filter, in that order."""

    def __init__(self, config: PipelineConfig):
        self.config = config
        self.steps: list[Step] = [
            RejectTooLong(int(config.read.get("max_doc_chars", 1_000_000))),
            Normalize(),
            RemoveBoilerplate(BoilerplateRemover(config.boilerplate())),
            RejectEmpty(),
            IdentifyLanguage(config),
            ComputeSignals(config),
            ApplyQualityFilters(config),
        ]
        self._ready = False

    def setup(self) -> None:
        for step in self.steps:
            step.setup()
        self._ready = True

    def __call__(self, doc: dict) -> str | None:
        """Process `doc` in place; return the drop reason, or None to keep it."""
        if not self._ready:
            self.setup()
        for step in self.steps:
            reason = step(doc)
            if reason:
                return reason
        return None
