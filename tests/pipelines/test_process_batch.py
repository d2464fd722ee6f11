"""Documents processed a step at a time over a batch (`DocumentProcessor.process_batch`, as
the pipeline's DoFn runs them) come out exactly as one document at a time (`processor(doc)`,
the reference), in batches the DoFn bounds and drains."""
import copy

import pytest
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.windowed_value import WindowedValue

from pipelines.config import PipelineConfig
from pipelines.process import Batches, batched
from pipelines.transforms import DROPPED, ProcessDocuments


def _doc(i, text):
    return {"id": f"p{i}", "key": f"p{i}", "text": text, "source": None, "url": None, "lang": None,
            "lang_score": None, "input_file": "planted", "boilerplate_lines_removed": 0, "signals": None}


@pytest.fixture(scope="module")
def mixed_docs(corpus_docs):
    """3,000 real documents with every kind of early exit planted among them: empty, blank,
    too few words (English), a short Han line (Chinese by script), kana (not Chinese),
    one word, too long."""
    real = list(corpus_docs.values())[::12][:3000]
    planted = ["", "   \n ", "Buy now, click here", "今天天气很好。", "これは日本語の文です。", "hello",
               "x" * 1_100_000, "Subscribe to our newsletter for more updates and offers"]
    docs = list(real)
    for i, text in enumerate(planted):
        docs.insert(i * 371, _doc(i, text))
    return docs


@pytest.mark.parametrize("size", [1, 7, 1024, 10_000])
def test_a_batch_gives_every_document_what_one_at_a_time_gives(processor, mixed_docs, size):
    one, many = copy.deepcopy(mixed_docs), copy.deepcopy(mixed_docs)
    expected = [processor(d) for d in one]
    got = []
    for i in range(0, len(many), size):
        got += processor.process_batch(many[i:i + size])
    assert got == expected
    assert many == one  # every field every step wrote, signals included
    reasons = set(expected)
    # The planted documents reach the early exits, and real ones every later stage.
    assert {None, "empty", "too_short", "language", "doc_too_long"} <= reasons and len(reasons) >= 8


def test_batches_hold_at_most_their_limits_and_lose_nothing():
    docs = [{"text": "a" * n} for n in [3, 1, 8, 2, 2, 2, 2, 2, 9, 1, 1]]
    out = list(batched(docs, Batches(max_docs=4, max_chars=10)))
    # 3+1+8 chars reach 10 with the third; four of 2 chars (8) are 4 documents; 2+9; the rest.
    assert [len(b) for b in out] == [3, 4, 2, 2]
    assert [d for b in out for d in b] == docs and all(x is y for x, y in zip([d for b in out for d in b], docs))
    assert list(batched([], Batches())) == []


def test_the_dofn_outputs_every_document_once_in_order_and_what_it_holds_at_the_bundles_end(
        mixed_docs, monkeypatch):
    monkeypatch.setattr("pipelines.process.BATCH_DOCS", 100)
    docs = copy.deepcopy(mixed_docs[:250])
    fn = ProcessDocuments(PipelineConfig.load())
    fn.setup()
    sizes = []
    batch = fn.processor.process_batch
    fn.processor.process_batch = lambda ds: sizes.append(len(ds)) or batch(ds)
    fn.start_bundle()
    during = [out for d in docs for out in fn.process(d)]
    at_end = list(fn.finish_bundle())
    assert sizes == [100, 100, 50] and len(during) == 200 and len(at_end) == 50
    # Yielded at the bundle's end: windowed values themselves (the global window).
    windowed = [o.value if isinstance(o, TaggedOutput) else o for o in at_end]
    assert all(isinstance(w, WindowedValue) and w.windows == (GlobalWindow(),) for w in windowed)
    out = during + [TaggedOutput(o.tag, o.value.value) if isinstance(o, TaggedOutput) else o.value for o in at_end]
    assert [getattr(o, "value", o)["id"] for o in out] == [d["id"] for d in docs]
    assert all(o.tag == DROPPED and o.value["reason"] for o in out if isinstance(o, TaggedOutput))
    assert sum(not isinstance(o, TaggedOutput) for o in out) == sum(v for k, v in fn.outcomes.items() if k is None)
    # A bundle that fails half-way (Beam may retry it on the same instance) leaves nothing
    # for the next one.
    fn.start_bundle()
    assert [out for d in copy.deepcopy(docs[:30]) for out in fn.process(d)] == []
    fn.start_bundle()
    assert list(fn.finish_bundle()) == []
