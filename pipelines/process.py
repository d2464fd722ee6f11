"""Document processing steps: small classes with one job and one interface.

`step(doc) -> None | reason` mutates the document and returns a drop reason to stop it.
Each step registers itself (`pipelines.steps.register_step`: its place in the chain and the
drop reasons it gives); `DocumentProcessor` chains the registered ones; counting and routing
belong to the caller (the Beam DoFn), not to the steps. Nothing here knows about Beam.
"""
from __future__ import annotations

from typing import Iterable, Iterator

from .config import PipelineConfig
from .langid import LanguageIdentifier, lid_sample, script_override, shared_identifier
from .quality_model import ScoreQuality
from .steps import build_steps, register_step
from .text import segment
from .text.boilerplate import BoilerplateRemover
from .text.chinese import han_script, to_simplified
from .text.filters import failure, plan
from .text.pii import RedactPII
from .text.script import is_chinese


class Step:
    name = "step"

    @classmethod
    def from_config(cls, config: PipelineConfig) -> "Step | None":
        """The step this config asks for (None: none); a step without settings takes none."""
        return cls()

    def setup(self) -> None:
        """Load expensive resources; called once per worker."""

    def __call__(self, doc: dict) -> str | None:
        raise NotImplementedError


@register_step(order=10, reasons=("doc_too_long",))
class RejectTooLong(Step):
    name = "doc_too_long"

    def __init__(self, max_chars: int):
        self.max_chars = max_chars

    @classmethod
    def from_config(cls, config):
        return cls(config.read.max_doc_chars)

    def __call__(self, doc):
        # Before normalization: ftfy on a 50 MB blob is the expensive way to learn it is not text.
        return self.name if len(doc["text"]) > self.max_chars else None


@register_step(order=20)
class Normalize(Step):
    name = "normalize"

    def __init__(self):
        # Imported where a step is built (a worker), not where the registry is read: the
        # launcher reads every step's reasons for the funnel, and ftfy costs 35 ms to import.
        from .text.normalize import normalize

        self.normalize = normalize

    def __call__(self, doc):
        doc["text"] = self.normalize(doc["text"])


@register_step(order=30, reasons=("boilerplate_page",))
class RemoveBoilerplate(Step):
    """Removes boilerplate lines; a page that is boilerplate as a whole (the remover returns
    nothing of a non-empty text) is dropped as `boilerplate_page` with its text, redacted by
    `redact` (the PII step, which runs later for every other document), so `roots-pipeline
    inspect OUT --reason boilerplate_page` shows what was dropped."""
    name = "boilerplate"
    page_reason = "boilerplate_page"

    def __init__(self, remover: BoilerplateRemover, redact=None):
        self.remover = remover
        self.redact = redact

    @classmethod
    def from_config(cls, config):
        return cls(BoilerplateRemover(config.boilerplate), redact=RedactPII.from_config(config.pii))

    def __call__(self, doc):
        text, doc["boilerplate_lines_removed"] = self.remover(doc["text"])
        if not text and doc["text"].strip():
            if self.redact:
                self.redact(doc)
            return self.page_reason
        doc["text"] = text


# `empty` leads the document chain's rows of the funnel (stats.json has always listed it first).
@register_step(order=40, reasons=("empty",), funnel=5)
class RejectEmpty(Step):
    name = "empty"

    def __call__(self, doc):
        return self.name if not doc["text"].strip() else None


# Before anything is written: documents dropped from here on are redacted too.
register_step("pii", order=50)(lambda config: RedactPII.from_config(config.pii))


@register_step(order=60, reasons=("too_short", "language", "language_score"))
class IdentifyLanguage(Step):
    """The language and its score (`LanguageIdentifier.identify`: fastText, refined by script),
    after one check of its own: text that is not Han-dominant and has fewer words than the
    `too_short` minimum of every kept non-Chinese language could never be kept. Saying
    `too_short` is the truth; asking fastText about four words is a coin toss that would
    call it `language` or `language_score` instead. Han-dominant text is Chinese by script
    and meets the Chinese minimum in the filters."""
    name = "language"
    too_short = "too_short"

    def __init__(self, config: PipelineConfig):
        self.config = config
        self.min_words = config.min_words_any_script()
        self.max_chars = config.langid.max_chars
        self.identifier: LanguageIdentifier | None = None

    @classmethod
    def from_config(cls, config):
        return cls(config)

    def setup(self):
        if self.identifier is None:
            lid = self.config.langid
            self.identifier = shared_identifier(lid.model_path, max_chars=self.max_chars,
                                                use_script_rules=lid.script_rules)

    def __call__(self, doc):
        text = doc["text"]
        # Word count first: most texts reach `min_words` early. Han text has few spaced
        # words, so its script decides (the question language ID asks next, cached for it).
        if (self.min_words and not segment.has_words(text, self.min_words)
                and not script_override(lid_sample(text, self.max_chars))):
            return self.too_short
        doc["lang"], doc["lang_score"], by_script = self.identifier.identify(text)
        if doc["lang"] not in self.config.languages:
            return "language"
        if not by_script and doc["lang_score"] < self.config.min_lang_score(doc["lang"]):
            return "language_score"


@register_step(order=70)
class ComputeSignals(Step):
    name = "signals"

    def __init__(self, config: PipelineConfig):
        self.config = config
        self.segmenter = segment.Segmenter(config.segment.backend)
        self._ngram_sizes: dict[str, tuple[int, int]] = {}
        from .text.signals import compute_signals  # 15 ms, as Normalize's ftfy: only where steps run

        self.compute_signals = compute_signals

    @classmethod
    def from_config(cls, config):
        return cls(config)

    def setup(self):
        if any(is_chinese(l) for l in self.config.languages):
            self.segmenter.load()

    def __call__(self, doc):
        sizes = self._ngram_sizes.get(doc["lang"])
        if sizes is None:
            sizes = self._ngram_sizes[doc["lang"]] = self.config.ngram_sizes(doc["lang"])
        char_n, word_n = sizes
        text = doc["text"]
        if is_chinese(doc["lang"]):
            # Scored on Simplified characters: the word lists and jieba's dictionary are Simplified.
            text = to_simplified(text)
            doc["script"] = han_script(doc["text"], text)
        words = self.segmenter.words(text, doc["lang"])
        doc["signals"] = self.compute_signals(text, words, doc["lang"], char_n, word_n)


@register_step(order=80, reasons=lambda config: [f.name for f in config.filters])
class ApplyQualityFilters(Step):
    """The quality filters (`filters:`, pipelines/text/filters.py); a filter's name is its reason."""
    name = "quality"

    def __init__(self, config: PipelineConfig):
        self.filters = list(config.filters)
        self._plans: dict[str, list] = {}

    @classmethod
    def from_config(cls, config):
        return cls(config)

    def __call__(self, doc):
        checks = self._plans.get(doc["lang"])
        if checks is None:
            checks = self._plans[doc["lang"]] = plan(self.filters, doc["lang"])
        return failure(checks, doc["signals"])


register_step("quality_score", order=90,
              reasons=lambda config: ["quality_score"] if config.quality_model.threshold is not None else [])(
    lambda config: ScoreQuality.from_config(config.quality_model))


@register_step(order=110)
class ConvertScript(Step):
    """Optional (`chinese.output_script: simplified`): kept Traditional text written in
    Simplified characters. Off by default: the corpus keeps what was written."""
    name = "convert_script"

    @classmethod
    def from_config(cls, config):
        return cls() if config.chinese.output_script == "simplified" else None

    def __call__(self, doc):
        if doc.get("script") == "Hant":
            doc["text"] = to_simplified(doc["text"])


class StepChain:
    """Steps run in order over a document until one returns a drop reason. The pipeline has
    two chains: `pipelines.web.steps.PageProcessor` (web records to main text) and
    `DocumentProcessor` (text to a kept or dropped document)."""

    steps: list[Step]

    def setup(self) -> None:
        for step in self.steps:
            step.setup()
        self._ready = True

    def teardown(self) -> None:
        """Release what `setup` started (the extractor's child process)."""
        for step in self.steps:
            close = getattr(step, "close", None)
            if close:
                close()

    def __call__(self, doc: dict) -> str | None:
        """Process `doc` in place; return the drop reason, or None to keep it."""
        if not getattr(self, "_ready", False):
            self.setup()
        for step in self.steps:
            reason = step(doc)
            if reason:
                return reason
        return None

    def process_batch(self, docs: list[dict]) -> list[str | None]:
        """`[self(doc) for doc in docs]`, the same documents and reasons, computed a step at a
        time: each step over every document still in play, then the next. One step's code and
        tables stay in the CPU cache from one document to the next instead of being evicted by
        the other steps' (fastText's n-gram index above all). `benchmarks/bench_pipeline.py`'s
        core row: 5.00x datatrove per core one document at a time (0c8c91d), 6.33x in batches
        of 1,024 (50ad73a)."""
        if not getattr(self, "_ready", False):
            self.setup()
        reasons: list[str | None] = [None] * len(docs)
        alive = range(len(docs))
        for step in self.steps:
            still = []
            for i in alive:
                reason = step(docs[i])
                if reason:
                    reasons[i] = reason
                else:
                    still.append(i)
            alive = still
        return reasons


class DocumentProcessor(StepChain):
    """The registered steps of the document chain: too long? -> clean -> boilerplate -> empty?
    -> PII -> too short? / identify language -> segment and score -> filter -> (quality model,
    web spam, script conversion), in that order."""

    def __init__(self, config: PipelineConfig):
        self.config = config
        self.steps: list[Step] = build_steps("document", config)
        self._ready = False


class PageProcessor(StepChain):
    """Web records -> main text (the registered page chain, `pipelines.web.steps`): not a page,
    HTTP status, not HTML, URL blocklist, decoding, extraction. Documents that are not web
    records pass untouched."""

    def __init__(self, config: PipelineConfig):
        self.config = config
        self.steps = build_steps("page", config)
        self._ready = False


# A batch: enough documents for a step's tables to stay hot from one to the next, and a
# bound on the text held (~8-16 MB) for a run of long documents.
BATCH_DOCS = 1024
BATCH_CHARS = 4_000_000


class Batches:
    """Documents in, one at a time; batches for `DocumentProcessor.process_batch` out, in the
    same order: a batch ends with its `max_docs`-th document (default BATCH_DOCS) or with
    the one that brings it to `max_chars` characters (default BATCH_CHARS)."""

    def __init__(self, max_docs: int | None = None, max_chars: int | None = None):
        self.max_docs, self.max_chars = max_docs or BATCH_DOCS, max_chars or BATCH_CHARS
        self._docs: list[dict] = []
        self._chars = 0

    def add(self, doc: dict) -> list[dict] | None:
        """The batch `doc` completes, or None while it is still filling."""
        self._docs.append(doc)
        self._chars += len(doc["text"])
        if len(self._docs) >= self.max_docs or self._chars >= self.max_chars:
            return self.drain()
        return None

    def drain(self) -> list[dict]:
        """What is held (perhaps nothing), and start afresh."""
        docs, self._docs, self._chars = self._docs, [], 0
        return docs


def batched(docs: Iterable[dict], batches: Batches | None = None) -> Iterator[list[dict]]:
    """`docs` cut into the batches `batches` (default limits) forms."""
    batches = batches or Batches()
    for doc in docs:
        full = batches.add(doc)
        if full:
            yield full
    rest = batches.drain()
    if rest:
        yield rest
