"""Scheduled refreshes: only new inputs are processed, deduplicated against earlier releases,
published atomically; reruns are no-ops and crashes leave nothing a reader would trust."""
import gzip
import glob
import json

import pyarrow.parquet as pq
import pytest

import pipelines.refresh as refresh_mod
from pipelines.cli import main
from pipelines.refresh import MANIFEST, list_releases


def _write(path, docs):
    with path.open("w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")


def _refresh(raw, releases):
    return main(["refresh", "--input", str(raw / "*.jsonl"), "--releases", str(releases), "--no_progress",
                 "--direct_num_workers=1"])


def _kept_ids(release_dir):
    return sorted(pq.ParquetDataset(str(release_dir / "data")).read().column("id").to_pylist())


def _dropped(release_dir):
    rows = []
    for path in glob.glob(str(release_dir / "dropped" / "*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            rows.extend(json.loads(l) for l in f)
    return {r["id"]: r for r in rows}


@pytest.fixture(scope="module")
def snapshots(corpus_docs):
    docs = [d for d in corpus_docs.values() if d["source"] in ("c4-en", "zh-paper-abstracts", "zh-wiki-paragraphs")]
    return docs[:120], docs[120:170]


@pytest.mark.slow
def test_refresh_is_incremental_idempotent_and_dedups_across_releases(tmp_path, snapshots, monkeypatch):
    first, fresh = snapshots
    raw, releases = tmp_path / "raw", tmp_path / "releases"
    raw.mkdir()
    _write(raw / "2026-11-01.jsonl", first)
    assert _refresh(raw, releases) == 0
    (r1,) = list_releases(str(releases))
    assert r1.name == "release-00001" and len(r1.manifest["inputs"]) == 1
    kept1 = _kept_ids(releases / "release-00001")
    assert kept1

    assert _refresh(raw, releases) == 0                      # same inputs: nothing to do
    assert [r.name for r in list_releases(str(releases))] == ["release-00001"]
    monkeypatch.chdir(tmp_path)                              # a relative pattern names the same file
    assert main(["refresh", "--input", "raw/*.jsonl", "--releases", "releases", "--no_progress"]) == 0
    (raw / "moved").mkdir()                                  # so does the same content under a new path
    (raw / "2026-11-01.jsonl").rename(raw / "moved" / "2026-11-01.jsonl")
    assert main(["refresh", "--input", "raw/moved/*.jsonl", "--releases", "releases", "--no_progress"]) == 0
    assert [r.name for r in list_releases(str(releases))] == ["release-00001"]

    reposts = [{**d, "id": "repost-" + d["id"]} for d in first if d["id"] in set(kept1)][:20]
    _write(raw / "2026-11-02.jsonl", fresh + reposts)
    assert _refresh(raw, releases) == 0
    r1_, r2 = list_releases(str(releases))
    assert [i["path"].rsplit("/", 1)[-1] for i in r2.manifest["inputs"]] == ["2026-11-02.jsonl"]
    assert r2.manifest["previous"] == ["release-00001"]
    assert r2.manifest["stats"]["read"] == len(fresh) + len(reposts)   # release 1's file was not reread
    dropped2 = _dropped(releases / "release-00002")
    for d in reposts:
        assert dropped2[d["id"]]["reason"] == "duplicate_exact"
        assert dropped2[d["id"]]["duplicate_of"] == d["id"].removeprefix("repost-")
    assert not set(_kept_ids(releases / "release-00002")) & set(kept1)


@pytest.mark.slow
def test_crash_then_rerun_gives_the_uninterrupted_release(tmp_path, snapshots, monkeypatch):
    first, _ = snapshots
    raw = tmp_path / "raw"
    raw.mkdir()
    _write(raw / "snap.jsonl", first)
    clean, crashed = tmp_path / "clean", tmp_path / "crashed"
    assert _refresh(raw, clean) == 0

    def killed(staging, final):  # the process dies after the data is written, before publishing
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(refresh_mod, "publish", killed)
    with pytest.raises(KeyboardInterrupt):
        _refresh(raw, crashed)
    monkeypatch.undo()
    assert list_releases(str(crashed)) == []                 # the half-done work is not a release
    assert any(p.name.startswith("_staging-") for p in crashed.iterdir())

    assert _refresh(raw, crashed) == 0
    assert [p.name for p in crashed.iterdir()] == ["release-00001"]
    assert _kept_ids(crashed / "release-00001") == _kept_ids(clean / "release-00001")
    a = json.loads((clean / "release-00001" / MANIFEST).read_text())
    b = json.loads((crashed / "release-00001" / MANIFEST).read_text())
    assert a["stats"] == b["stats"] and a["inputs"] == b["inputs"]


def test_refresh_usage_errors(tmp_path, capsys):
    assert main(["refresh", "--input", str(tmp_path / "none-*.jsonl"), "--releases", str(tmp_path / "r")]) == 2
    assert "matches no file" in capsys.readouterr().err
    assert main(["refresh", "--input", str(tmp_path / "x.jsonl"), "--releases", str(tmp_path / "r"),
                 "--dedup", "none"]) == 2
    assert "--dedup none is not allowed" in capsys.readouterr().err


def test_a_concurrent_refresh_is_refused_and_a_dead_ones_lock_taken_over(tmp_path, capsys):
    from pipelines.lock import LOCK_FILE, LockHeld, RefreshLock

    releases = tmp_path / "releases"
    releases.mkdir()
    (releases / "_staging-release-00001").mkdir()           # the running refresh's work in progress
    (releases / "_staging-release-00001" / "part").write_text("x")
    first = RefreshLock.acquire(str(releases), ttl_s=3600)
    raw = tmp_path / "raw"
    raw.mkdir()
    _write(raw / "a.jsonl", [{"id": "a", "text": "some text " * 30}])
    assert _refresh(raw, releases) == 2
    err = capsys.readouterr().err
    assert "another refresh is running" in err and first.owner in err
    assert (releases / "_staging-release-00001" / "part").exists()  # the first run's staging is untouched
    first.release()
    assert not (releases / LOCK_FILE).exists()

    # Expired: taken over. Held by a live process elsewhere: refused. Owner process gone here: taken over.
    clock = [1000.0]
    stale = RefreshLock.acquire(str(releases), ttl_s=10, clock=lambda: clock[0])
    clock[0] += 11
    RefreshLock.acquire(str(releases), ttl_s=10, clock=lambda: clock[0]).release()
    lock = json.loads(json.dumps({"owner": "someone@elsewhere pid 1", "token": "t", "expires_at": 4e9}))
    (releases / LOCK_FILE).write_text(json.dumps(lock))
    with pytest.raises(LockHeld, match="someone@elsewhere"):
        RefreshLock.acquire(str(releases), ttl_s=10)
    import socket
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock["owner"] = f"me@{socket.gethostname()} pid {dead.stdout.strip()}"
    (releases / LOCK_FILE).write_text(json.dumps(lock))
    RefreshLock.acquire(str(releases), ttl_s=10).release()
    del stale
