"""A local run cut into shards (read.shard_mb) keeps exactly what one run over everything keeps.

The reference is an ordinary single-job run of the same CLI on the same files (shard_mb 0):
the same kept texts and keys, the same drop reason and representative for every dropped
record, nothing twice, and the counts conserved against the readers' own count. The corpus
plants what sharding could get wrong: ids that restart at 0 in every file, exact copies and
near copies in later shards, and chains A ~ B ~ C (A, B, C each in a later shard, C resembling
only B) that a shard sees only through the earlier shards' index.
"""
from __future__ import annotations

import glob
import gzip
import json
import random

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
               and 300 <= len(d["text"].split(" ")) <= 900][:12]
    assert len(english) == 12
    rng = random.Random(7)
    names = sorted((f"part-{c}.jsonl" for c in "abcd"), key=lambda n: file_key(str(folder / n)))
    files = {name: [] for name in names}
    first, second, third, fourth = (files[n] for n in names)
    first += docs[:800]
    second += docs[800:1600] + [dict(d) for d in rng.sample(docs[:800], 60)]       # exact copies
    third += docs[1600:] + [dict(d) for d in rng.sample(docs[:1600], 60)]
    for j, d in enumerate(english):
        # A ~ B ~ C: each step replaces 4% of the words, so J(A,B) = J(B,C) ~ 0.85, J(A,C) ~ 0.72.
        n = len(d["text"].split(" "))
        k = int(0.04 * n)
        b = _replace_words(d["text"], range(0, n, n // k)[:k], "qzx")
        c = _replace_words(b, range(n // (2 * k), n, n // k)[:k], "vjw")
        first.append(dict(d, id=f"chain-{j}-a"))
        second.append(dict(d, id=f"chain-{j}-b", text=b))
        fourth.append(dict(d, id=f"chain-{j}-c", text=c))
    fourth += [dict(d) for d in rng.sample(docs, 40)]
    total = 0
    for name, rows in files.items():
        with (folder / name).open("w", encoding="utf-8") as f:
            for i, d in enumerate(rows):
                f.write(json.dumps(dict(d, id=str(i)) if not str(d["id"]).startswith("chain-") else d,
                                   ensure_ascii=False) + "\n")
        total += len(rows)
    return total


def _records(out, part):
    rows = []
    for path in sorted(glob.glob(str(out / part / "*.jsonl.gz"))):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            rows += [json.loads(line) for line in f]
    return rows


def _run(tmp_path, name, shard_mb):
    cfg = tmp_path / f"{name}.yaml"
    cfg.write_text(f"read:\n  shard_mb: {shard_mb}\n")
    out = tmp_path / name
    assert main(["run", "--input", str(tmp_path / "in" / "*.jsonl"), "--output", str(out), "--config", str(cfg),
                 "--output_format", "jsonl", "--no_progress", "--direct_num_workers=1"]) == 0
    return out, json.loads((out / "stats.json").read_text())


def test_sharded_run_keeps_what_one_run_keeps(tmp_path):
    (tmp_path / "in").mkdir()
    total = _corpus(tmp_path / "in")
    whole, whole_stats = _run(tmp_path, "whole", 0)
    sharded, stats = _run(tmp_path, "sharded", 0.4)
    assert "sharding" not in whole_stats and stats["sharding"]["shards"] >= 4

    kept, dropped, dead = (_records(sharded, p) for p in ("data", "dropped", "dead_letter"))
    ref_kept, ref_dropped = _records(whole, "data"), _records(whole, "dropped")
    # Nothing lost, nothing twice: every record once, against the number written.
    keys = [d["key"] for d in kept + dropped]
    assert len(keys) == len(set(keys)) == total - len(dead) and stats["read"] == total
    # The same documents kept, and every drop for the same reason, pointing at the same document.
    assert sorted((d["key"], d["text"]) for d in kept) == sorted((d["key"], d["text"]) for d in ref_kept)
    assert ({d["key"]: (d["reason"], d.get("duplicate_of_key")) for d in dropped}
            == {d["key"]: (d["reason"], d.get("duplicate_of_key")) for d in ref_dropped})
    # The planted chains ended in the last shard as duplicates of the first shard's original.
    chain = {d["id"]: d for d in dropped if d["id"].startswith("chain-")}
    linked = sum(i.endswith("-c") and d.get("duplicate_of") == i[:-1] + "a" for i, d in chain.items())
    assert linked >= 6, (linked, {i: (d["reason"], d.get("duplicate_of")) for i, d in chain.items()})
    assert stats["sharding"]["prior_clusters_joined"] == 0
    # One stats.json with the single run's numbers, repeated ids counted across shards.
    for field in ("read", "kept", "malformed", "dropped", "bytes", "languages", "duplicate_ids", "funnel"):
        assert stats[field] == whole_stats[field], field
    assert stats["duplicate_ids"]["ids"] >= 800 and stats["conservation"]["ok"]
    # The merged index serves a later run like a single run's index: a copy of a kept
    # document is a duplicate of it.
    assert not list((sharded / "_shards").glob("*")) if (sharded / "_shards").exists() else True
    index_files = sorted(p.name for p in (sharded / "dedup_index").iterdir())
    assert "index.json" in index_files and any(".p00003" in n for n in index_files)


def test_worker_pool_forks_fresh_processes_with_the_models_loaded():
    """Shard jobs and SDK workers are forks of one warm process: each call runs in a new
    process (its memory gone when it ends), the models are already loaded there, nothing has
    processed text there (a native thread pool, once running, would not survive the fork),
    and a job's exception comes back to the caller."""
    import os

    from pipelines.launch import WorkerPool

    with WorkerPool() as pool:
        first, second = pool.call(os.getpid), pool.call(os.getpid)
        assert first != second and pool.call(os.getppid) == pool.pid
        assert pool.call(eval, "len(__import__('pipelines.langid', fromlist=['_shared'])._shared)") == 1
        assert pool.call(eval, "'rjieba' in __import__('pipelines.text.segment', fromlist=['_cutters'])._cutters")
        assert pool.call(eval, "__import__('pipelines.text.chinese', fromlist=['_converter'])._converter") is None
        with pytest.raises(ValueError, match="invalid literal"):
            pool.call(int, "not a number")
    assert WorkerPool.current is None
    with pytest.raises(ChildProcessError):
        os.waitpid(pool.pid, os.WNOHANG)  # closed: the pool has exited and was waited for


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
