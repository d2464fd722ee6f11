"""Airflow DAG `roots_release_chain`: did this corpus release help?

    refresh_corpus >> train_proxies >> evaluate_proxies >> build_leaderboard

refresh_corpus is `roots-pipeline refresh` (deploy/dataflow/main.py) under the Apache Beam
provider's BeamRunPythonPipelineOperator: on Dataflow in production, on Beam's local runner for
a test. The other three run `python -m roots_eval.chain STEP` (roots_eval/chain.py): a proxy model
per release at a fixed budget, its scores, and a leaderboard row per release. Every step is
idempotent, so a rerun day, a backfill or a retry does only what is missing.

Requires apache-airflow, apache-airflow-providers-apache-beam and -google (the Beam operator
needs the latter on every runner); deploy/airflow/make_venv.sh builds that virtualenv. ROOTS itself runs in its own interpreter, never in Airflow's.

Settings. At parse time, from the environment of the scheduler / dag processor (they choose
which operators are built): ROOTS_RUNNER (DataflowRunner | DirectRunner; default DataflowRunner),
ROOTS_PYTHON (the interpreter that has ROOTS installed; default python3), ROOTS_RETRIES (default 2),
and for Dataflow ROOTS_GCP_PROJECT, ROOTS_GCP_REGION, ROOTS_TEMP_LOCATION. At run time, Airflow Variables (set in
the UI, `airflow variables set`, or as AIRFLOW_VAR_<NAME> environment variables): roots_input
(raw input glob), roots_releases, roots_work (a local folder: tokenizer, proxies, results, site),
roots_budget (chain flags, e.g. "--steps 300 --tasks all --limit 20"; empty: the chain's defaults).

No two runs overlap: one active run (max_active_runs), one refresh at a time
(max_active_tis_per_dag), and a retried refresh first waits for a Dataflow job of the same fixed
name that may still be writing (check_if_running=WaitForRun) instead of starting beside it. The
refresh's own lock (RELEASES/_refresh.lock) and the chain's (WORK/chain.lock) refuse anything
that slips past.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shlex
from pathlib import Path

from airflow.providers.apache.beam.operators.beam import BeamRunPythonPipelineOperator
# The Beam operator builds a DataflowConfiguration on every runner, so the Google provider is
# needed even for DirectRunner.
from airflow.providers.google.cloud.operators.dataflow import CheckJobRunning, DataflowConfiguration
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

REFRESH_MAIN = str(Path(__file__).resolve().parents[1] / "dataflow" / "main.py")
RUNNER = os.environ.get("ROOTS_RUNNER", "DataflowRunner")
PYTHON = os.environ.get("ROOTS_PYTHON", "python3")
GCP_PROJECT = os.environ.get("ROOTS_GCP_PROJECT", "roots-prod")
GCP_REGION = os.environ.get("ROOTS_GCP_REGION", "us-central1")
TEMP_LOCATION = os.environ.get("ROOTS_TEMP_LOCATION", "gs://roots-corpus/tmp")
RETRIES = int(os.environ.get("ROOTS_RETRIES", "2"))  # a test sets 0: a failed step fails the run at once


def variable(name: str, default: str, quote: bool = False) -> str:
    """A Jinja reference to the Airflow Variable `name` (`default` when it is not set), shell-quoted
    with `quote` (the DAG's `sh` filter) for a bash command."""
    return "{{ var.value.get(%s, %s)%s }}" % (json.dumps(name), json.dumps(default), " | sh" if quote else "")


# The refresh takes only files no earlier release consumed, so the glob may cover every raw file.
INPUT = variable("roots_input", "gs://roots-raw/*/*.jsonl.gz")
RELEASES = variable("roots_releases", "gs://roots-corpus/releases/")
WORK = variable("roots_work", "/var/lib/roots/chain", quote=True)
BUDGET = variable("roots_budget", "")  # flags: split by bash on purpose

# Everything `roots-pipeline refresh` accepts (the operator passes each as --key=value), and
# the Beam options of the runner.
PIPELINE_OPTIONS = {
    "input": INPUT,
    "releases": RELEASES,
    "no_progress": True,
}
if RUNNER == "DataflowRunner":
    PIPELINE_OPTIONS["temp_location"] = TEMP_LOCATION
    DATAFLOW = DataflowConfiguration(
        job_name="roots-refresh-{{ ds_nodash }}", append_job_name=False,  # the same name on every try
        project_id=GCP_PROJECT, location=GCP_REGION, wait_until_finished=True,
        check_if_running=CheckJobRunning.WaitForRun)
else:
    PIPELINE_OPTIONS["direct_num_workers"] = 1  # one in-process worker: Beam's fastest on a few files
    DATAFLOW = None


def chain(step: str) -> str:
    """The bash command of one chain step, with the ROOTS interpreter (not Airflow's)."""
    releases = variable("roots_releases", "gs://roots-corpus/releases/", quote=True)
    return f"{shlex.quote(PYTHON)} -m roots_eval.chain {step} --releases {releases} --work {WORK} {BUDGET}"


with DAG(
    dag_id="roots_release_chain",
    schedule="30 2 * * *",
    start_date=dt.datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,  # two refreshes must not race for the same release number
    # a retried step resumes (the chain is idempotent); a retried refresh waits for the old job
    default_args={"retries": RETRIES, "retry_delay": dt.timedelta(minutes=15)},
    user_defined_filters={"sh": shlex.quote},
    tags=["roots", "corpus"],
) as dag:
    refresh = BeamRunPythonPipelineOperator(
        task_id="refresh_corpus",
        runner=RUNNER,
        py_file=REFRESH_MAIN,
        pipeline_options=PIPELINE_OPTIONS,
        py_interpreter=PYTHON,  # ROOTS is installed there; Dataflow workers get it from setup.py
        max_active_tis_per_dag=1,
        dataflow_config=DATAFLOW,
    )
    steps = [BashOperator(task_id=task_id, bash_command=chain(step))
             for step, task_id in (("train", "train_proxies"), ("evaluate", "evaluate_proxies"),
                                   ("leaderboard", "build_leaderboard"))]
    refresh >> steps[0] >> steps[1] >> steps[2]
