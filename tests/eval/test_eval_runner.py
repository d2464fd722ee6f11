"""The runner with scripted models: gold answers score 100, no answers 0; resume; errors kept."""
import json
import os

import pytest

from roots_eval.cli import main
from roots_eval.evaluator import EvalConfig
from roots_eval.models import ModelLoadError, load_model
from roots_eval.results import SCHEMA_VERSION, ResultsError, load_results
from roots_eval.runner import run, sidecar_paths
from roots_eval.task import load_tasks
from roots_eval.testing import EmptyModel, ReferenceCopyModel

os.environ.setdefault("HF_HUB_OFFLINE", "1")
LIMIT = 6


@pytest.fixture(scope="module")
def tasks():
    loaded, errors = load_tasks("all")
    assert not errors
    # perplexity tasks have no gold answer to copy (tests/eval/test_eval_perplexity.py covers them)
    return [t for t in loaded if t.category != "language_modeling"]


def test_reference_copy_scores_100_and_empty_scores_0_on_every_task(tasks, tmp_path):
    best = run(ReferenceCopyModel(tasks, LIMIT), tasks, tmp_path / "best.json", EvalConfig(limit=LIMIT))
    worst = run(EmptyModel(tasks, LIMIT), tasks, tmp_path / "worst.json", EvalConfig(limit=LIMIT))
    assert best["errors"] == {} and worst["errors"] == {}
    assert len(best["results"]) == len(tasks)
    for name, entry in best["results"].items():
        assert entry["n"] == LIMIT
        for metric, value in entry["metrics"].items():
            assert value["value"] == pytest.approx(100.0), (name, metric)
            assert worst["results"][name]["metrics"][metric]["value"] == pytest.approx(0.0), (name, metric)
    mt = best["results"]["mt_wmt21_newstest_en-zh"]
    assert "tok:zh" in mt["signatures"]["sacrebleu"] and "nrefs:2" in mt["signatures"]["sacrebleu"]
    samples = [json.loads(line) for line in (tmp_path / mt["samples_file"]).read_text(encoding="utf-8").splitlines()]
    assert len(samples) == LIMIT and samples[0]["output"] == samples[0]["reference"][0]
    assert "and then some text" not in samples[0]["output"]  # cut at the stop sequence
    assert set(samples[0]) >= {"doc_id", "prompt", "output", "reference", "scores"}


def test_results_schema(tasks, tmp_path):
    chosen = [t for t in tasks if t.name in ("cls_sst2", "qa_cmrc2018_dev")]
    run(ReferenceCopyModel(chosen, 4), chosen, tmp_path / "r.json", EvalConfig(limit=4))
    data = load_results(tmp_path / "r.json")
    assert data["schema_version"] == SCHEMA_VERSION and data["model"]["checkpoint_hash"]
    entry = data["results"]["qa_cmrc2018_dev"]
    assert entry["dataset"]["hash"].startswith("sha256:") and entry["version"] == 1 and entry["n"] == 4
    assert set(entry["metrics"]["f1"]) == {"value", "stderr"} and "requests_s" in entry["timings"]
    assert {"roots_eval_version", "git_commit", "config", "timings", "created"} <= set(data)


class Interrupted(RuntimeError):
    pass


class FlakyCopyModel(ReferenceCopyModel):
    """Dies after answering `budget` generation requests, like a killed job."""

    budget = None

    def generate(self, requests):
        if self.budget is not None:
            if self.budget <= 0:
                raise Interrupted("killed")
            self.budget -= len(requests)
        return super().generate(requests)


def test_cache_resumes_an_interrupted_run_without_recomputing(tasks, tmp_path):
    chosen = [t for t in tasks if t.name == "mt_flores200_zh-en"]
    n = 150  # more than one cache chunk (64)
    output = tmp_path / "resume.json"
    model = FlakyCopyModel(chosen, n)
    model.budget = 64
    first = run(model, chosen, output, EvalConfig(limit=n, bootstrap_iters=10))
    assert "Interrupted" in first["errors"]["mt_flores200_zh-en"]
    done_before = model.calls["generate"]
    assert done_before == 64
    model.budget = None
    second = run(model, chosen, output, EvalConfig(limit=n, bootstrap_iters=10))
    assert second["errors"] == {}
    assert model.calls["generate"] - done_before == n - 64  # only the missing ones
    assert second["timings"]["cache_hits"] == 64
    third_model = FlakyCopyModel(chosen, n)
    third_model.budget = 0  # any model call would fail: everything must come from the cache
    third = run(third_model, chosen, output, EvalConfig(limit=n, bootstrap_iters=10))
    assert third["results"]["mt_flores200_zh-en"]["metrics"]["bleu"]["value"] == pytest.approx(100.0)
    assert sidecar_paths(output)[1].exists()


def test_a_failing_task_keeps_the_other_results(tasks, tmp_path, monkeypatch):
    chosen = [t for t in tasks if t.name in ("cls_sst2", "sum_lcsts", "qa_drcd")]
    model = ReferenceCopyModel(chosen, 3)
    broken = data_dir_without_field(tmp_path, "sum_lcsts", "eval.jsonl", "summary")
    monkeypatch.setenv("ROOTS_DATA_DIR", str(broken))
    results = run(model, chosen, tmp_path / "partial.json", EvalConfig(limit=3))
    assert set(results["results"]) == {"cls_sst2", "qa_drcd"}
    assert "missing field 'summary'" in results["errors"]["sum_lcsts"] and "eval.jsonl row 1" in results["errors"]["sum_lcsts"]
    assert set(load_results(tmp_path / "partial.json")["results"]) == {"cls_sst2", "qa_drcd"}


def data_dir_without_field(tmp_path, dataset, filename, field):
    """A data dir that links every real dataset but rewrites one file without `field`."""
    from pipelines.datadir import data_dir

    root = tmp_path / "data"
    root.mkdir()
    for entry in data_dir().iterdir():
        if entry.name != dataset:
            (root / entry.name).symlink_to(entry)
    (root / dataset).mkdir()
    rows = [json.loads(line) for line in (data_dir() / dataset / filename).read_text(encoding="utf-8").split("\n") if line]
    with open(root / dataset / filename, "w", encoding="utf-8") as handle:
        for row in rows:
            row.pop(field, None)
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return root


def test_results_of_another_schema_version_are_refused(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"schema": "roots-eval/results", "schema_version": 0, "model": {"id": "x"}}))
    with pytest.raises(ResultsError) as err:
        load_results(path)
    assert str(path) in str(err.value) and "schema_version" in str(err.value)


def test_a_checkpoint_that_does_not_load(tmp_path, capsys):
    bad = tmp_path / "ckpt"
    bad.mkdir()
    (bad / "checkpoint.json").write_text("{ not json")
    with pytest.raises(ModelLoadError) as err:
        load_model(bad)
    assert str(bad) in str(err.value)
    rc = main(["run", "--model", str(bad), "--tasks", "cls_sst2", "--output", str(tmp_path / "o.json"), "--limit", "1"])
    assert rc == 2 and str(bad) in capsys.readouterr().err
    with pytest.raises(ModelLoadError, match="not a roots_model checkpoint"):
        load_model(tmp_path)


def test_list_tasks_cli(capsys):
    assert main(["list-tasks"]) == 0
    out = capsys.readouterr().out
    assert "qa_cmrc2018_dev" in out and "sacrebleu(tokenize=zh)" in out
