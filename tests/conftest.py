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


@pytest.fixture(scope="session")
def repo_root():
    """The checkout's root folder. Tests ask for it rather than count `Path(__file__).parents`,
    which changes whenever a test file moves between the group folders."""
    from pathlib import Path

    return Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _scratch_tempdir(tmp_path_factory):
    """Temporary files that code makes on its own (Beam's per-pipeline folder, which a
    pipeline built but never run leaves behind; the launcher's progress and pool folders) go
    under pytest's base temporary folder, which pytest clears in turn, not straight into /tmp.
    Processes the tests start inherit it through TMPDIR."""
    import tempfile

    scratch = str(tmp_path_factory.mktemp("scratch"))
    saved = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"], tempfile.tempdir = scratch, scratch
    yield
    if saved[0] is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = saved[0]
    tempfile.tempdir = saved[1]

