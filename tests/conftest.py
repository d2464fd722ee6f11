import os

# No test may reach a hub: datasets/evaluate/transformers must fail fast, not retry.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import json  # noqa: E402

import pytest  # noqa: E402

from pipelines.datadir import dataset_path  # noqa: E402


@pytest.fixture(scope="session")
def corpus_dir():
    return dataset_path("corpus_web_mixed")


@pytest.fixture(scope="session")
def corpus_docs(corpus_dir):
    """Every document of the real corpus, by id."""
    docs = {}
    for path in sorted(corpus_dir.glob("*.jsonl")):
        with path.open(encoding="utf-8") as f:
            for line in f:
                d = json.loads(line)
                docs[d["id"]] = d
    return docs
