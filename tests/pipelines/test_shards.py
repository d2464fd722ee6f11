"""A local run cut into shards (read.shard_mb) keeps exactly what one run over everything keeps.

The reference is an ordinary single-job run of the same CLI on the same files (shard_mb 0):
the same kept texts and keys, the same drop reason and representative for every dropped
record, nothing twice, and the counts conserved against the readers' own count. The corpus
plants what sharding could get wrong: ids that restart at 0 in every file, exact copies and
near copies in later shards, chains A ~ B ~ C (A, B, C each in a later shard, C resembling
only B) that a shard sees only through the earlier shards' index, and bridges: T0 ~ T1 ~ T2 ~
T3 ~ T4 (each resembling only its neighbours) with T0, T2 and T4 in the first three files and
the hubs T1, T3 in the last, so the last shard joins three clusters the earlier shards kept
apart (and a copy of T2 the third shard dropped must follow T2 into T0's cluster).
"""
from __future__ import annotations

import glob
import gzip
import json
import os
import random

import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from pipelines.datadir import dataset_path
from pipelines.io import file_key

pytestmark = pytest.mark.slow


def _replace_words(text: str, positions, tag: str) -> str:
    words = text.split(" ")
    for i in positions:
        words[i] = f"{tag}{i}"
    return " ".join(words)


def _corpus(folder):
    """Four JSONL files in key order (the order shards follow); ids restart at 0 in each."""
    lines = (dataset_path("corpus_web_mixed") / "docs-00000-of-00006.jsonl").read_text(encoding="utf-8").splitlines()
    docs = [json.loads(line) for line in lines[:2400]]
    english = [d for d in (json.loads(line) for line in lines[2400:]) if d.get("source") == "c4-en"
               and 300 <= len(d["text"].split(" ")) <= 900][:18]
    assert len(english) == 18
    english, bridged = english[:12], english[12:]
    rng = random.Random(7)
    names = sorted((f"part-{c}.jsonl" for c in "abcd"), key=lambda n: file_key(str(folder / n)))
    files = {name: [] for name in names}
    first, second, third, fourth = (files[n] for n in names)
    first += docs[:800]
    second += docs[800:1600] + [dict(d) for d in rng.sample(docs[:800], 60)]       # exact copies
    for j, d in enumerate(english):
        # A ~ B ~ C: each step replaces 4% of the words, so J(A,B) = J(B,C) ~ 0.85, J(A,C) ~ 0.72.
        n = len(d["text"].split(" "))
        k = int(0.04 * n)
        b = _replace_words(d["text"], range(0, n, n // k)[:k], "qzx")
        c = _replace_words(b, range(n // (2 * k), n, n // k)[:k], "vjw")
        first.append(dict(d, id=f"chain-{j}-a"))
        second.append(dict(d, id=f"chain-{j}-b", text=b))
        fourth.append(dict(d, id=f"chain-{j}-c", text=c))
    for j, d in enumerate(bridged):
        # Four successive edits of 4% of the words each (disjoint positions): neighbours ~0.85,
        # two steps apart ~0.72, which no verification accepts.
        n = len(d["text"].split(" "))
        k = int(0.04 * n)
        steps = [d["text"]]
        for s, tag in enumerate(("qzx", "vjw", "kpb", "wmf")):
            steps.append(_replace_words(steps[-1], range(s * n // (4 * k), n, n // k)[:k], tag))
        first.append(dict(d, id=f"bridge-{j}-0"))
        second.append(dict(d, id=f"bridge-{j}-2", text=steps[2]))
        # At the head of the third file: in an earlier shard than the hubs at the end.
        third += [dict(d, id=f"bridge-{j}-4", text=steps[4]), dict(d, id=f"bridge-{j}-2copy", text=steps[2])]
        fourth += [dict(d, id=f"bridge-{j}-1", text=steps[1]), dict(d, id=f"bridge-{j}-3", text=steps[3])]
    third += docs[1600:] + [dict(d) for d in rng.sample(docs[:1600], 60)]
    fourth += [dict(d) for d in rng.sample(docs, 40)]
    total = 0
    for name, rows in files.items():
        with (folder / name).open("w", encoding="utf-8") as f:
            for i, d in enumerate(rows):
                planted = str(d["id"]).startswith(("chain-", "bridge-"))
                f.write(json.dumps(d if planted else dict(d, id=str(i)), ensure_ascii=False) + "\n")
        total += len(rows)
    return total


def _records(out, part):
    rows = []
    for path in sorted(glob.glob(str(out / part / "*.jsonl.gz"))):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            rows += [json.loads(line) for line in f]
    for path in sorted(glob.glob(str(out / part / "*.parquet"))):
        rows += pq.read_table(path).to_pylist()
    return rows


def _run(tmp_path, name, shard_mb, output_format="jsonl"):
    cfg = tmp_path / f"{name}.yaml"
    cfg.write_text(f"read:\n  shard_mb: {shard_mb}\n")
    out = tmp_path / name
    assert main(["run", "--input", str(tmp_path / "in" / "*.jsonl"), "--output", str(out), "--config", str(cfg),
                 "--output_format", output_format, "--no_progress", "--direct_num_workers=1"]) == 0
    return out, json.loads((out / "stats.json").read_text())


def _index_roots(out):
    """{(table, doc_key, band, hash): root_key} of every row of a run's dedup index."""
    rows = {}
    for path in sorted((out / "dedup_index").glob("*.parquet")):
        kind = path.name.split("-")[0]
        for r in pq.read_table(path).to_pylist():
            rows[(kind, r["doc_key"], r.get("band"), r.get("hash"))] = (r["root_key"], r.get("root_id"))
    return rows


@pytest.mark.parametrize("output_format", ["jsonl", "parquet"])
def test_sharded_run_keeps_what_one_run_keeps(tmp_path, output_format):
    (tmp_path / "in").mkdir()
    total = _corpus(tmp_path / "in")
    whole, whole_stats = _run(tmp_path, "whole", 0)
    sharded, stats = _run(tmp_path, "sharded", 0.4, output_format)
    assert "sharding" not in whole_stats and stats["sharding"]["shards"] >= 4

    kept, dropped, dead = (_records(sharded, p) for p in ("data", "dropped", "dead_letter"))
    ref_kept, ref_dropped = _records(whole, "data"), _records(whole, "dropped")
    # Nothing lost, nothing twice: every record once, against the number written.
    keys = [d["key"] for d in kept + dropped]
    assert len(keys) == len(set(keys)) == total - len(dead) and stats["read"] == total
    # The same documents kept, and every drop for the same reason, pointing at the same
    # document, in the same cluster.
    assert sorted((d["key"], d["text"]) for d in kept) == sorted((d["key"], d["text"]) for d in ref_kept)
    fate = lambda d: (d["reason"], d.get("duplicate_of_key"), d.get("duplicate_of"), d.get("cluster_id"))
    assert {d["key"]: fate(d) for d in dropped} == {d["key"]: fate(d) for d in ref_dropped}
    # A dropped record is the one the single run writes, field for field (a bridged
    # representative was a kept row: its raw size and PII counts come back from the extras).
    by_key = {d["key"]: d for d in ref_dropped}
    assert all(d == by_key[d["key"]] for d in dropped)
    # The planted chains ended in the last shard as duplicates of the first shard's original.
    chain = {d["id"]: d for d in dropped if d["id"].startswith("chain-")}
    linked = sum(i.endswith("-c") and d.get("duplicate_of") == i[:-1] + "a" for i, d in chain.items())
    assert linked >= 6, (linked, {i: (d["reason"], d.get("duplicate_of")) for i, d in chain.items()})
    # The planted bridges: the last shard joined T2's and T4's clusters, which earlier shards
    # had kept, to T0's; the exact copy of T2 an earlier shard dropped now names T0 too.
    bridges = {d["id"]: d for d in dropped if d["id"].startswith("bridge-")}
    settled = sum(all(bridges.get(f"bridge-{j}-{t}", {}).get("duplicate_of") == f"bridge-{j}-0"
                      for t in ("1", "2", "2copy", "3", "4")) for j in range(6))
    assert settled >= 4, {i: (d["reason"], d.get("duplicate_of")) for i, d in bridges.items()}
    report = stats["sharding"]["bridges"]
    assert report["representatives_dropped"] >= settled and report["dropped_repointed"] >= 3, report
    assert stats["sharding"]["prior_clusters_joined"] == report["bridges"] >= report["representatives_dropped"]
    # One stats.json with the single run's numbers, repeated ids counted across shards.
    for field in ("read", "kept", "malformed", "dropped", "bytes", "languages", "sources", "pii_redacted",
                  "duplicate_ids", "funnel"):
        assert stats[field] == whole_stats[field], field
    assert stats["dedup"]["kept"] == whole_stats["kept"]
    # The merged index is the single run's: every document under the same root, so a later
    # refresh sees the bridged clusters as one.
    assert _index_roots(sharded) == _index_roots(whole)
    assert stats["duplicate_ids"]["ids"] >= 800 and stats["conservation"]["ok"]
    # The merged index serves a later run like a single run's index: a copy of a kept
    # document is a duplicate of it.
    assert not list((sharded / "_shards").glob("*")) if (sharded / "_shards").exists() else True
    index_files = sorted(p.name for p in (sharded / "dedup_index").iterdir())
    assert "index.json" in index_files and any(".p00003" in n for n in index_files)


def test_worker_pool_forks_fresh_processes_with_the_models_loaded():
    """Shard jobs and SDK workers are forks of one warm process: each call runs in a new
    process (its memory gone when it ends), the models are already loaded there and frozen
    out of the collector, nothing has processed text there (a native thread pool, once
    running, would not survive the fork), and a job's exception comes back to the caller."""
    import os

    from pipelines.api import preload
    from pipelines.runtime import WorkerPool

    with WorkerPool(preload=preload) as pool:
        first, second = pool.call(os.getpid), pool.call(os.getpid)
        assert first != second and pool.call(os.getppid) == pool.pid
        assert pool.call(eval, "len(__import__('pipelines.langid', fromlist=['_shared'])._shared)") == 1
        assert pool.call(eval, "'rjieba' in __import__('pipelines.text.segment', fromlist=['_cutters'])._cutters")
        assert pool.call(eval, "__import__('pipelines.text.chinese', fromlist=['_converter'])._converter") is None
        # What a fork inherits (Beam, the models) is frozen out of the cyclic collector: its
        # collections neither scan it nor write to those objects (copying their pages).
        frozen, tracked = pool.call(eval, "(__import__('gc').get_freeze_count(), len(__import__('gc').get_objects()))")
        assert frozen > 10 * tracked, (frozen, tracked)
        with pytest.raises(ValueError, match="invalid literal"):
            pool.call(int, "not a number")
    assert WorkerPool.current is None
    with pytest.raises(ChildProcessError):
        os.waitpid(pool.pid, os.WNOHANG)  # closed: the pool has exited and was waited for


def test_a_pool_started_before_the_config_is_read_loads_what_the_config_asks_for(tmp_path, monkeypatch):
    """A multi-worker run starts its pool before it reads the config, with the --dedup flag
    when given and else the config's `dedup.methods`: the pool loads the dedup modules for
    its workers exactly when the run deduplicates, and the models of the config it was given.
    (Fresh Python pools: a fork of this process would inherit whatever the tests imported.)"""
    from pipelines.api import preload
    from pipelines.runtime import WorkerPool, pool as pool_module

    monkeypatch.setattr(pool_module, "_clean_for_fork", lambda: False)
    exact = tmp_path / "exact.yaml"  # a config cannot turn dedup off: only --dedup none does
    exact.write_text("dedup:\n  methods: [exact]\n")
    loaded = "'pipelines.dedup.transforms' in __import__('sys').modules"
    for config, dedup, expected in ((None, None, True), (str(exact), None, True), (str(exact), False, False)):
        with WorkerPool(config, dedup, preload) as pool:
            assert pool.call(eval, loaded) is expected, (config, dedup)
            assert pool.call(eval, "'rjieba' in __import__('pipelines.text.segment', fromlist=['_cutters'])._cutters")


def test_a_refused_run_closes_the_pool_it_started(tmp_path, monkeypatch):
    """The pool of a 2-worker run starts before the arguments are checked; a run refused by
    those checks (here: a pattern that matches nothing) exits 2 and leaves no pool behind."""
    from pipelines.runtime import WorkerPool

    pools = []
    init = WorkerPool.__init__

    def recording_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        pools.append(self)

    monkeypatch.setattr(WorkerPool, "__init__", recording_init)
    assert main(["run", "--input", str(tmp_path / "nothing-*.jsonl"), "--output", str(tmp_path / "out"),
                 "--no_progress", "--direct_num_workers=2"]) == 2
    assert len(pools) == 1 and WorkerPool.current is None
    with pytest.raises(ChildProcessError):
        os.waitpid(pools[0].pid, os.WNOHANG)  # exited and waited for


def test_sharded_two_worker_run_keeps_what_one_worker_keeps(tmp_path):
    """Two workers forked from the pool for every shard's job, after this process has itself
    processed text (the single-job reference runs in this process): the same records, kept
    and dropped alike, as one worker."""
    raw = tmp_path / "in"
    raw.mkdir()
    lines = (dataset_path("corpus_web_mixed") / "docs-00001-of-00006.jsonl").read_text(encoding="utf-8").splitlines()
    for k in range(3):
        (raw / f"p{k}.jsonl").write_text("\n".join(lines[k * 300:(k + 1) * 300] + lines[:40]) + "\n", encoding="utf-8")
    outs = {}
    for name, shard_mb, workers in (("one", 0, 1), ("two", 0.2, 2)):
        cfg = tmp_path / f"{name}.yaml"
        cfg.write_text(f"read:\n  shard_mb: {shard_mb}\n")
        out = tmp_path / name
        assert main(["run", "--input", str(raw / "*.jsonl"), "--output", str(out), "--config", str(cfg),
                     "--output_format", "jsonl", "--no_progress", f"--direct_num_workers={workers}"]) == 0
        outs[name] = out
    stats = json.loads((outs["two"] / "stats.json").read_text())
    assert stats["sharding"]["shards"] >= 3 and stats["conservation"]["ok"]
    for part in ("data", "dropped"):
        got = sorted((d["key"], d.get("reason"), d.get("duplicate_of_key")) for d in _records(outs["two"], part))
        assert got == sorted((d["key"], d.get("reason"), d.get("duplicate_of_key")) for d in _records(outs["one"], part))
    one = json.loads((outs["one"] / "stats.json").read_text())
    assert stats["duplicate_ids"] == one["duplicate_ids"] and stats["duplicate_ids"]["ids"] >= 30
    assert (stats["read"], stats["kept"], stats["dropped"]) == (one["read"], one["kept"], one["dropped"])


def _names_in_order(folder, count, before=None):
    """`count` file names under `folder` in ascending key order, all keyed below `before` (a path)."""
    names, i = [], 0
    while len(names) < count:
        path = folder / f"f{i}.jsonl"
        if before is None or file_key(str(path)) < file_key(str(before)):
            names.append(path)
        i += 1
    return sorted(names, key=lambda p: file_key(str(p)))


def test_sharded_refresh_lets_released_documents_win(tmp_path, corpus_docs):
    """A refresh whose input runs in shards, against a release: a hub in the last shard joins
    a released document's cluster with one an earlier shard of this refresh kept, whose key is
    the smaller. One refresh over everything drops every new copy in favour of the released
    document; so must the sharded one, and the release itself stays as published."""
    english = [d for d in corpus_docs.values() if d["source"] == "c4-en" and 300 <= len(d["text"].split(" ")) <= 900]
    groups, filler = english[:4], english[4:40]
    (tmp_path / "raw1").mkdir()
    (tmp_path / "raw2").mkdir()
    released_file = tmp_path / "raw1" / "r.jsonl"
    first, second = _names_in_order(tmp_path / "raw2", 2, before=released_file)
    rows = {released_file: [dict(d, id=f"r-{i}") for i, d in enumerate(filler[:8])], first: [], second: []}
    rows[first] += [dict(d, id=f"a-{i}") for i, d in enumerate(filler[8:24])]
    rows[second] += [dict(d, id=f"b-{i}") for i, d in enumerate(filler[24:36])]
    for j, d in enumerate(groups):
        n = len(d["text"].split(" "))
        k = int(0.04 * n)
        t1 = _replace_words(d["text"], range(0, n, n // k)[:k], "qzx")
        t2 = _replace_words(t1, range(n // (2 * k), n, n // k)[:k], "vjw")
        rows[released_file].append(dict(d, id=f"t0-{j}"))
        rows[first].append(dict(d, id=f"t2-{j}", text=t2))   # last in the file: its last shard
        rows[second].insert(0, dict(d, id=f"t1-{j}", text=t1))
    for path, docs in rows.items():
        path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    fates = {}
    for name, shard_mb in (("one", 0), ("sharded", 0.03)):
        cfg = tmp_path / f"{name}.yaml"
        cfg.write_text(f"read:\n  shard_mb: {shard_mb}\n")
        releases = tmp_path / f"releases-{name}"
        for raw in ("raw1", "raw2"):
            assert main(["refresh", "--input", str(tmp_path / raw / "*.jsonl"), "--releases", str(releases),
                         "--config", str(cfg), "--output_format", "jsonl", "--no_progress",
                         "--direct_num_workers=1"]) == 0
        second_release = releases / "release-00002"
        kept = _records(second_release, "data")
        dropped = _records(second_release, "dropped")
        fates[name] = ({d["id"] for d in kept}, {d["id"]: (d["reason"], d.get("duplicate_of")) for d in dropped},
                       json.loads((second_release / "stats.json").read_text()))
        assert _records(releases / "release-00001", "data")  # the first release is still there, as published
    (one_kept, one_dropped, _), (kept, dropped, stats) = fates["one"], fates["sharded"]
    assert kept == one_kept and dropped == one_dropped
    joined = [j for j in range(4) if dropped.get(f"t2-{j}") == ("duplicate_near", f"t0-{j}")]
    assert joined and all(dropped[f"t1-{j}"] == ("duplicate_near", f"t0-{j}") for j in joined), dropped
    assert stats["sharding"]["shards"] >= 3 and stats["sharding"]["bridges"]["representatives_dropped"] >= 1
    assert stats["kept"] == len(kept) and stats["conservation"]["ok"]


def test_a_crashed_runs_shard_files_do_not_join_the_rerun(tmp_path):
    """A sharded run that died left files in OUT/_shards/; the rerun with --overwrite writes
    every record once all the same (each shard's folder is emptied before its job)."""
    (tmp_path / "in").mkdir()
    _corpus(tmp_path / "in")
    out = tmp_path / "out"
    cfg = tmp_path / "shards.yaml"
    cfg.write_text("read:\n  shard_mb: 0.4\n")
    args = ["run", "--input", str(tmp_path / "in" / "*.jsonl"), "--output", str(out), "--config", str(cfg),
            "--output_format", "jsonl", "--no_progress", "--direct_num_workers=1", "--dedup", "none"]
    assert main(args) == 0
    first = _records(out, "data")
    stale = out / "_shards" / "shard-00000" / "data"
    stale.mkdir(parents=True)
    # A file of another shard count: no rename of the rerun overwrites it.
    with gzip.open(stale / "part-00003-of-00007.jsonl.gz", "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(d) + "\n" for d in first[:50])
    assert main([*args, "--overwrite"]) == 0
    kept, dropped = _records(out, "data"), _records(out, "dropped")
    keys = [d["key"] for d in kept + dropped]
    assert len(keys) == len(set(keys)) and len(kept) == len(first)
    assert not (out / "_shards").exists()
