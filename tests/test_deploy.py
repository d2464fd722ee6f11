"""Scheduling examples, checked offline: they must call the real CLI with flags it accepts."""
import ast
import json
import re
import shlex
from pathlib import Path

import pytest

from pipelines.cli import _parser

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def _refresh_flags():
    sub = next(a for a in _parser()._actions if a.dest == "command")
    refresh = sub.choices["refresh"]
    return {opt.lstrip("-") for a in refresh._actions for opt in a.option_strings}


def test_cron_line_parses_with_the_cli():
    lines = [l for l in (DEPLOY / "cron" / "roots-refresh.crontab").read_text().splitlines()
             if l.strip() and not l.startswith("#")]
    assert len(lines) == 1
    fields = lines[0].split(None, 5)
    assert len(fields) == 6 and all(re.fullmatch(r"[\d*/,-]+", f) for f in fields[:5])
    argv = shlex.split(fields[5].split(">>")[0])
    # flock -n: a day whose previous refresh still runs is skipped, never run beside it.
    assert argv[:2] == ["flock", "-n"] and argv[2].endswith(".lock")
    argv = argv[3:]
    assert argv[:2] == ["roots-pipeline", "refresh"]
    args, beam_args = _parser().parse_known_args(argv[1:])
    assert args.command == "refresh" and args.releases.startswith("gs://") and args.input[0].startswith("gs://")
    assert "DataflowRunner" in beam_args and "--temp_location" in beam_args


def test_airflow_dag_options_are_refresh_flags():
    source = (DEPLOY / "airflow" / "roots_refresh_dag.py").read_text()
    tree = ast.parse(source)
    options = next(n.value for n in ast.walk(tree)
                   if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", None) == "PIPELINE_OPTIONS")
    keys = {k.value for k in options.keys}
    beam_only = {"temp_location"}
    assert keys - beam_only <= _refresh_flags()
    assert {"input", "releases"} <= keys
    assert "BeamRunPythonPipelineOperator" in source
    assert (DEPLOY / "dataflow" / "main.py").is_file()


def test_airflow_dag_never_overlaps_two_refreshes():
    """One active run; a retry waits for a still-running Dataflow job of the same fixed name."""
    tree = ast.parse((DEPLOY / "airflow" / "roots_refresh_dag.py").read_text())
    kwargs = {kw.arg: kw.value for n in ast.walk(tree) if isinstance(n, ast.Call) for kw in n.keywords}
    assert ast.literal_eval(kwargs["max_active_runs"]) == 1
    assert ast.literal_eval(kwargs["max_active_tis_per_dag"]) == 1
    assert ast.literal_eval(kwargs["append_job_name"]) is False
    check = kwargs["check_if_running"]
    assert isinstance(check, ast.Attribute) and check.attr == "WaitForRun" and check.value.id == "CheckJobRunning"
    assert ast.literal_eval(kwargs["wait_until_finished"]) is True
    assert "{{ ds_nodash }}" in ast.literal_eval(kwargs["job_name"])


def test_airflow_dag_imports_when_airflow_is_installed():
    pytest.importorskip("airflow.providers.apache.beam", reason="apache-airflow-providers-apache-beam not installed")
    import importlib.util

    spec = importlib.util.spec_from_file_location("roots_refresh_dag", DEPLOY / "airflow" / "roots_refresh_dag.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.dag.dag_id == "roots_corpus_refresh"
    assert [t.task_id for t in module.dag.tasks] == ["refresh_corpus"]


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
