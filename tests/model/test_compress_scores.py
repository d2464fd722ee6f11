"""`roots-eval compression OUT`: harness scores of the original and the compressed model
added to the report a compression command wrote (the glue lives on the evaluation side)."""
import json

import pytest

from roots_eval.cli import main as eval_main
from roots_model.cli import main as train_main
from roots_model.testing import tiny_workspace


def _score(model, output, task="cls_chnsenticorp"):
    assert eval_main(["run", "--model", str(model), "--tasks", task, "--limit", "6", "--output", str(output),
                      "--bootstrap-iters", "20", "--device", "cpu", "--no-cache"]) == 0
    entry = json.loads(output.read_text())["results"][task]
    return entry["metrics"][entry["primary_metric"]]["value"]


def test_both_models_scored_into_the_report(tiny_ckpt, tmp_path, capsys):
    out = tmp_path / "pruned"
    assert train_main(["prune", "--checkpoint", str(tiny_ckpt), "--output", str(out), "--sparsity", "0.7",
                       "--data", str(tiny_workspace().tokens)]) == 0
    assert eval_main(["compression", str(out), "--tasks", "cls_chnsenticorp", "--limit", "6"]) == 0
    report = json.loads((out / "report.json").read_text())
    original = report["original"]["harness"]["cls_chnsenticorp"]
    compressed = report["compressed"]["harness"]["cls_chnsenticorp"]
    assert original["n"] == compressed["n"] == 6
    # Each side is its own model: the same figure as scoring that checkpoint on its own.
    assert original["value"] == pytest.approx(_score(tiny_ckpt, tmp_path / "orig.json"))
    assert compressed["value"] == pytest.approx(_score(out, tmp_path / "pruned.json"))
    assert report["harness"]["difference"]["cls_chnsenticorp"] == pytest.approx(compressed["value"] - original["value"], abs=1e-4)
    assert report["compressed"]["val_perplexity"] is not None  # the model-side figures are still there


def test_no_report_is_a_clear_error(tmp_path, capsys):
    assert eval_main(["compression", str(tmp_path), "--tasks", "cls_sst2"]) == 2
    assert "report.json does not exist" in capsys.readouterr().err
