"""A quality score per document from a fastText classifier, as ChineseWebText's EvalWeb does:
the rule filters run first, then a model trained on clean prose (positives) against junk
(negatives) gives `quality_score` = P(clean) in [0, 1], which a user can threshold.

Text is segmented before fastText sees it (jieba words for Chinese, word/punctuation tokens
otherwise), lowercased, and digits are folded to 0: a number dump is junk whatever its digits.
Punctuation stays: menus and keyword lists lack it, prose has it.

This module is what a worker runs: the features (`prepare`) and the scorer, which loads the
model with the pipeline's `fasttext` module (fasttext-predict, as language ID does). Training
the model, its default data and its evaluation are measurement, not pipeline:
`roots_measure.quality_model` and `roots-measure train-quality` (the `measure` extra).
"""
from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass

from .config.schema import Section, setting
from .text.chinese import to_simplified
from .text.script import is_chinese, looks_chinese

log = logging.getLogger(__name__)

POSITIVE = "__label__clean"
NEGATIVE = "__label__junk"

TOKEN_RE = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_DIGIT_RE = re.compile(r"\d")
_WS_RE = re.compile(r"\s+")

# ---------------------------------------------------------------------------------------------
# Featurization


def is_zh(text: str, lang: str | None) -> bool:
    """Chinese by the document's `lang`, or without one by the script of its start (the one
    rule, `looks_chinese`; the junk generators of roots_measure ask about texts with no `lang`)."""
    return is_chinese(lang) if lang else looks_chinese(text[:500])


def prepare(text: str, lang: str | None = None, max_chars: int = 4000) -> str:
    """The one-line token string fastText trains and predicts on. Chinese is converted to
    Simplified first: the training prose is mostly Simplified and jieba's dictionary is, so
    Traditional text would otherwise score as unfamiliar (DRCD contexts kept 0.86 vs 1.00)."""
    text = text[:max_chars]
    if is_zh(text, lang):
        from .text.segment import load_jieba

        text = to_simplified(text)
        tokens = [t for t in load_jieba().lcut(text, HMM=False) if not t.isspace()]
    else:
        tokens = TOKEN_RE.findall(text)
    line = " ".join(tokens).lower()
    # "\n" would end fastText's line; digits are folded so all number dumps look alike.
    return _DIGIT_RE.sub("0", _WS_RE.sub(" ", line)).strip()


# ---------------------------------------------------------------------------------------------
# Scoring


class QualityScorer:
    """`score(text, lang=None) -> P(clean)`. Loads the model with the pipeline's `fasttext`
    (fasttext-predict); load once per worker (`shared_scorer`)."""

    def __init__(self, model_path: str, max_chars: int = 4000):
        import fasttext

        from .langid import _local_copy

        self.model_path = model_path
        self.max_chars = max_chars
        self._model = fasttext.load_model(_local_copy(model_path))
        labels = set(self._model.predict("a", k=-1)[0])  # fasttext-predict has no get_labels()
        if labels != {POSITIVE, NEGATIVE}:
            raise ValueError(f"{model_path} is not a quality model (labels {sorted(labels)}, "
                             f"expected {POSITIVE} and {NEGATIVE})")

    def score(self, text: str, lang: str | None = None) -> float:
        line = prepare(text, lang, self.max_chars)
        if not line:
            return 0.0
        labels, probs = self._model.predict(line, k=2)
        p = dict(zip(labels, (float(x) for x in probs)))
        # fastText's softmax adds 1e-5 to each probability; clip into [0, 1].
        return min(1.0, max(0.0, p.get(POSITIVE, 1.0 - p.get(NEGATIVE, 1.0))))

    def __reduce__(self):
        return (QualityScorer, (self.model_path, self.max_chars))


_shared: dict[tuple, QualityScorer] = {}
_shared_lock = threading.Lock()


def shared_scorer(model_path: str, max_chars: int = 4000) -> QualityScorer:
    """One scorer per process and model (like langid.shared_identifier): Beam's DoFn instances
    of one worker share the model."""
    key = (model_path, max_chars)
    with _shared_lock:
        if key not in _shared:
            _shared[key] = QualityScorer(model_path, max_chars)
        return _shared[key]


@dataclass(frozen=True)
class QualityModelConfig(Section):
    """EvalWeb-style model score after the rules (`roots-measure train-quality`)"""
    section_name = "quality_model"
    model: str | None = setting(None, "a fastText model path (local or gs://); null: no quality_score",
                                label="a fastText model path")
    threshold: float | None = setting(None, "null: score only (short clean texts score low: threshold per use); "
                                            "a number drops below it", lo=0, hi=1)
    max_chars: int = setting(4000, "characters of a text the model scores", lo=1, listed=False)


class ScoreQuality:
    """Pipeline step (the `pipelines.process.Step` interface): sets doc["quality_score"];
    with a `threshold`, drops documents below it as "quality_score". Not a subclass of
    process.Step so that process.py can import it without an import cycle."""

    name = "quality_score"

    def __init__(self, model_path: str, threshold: float | None = None, max_chars: int = 4000):
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ValueError(f"quality threshold must be in [0, 1], got {threshold}")
        self.model_path = model_path
        self.threshold = threshold
        self.max_chars = max_chars
        self.scorer: QualityScorer | None = None

    @classmethod
    def from_config(cls, section: "QualityModelConfig | dict | None") -> "ScoreQuality | None":
        """From the config's typed `quality_model:` section (a mapping is checked as one); None
        without a model."""
        if not isinstance(section, QualityModelConfig):
            section = QualityModelConfig.from_dict(section)
        if not section.model:
            return None
        t = section.threshold
        return cls(section.model, None if t is None else float(t), section.max_chars)

    def setup(self) -> None:
        if self.scorer is None:
            self.scorer = shared_scorer(self.model_path, self.max_chars)

    def __call__(self, doc: dict) -> str | None:
        if self.scorer is None:
            self.setup()
        doc["quality_score"] = score = self.scorer.score(doc["text"], doc.get("lang"))
        if self.threshold is not None and score < self.threshold:
            return self.name
        return None
