"""The run API and its two local runtimes: `pipelines.run(RunOptions)` is what the CLI and a
refresh call, and `--runtime beam` (stock Beam: its FnApiRunner and worker processes, no pool,
no progress files) writes what the default runtime (pipelines/runtime) writes, byte for byte."""
import json
import os

import pytest

from pipelines import RunOptions, UsageError, run
from pipelines.cli import main

PARTS = ("data", "dropped", "dead_letter", "dedup_index")
# stats.json's `run` figures that differ from run to run (or name the runner's flags).
TIMINGS = {"elapsed_s", "docs_per_s", "startup_s", "processing_s", "wind_down_s"}


def outputs(out) -> dict:
    """{relative path: bytes} of a run's kept, dropped, dead-letter and index files and its
    stats.json (`run` timings and the sharded run's per-shard seconds and memory left out)."""
    found = {}
    for path in sorted(out.rglob("*")):
        if path.is_file() and (path.name == "stats.json" or path.parent.name in PARTS):
            data = path.read_bytes()
            if path.name == "stats.json":
                stats = json.loads(data)
                stats["run"] = {k: v for k, v in stats["run"].items() if k not in TIMINGS}
                for key in ("shard_seconds", "shard_peak_rss_mib"):
                    stats.get("sharding", {}).pop(key, None)
                if "sharding" in stats and stats["sharding"]["bridges"]:
                    stats["sharding"]["bridges"].pop("seconds")
                data = json.dumps(stats, sort_keys=True).encode()
            found[str(path.relative_to(out))] = data
    return found


def rows(out) -> dict:
    """{folder: its records, sorted} and stats.json without `run`: what a 2-worker run writes
    does not depend on timing, but how it spreads the records over files and row orders does."""
    import gzip

    import pyarrow.parquet as pq

    found = {}
    for part in PARTS:
        records = []
        for path in sorted((out / part).rglob("*")):
            if path.suffix == ".parquet":
                records += [json.dumps(r, sort_keys=True, default=str) for r in pq.read_table(path).to_pylist()]
            elif path.is_file():
                records += (gzip.open if path.suffix == ".gz" else open)(path, "rt", encoding="utf-8").read().splitlines()
        found[part] = sorted(records)
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    stats.pop("run")
    found["stats.json"] = stats
    return found


@pytest.fixture(scope="module")
def sample(tmp_path_factory, corpus_dir):
    """Two files of real documents, with copies (exact duplicates) and a malformed line."""
    folder = tmp_path_factory.mktemp("sample")
    with open(sorted(corpus_dir.glob("*.jsonl"))[0], encoding="utf-8") as f:
        lines = [next(f) for _ in range(700)]
    (folder / "a.jsonl").write_text("".join(lines[:400]) + "not json\n", encoding="utf-8")
    (folder / "b.jsonl").write_text("".join(lines[400:] + lines[:60]), encoding="utf-8")
    return folder


def recording_pools(monkeypatch) -> list:
    from pipelines.runtime import WorkerPool

    pools, init = [], WorkerPool.__init__

    def recording_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        pools.append(self)

    monkeypatch.setattr(WorkerPool, "__init__", recording_init)
    return pools


@pytest.mark.parametrize("workers", [1, 2])
def test_stock_beam_runtime_writes_what_ours_writes(tmp_path, sample, monkeypatch, workers):
    """Dedup on, `workers` local workers: the default runtime (2 workers: forked from a warm
    pool) and stock Beam write the same files and counts (2 workers: the same records and
    counts; the files they land in follow the workers' timing on either runtime); only ours
    starts a pool."""
    pools = recording_pools(monkeypatch)
    found = {}
    for runtime in ("roots", "beam"):
        out = tmp_path / runtime
        stats = run(RunOptions(inputs=[str(sample / "*.jsonl")], output=str(out), dedup=("exact", "minhash"),
                               progress=runtime == "roots", runtime=runtime,
                               beam_args=[f"--direct_num_workers={workers}"]))
        assert stats["read"] == 761 and stats["malformed"] == 1 and stats["dropped"]["duplicate_exact"] > 0
        found[runtime] = outputs(out) if workers == 1 else rows(out)
        assert len(pools) == (workers == 2), runtime  # the roots run's pool, and none for beam
    assert {name.split("/")[0] for name in found["roots"]} == {*PARTS, "stats.json"}
    assert found["beam"] == found["roots"]


def test_a_sharded_run_on_stock_beam_writes_what_ours_writes(tmp_path, sample):
    """Shards of ~0.05 MB (several per file), dedup on: stock Beam runs the shards' jobs in
    this process, ours forks each from a pool; the outputs are the same."""
    config = tmp_path / "shards.yaml"
    config.write_text("read:\n  shard_mb: 0.05\ndedup:\n  methods: [exact, minhash]\n", encoding="utf-8")
    found = {}
    for runtime in ("roots", "beam"):
        out = tmp_path / runtime
        assert main(["run", "--input", str(sample / "*.jsonl"), "--output", str(out), "--config", str(config),
                     "--no_progress", "--direct_num_workers=1", "--runtime", runtime]) == 0
        found[runtime] = outputs(out)
        assert json.loads(found[runtime]["stats.json"])["sharding"]["shards"] > 2
    assert found["beam"] == found["roots"]


def test_the_cli_runs_the_run_options_its_flags_say(tmp_path, sample):
    """`roots-pipeline run` with flags and `run(RunOptions)` with the same settings write the
    same files (jsonl kept rows, no dropped folder, one dedup method)."""
    flags = ["--output_format", "jsonl", "--no_dropped", "--dedup", "exact", "--no_progress",
             "--direct_num_workers=1"]
    assert main(["run", "--input", str(sample / "*.jsonl"), "--output", str(tmp_path / "cli"), *flags]) == 0
    run(RunOptions(inputs=[str(sample / "*.jsonl")], output=str(tmp_path / "api"), output_format="jsonl",
                   write_dropped=False, dedup=("exact",), progress=False, beam_args=["--direct_num_workers=1"]))
    cli, api = outputs(tmp_path / "cli"), outputs(tmp_path / "api")
    assert not (tmp_path / "api" / "dropped").exists() and any(n.endswith(".jsonl.gz") for n in api)
    assert json.loads(api["stats.json"])["run"]["dedup"] == ["exact"]
    assert cli == api


def test_a_refresh_runs_the_options_it_was_given_into_its_staging_folder(tmp_path, sample, monkeypatch):
    from pipelines import refresh as refresh_module

    calls = []
    monkeypatch.setattr(refresh_module, "run", lambda options: calls.append(options))
    monkeypatch.setattr(refresh_module, "read_manifest", lambda folder: ({}, ""))
    monkeypatch.setattr(refresh_module, "publish", lambda staging, final: None)
    given = RunOptions(inputs=[str(sample / "a.jsonl")], config="my.yaml", prior_indexes=["old/dedup_index"],
                       runtime="beam", beam_args=["--direct_num_workers=1"])
    refresh_module.refresh(given, str(tmp_path / "releases"))
    (options,) = calls
    assert isinstance(options, RunOptions)
    assert options.output == str(tmp_path / "releases" / "_staging-release-00001")
    assert options.inputs == [str(sample / "a.jsonl")] and options.overwrite and options.wait
    assert options.release_fields == {"release": 1, "name": "release-00001", "previous": []}
    assert list(options.input_fingerprints) == [str(sample / "a.jsonl")]
    assert (options.config, options.prior_indexes, options.runtime, options.beam_args) == (
        "my.yaml", ["old/dedup_index"], "beam", ["--direct_num_workers=1"])
    with pytest.raises(UsageError, match="--dedup none"):
        refresh_module.refresh(RunOptions(inputs=given.inputs, dedup=()), str(tmp_path / "releases"))


def test_an_unknown_runtime_or_dedup_method_is_a_usage_error(tmp_path, sample):
    with pytest.raises(UsageError, match="unknown runtime"):
        run(RunOptions(inputs=[str(sample / "a.jsonl")], output=str(tmp_path / "o"), runtime="prism"))
    with pytest.raises(UsageError, match="unknown method"):
        run(RunOptions(inputs=[str(sample / "a.jsonl")], output=str(tmp_path / "o"), dedup=("fuzzy",),
                       beam_args=["--direct_num_workers=1"]))


def _exits(code):
    os._exit(code)


def test_fork_call_runs_in_a_fork_and_brings_back_results_and_errors():
    from pipelines.runtime import fork_call

    assert fork_call(os.getppid) == os.getpid() and fork_call(os.getpid) != os.getpid()
    assert fork_call(sorted, [3, 1, 2]) == [1, 2, 3]
    with pytest.raises(ValueError, match="invalid literal"):
        fork_call(int, "not a number")
    with pytest.raises(RuntimeError, match="died before it reported"):
        fork_call(_exits, 3)
