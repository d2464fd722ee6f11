"""End to end on a tiny trained roots_model checkpoint: every built-in task, batch-size
invariance, a fine-tuned classifier scored through its head, and the optional HF backend."""
import json
import os

import pytest

from roots_eval.cli import main

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytestmark = pytest.mark.slow
testing = pytest.importorskip("roots_model.testing", reason="roots_model is not available")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return testing.tiny_checkpoint(tmp_path_factory.mktemp("ckpt"), steps=10)


def _run(checkpoint, output, *extra):
    return main(["run", "--model", str(checkpoint), "--output", str(output), "--bootstrap-iters", "50", *extra])


def test_every_builtin_task_runs_end_to_end(checkpoint, tmp_path):
    output = tmp_path / "results" / "tiny.json"
    assert _run(checkpoint, output, "--tasks", "all", "--limit", "2", "--max-new-tokens", "4", "--batch-size", "16") == 0
    data = json.loads(output.read_text(encoding="utf-8"))
    assert data["errors"] == {} and len(data["results"]) == 17
    assert data["model"]["type"] == "roots" and data["model"]["checkpoint_hash"].startswith("sha256:")
    for name, entry in data["results"].items():
        assert entry["n"] == 2, name
        for metric, value in entry["metrics"].items():
            if entry["category"] == "language_modeling":  # bits per byte, perplexities: positive, lower is better
                assert value["value"] > 0, (name, metric)
            else:
                assert 0.0 <= value["value"] <= 100.0, (name, metric)
        samples = (output.parent / entry["samples_file"]).read_text(encoding="utf-8").splitlines()
        assert len(samples) == 2
    sst2 = [json.loads(s) for s in (output.parent / data["results"]["cls_sst2"]["samples_file"]).read_text().splitlines()]
    assert all(len(s["loglikelihoods"]) == 2 and all(ll < 0 for ll in s["loglikelihoods"]) for s in sst2)


def test_scores_do_not_depend_on_batch_size(checkpoint, tmp_path):
    tasks = "cls_sst2,cls_tnews,mt_flores200_en-zh,qa_cmrc2018_dev,sum_xsum"
    scores = {}
    for batch in ("1", "16"):
        output = tmp_path / f"b{batch}.json"
        assert _run(checkpoint, output, "--tasks", tasks, "--limit", "6", "--max-new-tokens", "6",
                    "--batch-size", batch, "--no-cache", "--device", "cpu") == 0
        data = json.loads(output.read_text(encoding="utf-8"))
        scores[batch] = {t: {m: v["value"] for m, v in e["metrics"].items()} for t, e in data["results"].items()}
        outputs = {}
        for t, e in data["results"].items():
            lines = (tmp_path / e["samples_file"]).read_text(encoding="utf-8").splitlines()
            outputs[t] = [(json.loads(s)["output"], json.loads(s).get("loglikelihoods")) for s in lines]
        scores[batch + "_outputs"] = outputs
    assert scores["1"] == scores["16"]
    for task, rows in scores["1_outputs"].items():
        for (out1, ll1), (out16, ll16) in zip(rows, scores["16_outputs"][task]):
            assert out1 == out16, task
            if ll1 is not None:
                assert ll1 == pytest.approx(ll16, abs=1e-4)


def test_finetuned_classifier_is_scored_through_its_head(checkpoint, tmp_path):
    from roots_model.classifier import TextClassifier

    from roots_eval.evaluator import EvalConfig
    from roots_eval.models import load_model
    from roots_eval.runner import run
    from roots_eval.task import load_tasks

    task = load_tasks("cls_sst2")[0]
    docs = task[0].load_docs()
    clf = TextClassifier.from_pretrained(checkpoint, labels=[0, 1])
    clf.finetune([d["text"] for d in docs[:32]], [d["label"] for d in docs[:32]], epochs=1, progress=False)
    clf.save(tmp_path / "clf")
    model = load_model(tmp_path / "clf")
    assert model.is_classifier
    results = run(model, task, tmp_path / "clf.json", EvalConfig(limit=8))
    entry = results["results"]["cls_sst2"]
    assert entry["scoring"] == "classifier_head" and "acc_norm" not in entry["metrics"]
    picked = task[0].select(docs, 8)
    expected = clf.predict([d["text"] for d in picked])
    accuracy = 100.0 * sum(p == d["label"] for p, d in zip(expected, picked)) / len(picked)
    assert entry["metrics"]["accuracy"]["value"] == pytest.approx(accuracy)


def test_hugging_face_backend_is_optional(tmp_path):
    pytest.importorskip("transformers", reason="optional extra roots[hf] not installed")
    from roots_eval.models import ModelLoadError, load_model

    with pytest.raises(ModelLoadError):
        load_model(tmp_path, model_type="hf")
