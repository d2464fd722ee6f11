"""The whole pipeline on the real corpus with the multi-process DirectRunner."""
import glob
import gzip
import json
import xml.etree.ElementTree as ET

import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from pipelines.document import KEPT_SCHEMA
from pipelines.stats import check_conservation


def _jsonl_gz(pattern):
    rows = []
    for path in sorted(glob.glob(pattern)):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            rows.extend(json.loads(l) for l in f)
    return rows


def _run(*args):
    return main(["run", *map(str, args), "--no_progress"])


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory, corpus_dir):
    out = tmp_path_factory.mktemp("corpus_run")
    # Default stages (dedup included) on the multi-process local runner.
    assert _run("--input", corpus_dir / "*.jsonl", "--output", out,
                "--direct_num_workers=2", "--direct_running_mode=multi_processing") == 0
    return out


@pytest.mark.slow
def test_every_input_document_is_accounted_for(corpus_run, corpus_docs):
    stats = json.loads((corpus_run / "stats.json").read_text())
    check_conservation(stats)
    assert stats["read"] == len(corpus_docs) == 38467
    assert stats["malformed"] == 0

    kept = pq.ParquetDataset(str(corpus_run / "data")).read()
    dropped = _jsonl_gz(str(corpus_run / "dropped" / "*.jsonl.gz"))
    assert kept.num_rows == stats["kept"]
    assert len(dropped) == sum(stats["dropped"].values())
    ids = kept.column("id").to_pylist() + [d["id"] for d in dropped]
    assert sorted(ids) == sorted(corpus_docs)          # each input exactly once
    by_reason = {}
    for d in dropped:
        by_reason[d["reason"]] = by_reason.get(d["reason"], 0) + 1
    assert by_reason == stats["dropped"]
    # Duplicates point at a document that was kept; the corpus has natural exact and near copies.
    kept_ids = set(kept.column("id").to_pylist())
    dups = [d for d in dropped if d["reason"].startswith("duplicate_")]
    assert stats["dropped"]["duplicate_exact"] > 1000 and stats["dropped"]["duplicate_near"] > 0
    assert all(d["duplicate_of"] in kept_ids and d["cluster_id"] for d in dups)
    kept_texts = kept.column("text").to_pylist()
    assert len(set(kept_texts)) == len(kept_texts)  # no exact duplicate survives
    # Per source: the inputs' own `source` fields, counted here, against stats.json's rows.
    by_source = {}
    for d in corpus_docs.values():
        by_source[d["source"]] = by_source.get(d["source"], 0) + 1
    assert {s: row["read"] for s, row in stats["sources"].items()} == by_source
    kept_by_source = {}
    for src in kept.column("source").to_pylist():
        kept_by_source[src] = kept_by_source.get(src, 0) + 1
    assert {s: row["kept"] for s, row in stats["sources"].items() if row["kept"]} == kept_by_source
    for src, row in stats["sources"].items():
        assert row["kept"] + sum(row["dropped"].values()) == row["read"]


@pytest.mark.slow
def test_output_schema_languages_and_funnel(corpus_run):
    stats = json.loads((corpus_run / "stats.json").read_text())
    kept = pq.ParquetDataset(str(corpus_run / "data")).read()
    assert kept.schema.names == KEPT_SCHEMA.names
    assert set(kept.column("lang").to_pylist()) == {"zh", "en"}
    assert stats["languages"]["zh"]["kept"] > 5000 and stats["languages"]["en"]["kept"] > 1000
    assert stats["bytes"]["kept"] == sum(len(t.encode()) for t in kept.column("text").to_pylist())
    # Both workers' bundles are timed: the run's wall time, split where it went.
    run = stats["run"]
    assert min(run["startup_s"], run["processing_s"], run["wind_down_s"]) > 0, run
    assert abs(run["startup_s"] + run["processing_s"] + run["wind_down_s"] - run["elapsed_s"]) < 0.02, run
    assert {"language", "language_score", "stopwords"} <= set(stats["dropped"])
    assert stats["run"]["docs_per_s"] > 0
    funnel = (corpus_run / "funnel.html").read_text(encoding="utf-8")
    ET.fromstring(funnel[funnel.index("<svg"):funnel.index("</svg>") + 6])  # well-formed SVG
    for row in stats["funnel"]:
        assert f"<title>{row['stage']}: {row['remaining']:,} remaining" in funnel
    for src, row in stats["sources"].items():  # the per-source table under the funnel
        assert f"<td>{src}</td><td align=\"right\">{row['read']:,}</td>" in funnel
    assert not (corpus_run / "funnel.png").exists()        # matplotlib only on demand:
    assert main(["stats", str(corpus_run)]) == 0
    assert (corpus_run / "funnel.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Kept text is cleaned: no control characters, no full-width digits.
    sample = "".join(kept.column("text").to_pylist()[:2000])
    assert not any(c in sample for c in "\x00\u200b０１２３")
    # PII: the corpus has real e-mail addresses; a plain regex (not the redactor's) finds none
    # left in the kept text but the placeholders, and stats.json counts what was redacted.
    import re

    emails = {m for t in kept.column("text").to_pylist() for m in re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", t)}
    assert emails and all(e.endswith(("@example.com", "@example.org")) for e in emails)
    assert stats["pii_redacted"]["email"] >= len(emails)


@pytest.mark.slow
def test_bad_inputs_finish_with_dead_letters_and_named_drops(tmp_path, corpus_docs):
    raw = tmp_path / "raw"
    raw.mkdir()
    real = [d for d in corpus_docs.values() if d["source"] == "c4-en"][:20]
    with (raw / "good.jsonl").open("w", encoding="utf-8") as f:
        for d in real:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    (raw / "empty.jsonl").write_bytes(b"")
    (raw / "bad.jsonl").write_bytes(
        b'{"id": "x1", "text": "unterminated\n'
        b'{"id": "x2", "content": "no text field"}\n'
        b'{"id": "x3", "text": "caf\xe9 latin-1"}\n'
        b'{"id": "x4", "text": ""}\n')
    huge_text = (real[0]["text"] + "\n") * (50_000_000 // len(real[0]["text"]))
    with (raw / "huge.jsonl").open("w", encoding="utf-8") as f:
        f.write(json.dumps({"id": "huge", "text": huge_text}) + "\n")
    out = tmp_path / "out"
    assert _run("--input", raw / "*.jsonl", "--output", out, "--output_format", "jsonl", "--dedup", "none",
                "--direct_num_workers=1") == 0
    stats = json.loads((out / "stats.json").read_text())
    check_conservation(stats)
    assert stats["read"] == 20 + 4 + 1
    assert stats["malformed"] == 3
    assert stats["dropped"]["doc_too_long"] == 1 and stats["dropped"]["empty"] == 1
    dead = _jsonl_gz(str(out / "dead_letter" / "*.jsonl.gz"))
    assert sorted(d["error"].split(":")[0] for d in dead) == ["invalid JSON", "missing text field 'text'",
                                                             "undecodable bytes (not UTF-8)"]
    kept = _jsonl_gz(str(out / "data" / "*.jsonl.gz"))
    assert len(kept) == stats["kept"] > 0 and set(kept[0]) == set(KEPT_SCHEMA.names)
    huge = next(d for d in _jsonl_gz(str(out / "dropped" / "*.jsonl.gz")) if d["id"] == "huge")
    assert huge["reason"] == "doc_too_long" and len(huge["text"]) == len(huge_text)  # nothing lost


def test_errors_before_any_work(tmp_path, corpus_dir, capsys):
    assert _run("--input", tmp_path / "nothing-*.jsonl", "--output", tmp_path / "o") == 2
    assert "matches no file" in capsys.readouterr().err
    out = tmp_path / "existing"
    out.mkdir()
    (out / "stats.json").write_text("{}")
    assert _run("--input", corpus_dir / "docs-00005-of-00006.jsonl", "--output", out) == 2
    assert "--overwrite" in capsys.readouterr().err
    bad_cfg = tmp_path / "bad.yaml"
    bad_cfg.write_text("filters:\n  word_count:\n    en: {minimum: 3}\n")
    assert _run("--input", corpus_dir / "docs-00005-of-00006.jsonl", "--output", tmp_path / "o2", "--config", bad_cfg) == 2
    assert "unknown keys" in capsys.readouterr().err
    bad_cfg.write_text("filters:\n  word_count:\n    zh: {min: abc}\n")  # failed inside the Beam job before
    assert _run("--input", corpus_dir / "docs-00005-of-00006.jsonl", "--output", tmp_path / "o2", "--config", bad_cfg) == 2
    assert f"config {bad_cfg}: filters.word_count.zh.min: expected a number or null, got 'abc'" in capsys.readouterr().err
    assert _run("--input", corpus_dir / "docs-00005-of-00006.jsonl", "--output", tmp_path / "o3", "--dedup", "fuzzy") == 2
    assert "unknown method" in capsys.readouterr().err


@pytest.mark.slow
def test_overwrite_replaces_previous_outputs(tmp_path, corpus_dir):
    out = tmp_path / "out"
    small = corpus_dir / "docs-00005-of-00006.jsonl"
    assert _run("--input", small, "--output", out, "--dedup", "none", "--direct_num_workers=1") == 0
    (out / "data" / "stale-part.parquet").write_bytes(b"stale")
    assert _run("--input", small, "--output", out, "--dedup", "none", "--overwrite", "--direct_num_workers=1") == 0
    assert not (out / "data" / "stale-part.parquet").exists()
    assert json.loads((out / "stats.json").read_text())["read"] == 2179


@pytest.mark.slow
def test_next_snapshot_is_deduplicated_against_the_previous_release(tmp_path, corpus_docs):
    docs = [d for d in corpus_docs.values() if d["source"] in ("c4-en", "zh-paper-abstracts")]
    first, fresh = docs[:150], docs[150:200]
    (tmp_path / "s1").mkdir()
    (tmp_path / "s2").mkdir()
    with (tmp_path / "s1" / "a.jsonl").open("w", encoding="utf-8") as f:
        for d in first:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    release1 = tmp_path / "release1"
    assert _run("--input", tmp_path / "s1" / "*.jsonl", "--output", release1, "--direct_num_workers=1") == 0
    kept1 = set(pq.ParquetDataset(str(release1 / "data")).read().column("id").to_pylist())
    assert kept1 and (release1 / "dedup_index").is_dir()

    # Snapshot 2: reposts of 30 released documents under new ids (10 lightly edited) + 50 new ones.
    reposted = [d for d in first if d["id"] in kept1][:30]
    with (tmp_path / "s2" / "b.jsonl").open("w", encoding="utf-8") as f:
        for i, d in enumerate(reposted):
            text = d["text"] if i >= 10 else d["text"] + " 转载"
            f.write(json.dumps({**d, "id": "repost-" + d["id"], "text": text}, ensure_ascii=False) + "\n")
        for d in fresh:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    release2 = tmp_path / "release2"
    assert _run("--input", tmp_path / "s2" / "*.jsonl", "--output", release2, "--direct_num_workers=1",
                "--prior_index", release1 / "dedup_index") == 0
    kept2 = set(pq.ParquetDataset(str(release2 / "data")).read().column("id").to_pylist())
    dropped2 = {d["id"]: d for d in _jsonl_gz(str(release2 / "dropped" / "*.jsonl.gz"))}
    as_duplicates = 0
    for d in reposted:
        rid = "repost-" + d["id"]
        assert rid not in kept2
        if dropped2[rid]["reason"].startswith("duplicate_"):  # else an edit tipped a quality filter first
            as_duplicates += 1
            assert dropped2[rid]["duplicate_of"] == d["id"]  # the released document, not re-emitted
    assert as_duplicates >= 27
    assert sum(dropped2["repost-" + d["id"]]["reason"] == "duplicate_exact" for d in reposted[10:]) == 20
    assert not kept2 & kept1
    stats = json.loads((release2 / "stats.json").read_text())
    check_conservation(stats)
    assert stats["read"] == 80


def _texts_by_reason(out):
    kept = _jsonl_gz(str(out / "data" / "*.jsonl.gz"))
    dropped = _jsonl_gz(str(out / "dropped" / "*.jsonl.gz"))
    return kept, dropped


@pytest.mark.slow
def test_repeated_ids_never_lose_a_unique_text(tmp_path, corpus_docs):
    """Two files whose ids both start at 0, 30 texts of the first repeated in the second,
    on the 2-process runner: every distinct text survives dedup once; the report names the ids."""
    docs = [d for d in corpus_docs.values() if d["source"] == "zh-wiki-paragraphs"][:70]
    a = [{"id": i, "text": d["text"]} for i, d in enumerate(docs[:50])]
    b = [{"id": i, "text": d["text"]} for i, d in enumerate(docs[:30] + docs[50:70])]
    raw = tmp_path / "raw"
    raw.mkdir()
    for name, rows in (("a.jsonl", a), ("b.jsonl", b)):
        with (raw / name).open("w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    out = tmp_path / "out"
    assert _run("--input", raw / "*.jsonl", "--output", out, "--output_format", "jsonl",
                "--direct_num_workers=2", "--direct_running_mode=multi_processing") == 0
    stats = json.loads((out / "stats.json").read_text())
    check_conservation(stats)
    assert stats["read"] == 100 and stats["conservation"]["files"] == 2
    assert stats["duplicate_ids"]["ids"] == 50 and stats["duplicate_ids"]["records"] == 100
    kept, dropped = _texts_by_reason(out)
    assert len(kept) + len(dropped) == 100 and len({r["key"] for r in kept + dropped}) == 100
    # Each distinct text that passes the quality filters (a filter drops every copy alike) is
    # kept exactly once; the rest of its copies are duplicates.
    outcome = {}
    for r in kept + dropped:
        outcome.setdefault(r["text"], []).append(r.get("reason", "kept"))
    assert len(outcome) == 70
    for text, reasons in outcome.items():
        if "kept" in reasons or any(x.startswith("duplicate_") for x in reasons):
            assert reasons.count("kept") == 1 and all(x in ("kept", "duplicate_exact") for x in reasons), reasons
        else:
            assert len(set(reasons)) == 1, reasons
    assert sum(len(r) - 1 for r in outcome.values() if "kept" in r) == stats["dropped"]["duplicate_exact"] > 20
    for r in dropped:
        if r["reason"] == "duplicate_exact":  # the representative is the other copy, found by key
            twin = next(k for k in kept if k["key"] == r["duplicate_of_key"])
            assert twin["text"] == r["text"] and twin["id"] == r["duplicate_of"]


def _small_input(tmp_path, corpus_docs, n=60):
    raw = tmp_path / "raw"
    raw.mkdir()
    docs = [d for d in corpus_docs.values() if d["source"] == "c4-en"][:n]
    for name, part in (("a.jsonl", docs[: n // 2]), ("b.jsonl", docs[n // 2:])):
        with (raw / name).open("w", encoding="utf-8") as f:
            f.writelines(json.dumps(d, ensure_ascii=False) + "\n" for d in part)
    return raw


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["lose", "duplicate"])
def test_conservation_check_fails_when_a_step_loses_or_duplicates_documents(tmp_path, corpus_docs, monkeypatch,
                                                                         capsys, fault):
    from pipelines.transforms import ProcessDocuments

    raw = _small_input(tmp_path, corpus_docs)
    original = ProcessDocuments._outputs

    def broken(self, docs):
        for out in original(self, docs):
            doc = getattr(out, "value", out)  # kept, or TaggedOutput(DROPPED, doc)
            if doc["key"].endswith("0"):  # some documents: a deterministic subset, in both files
                yield from [] if fault == "lose" else [out, out]
            else:
                yield out

    monkeypatch.setattr(ProcessDocuments, "_outputs", broken)
    out = tmp_path / "out"
    code = _run("--input", raw / "*.jsonl", "--output", out, "--dedup", "none", "--direct_num_workers=1")
    err = capsys.readouterr().err
    assert code == 1 and "documents lost or duplicated" in err and "a.jsonl" in err
    stats = json.loads((out / "stats.json").read_text())
    assert stats["read"] == 60 and not stats["conservation"]["ok"]


def test_a_local_run_keeps_what_the_launcher_held_out_of_the_collector(tmp_path, corpus_docs, monkeypatch):
    """For the run, what the launcher holds before it starts (Beam, pyarrow, the test's own
    objects) is frozen out of the cyclic collector, which would scan it again at each full
    collection, and it is back in once the run ends. A bundle's end waits for the state
    sampler's thread: its period is short during the run, Beam's own after it."""
    import gc

    from apache_beam.runners.worker import statesampler
    from apache_beam.utils.counters import CounterFactory

    from pipelines.process import DocumentProcessor

    seen, periods = [], []
    original = DocumentProcessor.process_batch

    def observed(self, docs):  # one worker, in_memory: the documents are processed in this process
        seen.extend([gc.get_freeze_count()] * len(docs))
        periods.append(statesampler.StateSampler("t", CounterFactory()).sampling_period_ms)
        return original(self, docs)

    monkeypatch.setattr(DocumentProcessor, "process_batch", observed)
    before = gc.get_freeze_count()
    tracked = len(gc.get_objects())
    raw = _small_input(tmp_path, corpus_docs, n=10)
    assert _run("--input", raw / "*.jsonl", "--output", tmp_path / "out", "--dedup", "none",
                "--direct_num_workers=1") == 0
    assert len(seen) == 10 and min(seen) >= before + tracked // 2, (before, tracked, min(seen))
    assert gc.get_freeze_count() == before
    assert max(periods) <= 20
    default = statesampler.DEFAULT_SAMPLING_PERIOD_MS
    assert statesampler.StateSampler("t", CounterFactory()).sampling_period_ms == default


def test_stats_split_a_runs_time_into_startup_processing_and_wind_down(tmp_path, corpus_docs, monkeypatch):
    """stats.json's `run` says where the wall time went: to the first document, processing
    (until the last bundle's documents were done), and after. Delays planted in each part
    (a model that loads slowly, slow documents, a slow last step) show up in that part."""
    import time

    from pipelines import outputs, transforms
    from pipelines.process import DocumentProcessor

    setup, batch, finalize = transforms.ProcessDocuments.setup, DocumentProcessor.process_batch, outputs.finalize

    def slow_setup(self):
        time.sleep(0.6)
        setup(self)

    def slow_documents(self, docs):
        time.sleep(0.03 * len(docs))
        return batch(self, docs)

    def slow_finalize(*args):
        time.sleep(0.6)
        return finalize(*args)

    monkeypatch.setattr(transforms.ProcessDocuments, "setup", slow_setup)
    monkeypatch.setattr(DocumentProcessor, "process_batch", slow_documents)
    monkeypatch.setattr("pipelines.pipeline.finalize", slow_finalize)
    raw = _small_input(tmp_path, corpus_docs, n=20)
    assert _run("--input", raw / "*.jsonl", "--output", tmp_path / "out", "--dedup", "none",
                "--direct_num_workers=1") == 0
    run = json.loads((tmp_path / "out" / "stats.json").read_text())["run"]
    assert run["startup_s"] >= 0.6 and run["wind_down_s"] >= 0.6, run
    assert run["processing_s"] >= 20 * 0.03, run
    assert abs(run["startup_s"] + run["processing_s"] + run["wind_down_s"] - run["elapsed_s"]) < 0.02, run


def test_conservation_is_checked_file_by_file():
    """Totals can agree while one file lost a record and another gained one."""
    import pytest as _pytest

    from pipelines.run_stats import RunStats
    from pipelines.stats import ConservationError, dropped_event, kept_event, read_count_event

    acc = RunStats()
    for event in [read_count_event(("a", 2)), read_count_event(("b", 1)),
                  kept_event({"text": "x", "input_file": "a"}),
                  dropped_event({"reason": "empty", "input_file": "b"}),
                  kept_event({"text": "y", "input_file": "b"})]:
        acc.add(event)
    stats = (acc + RunStats()).summary([])
    assert stats["read"] == 3 and stats["kept"] + sum(stats["dropped"].values()) == 3
    with _pytest.raises(ConservationError, match="2 file"):
        check_conservation(stats)


@pytest.mark.slow
def test_truncated_gzip_keeps_what_came_before_and_counts_the_corruption(tmp_path, corpus_docs):
    import zlib

    docs = [d for d in corpus_docs.values() if d["source"] == "c4-en"][:80]
    whole = gzip.compress("".join(json.dumps(d) + "\n" for d in docs).encode())
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "cut.jsonl.gz").write_bytes(whole[: len(whole) * 2 // 3])
    complete = zlib.decompressobj(wbits=31).decompress(whole[: len(whole) * 2 // 3]).count(b"\n")
    out = tmp_path / "out"
    assert _run("--input", raw / "*.jsonl.gz", "--output", out, "--dedup", "none", "--direct_num_workers=1",
                "--output_format", "jsonl") == 0
    stats = json.loads((out / "stats.json").read_text())
    check_conservation(stats)
    assert stats["read"] == complete + 1 and stats["malformed"] == 1 and stats["corrupt_files"] == 1
    kept, dropped = _texts_by_reason(out)
    assert sorted(r["id"] for r in kept + dropped) == sorted(d["id"] for d in docs[:complete])
    (dead,) = _jsonl_gz(str(out / "dead_letter" / "*.jsonl.gz"))
    assert dead["records_before"] == complete and dead["input_file"].endswith("cut.jsonl.gz")


def test_bundle_stats_folds_a_bundle_into_one_accumulator():
    """The per-document events are folded in their own stage: one accumulator per bundle
    leaves it, equal to folding the events one by one; merging the accumulators of two
    bundles gives the stats of all the documents."""
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that

    from pipelines.stats import BundleStats, StatsCombineFn, kept_event

    docs = [{"text": "甲乙", "input_file": "a", "lang": "zh", "raw_bytes": 9, "source": "s"},
            {"text": "abc", "input_file": "a", "lang": "en", "raw_bytes": 5, "pii": {"email": 1}},
            {"text": "def", "input_file": "b", "lang": "en", "raw_bytes": 4}]
    fn = StatsCombineFn()
    expected = fn.create_accumulator()
    for d in docs:
        expected = fn.add_input(expected, kept_event(d))

    def one_equal_partial(partials):
        assert len(partials) == 1, f"{len(partials)} accumulators from one bundle"
        assert partials[0] == expected

    with TestPipeline() as p:
        partials = p | beam.Create([docs]) | beam.FlatMap(lambda ds: ds) | beam.ParDo(BundleStats(kept_event))
        assert_that(partials, one_equal_partial)

    halves = []
    for part in (docs[:1], docs[1:]):
        acc = fn.create_accumulator()
        for d in part:
            acc = fn.add_input(acc, kept_event(d))
        halves.append(acc)
    merged = fn.merge_accumulators(halves)
    assert merged.summary([]) == expected.summary([])
    assert merged.summary([])["kept"] == 3
