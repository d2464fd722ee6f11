"""Fixtures shared by the pipeline tests (tests/pipelines/); tests/conftest.py holds those of every group."""
import pytest


@pytest.fixture(scope="module")
def processor():
    """The document processor of the default config, set up (language ID model loaded)."""
    from pipelines.config import PipelineConfig
    from pipelines.process import DocumentProcessor

    p = DocumentProcessor(PipelineConfig.load())
    p.setup()
    return p


@pytest.fixture(scope="module")
def dedup_corpus(corpus_dir):
    """The shared corpus as roots_measure.dedup reads it (a list, each document with a guessed
    language), once per test module: a module may change its documents."""
    from roots_measure.dedup import load_corpus

    return load_corpus(corpus_dir)
