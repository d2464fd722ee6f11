"""The demo chain end to end on the bundled real data: corpus -> tokenizer -> model -> eval -> leaderboard."""
import json

import pytest

from roots_demo import main


@pytest.mark.slow
def test_demo_chain_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    # Fewer steps and examples than the default demo: the chain is the point here, not the scores.
    assert main(["--output", str(out), "--steps", "20", "--limit", "2", "--max-new-tokens", "8",
                 "--vocab-size", "4000"]) == 0
    printed = capsys.readouterr().out
    for i, stage in enumerate(["corpus pipeline", "tokenizer", "pretraining", "evaluation", "leaderboard"], 1):
        assert f"[{i}/5] {stage}: done in" in printed
    report = json.loads((out / "demo_report.json").read_text())
    assert [s["returncode"] for s in report["stages"]] == [0] * 5
    # A stage's time is measured, not asserted on (a fast stage may take a few milliseconds);
    # the whole run covers every stage.
    assert all(s["wall_s"] >= 0 and s["peak_rss_mib"] > 0 for s in report["stages"])
    assert report["total_wall_s"] >= sum(s["wall_s"] for s in report["stages"]) - 0.01  # rounding

    stats = json.loads((out / "corpus" / "stats.json").read_text())
    assert stats["read"] == 38467 and stats["kept"] > 10000
    results = json.loads((out / "results" / "roots-tiny-demo.json").read_text())
    assert len(results["results"]) == 15  # every built-in task
    html = (out / "site" / "index.html").read_text()
    assert "roots-tiny-demo" in html or results["model"]["id"] in html
