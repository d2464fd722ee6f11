"""The leaderboard's lineage pages, rendered in headless Chromium: each row links to a page
showing its results, task data, checkpoint (digest, step, training curve and config), token
shards and corpus release (funnel, per-language and per-source counts, config, inputs).

The chain is made by the real tools (roots_eval.testing.lineage_chain, plus a second run with
a checkpoint half-way). Expected values come from the files themselves (hashlib, stats.json,
state.json, metrics.jsonl, the release manifest), never from the page code."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import lxml.html
import pytest

from pipelines.datadir import dataset_path
from roots_eval.cli import main as roots_eval
from roots_eval.testing import sha256_hex

pytestmark = pytest.mark.slow
TASK = "cls_chnsenticorp"


@pytest.fixture(scope="module")
def board(chain, tmp_path_factory):
    """A leaderboard of: the chain's final checkpoint, a checkpoint half-way through a second
    run on the same release, and a baseline (nothing to trace)."""
    from roots_model.train import TrainConfig, pretrain

    work = tmp_path_factory.mktemp("pages")
    run = work / "halfway"
    pretrain(TrainConfig(data=str(chain.corpus), tokenizer=str(chain.tokenizer), output=str(run), preset="tiny",
                         max_steps=4, batch_size=8, seq_len=128, lr=3e-3, warmup_steps=1, seed=1, log_interval=1,
                         eval_interval=2, eval_batches=2, checkpoint_interval=2, val_fraction=0.05, workers=1,
                         progress=False, tensorboard=False))
    halfway = work / "results" / "halfway.json"
    assert roots_eval(["run", "--model", str(run / "checkpoints" / "step-00000002"), "--tasks", TASK, "--limit", "5",
                       "--bootstrap-iters", "50", "--output", str(halfway), "--device", "cpu"]) == 0
    assert roots_eval(["baselines", "--tasks", TASK, "--limit", "5", "--bootstrap-iters", "50",
                       "--output", str(work / "baselines")]) == 0
    files = [chain.results, halfway, work / "baselines" / "baseline-majority.json"]
    site = work / "site"
    assert roots_eval(["leaderboard", *map(str, files), "--output", str(site)]) == 0
    return {"chain": chain, "halfway_run": run, "files": files, "site": site,
            "board": json.loads((site / "leaderboard.json").read_text(encoding="utf-8"))}


def _rows(doc, table_id) -> list[list[str]]:
    return [[c.text_content().strip() for c in tr.xpath("./td")] for tr in doc.xpath(f'//table[@id="{table_id}"]/tbody/tr')]


def _n(text: str) -> int:
    return int(text.replace(",", "")) if text else None


def _page_of(board, page_dom, model_id) -> tuple:
    """The lineage page the model's cell in the rendered index.html links to, rendered."""
    index = lxml.html.fromstring(page_dom(board["site"] / "index.html"))
    hrefs = index.xpath(f'//table[@id="leaderboard"]//td[@class="model"]/a[normalize-space(text())="{model_id}"]/@href')
    assert len(hrefs) == 1, hrefs
    page = (board["site"] / hrefs[0]).resolve()
    assert page.is_file() and page.parent == (board["site"] / "lineage").resolve()
    return page, lxml.html.fromstring(page_dom(page))


def test_every_row_links_to_its_lineage_page_and_records_its_results_by_digest(board, page_dom):
    board_json = board["board"]
    assert [m["results"] for m in board_json["models"]] == \
        [{"path": str(f.resolve()), "sha256": sha256_hex(f)} for f in board["files"]]
    index = lxml.html.fromstring(page_dom(board["site"] / "index.html"))
    links = index.xpath('//table[@id="leaderboard"]//td[@class="model"]/a')
    assert sorted(a.text_content() for a in links) == sorted(m["id"] for m in board_json["models"])
    assert len({a.get("href") for a in links}) == len(links)  # one page per row
    assert all((board["site"] / a.get("href")).is_file() for a in links)


def test_checkpoint_row_page_shows_the_chain_from_scores_to_corpus(board, page_dom):
    chain = board["chain"]
    page, doc = _page_of(board, page_dom, chain.model_id)
    checkpoint = chain.run / "checkpoints" / "step-00000004"
    state = json.loads((checkpoint / "state.json").read_text(encoding="utf-8"))
    results = json.loads(chain.results.read_text(encoding="utf-8"))

    assert doc.get_element_by_id("results-digest").text_content() == sha256_hex(chain.results)
    assert doc.get_element_by_id("checkpoint-digest").text_content() == "sha256:" + sha256_hex(checkpoint / "checkpoint.json")
    assert doc.get_element_by_id("checkpoint-step").text_content() == str(state["step"]) == "4"
    digests = {c.get("data-task"): c.text_content() for c in doc.find_class("task-digest")}
    assert digests == {TASK: "sha256:" + sha256_hex(dataset_path(TASK) / "dev.jsonl")}
    scores = {c.get("data-task"): c.text_content() for c in doc.find_class("score")}
    assert scores == {TASK: f"{results['results'][TASK]['metrics']['accuracy']['value']:.2f}"}
    config = {row[0]: json.loads(row[1]) for row in _rows(doc, "train-config")}
    assert config == state["train_config"]

    stats = json.loads((chain.corpus / "stats.json").read_text(encoding="utf-8"))
    assert [(r[0], _n(r[1]), _n(r[2])) for r in _rows(doc, "funnel")] == \
        [(f["stage"], f.get("removed"), f["remaining"]) for f in stats["funnel"]]
    assert [(r[0], *map(_n, r[1:])) for r in _rows(doc, "languages")] == \
        [(lang, v["read"], v["kept"], v["dropped"], v["kept_bytes"]) for lang, v in stats["languages"].items()]
    assert [(r[0], *map(_n, r[1:])) for r in _rows(doc, "sources")] == \
        [(src, v["read"], v["kept"], sum(v["dropped"].values())) for src, v in stats["sources"].items()]
    manifest = json.loads((chain.corpus / "manifest.json").read_text(encoding="utf-8"))
    assert doc.get_element_by_id("pipeline-config").text_content() == manifest["config"]["text"]
    assert [(r[0], _n(r[1]), r[2]) for r in _rows(doc, "inputs")] == \
        [(i["path"], i["bytes"], i["fingerprint"]) for i in manifest["inputs"]]
    chain_rows = {r[0]: r[2] for r in _rows(doc, "chain")}
    assert chain_rows["results"] == "sha256:" + sha256_hex(chain.results)
    assert chain_rows["corpus-release"] == "sha256:" + sha256_hex(chain.corpus / "manifest.json")
    assert chain_rows["tokens"] == "sha256:" + sha256_hex(chain.run / "tokens" / "manifest.json")
    assert chain_rows["tokenizer"] == "sha256:" + sha256_hex(chain.tokenizer / "tokenizer.json")
    assert doc.get_element_by_id("training-curve") is not None and not doc.find_class("missing")
    # links to the row's model card, and to the release's funnel chart and dataset card
    targets = {a.text_content(): (page.parent / a.get("href")).resolve() for a in doc.xpath("//a[@href]")}
    assert targets["model card"].is_file() and targets["model card"].name == "README.md"
    assert targets["Funnel chart"] == (chain.corpus / "funnel.html").resolve()
    assert targets["dataset card"] == (chain.corpus / "README.md").resolve() and targets["dataset card"].is_file()


def test_training_curve_stops_at_the_checkpoint_step(board, page_dom):
    run = board["halfway_run"]
    _, doc = _page_of(board, page_dom, "step-00000002")
    assert doc.get_element_by_id("checkpoint-step").text_content() == "2"
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    assert max(r["step"] for r in logged) == 4  # the run went on past this checkpoint
    curves = {c.get("data-series"): c for c in doc.xpath('//*[@id="training-curve"]//*[local-name()="polyline"]')}
    train = curves["train"]
    assert [int(s) for s in train.get("data-steps").split(",")] == [r["step"] for r in logged if r["step"] <= 2]
    assert [float(v) for v in train.get("data-values").split(",")] == [r["loss"] for r in logged if r["step"] <= 2]
    val = curves["validation"]
    assert [int(s) for s in val.get("data-steps").split(",")] == [r["step"] for r in logged
                                                                  if r["step"] <= 2 and "val_loss" in r] == [2]


def test_a_row_without_a_checkpoint_gets_a_page_saying_what_is_missing(board, page_dom):
    _, doc = _page_of(board, page_dom, "baseline-majority")
    missing = doc.get_element_by_id("missing").text_content()
    assert "not a roots_model checkpoint" in missing and "checkpoint, tokens" in missing
    assert not doc.xpath('//*[@id="checkpoint-digest"]') and not doc.xpath('//table[@id="funnel"]')
    digests = {c.get("data-task"): c.text_content() for c in doc.find_class("task-digest")}
    assert digests == {TASK: "sha256:" + sha256_hex(dataset_path(TASK) / "dev.jsonl")}
    assert not doc.xpath('//a[text()="model card"]')


def test_rows_with_one_name_get_pages_of_their_own_and_a_rebuild_drops_stale_pages(board, tmp_path):
    # the same baseline scored with another --limit: a second group, the same model id
    baseline = json.loads(board["files"][2].read_text(encoding="utf-8"))
    baseline["config"]["limit"] = 4
    other = tmp_path / "baseline-limit4.json"
    other.write_text(json.dumps(baseline), encoding="utf-8")
    site = tmp_path / "site"
    assert roots_eval(["leaderboard", str(board["files"][2]), str(other), "--output", str(site)]) == 0
    models = json.loads((site / "leaderboard.json").read_text(encoding="utf-8"))["models"]
    assert [m["id"] for m in models] == ["baseline-majority"] * 2 and len({m["lineage"] for m in models}) == 2
    for m in models:
        page = lxml.html.fromstring((site / m["lineage"]).read_text(encoding="utf-8"))
        assert page.get_element_by_id("results-digest").text_content() == m["results"]["sha256"] \
            == sha256_hex(m["results"]["path"])
    shutil.copytree(board["site"], site, dirs_exist_ok=True)  # an earlier build's pages and cards
    assert roots_eval(["leaderboard", str(other), "--output", str(site)]) == 0
    models = json.loads((site / "leaderboard.json").read_text(encoding="utf-8"))["models"]
    assert sorted(p.name for p in (site / "lineage").iterdir()) == [Path(models[0]["lineage"]).name]
    assert not list(site.glob("cards/*/README.md"))


@pytest.mark.parametrize("gone", ["corpus/manifest.json", "tiny-lineage/checkpoints/step-00000004/state.json"])
def test_a_row_whose_chain_is_broken_gets_a_page_naming_the_problem(board, tmp_path, gone):
    chain = board["chain"]
    path = chain.corpus.parent / gone
    moved = tmp_path / "moved"
    shutil.move(path, moved)  # gone, or not reachable from this machine
    try:
        site = tmp_path / "site"
        assert roots_eval(["leaderboard", str(chain.results), "--output", str(site)]) == 0
    finally:
        shutil.move(moved, path)
    row = json.loads((site / "leaderboard.json").read_text(encoding="utf-8"))["models"][0]
    page = lxml.html.fromstring((site / row["lineage"]).read_text(encoding="utf-8"))
    assert str(path if path.name == "manifest.json" else path.parent) in \
        page.get_element_by_id("missing").text_content()
    assert row["card"] is None  # no card claims a lineage that cannot be shown
