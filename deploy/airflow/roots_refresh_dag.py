"""Airflow DAG: a daily ROOTS corpus refresh on Dataflow with the Apache Beam provider.

Requires apache-airflow and apache-airflow-providers-apache-beam (and -google for Dataflow).
The operator runs deploy/dataflow/main.py, which is `roots-pipeline refresh` with the same
flags; the refresh itself decides which input files are new, so reruns and backfills are safe.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from airflow import DAG
from airflow.providers.apache.beam.operators.beam import BeamRunPythonPipelineOperator
from airflow.providers.google.cloud.operators.dataflow import DataflowConfiguration

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
    default_args={"retries": 2, "retry_delay": dt.timedelta(minutes=15)},
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
        dataflow_config=DataflowConfiguration(job_name="roots-refresh-{{ ds_nodash }}", project_id="roots-prod",
                                              location="us-central1", wait_until_finished=True),
    )
