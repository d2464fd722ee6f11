"""Data through `datasets`: a task YAML naming a load_dataset source (local json, parquet,
csv, a save_to_disk folder) gives the same docs and scores as the built-in file; finetune
--data accepts the same sources. Everything offline, on local files written here."""
import json
import shutil

import datasets
import pytest

from roots_eval.baselines import BaselineModel
from roots_eval.evaluator import EvalConfig, run_task
from roots_eval.task import load_task, load_tasks
from roots_model.hfdata import load_rows

ROWS = [{"id": f"r{i}", "text": t, "label": lab} for i, (t, lab) in
        enumerate([("good film", 1), ("bad film", 0), ("great fun", 1), ("awful", 0), ("fine", 1)])]


@pytest.fixture
def sources(tmp_path):
    ds = datasets.Dataset.from_list(ROWS)
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    ds.to_parquet(str(tmp_path / "rows.parquet"))
    ds.to_csv(str(tmp_path / "rows.csv"), index=False)
    ds.save_to_disk(str(tmp_path / "saved"))
    datasets.DatasetDict({"train": ds, "test": ds.select([0])}).save_to_disk(str(tmp_path / "saved_dict"))
    return tmp_path


def test_every_local_source_gives_the_same_rows(sources):
    for source in ("rows.jsonl", "rows.parquet", "rows.csv", "saved", "saved_dict"):
        assert load_rows(sources / source) == ROWS, source
    assert load_rows({"path": "json", "data_files": str(sources / "rows.jsonl")}) == ROWS
    assert load_rows(sources / "saved_dict", split="test") == ROWS[:1]


def test_task_yaml_with_load_dataset_matches_the_builtin_file(tmp_path):
    builtin = load_tasks("cls_sst2")[0][0]
    text = builtin.source_file.read_text()
    path = tmp_path / "cls_sst2_hf.yaml"
    # the same file, read through datasets.load_dataset("json", ...)
    path.write_text(text.replace("task: cls_sst2", "task: cls_sst2_hf").replace(
        "  file: dev.jsonl", '  load_dataset: {path: json, data_files: dev.jsonl, split: train}'))
    via_datasets = load_task(path)
    config = EvalConfig(limit=50, bootstrap_iters=0)
    a = run_task(BaselineModel([builtin], "random", config), builtin, config)
    b = run_task(BaselineModel([via_datasets], "random", config), via_datasets, config)
    assert a["metrics"] == b["metrics"] and a["n"] == b["n"] == 50
    assert [d["id"] for d in via_datasets.load_docs()] == [d["id"] for d in builtin.load_docs()]


@pytest.mark.parametrize("source", ["rows.parquet", "rows.csv", "saved"])
def test_a_builtin_style_task_reads_any_local_source_through_datasets(sources, tmp_path, monkeypatch, source):
    """`dataset: {name, file}` is read by datasets.load_dataset like a load_dataset spec, so the
    file may be parquet, csv or a save_to_disk folder as well as JSONL."""
    data = tmp_path / "data"
    (data / "toy").mkdir(parents=True)
    target = data / "toy" / source
    (shutil.copytree if (sources / source).is_dir() else shutil.copy)(sources / source, target)
    monkeypatch.setenv("ROOTS_DATA_DIR", str(data))
    yaml_path = tmp_path / "toy.yaml"
    yaml_path.write_text(f"""task: toy
version: 1
category: classification
language: en
output_type: multiple_choice
dataset: {{name: toy, file: {source}}}
prompt: "{{text}}"
choices: {{verbalizer: {{0: bad, 1: good}}}}
metrics: [classification]
primary_metric: accuracy
""")
    docs = load_task(yaml_path).load_docs()
    assert [{k: d[k] for k in ("id", "text", "label")} for d in docs] == ROWS


def test_every_builtin_task_is_read_through_datasets(monkeypatch):
    """One code path: the built-in tasks' files go through roots_model.hfdata.load_rows."""
    import roots_model.hfdata as hfdata

    seen = []
    real = hfdata.load_rows
    monkeypatch.setattr(hfdata, "load_rows", lambda source, *a, **k: seen.append(source) or real(source, *a, **k))
    tasks, errors = load_tasks("cls_sst2,qa_drcd,mt_wmt21_newstest_en-zh")
    assert not errors
    for task in tasks:
        seen.clear()
        task.load_docs()
        assert [str(s) for s in seen] == [str(task.data_path())], task.name


def test_finetune_cli_reads_a_parquet_file(sources, tmp_path):
    from roots_model.cli import main
    from roots_model.testing import tiny_checkpoint

    ckpt = tiny_checkpoint(tmp_path, steps=4)
    assert main(["finetune", "--checkpoint", str(ckpt), "--data", str(sources / "rows.parquet"),
                 "--output", str(tmp_path / "clf"), "--epochs", "1"]) == 0
    meta = json.loads((tmp_path / "clf" / "classifier.json").read_text())
    assert meta["labels"] == [0, 1]
