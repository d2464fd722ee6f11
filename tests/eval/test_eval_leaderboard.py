"""Leaderboard from results files: Markdown, and an HTML page checked in headless Chromium."""
import copy
import json
import os
import re
from html.parser import HTMLParser

import pytest

from roots_eval.cli import main
from roots_eval.evaluator import EvalConfig
from roots_eval.runner import run
from roots_eval.task import load_tasks
from roots_eval.testing import EmptyModel, ReferenceCopyModel

os.environ.setdefault("HF_HUB_OFFLINE", "1")
TASKS = ("cls_sst2", "qa_cmrc2018_dev", "sum_lcsts")


@pytest.fixture(scope="module")
def result_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    tasks = [t for t in load_tasks("all")[0] if t.name in TASKS]
    run(ReferenceCopyModel(tasks, 4, model_id="gold"), tasks, root / "gold.json", EvalConfig(limit=4))
    run(EmptyModel(tasks, 4, model_id="silent"), tasks, root / "silent.json", EvalConfig(limit=4))
    # a third model with known, uneven scores: 80 on SST-2, 30 on CMRC F1, no LCSTS result
    mixed = json.loads((root / "gold.json").read_text(encoding="utf-8"))
    mixed["model"]["id"] = "mixed"
    mixed["results"]["cls_sst2"]["metrics"]["accuracy"]["value"] = 80.0
    mixed["results"]["qa_cmrc2018_dev"]["metrics"]["f1"]["value"] = 30.0
    del mixed["results"]["sum_lcsts"]
    (root / "mixed.json").write_text(json.dumps(mixed), encoding="utf-8")
    old = dict(mixed, schema_version=0)
    (root / "old.json").write_text(json.dumps(old), encoding="utf-8")
    # input order differs from the ranking, so the page's sort script has work to do
    return root, [root / "silent.json", root / "mixed.json", root / "gold.json"]


def test_markdown_leaderboard(result_files, tmp_path, capsys):
    root, files = result_files
    site = tmp_path / "site"
    assert main(["leaderboard", *map(str, files), str(root / "old.json"), "--output", str(site)]) == 1
    assert "old.json" in capsys.readouterr().err  # the other-schema file is named and skipped
    md = (site / "leaderboard.md").read_text(encoding="utf-8")
    rows = [line for line in md.splitlines() if line.startswith("| gold") or line.startswith("| mixed") or line.startswith("| silent")]
    assert [r.split("|")[1].strip() for r in rows[:3]] == ["gold", "mixed", "silent"]
    gold, mixed, silent = rows[:3]
    assert "| 100.00 |" in gold and "| 55.00 |" in mixed and "| 0.00 |" in silent
    board = json.loads((site / "leaderboard.json").read_text(encoding="utf-8"))
    mixed_entry = next(m for m in board["models"] if m["id"] == "mixed")
    assert mixed_entry["average"] == pytest.approx(55.0)
    assert mixed_entry["by_language"] == {"en": pytest.approx(80.0), "zh": pytest.approx(30.0)}


class _Table(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.sorted_by, self._in, self._cell = [], None, False, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id") == "leaderboard":
            self._in, self.sorted_by = True, attrs.get("data-sorted-by")
        elif self._in and tag == "tr":
            self.rows.append([])
        elif self._in and tag in ("td", "th"):
            self._cell = []
        elif self._in and tag == "a" and self.rows:
            self.rows[-1].append(("href", attrs.get("href")))

    def handle_endtag(self, tag):
        if tag == "table":
            self._in = False
        elif self._in and tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def test_html_leaderboard_renders_sorted_in_headless_chromium(result_files, tmp_path, page_dom):
    root, files = result_files
    site = tmp_path / "site"
    assert main(["leaderboard", *map(str, files), "--output", str(site)]) == 0
    raw = (site / "index.html").read_text(encoding="utf-8")
    assert raw.index(">silent<") < raw.index(">gold<")  # unsorted before the script runs
    table = _Table()
    table.feed(page_dom(site / "index.html"))
    assert table.sorted_by == "average:desc"
    header, *body = table.rows
    cells = [[c for c in row if isinstance(c, str)] for row in body]
    assert [row[1] for row in cells] == ["gold", "mixed", "silent"]
    assert [row[0] for row in cells] == ["1", "2", "3"]
    average = header.index("Average")
    assert [row[average] for row in cells] == ["100.00", "55.00", "0.00"]
    zh = header.index("Avg zh")
    assert [row[zh] for row in cells] == ["100.00", "30.00", "0.00"]
    sst2 = next(i for i, h in enumerate(header) if h.startswith("cls_sst2"))
    assert cells[1][sst2].startswith("80.00")
    links = [href for row in body for kind, href in (c for c in row if isinstance(c, tuple))]
    # each row's model cell opens its lineage page (tests/eval/test_lineage_pages.py), each score its samples
    pages = [h for h in links if h.startswith("lineage/")]
    samples = [h for h in links if h not in pages]
    assert pages == [f"lineage/{m}.html" for m in ("gold", "mixed", "silent")]
    assert samples and all(re.search(r"\.samples/.+\.jsonl$", h) for h in samples)
    assert all((site / h).resolve().is_file() for h in links)


# -- comparability -----------------------------------------------------------------------------
def _variant(source, model_id, edit):
    data = copy.deepcopy(source)
    data["model"]["id"] = model_id
    edit(data)
    return data


def _board(tmp_path, results):
    paths = []
    for data in results:
        path = tmp_path / f"{data['model']['id']}.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        paths.append(path)
    site = tmp_path / "site"
    assert main(["leaderboard", *map(str, paths), "--output", str(site)]) == 0
    return json.loads((site / "leaderboard.json").read_text(encoding="utf-8")), \
        (site / "leaderboard.md").read_text(encoding="utf-8")


def _set(data, task, value):
    entry = data["results"][task]
    entry["metrics"][entry["primary_metric"]]["value"] = value


def test_average_covers_only_the_tasks_every_model_has(result_files, tmp_path):
    root, _ = result_files
    gold = json.loads((root / "gold.json").read_text(encoding="utf-8"))
    # "full" is weak on the shared tasks and perfect on the one "partial" skipped: averaging
    # whatever each row has would rank full (66.7) above partial (100) on different task sets
    full = _variant(gold, "full", lambda d: (_set(d, "cls_sst2", 50.0), _set(d, "qa_cmrc2018_dev", 50.0)))
    partial = _variant(gold, "partial", lambda d: d["results"].pop("sum_lcsts"))
    board, md = _board(tmp_path, [full, partial])
    assert len(board["groups"]) == 1 and board["groups"][0]["averaged_tasks"] == ["cls_sst2", "qa_cmrc2018_dev"]
    by_id = {m["id"]: m for m in board["models"]}
    assert by_id["full"]["average"] == pytest.approx(50.0) and by_id["partial"]["average"] == pytest.approx(100.0)
    assert by_id["full"]["by_language"]["zh"] == pytest.approx(50.0)  # cmrc only: lcsts is not common
    assert by_id["full"]["scores"]["sum_lcsts"] == pytest.approx(100.0)  # still shown
    assert "sum_lcsts (rougeL) *" in md  # flagged as left out of the averages


@pytest.mark.parametrize("what,edit", [
    ("limit", lambda d: d["config"].update(limit=50)),
    ("generation cap", lambda d: d["config"].update(max_new_tokens=8)),
    ("task version", lambda d: d["results"]["cls_sst2"].update(version=2)),
    ("few-shot count", lambda d: d["results"]["qa_cmrc2018_dev"].update(num_fewshot=3)),
    ("dataset file", lambda d: d["results"]["sum_lcsts"]["dataset"].update(hash="sha256:other")),
])
def test_incomparable_results_are_kept_apart(result_files, tmp_path, what, edit):
    root, _ = result_files
    gold = json.loads((root / "gold.json").read_text(encoding="utf-8"))
    silent = json.loads((root / "silent.json").read_text(encoding="utf-8"))
    other = _variant(gold, "other", edit)
    board, md = _board(tmp_path, [gold, silent, other])
    groups = [g["models"] for g in board["groups"]]
    assert groups == [["gold", "silent"], ["other"]], what
    assert {m["id"]: m["group"] for m in board["models"]} == {"gold": 1, "silent": 1, "other": 2}
    assert "## Group 1" in md and "## Group 2" in md
    # comparable rows still share one table
    same = tmp_path / "same"
    same.mkdir()
    board, md = _board(same, [gold, silent])
    assert [g["models"] for g in board["groups"]] == [["gold", "silent"]] and "## Group" not in md


def test_task_versions_and_settings_are_in_the_results_and_the_page(result_files, tmp_path):
    root, files = result_files
    gold = json.loads((root / "gold.json").read_text(encoding="utf-8"))
    for entry in gold["results"].values():
        assert isinstance(entry["version"], int) and "num_fewshot" in entry and "fewshot" in entry
    site = tmp_path / "site"
    assert main(["leaderboard", *map(str, files), "--output", str(site)]) == 0
    md = (site / "leaderboard.md").read_text(encoding="utf-8")
    assert "cls_sst2 v1 0-shot" in md and "limit 4" in md
