"""Scheduling examples, checked offline: they must call the real CLI with flags it accepts."""
import ast
import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from pipelines.cli import build_parser as pipeline_parser

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def _refresh_flags():
    sub = next(a for a in pipeline_parser()._actions if a.dest == "command")
    refresh = sub.choices["refresh"]
    return {opt.lstrip("-") for a in refresh._actions for opt in a.option_strings}


def _crontab() -> tuple[dict, list[str]]:
    """(environment lines, schedule line split into 5 time fields + command) of the chain's crontab."""
    lines = [l for l in (DEPLOY / "cron" / "roots-release-chain.crontab").read_text().splitlines()
             if l.strip() and not l.startswith("#")]
    env = dict(l.split("=", 1) for l in lines if re.match(r"^[A-Z_]+=", l))
    schedule = [l for l in lines if not re.match(r"^[A-Z_]+=", l)]
    assert len(schedule) == 1
    fields = schedule[0].split(None, 5)
    assert len(fields) == 6 and all(re.fullmatch(r"[\d*/,-]+", f) for f in fields[:5])
    return env, fields


def test_crontab_runs_the_chain_script():
    env, fields = _crontab()
    argv = shlex.split(fields[5].split(">>")[0])
    assert len(argv) == 1 and argv[0].endswith("/deploy/cron/roots-release-chain.sh")
    script = (DEPLOY / "cron" / "roots-release-chain.sh").read_text()
    assert set(env) and all(name in script for name in env)  # it sets only what the script reads


def _run_cron_script(tmp_path, lock, **extra):
    """The cron script with the crontab's settings, its interpreter replaced by a stub that
    records the arguments it was given."""
    env, _ = _crontab()
    stub = tmp_path / "python"
    stub.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path / "argv"}\n')
    stub.chmod(0o755)
    env = {**os.environ, **env, "ROOTS_PYTHON": str(stub), "ROOTS_WORK": str(tmp_path / "work"),
           "ROOTS_CHAIN_LOCK": str(lock), **extra}
    return subprocess.run(["bash", str(DEPLOY / "cron" / "roots-release-chain.sh")], env=env,
                          capture_output=True, text=True, timeout=60)


def test_cron_script_runs_the_whole_chain_with_real_flags(tmp_path):
    from roots_eval.chain import build_parser

    assert _run_cron_script(tmp_path, tmp_path / "chain.lock").returncode == 0
    argv = (tmp_path / "argv").read_text().splitlines()
    assert argv[:2] == ["-m", "roots_eval.chain"]
    args, refresh_extra = build_parser().parse_known_args(argv[2:])
    assert args.step == "all" and args.releases.startswith("gs://") and args.input[0].startswith("gs://")
    assert args.work == str(tmp_path / "work") and args.steps == 300 and args.tasks == "all"
    # what the chain hands to `roots-pipeline refresh` besides --input/--releases: Beam options
    refresh, beam_args = pipeline_parser().parse_known_args(["refresh", "--input", args.input[0], "--releases",
                                                     args.releases, *refresh_extra])
    assert refresh.command == "refresh" and "DataflowRunner" in beam_args and "--temp_location" in beam_args


def test_cron_script_skips_a_day_whose_previous_run_still_holds_the_lock(tmp_path):
    import fcntl

    lock = tmp_path / "chain.lock"
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        done = _run_cron_script(tmp_path, lock)
    assert done.returncode == 1 and not (tmp_path / "argv").exists()  # the chain never started


def _dag_source() -> str:
    return (DEPLOY / "airflow" / "roots_release_chain.py").read_text()


def test_airflow_dag_options_are_refresh_flags():
    tree = ast.parse(_dag_source())
    options = next(n.value for n in ast.walk(tree)
                   if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", None) == "PIPELINE_OPTIONS")
    keys = {k.value for k in options.keys}
    keys |= {n.slice.value for n in ast.walk(tree) if isinstance(n, ast.Subscript)
             and getattr(n.value, "id", None) == "PIPELINE_OPTIONS" and isinstance(n.ctx, ast.Store)}
    beam_only = {"temp_location", "direct_num_workers"}
    assert keys - beam_only <= _refresh_flags()
    assert {"input", "releases"} <= keys
    assert "BeamRunPythonPipelineOperator" in _dag_source()
    assert (DEPLOY / "dataflow" / "main.py").is_file()


def test_airflow_dag_steps_are_chain_steps():
    """train >> evaluate >> leaderboard after the refresh, each `python -m roots_eval.chain STEP`."""
    from roots_eval.chain import STEPS

    source = _dag_source()
    assert "-m roots_eval.chain {step}" in source
    pairs = next(n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Tuple) and n.elts
                 and all(isinstance(e, ast.Tuple) and len(e.elts) == 2 for e in n.elts))
    steps = [ast.literal_eval(e)[0] for e in pairs.elts]
    assert ["refresh", *steps] == list(STEPS)


def test_airflow_dag_never_overlaps_two_refreshes():
    """One active run; a retry waits for a still-running Dataflow job of the same fixed name."""
    tree = ast.parse(_dag_source())
    kwargs = {kw.arg: kw.value for n in ast.walk(tree) if isinstance(n, ast.Call) for kw in n.keywords}
    assert ast.literal_eval(kwargs["max_active_runs"]) == 1
    assert ast.literal_eval(kwargs["max_active_tis_per_dag"]) == 1
    assert ast.literal_eval(kwargs["append_job_name"]) is False
    check = kwargs["check_if_running"]
    assert isinstance(check, ast.Attribute) and check.attr == "WaitForRun" and check.value.id == "CheckJobRunning"
    assert ast.literal_eval(kwargs["wait_until_finished"]) is True
    assert "{{ ds_nodash }}" in ast.literal_eval(kwargs["job_name"])


def test_airflow_dag_imports_when_airflow_is_installed():
    pytest.importorskip("airflow.providers.apache.beam", reason="apache-airflow-providers-apache-beam not installed "
                                                                "(tests/test_airflow_dag.py runs it in its own venv)")
    import importlib.util

    spec = importlib.util.spec_from_file_location("roots_release_chain", DEPLOY / "airflow" / "roots_release_chain.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.dag.dag_id == "roots_release_chain"
    assert [t.task_id for t in module.dag.tasks] == ["refresh_corpus", "train_proxies", "evaluate_proxies",
                                                     "build_leaderboard"]


def test_flex_template_metadata_is_valid_and_names_real_flags():
    meta = json.loads((DEPLOY / "dataflow" / "metadata.json").read_text())
    assert meta["name"] and meta["description"]
    names = [p["name"] for p in meta["parameters"]]
    assert len(names) == len(set(names))
    assert set(names) <= _refresh_flags()
    for p in meta["parameters"]:
        assert set(p) <= {"name", "label", "helpText", "isOptional", "regexes", "paramType"}
        assert p["label"] and p["helpText"]
        assert isinstance(p.get("isOptional", False), bool)
        for rx in p.get("regexes", []):
            re.compile(rx)
    required = [p for p in meta["parameters"] if not p.get("isOptional")]
    assert {p["name"] for p in required} == {"input", "releases"}
    assert re.match(meta["parameters"][0]["regexes"][0], "gs://roots-raw/2026-11-*/*.jsonl.gz")


def test_flex_template_dockerfile_points_at_real_files():
    docker = (DEPLOY / "dataflow" / "Dockerfile").read_text()
    root = DEPLOY.parent
    for src in re.findall(r"^COPY (.+) \S+$", docker, flags=re.M):
        for path in src.split():
            assert (root / path).exists(), path
    env = dict(re.findall(r"^ENV (\w+)=(\S+)$", docker, flags=re.M))
    assert env["FLEX_TEMPLATE_PYTHON_PY_FILE"] == "/template/main.py"
    assert env["FLEX_TEMPLATE_PYTHON_SETUP_FILE"] == "/template/setup.py"


def test_template_entry_point_runs_the_refresh_cli(tmp_path, capsys):
    import runpy
    import sys

    argv = sys.argv
    sys.argv = ["main.py", "--input", str(tmp_path / "nothing-*.jsonl"), "--releases", str(tmp_path / "r")]
    try:
        with pytest.raises(SystemExit) as exit_info:
            runpy.run_path(str(DEPLOY / "dataflow" / "main.py"), run_name="__main__")
    finally:
        sys.argv = argv
    assert exit_info.value.code == 2 and "matches no file" in capsys.readouterr().err
