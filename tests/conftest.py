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


def find_chromium():
    """A headless-capable Chromium on PATH, or None. Tests never install one (.ci/run does)."""
    import shutil

    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="session")
def page_dom(tmp_path_factory):
    """page_dom(path) -> the DOM of a local HTML page after its scripts ran, as headless Chromium
    renders it. Skips the test where no Chromium is on PATH."""
    import subprocess

    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no chromium, chromium-browser or google-chrome on PATH: the rendered page is not checked "
                    "(install Chromium, as .ci/run does, to run this test)")
    profile = tmp_path_factory.mktemp("chromium-profile")

    def dom(path) -> str:
        from pathlib import Path

        proc = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}",
             "--dump-dom", Path(path).resolve().as_uri()],
            capture_output=True, text=True, timeout=120,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout
    return dom
