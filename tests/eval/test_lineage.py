"""`roots-eval lineage`: a score traced to the corpus release, config and inputs that made it,
over a chain made by the real tools (pipeline run -> tokenizer -> pretraining -> eval ->
leaderboard), and `--verify` failing on the first file changed after the fact.

Expected digests are recomputed here with hashlib straight from the files, never taken
from the code under test."""
from __future__ import annotations

import hashlib
import json
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

from roots_eval.cli import main as roots_eval
from roots_eval.testing import sha256_hex

pytestmark = pytest.mark.slow


@pytest.fixture
def lineage_json(chain, capsys):
    def run(*args) -> list[dict]:
        capsys.readouterr()
        assert roots_eval(["lineage", *map(str, args), "--json"]) == 0
        return json.loads(capsys.readouterr().out)
    return run


def verify(target, *extra, capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = roots_eval(["lineage", str(target), *extra, "--verify"])
    return code, capsys.readouterr().err


@contextmanager
def changed(path: Path, new: bytes | None = None):
    """`path` with other bytes (one appended by default), restored afterwards."""
    old = path.read_bytes()
    path.write_bytes(old + b"\0" if new is None else new)
    try:
        yield path
    finally:
        path.write_bytes(old)


def test_leaderboard_row_traces_to_corpus_inputs_with_their_digests(chain, lineage_json):
    links = lineage_json(chain.site, "--model", chain.model_id)
    kinds = [link["kind"] for link in links]
    assert kinds == ["score", "results", "task-data", "checkpoint", "tokens", "tokenizer", "corpus-release",
                     "config", "input"]
    by_kind = {link["kind"]: link for link in links}
    checkpoint = next((chain.run / "checkpoints").iterdir())
    assert by_kind["results"]["path"] == str(chain.results)
    assert by_kind["results"]["digest"] == "sha256:" + sha256_hex(chain.results)
    assert by_kind["checkpoint"]["path"] == str(checkpoint)
    assert by_kind["checkpoint"]["digest"] == "sha256:" + sha256_hex(checkpoint / "checkpoint.json")
    assert by_kind["checkpoint"]["step"] == 4
    assert by_kind["tokens"]["digest"] == "sha256:" + sha256_hex(chain.run / "tokens" / "manifest.json")
    assert by_kind["tokenizer"]["digest"] == "sha256:" + sha256_hex(chain.tokenizer / "tokenizer.json")
    assert by_kind["corpus-release"]["path"] == str(chain.corpus / "manifest.json")
    assert by_kind["corpus-release"]["digest"] == "sha256:" + sha256_hex(chain.corpus / "manifest.json")
    raw = chain.corpus.parent / "raw" / "slice.jsonl"
    assert by_kind["input"]["path"] == str(raw) and by_kind["input"]["digest"] == "sha256:" + sha256_hex(raw)
    assert by_kind["input"]["bytes"] == raw.stat().st_size
    # the task data digest is the hash of the task's data file as the harness read it
    from pipelines.datadir import dataset_path

    assert by_kind["task-data"]["digest"] == "sha256:" + sha256_hex(dataset_path("cls_chnsenticorp") / "dev.jsonl")


def test_release_manifest_lists_every_output_file(chain):
    manifest = json.loads((chain.corpus / "manifest.json").read_text())
    on_disk = {p.relative_to(chain.corpus).as_posix(): p for p in chain.corpus.rglob("*") if p.is_file()}
    on_disk.pop("manifest.json")
    assert set(manifest["files"]) == set(on_disk)
    for rel, entry in manifest["files"].items():
        assert entry == {"bytes": on_disk[rel].stat().st_size, "sha256": sha256_hex(on_disk[rel])}
    import yaml

    from pipelines.config import load_raw_config

    assert yaml.safe_load(manifest["config"]["text"]) == load_raw_config()
    assert manifest["config"]["sha256"] == hashlib.sha256(manifest["config"]["text"].encode()).hexdigest()
    assert manifest["stats"]["kept"] == json.loads((chain.corpus / "stats.json").read_text())["kept"]
    assert len(manifest["code"]["pipelines_sha256"]) == 64


def test_checkpoint_and_results_targets_give_the_same_chain(chain, lineage_json):
    from_board = lineage_json(chain.site, "--model", chain.model_id)
    from_results = lineage_json(chain.results)
    assert from_results[0]["digest"] is None  # the target: nothing before it recorded a digest
    assert from_results[1:] == from_board[2:] and from_results[0]["path"] == from_board[1]["path"]
    from_run = lineage_json(chain.run)  # a run folder: its newest checkpoint
    assert [(l["kind"], l["path"]) for l in from_run] == [(l["kind"], l["path"]) for l in from_board[3:]]


def test_verify_passes_on_an_untouched_chain(chain, capsys):
    code, err = verify(chain.site, "--model", chain.model_id, capsys=capsys)
    assert code == 0, err
    assert "verified 9 links" in err


def test_verify_names_a_kept_corpus_file_edited_after_training(chain, capsys):
    kept = sorted((chain.corpus / "data").glob("*.parquet"))[0]
    with changed(kept):
        code, err = verify(chain.site, "--model", chain.model_id, capsys=capsys)
    assert code == 1 and str(kept) in err and "MISMATCH" in err


def test_verify_names_a_swapped_tokenizer(chain, capsys, tmp_path):
    from roots_model.tokenizer import train_from_corpus

    train_from_corpus(chain.corpus, tmp_path / "other", 512, heldout_fraction=0.05)
    target = chain.tokenizer / "tokenizer.json"
    with changed(target, (tmp_path / "other" / "tokenizer.json").read_bytes()):
        code, err = verify(chain.results, capsys=capsys)
    assert code == 1 and str(target) in err


def test_verify_names_an_overwritten_checkpoint(chain, capsys):
    from roots_model import checkpoint as ckpt

    folder = next((chain.run / "checkpoints").iterdir())
    saved = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    loaded = ckpt.load(folder)
    state = {k: v + 1.0 for k, v in loaded.model.state_dict().items()}
    try:  # a consistent checkpoint (it verifies on its own), but not the one that was scored
        ckpt.save(folder, state, loaded.tokenizer, loaded.config, loaded.state)
        ckpt.verify(folder)
        code, err = verify(chain.results, capsys=capsys)
    finally:
        shutil.rmtree(folder)
        for p, data in saved.items():
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
    assert code == 1 and str(folder) in err


def test_verify_names_a_hand_edited_results_file_and_a_leaderboard_it_no_longer_matches(chain, capsys):
    data = json.loads(chain.results.read_text())
    entry = data["results"]["cls_chnsenticorp"]
    entry["metrics"][entry["primary_metric"]]["value"] += 10
    with changed(chain.results, json.dumps(data).encode()):
        code, err = verify(chain.site, "--model", chain.model_id, capsys=capsys)
        assert code == 1 and str(chain.results) in err
        code, err = verify(chain.results, capsys=capsys)  # alone it is the target: nothing recorded its digest
        assert code == 0, err


@pytest.mark.parametrize("what", ["token shard", "input", "task data"])
def test_verify_names_other_changed_links(chain, capsys, what, tmp_path, monkeypatch):
    if what == "token shard":
        target = sorted((chain.run / "tokens").glob("train-*.bin"))[0]
    elif what == "input":
        target = chain.corpus.parent / "raw" / "slice.jsonl"
    else:  # the task's data, read from a copy of the shared folder
        shared = tmp_path / "data"
        (shared / "cls_chnsenticorp").mkdir(parents=True)
        target = shared / "cls_chnsenticorp" / "dev.jsonl"
        from pipelines.datadir import dataset_path

        shutil.copy(dataset_path("cls_chnsenticorp") / "dev.jsonl", target)
        monkeypatch.setenv("ROOTS_DATA_DIR", str(shared))
    with changed(target):
        code, err = verify(chain.results, capsys=capsys)
    assert code == 1 and str(target) in err, err


def test_prepare_refuses_documents_that_are_not_the_release(chain, tmp_path):
    from roots_model.data import DataError, prepare_tokens

    copy = tmp_path / "copy"
    shutil.copytree(chain.corpus, copy)
    first = sorted((copy / "data").glob("*.parquet"))[0]
    first.write_bytes(first.read_bytes() + b"\0")
    with pytest.raises(DataError, match=first.name):
        prepare_tokens(copy, chain.tokenizer, tmp_path / "tokens", workers=1)
    # a copy of the release's data alone, tied to the release by --corpus-release
    only_data = tmp_path / "only_data"
    shutil.copytree(chain.corpus / "data", only_data)
    manifest = prepare_tokens(only_data, chain.tokenizer, tmp_path / "tokens2", workers=1,
                              corpus_release=str(chain.corpus))
    assert manifest["corpus"] == {"manifest": str(chain.corpus / "manifest.json"),
                                  "sha256": sha256_hex(chain.corpus / "manifest.json")}
    # without it, plain documents name no release
    assert prepare_tokens(only_data, chain.tokenizer, tmp_path / "tokens3", workers=1)["corpus"] is None


def test_a_classifier_row_traces_through_its_base_checkpoint(chain, tmp_path, lineage_json, capsys):
    from roots_model.lm import LanguageModel

    lm = LanguageModel.from_pretrained(chain.run)
    clf = lm.finetune(["好", "差", "good", "bad"] * 4, [1, 0, 1, 0] * 4, epochs=1, batch_size=4, progress=False)
    clf.save_pretrained(tmp_path / "clf")
    results = tmp_path / "clf.json"
    assert roots_eval(["run", "--model", str(tmp_path / "clf"), "--tasks", "cls_chnsenticorp", "--limit", "5",
                       "--bootstrap-iters", "20", "--output", str(results), "--device", "cpu"]) == 0
    links = lineage_json(results)
    assert [l["kind"] for l in links][:4] == ["results", "task-data", "classifier", "checkpoint"]
    checkpoint = next((chain.run / "checkpoints").iterdir())
    assert links[3]["path"] == str(checkpoint)
    assert links[3]["digest"] == "sha256:" + sha256_hex(checkpoint / "checkpoint.json")
    assert links[-1]["kind"] == "input"
    code, err = verify(results, capsys=capsys)
    assert code == 0, err


def test_leaderboard_target_needs_a_row(chain, capsys):
    assert roots_eval(["lineage", str(chain.site)]) == 2
    assert chain.model_id in capsys.readouterr().err
