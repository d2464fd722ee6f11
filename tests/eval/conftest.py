"""Fixtures shared by the evaluation tests (tests/eval/); tests/conftest.py holds those of every group."""
import pytest


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


@pytest.fixture(scope="session")
def chain(tmp_path_factory):
    """One chain made by the real tools (roots_eval.testing.lineage_chain: corpus release ->
    tokenizer -> tiny pretraining -> eval -> leaderboard), shared by the lineage, card and page
    tests: they read it, and a test that changes one of its files puts it back (in `finally`)."""
    from roots_eval.testing import lineage_chain

    return lineage_chain(tmp_path_factory.mktemp("lineage"))
