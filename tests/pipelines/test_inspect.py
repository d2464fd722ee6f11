"""`roots-pipeline inspect`: a readable, reproducible sample of one drop reason."""
import argparse
import gzip
import json

import pytest

from pipelines.config import PipelineConfig
from pipelines.inspection import add_inspect_arguments, failed_bound, inspect_main, read_sample


def _write(path, records):
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def _rec(i, reason, **kw):
    return {"id": f"doc-{i}", "key": f"f:{i}", "reason": reason, "text": f"第{i}篇 <script>alert({i})</script> & 文本",
            "source": "zh-paper-abstracts", "lang": "zh", "lang_score": 0.6,
            "signals": {"char_repetition": 0.2 + i / 1000, "n_words": 50.0}, **kw}


@pytest.fixture
def run_dir(tmp_path):
    dropped = tmp_path / "out" / "dropped"
    dropped.mkdir(parents=True)
    _write(dropped / "part-00000-of-00002.jsonl.gz", [_rec(i, "char_repetition") for i in range(0, 30)]
           + [_rec(100, "language_score")])
    _write(dropped / "part-00001-of-00002.jsonl.gz", [_rec(i, "char_repetition") for i in range(30, 50)]
           + [_rec(101, "duplicate_exact")])
    return tmp_path / "out"


def _args(*argv):
    p = argparse.ArgumentParser()
    add_inspect_arguments(p)
    return p.parse_args([str(a) for a in argv])


def test_sample_is_seeded_and_independent_of_file_order(run_dir, tmp_path):
    a, counts = read_sample(str(run_dir), "char_repetition", n=7, seed=0)
    assert len(a) == 7 and all(r["reason"] == "char_repetition" for r in a)
    assert counts == {"char_repetition": 50, "language_score": 1, "duplicate_exact": 1}
    assert [r["id"] for r in read_sample(str(run_dir), "char_repetition", n=7, seed=0)[0]] == [r["id"] for r in a]
    assert [r["id"] for r in read_sample(str(run_dir), "char_repetition", n=7, seed=1)[0]] != [r["id"] for r in a]
    # The same records in other files, in another order: the same sample.
    other = tmp_path / "other" / "dropped"
    other.mkdir(parents=True)
    recs = [_rec(i, "char_repetition") for i in range(50)][::-1]
    _write(other / "part-00000-of-00003.jsonl.gz", recs[:10])
    _write(other / "part-00001-of-00003.jsonl.gz", recs[10:33])
    _write(other / "part-00002-of-00003.jsonl.gz", recs[33:])
    assert [r["id"] for r in read_sample(str(other.parent), "char_repetition", n=7, seed=0)[0]] == [r["id"] for r in a]


def test_failed_bound_names_value_and_bound():
    config = PipelineConfig.load()
    zh_max = config.filters[[f.name for f in config.filters].index("char_repetition")].bounds_for("zh").max
    text = failed_bound(_rec(30, "char_repetition"), config)
    assert text == f"char_repetition = 0.23; bound for zh: max {zh_max:g}"
    assert failed_bound(_rec(1, "language_score"), config).startswith("lang_score = 0.6 < min ")
    assert failed_bound(_rec(1, "duplicate_exact"), config) == ""


def test_html_page_escapes_text_and_shows_the_bound(run_dir, tmp_path, capsys):
    page = tmp_path / "drops.html"
    assert inspect_main(_args(run_dir, "--reason", "char_repetition", "--n", 5, "--html", page)) == 0
    out = capsys.readouterr().out
    assert out.startswith("char_repetition: 50 of 52 dropped documents; showing 5")
    assert out.count("- doc-") == 5
    body = page.read_text(encoding="utf-8")
    assert "<script>" not in body and "&lt;script&gt;alert(" in body and "&amp; 文本" in body
    assert body.count("class='doc'") == 5
    assert "char_repetition = 0.2" in body and "bound for zh: max" in body


def test_unknown_reason_lists_the_reasons_present(run_dir, capsys):
    assert inspect_main(_args(run_dir, "--reason", "stopwords")) == 1
    assert "reasons present: char_repetition (50), " in capsys.readouterr().out


def test_missing_dropped_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no dropped documents"):
        read_sample(str(tmp_path), "char_repetition")
