"""The roots_release_chain DAG under a real Airflow: `airflow dags test` on the shared corpus.

Airflow lives in its own virtualenv ($ROOTS_AIRFLOW_VENV, built by deploy/airflow/make_venv.sh;
.ci/run builds it), with SQLite in tmp_path and no other service. ROOTS runs in this test's own
interpreter (ROOTS_PYTHON), as it would beside a real Airflow. Without the venv the test is
skipped, except under CI, where it must run.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.datadir import data_dir

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
DAG_ID = "roots_release_chain"
STEPS = 10
BUDGET = (f"--steps {STEPS} --vocab-size 1000 --seq-len 64 --batch-size 8 --checkpoint-interval 5 "
          "--tasks lm_flores200_en,cls_sst2 --limit 3 --max-new-tokens 4")


@pytest.fixture(scope="module")
def airflow_bin() -> Path:
    venv = os.environ.get("ROOTS_AIRFLOW_VENV")
    if not venv:
        if os.environ.get("CI"):
            pytest.fail("CI must run the Airflow DAG test: ROOTS_AIRFLOW_VENV is not set (.ci/run builds it)")
        pytest.skip("ROOTS_AIRFLOW_VENV is not set (deploy/airflow/make_venv.sh VENV_DIR builds one)")
    airflow = Path(venv) / "bin" / "airflow"
    assert airflow.is_file(), f"{airflow} missing: rebuild with deploy/airflow/make_venv.sh {venv}"
    return airflow


def _env(tmp_path: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env.update({
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "deploy" / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow' / 'airflow.db'}",
        "PYTHONDONTWRITEBYTECODE": "1",  # Airflow imports the DAG file from the repository
        "ROOTS_RUNNER": "DirectRunner", "ROOTS_PYTHON": sys.executable, "ROOTS_RETRIES": "0",
        "AIRFLOW_VAR_ROOTS_INPUT": str(tmp_path / "raw" / "*.jsonl"),
        "AIRFLOW_VAR_ROOTS_RELEASES": str(tmp_path / "releases"),
        "AIRFLOW_VAR_ROOTS_WORK": str(tmp_path / "work"),
        "AIRFLOW_VAR_ROOTS_BUDGET": BUDGET,
        **extra,
    })
    return env


def _airflow(airflow: Path, env: dict, log: Path, *args: str) -> str:
    with log.open("w") as out:
        code = subprocess.run([str(airflow), *args], env=env, stdout=out, stderr=subprocess.STDOUT,
                              timeout=420).returncode
    text = log.read_text(errors="replace")
    assert code == 0, f"airflow {' '.join(args)} exited {code}:\n" + _story(text)
    return text


def _story(text: str) -> str:
    """What the chain and the product CLIs said (Airflow's own lines are many)."""
    said = [line for line in text.splitlines() if any(k in line for k in ("chain:", "roots-eval", "rror", "refresh:"))]
    return "\n".join(said[-40:] + text.splitlines()[-15:])


def _run_day(airflow: Path, env: dict, tmp_path: Path, day: str) -> None:
    log = tmp_path / f"dags-test-{day}.log"
    _airflow(airflow, env, log, "dags", "test", DAG_ID, day)
    runs = json.loads(_airflow(airflow, env, tmp_path / "runs.log", "dags", "list-runs", DAG_ID, "-o", "json")
                      .strip().splitlines()[-1])
    states = {r["logical_date"][:10]: r["state"] for r in runs}
    assert states.get(day) == "success", (states, _story(log.read_text(errors="replace")))


def _snapshot(*folders: Path) -> dict:
    """(bytes, mtime) of every file: a rerun that rewrites anything changes one of them."""
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns, p.read_bytes())
            for folder in folders for p in sorted(folder.rglob("*")) if p.is_file()}


def _corpus_lines(count: int, start: int = 0) -> str:
    smallest = min((data_dir() / "corpus_web_mixed").glob("*.jsonl"),  # ROOTS_DATA_DIR or ../shared/data
                   key=lambda p: p.stat().st_size)
    with smallest.open(encoding="utf-8") as f:
        lines = f.read().splitlines()
    return "\n".join(lines[start:start + count]) + "\n"


def _board_ids(work: Path) -> list[str]:
    return [m["id"] for m in json.loads((work / "site" / "leaderboard.json").read_text())["models"]]


def test_release_chain_dag_runs_under_airflow(airflow_bin, tmp_path):
    raw, releases, work = tmp_path / "raw", tmp_path / "releases", tmp_path / "work"
    raw.mkdir()
    (raw / "a.jsonl").write_text(_corpus_lines(400), encoding="utf-8")
    env = _env(tmp_path)
    _airflow(airflow_bin, env, tmp_path / "migrate.log", "db", "migrate")

    # Day 1: a release, its proxy, its results and its row.
    _run_day(airflow_bin, env, tmp_path, "2026-12-01")
    assert sorted(p.name for p in releases.glob("release-*")) == ["release-00001"]
    assert (releases / "release-00001" / "manifest.json").is_file()
    final = work / "proxies" / "release-00001" / "checkpoints" / f"step-{STEPS:08d}"
    assert (final / "checkpoint.json").is_file()
    results = json.loads((work / "results" / "release-00001.json").read_text())
    assert results["model"]["id"] == "release-00001" and results["model"]["step"] == STEPS
    assert set(results["results"]) == {"lm_flores200_en", "cls_sst2"} and not results["errors"]
    assert _board_ids(work) == ["release-00001"]

    # Day 2, nothing new: no release, and not one file of the proxy, results or site rewritten.
    before = _snapshot(releases, work / "proxies", work / "results", work / "site")
    _run_day(airflow_bin, env, tmp_path, "2026-12-02")
    assert sorted(p.name for p in releases.glob("release-*")) == ["release-00001"]
    assert _snapshot(releases, work / "proxies", work / "results", work / "site") == before

    # Day 3, a new raw file: release 2 gets its own proxy and row; release 1's are left alone.
    (raw / "b.jsonl").write_text(_corpus_lines(400, start=400), encoding="utf-8")
    _run_day(airflow_bin, env, tmp_path, "2026-12-03")
    assert sorted(p.name for p in releases.glob("release-*")) == ["release-00001", "release-00002"]
    second = json.loads((work / "results" / "release-00002.json").read_text())
    assert second["model"]["id"] == "release-00002"
    assert second["model"]["checkpoint_hash"] != results["model"]["checkpoint_hash"]
    assert sorted(_board_ids(work)) == ["release-00001", "release-00002"]
    one = {k: v for k, v in before.items() if "release-00001" in k and "/site/" not in k}
    assert {k: v for k, v in _snapshot(releases, work / "proxies", work / "results").items() if k in one} == one
    assert not (REPO / "deploy" / "airflow" / "__pycache__").exists()


def test_dataflow_branch_builds_under_airflow(airflow_bin, tmp_path):
    """Production settings: the refresh goes to Dataflow with a fixed job name that a retry waits for."""
    probe = (
        "import json, runpy, sys; m = runpy.run_path(sys.argv[1]); t = m['dag'].get_task('refresh_corpus'); "
        "c = t.dataflow_config; print(json.dumps({'runner': t.runner, 'job_name': c.job_name, "
        "'append': c.append_job_name, 'check': str(c.check_if_running), 'wait': c.wait_until_finished, "
        "'options': t.pipeline_options, 'tasks': [x.task_id for x in m['dag'].tasks]}))")
    env = _env(tmp_path, ROOTS_RUNNER="DataflowRunner")
    out = subprocess.run([str(airflow_bin.parent / "python"), "-c", probe,
                          str(REPO / "deploy" / "airflow" / "roots_release_chain.py")],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["runner"] == "DataflowRunner" and got["job_name"] == "roots-refresh-{{ ds_nodash }}"
    assert got["append"] is False and got["wait"] is True and got["check"].endswith("WaitForRun")
    assert got["options"]["temp_location"].startswith("gs://")
    assert got["tasks"] == ["refresh_corpus", "train_proxies", "evaluate_proxies", "build_leaderboard"]
