"""Airflow DAG: a daily ROOTS corpus refresh on Dataflow with the Apache Beam provider.

Requires apache-airflow and apache-airflow-providers-apache-beam (and -google for Dataflow).
The operator runs deploy/dataflow/main.py, which is `roots-pipeline refresh` with the same
flags; the refresh itself decides which input files are new, so reruns and backfills are safe.

No two refreshes overlap: one active run (max_active_runs, max_active_tis_per_dag), and a
retry first waits for a Dataflow job of the same name that may still be writing
(check_if_running=WaitForRun, with a fixed job name) instead of starting beside it. The
refresh's own lock (RELEASES/_refresh.lock, owner + expiry) refuses anything that slips past.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from airflow import DAG
from airflow.providers.apache.beam.operators.beam import BeamRunPythonPipelineOperator
from airflow.providers.google.cloud.operators.dataflow import CheckJobRunning, DataflowConfiguration

REFRESH_MAIN = str(Path(__file__).resolve().parents[1] / "dataflow" / "main.py")

# Everything `roots-pipeline refresh` accepts (the operator passes each as --key=value).
PIPELINE_OPTIONS = {
    "input": "gs://roots-raw/{{ ds_nodash[:6] }}*/*.jsonl.gz",
    "releases": "gs://roots-corpus/releases/",
    "temp_location": "gs://roots-corpus/tmp",
    "no_progress": True,
}

with DAG(
    dag_id="roots_corpus_refresh",
    schedule="30 2 * * *",
    start_date=dt.datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,  # two refreshes must not race for the same release number
    default_args={"retries": 2, "retry_delay": dt.timedelta(minutes=15)},  # a retry waits for the old job
    tags=["roots", "corpus"],
) as dag:
    refresh = BeamRunPythonPipelineOperator(
        task_id="refresh_corpus",
        runner="DataflowRunner",
        py_file=REFRESH_MAIN,
        pipeline_options=PIPELINE_OPTIONS,
        py_requirements=["roots"],  # the package, from your index or a wheel path
        py_interpreter="python3",
        py_system_site_packages=False,
        max_active_tis_per_dag=1,
        dataflow_config=DataflowConfiguration(
            job_name="roots-refresh-{{ ds_nodash }}", append_job_name=False,  # the same name on every try
            project_id="roots-prod", location="us-central1", wait_until_finished=True,
            check_if_running=CheckJobRunning.WaitForRun),
    )
