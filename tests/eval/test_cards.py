"""Cards in the Hugging Face Hub's format, written by the tools and read back with
huggingface_hub (offline): the dataset card `roots-pipeline run` writes into a corpus release,
and the model card `roots-eval leaderboard` writes for a checkpoint row.

Ground truth comes from elsewhere than the card code: the run's stats.json, the licences the
shared corpus README states (read by a person, written out below), hashlib over the files, the
checkpoint's state.json, and leaderboard.json for the scores."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipelines.datadir import dataset_path
from roots_eval.cli import main as roots_eval
from roots_eval.testing import sha256_hex

hub = pytest.importorskip("huggingface_hub", reason="huggingface_hub (with the eval extra) reads the cards")
pytestmark = pytest.mark.slow
INPUT = "docs-00005-of-00006.jsonl"  # all 14 sources of the corpus, with e-mails, phones and both kinds of duplicate
# What corpus_web_mixed/README.md states per source, as the Hub names it: two sources under one
# licence with an identifier, every other under terms of their own (research use, "repo Apache-2.0;
# page text (c) the sites", ODC-BY plus Common Crawl terms).
STATED = {"wiki-en": ("CC BY-SA 3.0", "cc-by-sa-3.0"), "zh-wiki-paragraphs": ("CC BY-SA 4.0", "cc-by-sa-4.0"),
          "c4-en": ("ODC-BY 1.0 (C4) + Common Crawl terms of use", "other"),
          "zh-news-titles": ("CLUE/FewCLUE data, research use", "other"),
          # the README's row says "as above; ...": the row above's terms, then its own
          "warc-visible-text": ("Dolma repo Apache-2.0; CC terms of use; page text © the sites "
                                "(creativecommons.org is CC BY 4.0)", "other")}


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    out = tmp_path_factory.mktemp("cards") / "release"
    subprocess.run([sys.executable, "-m", "pipelines", "run", f"--input={dataset_path('corpus_web_mixed') / INPUT}",
                    f"--output={out}", "--no_progress", "--direct_num_workers=1"], check=True, capture_output=True)
    return out


def _section(body: str, title: str) -> str:
    return body.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def _table(text: str) -> list[list[str]]:
    rows = [line for line in text.splitlines() if line.startswith("|")][2:]  # past the header and its rule
    return [[c.strip() for c in row.strip("|").split("|")] for row in rows]


def _n(text: str) -> int | None:
    return int(text.replace(",", "")) if text else None


def test_dataset_card_parses_and_its_metadata_matches_the_release(release):
    stats = json.loads((release / "stats.json").read_text(encoding="utf-8"))
    card = hub.DatasetCard.load(release / "README.md")
    data = card.data
    assert data.language == [lang for lang, v in stats["languages"].items() if v["kept"] and lang != "und"]
    assert set(data.language) == {"zh", "en"}
    assert 1_000 < stats["kept"] < 10_000 and data.size_categories == ["1K<n<10K"]
    assert data.source_datasets == list(stats["sources"]) and len(data.source_datasets) == 14
    assert data.license == ["cc-by-sa-3.0", "cc-by-sa-4.0", "other"]
    assert "c4-en: ODC-BY 1.0 (C4) + Common Crawl terms of use" in data.license_details
    assert data.task_categories == ["text-generation"]
    # written before manifest.json, so the release's manifest vouches for it
    manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["files"]["README.md"]["sha256"] == sha256_hex(release / "README.md")


def test_dataset_card_body_has_the_funnel_dedup_pii_and_licences(release):
    stats = json.loads((release / "stats.json").read_text(encoding="utf-8"))
    body = hub.DatasetCard.load(release / "README.md").text
    funnel = [(r[0], _n(r[1]), _n(r[2])) for r in _table(_section(body, "Filter funnel"))]
    assert funnel == [(f["stage"], f.get("removed"), f["remaining"]) for f in stats["funnel"]]
    dedup = _section(body, "Deduplication")
    assert stats["dropped"]["duplicate_exact"] > 0 and stats["dropped"]["duplicate_near"] > 0
    for reason in ("duplicate_exact", "duplicate_near"):
        assert f"{reason} {stats['dropped'][reason]:,}" in dedup
    pii = _section(body, "Personal information")
    assert stats["pii_redacted"] and all(f"{kind} {n:,}" in pii for kind, n in stats["pii_redacted"].items())
    languages = {r[0]: [_n(c) for c in r[1:]] for r in _table(_section(body, "Languages"))}
    assert languages == {lang: [v["read"], v["kept"], v["dropped"], v["kept_bytes"]]
                         for lang, v in stats["languages"].items()}
    sources = {r[0]: (_n(r[1]), _n(r[2]), r[4]) for r in _table(_section(body, "Sources"))}
    assert {s: v[:2] for s, v in sources.items()} == {s: (v["read"], v["kept"]) for s, v in stats["sources"].items()}
    for source, (stated, _) in STATED.items():
        assert sources[source][2] == stated
    config = re.search(r"```yaml\n(.*?)```", _section(body, "Config"), re.S).group(1)
    manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    assert config == manifest["config"]["text"]


def test_licences_come_from_the_readme_beside_the_inputs(tmp_path, board):
    # a WARC folder whose README gives one licence for all its files ("Licence: Apache-2.0.")
    warc = dataset_path("warc_samples") / "cc_whirlwind" / "whirlwind.warc.gz"
    subprocess.run([sys.executable, "-m", "pipelines", "run", f"--input={warc}", f"--output={tmp_path / 'web'}",
                    "--no_progress", "--direct_num_workers=1"], check=True, capture_output=True)
    assert hub.DatasetCard.load(tmp_path / "web" / "README.md").data.license == ["apache-2.0"]
    # a slice copied out of the shared folder, with no README beside it
    chain = board[0]
    assert not (chain.corpus.parent / "raw" / "README.md").exists()
    assert hub.DatasetCard.load(chain.corpus / "README.md").data.license == ["unknown"]


@pytest.fixture(scope="module")
def board(chain, tmp_path_factory):
    """A leaderboard of the chain's checkpoint (scored twice: with --limit 5, and with --limit 4 in a
    group of its own), a classifier fine-tuned from it, and a baseline."""
    from roots_model.lm import LanguageModel

    work = tmp_path_factory.mktemp("model-card")
    clf = LanguageModel.from_pretrained(chain.run).finetune(["好", "差", "good", "bad"] * 4, [1, 0, 1, 0] * 4,
                                                            epochs=1, batch_size=4, progress=False)
    clf.save_pretrained(work / "clf")
    assert roots_eval(["run", "--model", str(work / "clf"), "--tasks", "cls_chnsenticorp", "--limit", "5",
                       "--bootstrap-iters", "50", "--output", str(work / "clf.json"), "--device", "cpu"]) == 0
    assert roots_eval(["run", "--model", str(chain.run), "--tasks", "cls_chnsenticorp", "--limit", "4",
                       "--bootstrap-iters", "50", "--output", str(work / "limit4.json"), "--device", "cpu"]) == 0
    assert roots_eval(["baselines", "--tasks", "cls_chnsenticorp", "--limit", "5", "--bootstrap-iters", "50",
                       "--output", str(work / "baselines")]) == 0
    site = work / "site"
    assert roots_eval(["leaderboard", str(chain.results), str(work / "clf.json"),
                       str(work / "baselines" / "baseline-majority.json"), str(work / "limit4.json"),
                       "--output", str(site)]) == 0
    return chain, site, json.loads((site / "leaderboard.json").read_text(encoding="utf-8"))


def test_model_card_scores_equal_the_leaderboard(board):
    chain, site, leaderboard = board
    limit = {k: g["settings"]["limit"] for k, g in enumerate(leaderboard["groups"], 1)}
    for card_path in {m["card"] for m in leaderboard["models"] if m["card"]}:
        card = hub.ModelCard.load(site / card_path)
        rows = [m for m in leaderboard["models"] if m["card"] == card_path]
        assert card.data.model_name == rows[0]["id"]
        scores = sorted((r.task_name, r.dataset_args["limit"], r.metric_value) for r in card.data.eval_results)
        # the leaderboard's numbers, every one of them, from every row of this model
        assert scores == sorted((task, limit[m["group"]], v) for m in rows for task, v in m["scores"].items())
        for r in card.data.eval_results:
            assert r.metric_type == "accuracy" and r.task_type == "text-classification"
            assert r.dataset_revision == "sha256:" + sha256_hex(dataset_path(r.dataset_type) / "dev.jsonl")
    chain_rows = [m for m in leaderboard["models"] if m["id"] == chain.model_id]
    assert len(chain_rows) == 2 and len({m["group"] for m in chain_rows}) == 2
    assert len({m["card"] for m in chain_rows}) == 1  # one card per checkpoint


def test_model_card_names_the_corpus_release_and_the_training_config(board):
    chain, site, leaderboard = board
    row = next(m for m in leaderboard["models"] if m["id"] == chain.model_id)
    card = hub.ModelCard.load(site / row["card"])
    assert card.data.datasets == [str(chain.corpus)]
    checkpoint = chain.run / "checkpoints" / "step-00000004"
    state = json.loads((checkpoint / "state.json").read_text(encoding="utf-8"))
    config = re.search(r"```yaml\n(.*?)```", _section(card.text, "Training config"), re.S).group(1)
    assert yaml.safe_load(config) == state["train_config"]
    assert "sha256:" + sha256_hex(checkpoint / "checkpoint.json") in card.text
    stats = json.loads((chain.corpus / "stats.json").read_text(encoding="utf-8"))
    assert card.data.language == [lang for lang, v in stats["languages"].items() if v["kept"] and lang != "und"]


def test_a_fine_tuned_classifier_card_names_the_classifier_and_its_base(board):
    chain, site, leaderboard = board
    row = next(m for m in leaderboard["models"] if m["id"] == "clf")
    card = hub.ModelCard.load(site / row["card"])
    assert {r.task_name: r.metric_value for r in card.data.eval_results} == row["scores"]
    assert card.data.pipeline_tag == "text-classification" and card.data.datasets == [str(chain.corpus)]
    results = json.loads(Path(row["results"]["path"]).read_text(encoding="utf-8"))
    checkpoint = chain.run / "checkpoints" / "step-00000004"
    intro = card.text.split("## Training data")[0]
    assert results["model"]["checkpoint_hash"] in intro and "sha256:" + sha256_hex(checkpoint / "checkpoint.json") in intro


def test_only_checkpoint_rows_get_a_model_card(board):
    chain, site, leaderboard = board
    cards = {m["id"]: m["card"] for m in leaderboard["models"]}
    assert cards["baseline-majority"] is None and cards[chain.model_id] and cards["clf"]
    assert sorted(p.relative_to(site).as_posix() for p in site.glob("cards/*/README.md")) == \
        sorted({cards[chain.model_id], cards["clf"]})
