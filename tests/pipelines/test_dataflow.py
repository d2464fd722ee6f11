"""The Dataflow job is built offline (--dry_run=True): graph, worker dependencies, options."""
import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, SetupOptions

from pipelines.api import runner_args
from pipelines.config import PipelineConfig
from pipelines.pipeline import RunSpec, build


def _project_copy(tmp_path, root):
    """The files `python setup.py sdist` reads, copied out of the checkout: Beam's stager
    builds the sdist (egg-info, build/) next to setup.py, and a test must not write into the
    repository (it may be read-only)."""
    import shutil

    copy = tmp_path / "project"
    copy.mkdir()
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(root / name, copy / name)
    for package in ("pipelines", "roots_model", "roots_eval", "roots_demo"):
        shutil.copytree(root / package, copy / package, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_dataflow_dry_run_builds_the_job(tmp_path, repo_root):
    # Without --setup_file the CLI names the repository's setup.py.
    default = runner_args(["--runner=DataflowRunner", "--project=roots-test", "--region=us-central1",
                          "--temp_location=gs://roots-test-bucket/tmp", "--dry_run=True", "--no_auth"])
    assert any(a.startswith("--setup_file=") and a.endswith("setup.py") for a in default)
    setup_py = _project_copy(tmp_path, repo_root) / "setup.py"
    args = runner_args(["--runner=DataflowRunner", "--project=roots-test", "--region=us-central1",
                       "--temp_location=gs://roots-test-bucket/tmp", "--dry_run=True", "--no_auth",
                       f"--setup_file={setup_py}"])
    p = beam.Pipeline(options=PipelineOptions(args))
    build(p, RunSpec(inputs=["gs://roots-test-bucket/raw/2026-11-01/a.jsonl.gz"],
                     output="gs://roots-test-bucket/out", config=PipelineConfig.load()))
    result = p.run()
    job = result.job
    names = {t.unique_name for t in job.proto_pipeline.components.transforms.values()}
    assert {"Read", "Process", "WriteKept", "WriteDropped", "WriteDeadLetter", "Finish"} <= names
    staged = {d.role_payload for env in job.proto_pipeline.components.environments.values() for d in env.dependencies}
    assert any(b"workflow.tar.gz" in payload for payload in staged)  # our package, built from setup.py
    assert job.options.view_as(SetupOptions).setup_file.endswith("setup.py")
    assert job.proto.name.startswith("beamapp-")


def test_local_runner_arguments():
    from apache_beam.options.pipeline_options import DirectOptions

    def direct(extra):
        opts = PipelineOptions(runner_args(extra)).view_as(DirectOptions)
        return opts.direct_num_workers, opts.direct_running_mode

    assert direct([]) == (2, "multi_processing")
    # One worker runs in this process unless the user asked for a mode.
    assert direct(["--direct_num_workers=1"]) == (1, "in_memory")
    assert direct(["--direct_num_workers", "1", "--direct_running_mode=multi_processing"]) == (1, "multi_processing")
    assert direct(["--direct_num_workers=4"]) == (4, "multi_processing")


def test_local_runs_never_try_prism(tmp_path, monkeypatch):
    """Beam's DirectRunner first tries PrismRunner, which downloads a binary from GitHub; the
    CLI's local runner goes straight to the FnApiRunner, in-process or with worker processes."""
    import json

    from apache_beam.runners.portability import prism_runner

    from pipelines.cli import main

    tried = []
    monkeypatch.setattr(prism_runner.PrismRunner, "run_pipeline", lambda self, *a, **k: tried.append(a))
    raw = tmp_path / "in.jsonl"
    raw.write_text("".join(json.dumps({"id": f"d{i}", "text": f"doc {i} " * 40}) + "\n" for i in range(5)))
    for workers in ("--direct_num_workers=1", "--direct_num_workers=2"):
        out = tmp_path / workers[-1]
        assert main(["run", "--input", str(raw), "--output", str(out), "--dedup", "none", "--no_progress", workers]) == 0
        assert json.loads((out / "stats.json").read_text())["read"] == 5
    assert tried == []


def test_console_entry_exits_with_main_status(tmp_path):
    """`python -m pipelines` leaves via os._exit: the status and buffered output still arrive."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "pipelines", "run", "--input", str(tmp_path / "none-*.jsonl"),
                           "--output", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "matches no file" in proc.stderr


def test_local_job_reads_and_processes_in_one_fused_stage(tmp_path):
    """A local run's job gets its read ranges from the launcher: no matching or splitting
    stages, and no shuffle of the documents. Reading, processing, writing each bundle's
    files and folding the stats are one fused stage; repeated ids are counted from a few id
    buckets per range, never from one shuffled element per document; what leaves the fused
    stage for the run's end is a few accumulators and file names per bundle, gathered by
    one step that renames the files and writes stats.json. Five stages in all."""
    from apache_beam.runners.portability.fn_api_runner import fn_runner

    from pipelines.io import FileRange

    p = beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"]))
    ranges = [FileRange(str(tmp_path / f"{c}.jsonl"), 0, -1) for c in "ab"]
    build(p, RunSpec(inputs=[], output=str(tmp_path / "out"), config=PipelineConfig.load(), ranges=ranges,
                     id_buckets=4))
    _, stages = fn_runner.FnApiRunner().create_stages(p.to_runner_api())
    names = [[t.unique_name for t in stage.transforms] for stage in stages]
    (fused,) = [n for n in names if "Process/ParDo(ProcessDocuments)" in n]
    for step in ("Read/ReadRanges", "WriteKept", "WriteDropped", "WriteDeadLetter", "KeptStats", "DroppedStats",
                 "MalformedStats", "ReadCountStats", "GroupIdBuckets/Write"):
        assert any(t == step or t.startswith(step + "/") for t in fused), (step, fused)
    every = {t for n in names for t in n}
    assert not any("SpreadDocs" in t or "MatchFiles" in t or "OneEntryPerFile" in t or t == "Ids" for t in every)
    assert not any("WriteImpl" in t or "DoOnce" in t for t in every)  # no per-output stages of Beam's writes
    # The only shuffles fed by the read stage: the ranges before it, and the id buckets and
    # the run's end after it.
    gbk_writes = sorted(t for t in fused if t.endswith("/Write"))
    assert gbk_writes and all(t == "GroupIdBuckets/Write" or t.startswith("RunEnd/Write/") for t in gbk_writes), \
        gbk_writes
    assert len(stages) == 5, names
    (finish,) = [n for n in names if "Finish" in n]
    assert "Gather/CombinePerKey/Merge" in finish
