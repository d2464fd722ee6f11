"""RunStats, the one shape of a run's statistics: any split of a run's events sums (`+`, `sum()`)
to the RunStats of all of them, its summary counts what the events say (counted here by hand,
with Counters), a bridged representative moved from kept to dropped is counted as a run that
dropped it, and a local run writes stats.json once."""
import json
import random
from collections import Counter

import pytest

from pipelines import storage
from pipelines.run_stats import Event, RunStats, WebEvent
from pipelines.stats import dropped_event, duplicate_id_event, kept_event, malformed_event, read_count_event

REASONS = ["empty", "too_short", "duplicate_exact", "duplicate_near"]


def _docs(n: int, seed: int = 7) -> list[dict]:
    """Documents with every field an event reads: language, size, source, PII, a web part."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        doc = {"text": rng.choice(["甲乙丙", "abc def", "x"]) * rng.randint(1, 4),
               "lang": rng.choice(["zh", "en", None]), "raw_bytes": rng.randint(1, 500), "input_file": f"f{i % 3}",
               "source": rng.choice(["web", "wiki", None])}
        if rng.random() < 0.3:
            doc["pii"] = {rng.choice(["email", "phone"]): rng.randint(1, 3)}
        if rng.random() < 0.4:
            doc["web"] = {"warc_type": rng.choice(["response", "request", None]),
                          "encoding": rng.choice(["utf-8", None]), "encoding_decision": "meta",
                          "domain": rng.choice(["a.cn", "b.com", None]), "blocklist": None}
            doc["template_lines_removed"] = rng.randint(0, 5)
        if rng.random() < 0.4:
            doc["reason"] = rng.choice(REASONS)
        docs.append(doc)
    return docs


def _events(docs: list[dict]) -> list:
    """Every event of a small run over `docs`: one per document, the readers' counts per file,
    two malformed records and two repeated ids."""
    events = [dropped_event(d) if "reason" in d else kept_event(d) for d in docs]
    read = Counter(d["input_file"] for d in docs)
    read["f0"] += 2  # the malformed records below
    events += [read_count_event((path, n)) for path, n in sorted(read.items())]
    events += [malformed_event({"error": "bad json: line 3", "input_file": "f0"}),
               malformed_event({"error": "corrupt gzip after 10 records", "input_file": "f0"})]
    events += [duplicate_id_event(("id-7", 3)), duplicate_id_event(("id-2", 2))]
    return events


def _fold(events) -> RunStats:
    stats = RunStats()
    for e in events:
        stats.add(e)
    return stats


def test_any_split_of_the_events_sums_to_the_fold_of_all():
    events = _events(_docs(300))
    everything = _fold(events)
    rng = random.Random(1)
    for _ in range(5):
        cuts = sorted(rng.sample(range(1, len(events)), 3))
        a, b, c, d = (_fold(events[i:j]) for i, j in zip([0, *cuts], [*cuts, len(events)]))
        assert (a + b) + (c + d) == a + (b + (c + d)) == everything  # associative
        assert sum([a, b, c, d]) == everything  # sum() starts from 0
        assert d + c + b + a == everything
        assert a + RunStats() == RunStats() + a == a  # the empty RunStats is the identity
    # `+` changes neither operand.
    a, b = _fold(events[:100]), _fold(events[100:])
    a_before, b_before = a + RunStats(), b + RunStats()
    _ = a + b
    assert (a, b) == (a_before, b_before)
    assert sum([a, b]).summary(REASONS) == everything.summary(REASONS)


def test_summary_counts_what_the_events_say():
    """The summary against counts made here from the documents themselves."""
    docs = _docs(400)
    stats = _fold(_events(docs)).summary(REASONS)
    kept = [d for d in docs if "reason" not in d]
    dropped = Counter(d["reason"] for d in docs if "reason" in d)
    assert stats["read"] == len(docs) + 2 and stats["kept"] == len(kept) and stats["malformed"] == 2
    assert stats["dropped"] == {r: dropped[r] for r in REASONS if dropped[r]}  # in funnel order
    assert list(stats["dropped"]) == [r for r in REASONS if dropped[r]]
    assert stats["malformed_errors"] == {"bad json": 1, "corrupt gzip": 1} and stats["corrupt_files"] == 1
    assert stats["bytes"] == {"read": sum(d["raw_bytes"] for d in docs),
                              "kept": sum(len(d["text"].encode()) for d in kept)}
    lang = lambda d: d["lang"] or "und"
    for code in {lang(d) for d in docs}:
        mine = [d for d in docs if lang(d) == code]
        assert stats["languages"][code] == {
            "read": len(mine), "kept": sum("reason" not in d for d in mine),
            "dropped": sum("reason" in d for d in mine), "read_bytes": sum(d["raw_bytes"] for d in mine),
            "kept_bytes": sum(len(d["text"].encode()) for d in mine if "reason" not in d)}
    for source in {d["source"] or "(none)" for d in docs}:
        mine = [d for d in docs if (d["source"] or "(none)") == source]
        assert stats["sources"][source]["read"] == len(mine)
        assert stats["sources"][source]["dropped"] == dict(Counter(d["reason"] for d in mine if "reason" in d))
    pii = Counter()
    for d in kept:
        pii.update(d.get("pii") or {})
    assert stats["pii_redacted"] == dict(pii)
    web = [d for d in docs if "web" in d]
    assert stats["web"]["warc_types"] == dict(Counter(d["web"]["warc_type"] or "(file)" for d in web))
    assert stats["web"]["template_lines_removed"] == sum(d["template_lines_removed"] for d in web)
    pages = [d for d in web if d["web"]["warc_type"] in ("response", None)]
    assert {k: v["read"] for k, v in stats["web"]["domains"].items()} == dict(
        Counter(d["web"]["domain"] or "(none)" for d in pages))
    assert stats["duplicate_ids"] == {"ids": 2, "records": 5, "examples": [{"id": "id-7", "records": 3},
                                                                          {"id": "id-2", "records": 2}]}
    assert stats["conservation"]["ok"] and stats["conservation"]["files"] == 3


def test_rebooking_a_kept_document_counts_it_as_a_run_that_dropped_it():
    """A bridged representative moved to duplicate_near after its shard's job: the shard's
    RunStats then equal those of a job that dropped it in the first place."""
    # The last document is the only one of its language, source, domain and PII kind: moved,
    # nothing of it may stay under "kept".
    docs = _docs(200) + [{"text": "ok", "lang": "fi", "raw_bytes": 9, "input_file": "f1", "source": "rare",
                          "pii": {"iban": 1}, "web": {"warc_type": "response", "domain": "c.org"}}]
    moved = [i for i, d in enumerate(docs) if "reason" not in d and d.get("pii") and d.get("web")][:2] + [200]
    stats = _fold(_events(docs))
    for i in moved:
        stats.rebook(kept_event(docs[i]), "duplicate_near")
    dropped_instead = [dict(d, reason="duplicate_near") if i in moved else d for i, d in enumerate(docs)]
    assert stats == _fold(_events(dropped_instead))


@pytest.fixture
def small_corpus(tmp_path, corpus_docs):
    raw = tmp_path / "raw"
    raw.mkdir()
    docs = list(corpus_docs.values())[:400]
    for k in range(2):
        with open(raw / f"part-{k}.jsonl", "w", encoding="utf-8") as f:
            f.writelines(json.dumps(d, ensure_ascii=False) + "\n" for d in docs[k::2])
    return raw


@pytest.mark.parametrize("sharded", [False, True])
def test_a_local_run_writes_stats_json_once(tmp_path, small_corpus, monkeypatch, sharded):
    """Once, by the launcher, with its `run` section: the job leaves its RunStats to it. Every
    file of a run is written through storage.replace_file (atomic), so counted there. The
    sharded run uses stock Beam's runtime, whose shard jobs run in this process (the default
    runtime forks them from a worker pool, where this count would not see them)."""
    from pipelines import RunOptions, run

    written = []
    original = storage.replace_file

    def counting(path, data):
        if str(path).rsplit("/", 1)[-1] == "stats.json":
            written.append(str(path))
        return original(path, data)

    monkeypatch.setattr(storage, "replace_file", counting)
    config = tmp_path / "shards.yaml"
    config.write_text("read:\n  shard_mb: 0.1\n" if sharded else "{}\n")
    out = tmp_path / "out"
    stats = run(RunOptions(inputs=[str(small_corpus / "*.jsonl")], output=str(out), config=str(config),
                           dedup=("exact",), progress=False, runtime="beam" if sharded else "roots",
                           beam_args=["--direct_num_workers=1"]))
    assert written == [str(out / "stats.json")]
    on_disk = json.loads((out / "stats.json").read_text())
    assert on_disk == json.loads(json.dumps(stats)) and "run" in on_disk and "dedup" in on_disk
    assert ("sharding" in on_disk) == sharded and (not sharded or on_disk["sharding"]["shards"] >= 2)
    assert on_disk["read"] == 400 and on_disk["conservation"]["ok"]
    assert not list(out.rglob("_run_stats*"))  # the hand-over file is gone


def test_a_job_nobody_waits_for_writes_stats_json_itself(tmp_path, small_corpus):
    """A remote job the launcher only submits writes stats.json in its last step; a job the
    launcher waits for leaves its RunStats instead, whose summary is that same stats.json."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.config import PipelineConfig
    from pipelines.pipeline import RunSpec, build
    from pipelines.stats import RUN_STATS, take_over

    config = PipelineConfig.load()
    found = {}
    for write_stats in (True, False):
        out = tmp_path / f"out-{write_stats}"
        with beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner", "--direct_num_workers=1",
                                                    "--direct_running_mode=in_memory"])) as p:
            build(p, RunSpec(inputs=[str(small_corpus / "*.jsonl")], output=str(out), config=config,
                             write_stats=write_stats))
        assert (out / "stats.json").exists() == write_stats and (out / RUN_STATS).exists() != write_stats
        found[write_stats] = (json.loads((out / "stats.json").read_text()) if write_stats
                              else take_over(str(out)).summary(config.drop_reasons()))
        assert not (out / RUN_STATS).exists()
    assert found[True] == found[False] and found[True]["read"] == 400 and "run" not in found[True]


def test_the_hand_over_form_reads_back_equal_and_is_json():
    """The job -> launcher hand-over is JSON (it lies in the output folder, perhaps a shared
    bucket: no pickle), and reads back to an equal RunStats, web tables and dedup counters included."""
    import json

    stats = RunStats()
    for event in (Event("kept", "zh", None, 30, 20, "a.jsonl", "src", {"email": 2}, None),
                  Event("dropped", "en", "too_short", 10, 0, "a.jsonl", "(none)", None,
                        WebEvent("response", "gb18030", "meta", "example.cn", None, 3)),
                  Event("malformed", "und", "json", 0, 0, None, None, None, None),
                  Event("read", None, None, 3, 0, "a.jsonl", None, None, None),
                  Event("dup_id", "id-7", None, 2, 0, None, None, None, None)):
        stats.add(event)
    stats.dedup = {"candidate_pairs": 4}
    text = stats.to_json()
    json.loads(text)  # plain JSON
    assert RunStats.from_json(text) == stats
