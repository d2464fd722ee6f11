"""roots_eval.chain: every step idempotent, an interrupted one resumed (no Airflow needed)."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from roots_eval import chain
from roots_eval.testing import sha256_hex

STEPS = 6
BUDGET = ["--steps", str(STEPS), "--vocab-size", "600", "--seq-len", "32", "--batch-size", "4",
          "--checkpoint-interval", "3", "--tasks", "lm_flores200_en", "--limit", "2", "--max-new-tokens", "4"]


def _mtimes(folder: Path) -> dict:
    return {str(p): (p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def releases(tmp_path_factory, corpus_dir):
    """One real release, made by `roots-pipeline refresh` from 300 documents of the shared corpus."""
    from pipelines.cli import main as pipeline

    root = tmp_path_factory.mktemp("chain")
    raw = root / "raw.jsonl"
    smallest = min(Path(corpus_dir).glob("*.jsonl"), key=lambda p: p.stat().st_size)
    with smallest.open(encoding="utf-8") as f:
        raw.write_text("".join(next(f) for _ in range(300)), encoding="utf-8")
    assert pipeline(["refresh", "--input", str(raw), "--releases", str(root / "releases"), "--no_progress"]) in (0, None)
    assert (root / "releases" / "release-00001" / "manifest.json").is_file()
    return root / "releases"


@pytest.fixture(scope="module")
def trained(releases, tmp_path_factory):
    """A work folder whose proxy was interrupted at step 4 (its last checkpoint: step 3) and then
    finished by a second `chain train`; the output of both runs."""
    work = tmp_path_factory.mktemp("work")
    args = ["--releases", str(releases), "--work", str(work), *BUDGET]
    real = chain.run_cli

    def killed_at_step_4(argv, what):
        if "pretrain" in argv:
            real([*argv, "--stop-after-step", "4"], what)  # as a kill at step 4 leaves it: step 3 saved
            raise chain.ChainError(f"{what} killed")
        real(argv, what)

    chain.run_cli = killed_at_step_4
    try:
        first = chain.main(["train", *args])
    finally:
        chain.run_cli = real
    state = {"first": first, "after_kill": sorted(p.name for p in (work / "proxies" / "release-00001" /
                                                                   "checkpoints").iterdir())}
    return work, args, state


@pytest.mark.slow
def test_train_resumes_an_interrupted_proxy_then_skips_it(trained, capfd):
    work, args, state = trained
    assert state["first"] == 1 and state["after_kill"] == ["step-00000003"]
    assert chain.main(["train", *args]) == 0
    said = capfd.readouterr()
    assert "resumed at step 3" in said.out + said.err
    final = work / "proxies" / "release-00001" / "checkpoints" / f"step-{STEPS:08d}"
    assert json.loads((final / "state.json").read_text())["step"] == STEPS
    before = _mtimes(work / "proxies")
    assert chain.main(["train", *args]) == 0
    assert "release-00001: proxy done" in capfd.readouterr().err
    assert _mtimes(work / "proxies") == before
    # one tokenizer, recorded with the budget: a later run asking for another budget is refused
    budget = json.loads((work / "budget.json").read_text())
    assert budget["budget"]["steps"] == STEPS
    assert budget["tokenizer_sha256"] == sha256_hex(work / "tokenizer" / "tokenizer.json")
    assert chain.main(["train", *args, "--steps", str(STEPS + 1)]) == 1
    assert "scores would not be comparable" in capfd.readouterr().err


@pytest.mark.slow
def test_evaluate_and_leaderboard_redo_only_what_changed(trained, tmp_path, capfd):
    src, args, _ = trained
    if not (src / "proxies" / "release-00001" / "checkpoints" / f"step-{STEPS:08d}").is_dir():
        assert chain.main(["train", *args]) == 0  # this test alone: finish the proxy first
    work = tmp_path / "work"
    shutil.copytree(src, work)
    args = [*args[:2], "--work", str(work), *args[4:]]
    final = work / "proxies" / "release-00001" / "checkpoints" / f"step-{STEPS:08d}"
    out = work / "results" / "release-00001.json"
    assert chain.main(["evaluate", *args]) == 0
    results = json.loads(out.read_text())
    assert results["model"]["id"] == "release-00001"
    assert results["model"]["checkpoint_hash"] == "sha256:" + sha256_hex(final / "checkpoint.json")
    assert chain.main(["leaderboard", *args]) == 0
    board = work / "site" / "leaderboard.json"
    assert [m["id"] for m in json.loads(board.read_text())["models"]] == ["release-00001"]
    capfd.readouterr()

    # nothing changed: nothing rewritten
    before = _mtimes(work / "results") | _mtimes(work / "site")
    assert chain.main(["evaluate", *args]) == 0 and chain.main(["leaderboard", *args]) == 0
    said = capfd.readouterr().err
    assert "complete for this checkpoint, skipped" in said and "unchanged, site kept" in said
    assert _mtimes(work / "results") | _mtimes(work / "site") == before

    # results of another checkpoint (the proxy was retrained): scored again, and the site rebuilt
    stale = json.loads(out.read_text())
    stale["model"]["checkpoint_hash"] = "sha256:" + "0" * 64
    out.write_text(json.dumps(stale))
    assert chain.main(["evaluate", *args]) == 0
    assert json.loads(out.read_text())["model"]["checkpoint_hash"] == results["model"]["checkpoint_hash"]
    site_before = board.stat().st_mtime_ns
    assert chain.main(["leaderboard", *args]) == 0
    assert board.stat().st_mtime_ns != site_before

    # a run killed between two tasks leaves a partial file: scored again
    partial = json.loads(out.read_text())
    partial["results"].clear()
    out.write_text(json.dumps(partial))
    assert chain.main(["evaluate", *args]) == 0
    assert set(json.loads(out.read_text())["results"]) == {"lm_flores200_en"}


@pytest.mark.slow
def test_evaluate_before_train_fails_naming_the_step(releases, tmp_path, capfd):
    assert chain.main(["evaluate", "--releases", str(releases), "--work", str(tmp_path), *BUDGET]) == 1
    assert "run the train step first" in capfd.readouterr().err


def _release(folder: Path, files: dict[str, bytes], with_digests: bool = True) -> dict:
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    manifest = {"schema": "roots/corpus-release", "name": folder.name}
    if with_digests:
        manifest["files"] = {n: {"bytes": len(d), "sha256": hashlib.sha256(d).hexdigest()} for n, d in files.items()}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return manifest


def test_copy_release_checks_every_copied_file(tmp_path):
    source = tmp_path / "release-00001"
    files = {"data/part-0.jsonl": b'{"text": "a"}\n', "data/part-1.jsonl": b'{"text": "b"}\n', "stats.json": b"{}"}
    manifest = _release(source, files)
    chain.copy_release(str(source), manifest, tmp_path / "copy")
    assert sorted(str(p.relative_to(tmp_path / "copy")) for p in (tmp_path / "copy").rglob("*") if p.is_file()) == \
        ["data/part-0.jsonl", "data/part-1.jsonl", "manifest.json"]  # documents only, and the manifest
    assert (tmp_path / "copy" / "data" / "part-1.jsonl").read_bytes() == files["data/part-1.jsonl"]

    (source / "data" / "part-1.jsonl").write_bytes(b'{"text": "edited after the release"}\n')
    with pytest.raises(chain.ChainError, match="part-1.jsonl: the copy's SHA-256 differs"):
        chain.copy_release(str(source), manifest, tmp_path / "copy2")
    assert not (tmp_path / "copy2").exists()  # only a complete, checked copy gets the name


def test_copy_release_of_an_older_manifest_copies_unchecked(tmp_path, capfd):
    source = tmp_path / "release-00001"
    manifest = _release(source, {"data/part-0.jsonl": b'{"text": "a"}\n'}, with_digests=False)
    chain.copy_release(str(source), manifest, tmp_path / "copy")
    assert (tmp_path / "copy" / "data" / "part-0.jsonl").is_file()
    assert "copied unchecked" in capfd.readouterr().err


def test_steps_other_than_refresh_refuse_unknown_flags(tmp_path, capfd):
    assert chain.main(["train", "--releases", str(tmp_path), "--work", str(tmp_path / "w"), "--runner=X"]) == 2
    assert "unknown arguments --runner=X" in capfd.readouterr().err


def test_one_chain_at_a_time_per_work_folder(tmp_path, capfd):
    held = chain._lock(tmp_path)
    try:
        assert chain.main(["leaderboard", "--releases", str(tmp_path), "--work", str(tmp_path)]) == 1
        assert "another chain is running" in capfd.readouterr().err
    finally:
        held.close()
