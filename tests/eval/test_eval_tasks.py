"""The task registry: built-in YAML tasks, bad task files, bad datasets, stable subsets, few-shot."""
import json
import os
import shutil

import pytest

from roots_eval.task import TaskError, load_task, load_tasks

os.environ.setdefault("HF_HUB_OFFLINE", "1")

EXPECTED = {
    "cls_sst2", "cls_agnews", "cls_chnsenticorp", "cls_tnews", "cls_iflytek", "cls_thucnews_titles",
    "mt_wmt21_newstest_zh-en", "mt_wmt21_newstest_en-zh", "mt_flores200_zh-en", "mt_flores200_en-zh",
    "qa_squad_v1.1_dev", "qa_cmrc2018_dev", "qa_drcd", "sum_xsum", "sum_lcsts", "lm_flores200_zh", "lm_flores200_en",
}


def test_builtin_registry_is_complete_and_loads_its_data():
    tasks, errors = load_tasks("all")
    assert errors == {}
    assert {t.name for t in tasks} == EXPECTED
    by_name = {t.name: t for t in tasks}
    assert by_name["mt_wmt21_newstest_en-zh"].metrics[0].args == {"tokenize": "zh"}
    assert by_name["mt_wmt21_newstest_zh-en"].metrics[0].args == {"tokenize": "13a"}
    assert by_name["sum_lcsts"].metrics[0].args == {"tokenizer": "zh_char"}
    assert by_name["sum_xsum"].metrics[0].args == {"use_stemmer": True}
    assert [m.name for m in by_name["qa_drcd"].metrics] == ["cmrc2018"]
    wmt = by_name["mt_wmt21_newstest_en-zh"].load_docs()
    assert len(wmt) == 696 and all(d["direction"] == "en-zh" for d in wmt)
    assert len(by_name["mt_wmt21_newstest_en-zh"].reference_list(wmt[0])) == 2
    assert len(by_name["cls_iflytek"].choices()) == 117
    assert dict(by_name["cls_tnews"].choices())[110] == "军事"


def test_selection_by_dataset_category_and_language():
    names = lambda spec: {t.name for t in load_tasks(spec)[0]}  # noqa: E731
    assert names("mt_wmt21_newstest_zh_en") == {"mt_wmt21_newstest_zh-en", "mt_wmt21_newstest_en-zh"}
    assert names("qa") == {"qa_squad_v1.1_dev", "qa_cmrc2018_dev", "qa_drcd"}
    assert "cls_sst2" not in names("zh") and "sum_lcsts" in names("zh")
    tasks, errors = load_tasks("cls_sst2,no_such_task")
    assert [t.name for t in tasks] == ["cls_sst2"] and "no_such_task" in errors


def test_stable_subsets_are_nested_and_fewshot_is_seeded():
    task = load_task(next(p for p in _builtin_dir().glob("mt_flores200_zh-en.yaml")))
    docs = task.load_docs()
    small, large = task.select(docs, 5), task.select(docs, 20)
    assert [d["id"] for d in small] == [d["id"] for d in large[:5]]
    assert [d["id"] for d in task.select(list(reversed(docs)), 5)] == [d["id"] for d in small]
    shots = task.fewshot_examples(small[0], docs)
    assert len(shots) == 1 and shots[0]["id"] != small[0]["id"]
    assert task.fewshot_examples(small[0], docs) == shots  # same seed, same example
    context = task.context(small[0], docs)
    assert context.startswith("Translate") and context.count("Chinese:") == 2 and shots[0]["en"] in context


def _builtin_dir():
    from roots_eval.task import TASKS_DIR

    return TASKS_DIR


def _copy_task(tmp_path, name="cls_sst2.yaml"):
    target = tmp_path / "tasks"
    target.mkdir(exist_ok=True)
    shutil.copy(_builtin_dir() / name, target / name)
    return target / name


@pytest.mark.parametrize("edit,expected", [
    (lambda s: s.replace("prompt:", "promt:"), "missing field 'prompt'"),
    (lambda s: s.replace("output_type: multiple_choice", "output_type: choose"), "'output_type'"),
    (lambda s: s.replace("- name: classification", "- name: no_metric"), "unknown metric 'no_metric'"),
    (lambda s: s + "\n  : [unbalanced", "malformed YAML"),
    (lambda s: s.replace("version: 1", "version: one"), "wrong type"),
])
def test_malformed_task_files_name_the_file_and_field(tmp_path, edit, expected):
    path = _copy_task(tmp_path)
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(TaskError) as err:
        load_task(path)
    assert str(path) in str(err.value) and expected in str(err.value)
    # a broken extra task file is reported, the built-in tasks still load
    tasks, errors = load_tasks("all", [path.parent])
    assert len(tasks) == len(EXPECTED) and "cls_sst2" in errors


def test_missing_task_file():
    with pytest.raises(TaskError, match="nope.yaml"):
        load_task("/nonexistent/nope.yaml")


def test_dataset_with_a_missing_field_names_file_line_and_field(tmp_path, monkeypatch):
    data = tmp_path / "data" / "cls_sst2"
    data.mkdir(parents=True)
    rows = [{"id": "a", "text": "good", "label": 1}, {"id": "b", "label": 0}]
    (data / "dev.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    monkeypatch.setenv("ROOTS_DATA_DIR", str(tmp_path / "data"))
    task = load_task(_builtin_dir() / "cls_sst2.yaml")
    with pytest.raises(TaskError) as err:
        task.load_docs()
    message = str(err.value)
    assert "dev.jsonl row 2" in message and "missing field 'text'" in message


# -- few-shot examples ---------------------------------------------------------------------------
def test_fewshot_examples_never_come_from_the_evaluated_article():
    """FLORES has no separate split: an example from the evaluated sentence's own article (same
    url) would hand the model its context. Checked for every doc of the file."""
    task = load_task(_builtin_dir() / "mt_flores200_zh-en.yaml")
    docs = task.load_docs()
    assert task.fewshot_group_field == "url" and task.version >= 2
    for doc in docs:
        shots = task.fewshot_examples(doc, docs)
        assert len(shots) == 1 and shots[0]["url"] != doc["url"], doc["id"]


def _write_dataset(root, name, files):
    folder = root / name
    folder.mkdir(parents=True)
    for filename, rows in files.items():
        (folder / filename).write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")


def _task_file(tmp_path, fewshot, num_fewshot):
    path = tmp_path / "tasks" / "toy.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"""task: toy
version: 1
category: translation
language: en
output_type: generate_until
dataset: {{name: toy, file: test.jsonl}}
prompt: "Q: {{q}}\\nA:"
target: " {{a}}"
references: ["{{a}}"]
num_fewshot: {num_fewshot}
fewshot: {json.dumps(fewshot)}
metrics: [chrf]
primary_metric: chrf
""", encoding="utf-8")
    return load_task(path)


def test_fewshot_from_a_separate_split_or_away_from_the_neighbours(tmp_path, monkeypatch):
    test_rows = [{"id": f"t{i}", "q": f"test question {i}", "a": f"answer {i}", "doc": i // 5} for i in range(40)]
    train_rows = [{"id": f"s{i}", "q": f"train question {i}", "a": f"train {i}", "doc": 100 + i} for i in range(12)]
    _write_dataset(tmp_path / "data", "toy", {"test.jsonl": test_rows, "train.jsonl": train_rows})
    monkeypatch.setenv("ROOTS_DATA_DIR", str(tmp_path / "data"))

    separate = _task_file(tmp_path, {"file": "train.jsonl"}, 5)
    docs = separate.load_docs()
    train_ids = {r["id"] for r in train_rows}
    for doc in docs:
        context, ids = separate.context_with_shots(doc, docs)
        assert len(ids) == 5 and set(ids) <= train_ids
        assert all(f"train question {i[1:]}\nA: train {i[1:]}" in context for i in ids)
    assert separate.fewshot_settings()["separate_split"] and separate.fewshot_settings()["source"] == "train.jsonl"

    window = _task_file(tmp_path, {"exclude_window": 3, "group_field": "doc"}, 20)
    docs = window.load_docs()
    for doc in docs:
        row = int(doc["id"][1:])
        ids = window.context_with_shots(doc, docs)[1]
        assert len(ids) == 20 and len(set(ids)) == 20  # 40 rows leave enough after the exclusions
        for other in ids:
            k = int(other[1:])
            assert abs(k - row) > 3 and k // 5 != row // 5, (doc["id"], other)


def test_fewshot_ids_are_recorded_in_samples_and_results(tmp_path):
    from roots_eval.evaluator import EvalConfig
    from roots_eval.runner import run
    from roots_eval.testing import ReferenceCopyModel

    tasks = load_tasks("mt_flores200_zh-en")[0]
    results = run(ReferenceCopyModel(tasks, 5), tasks, tmp_path / "r.json", EvalConfig(limit=5, bootstrap_iters=0))
    entry = results["results"]["mt_flores200_zh-en"]
    by_id = {d["id"]: d for d in tasks[0].load_docs()}
    samples = [json.loads(line) for line in (tmp_path / entry["samples_file"]).read_text(encoding="utf-8").splitlines()]
    used = set()
    for sample in samples:
        assert len(sample["fewshot_ids"]) == 1
        for shot in sample["fewshot_ids"]:
            # the recorded example is the one in the prompt: its source and translation are there
            assert by_id[shot]["zh"] in sample["prompt"] and by_id[shot]["en"] in sample["prompt"]
            used.add(shot)
    assert entry["fewshot"]["used_ids"] == sorted(used)
    assert entry["fewshot"]["group_field"] == "url" and entry["fewshot"]["separate_split"] is False
