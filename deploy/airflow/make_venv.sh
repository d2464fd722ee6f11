#!/usr/bin/env bash
# Airflow's own virtualenv for the roots_release_chain DAG:  deploy/airflow/make_venv.sh VENV_DIR
#
# Airflow and ROOTS live in separate interpreters: their pins differ (Airflow brings its own
# SQLAlchemy, protobuf, google-cloud libraries and Beam), and the DAG runs ROOTS through
# ROOTS_PYTHON anyway. Pinned versions. VENV_DIR/.complete, written last, holds this script's
# SHA-256: a build that died half-way, or one made by another version of this script, is not
# taken for a finished one (.ci/run rebuilds only then).
set -euo pipefail
venv="${1:?usage: make_venv.sh VENV_DIR}"
python="${PYTHON:-python3}"

rm -rf "$venv"
"$python" -m venv "$venv"
# pip pinned as in the README: pip 23's resolver fails on extras spelled two ways.
"$venv/bin/python" -m pip install -q pip==25.3
"$venv/bin/python" -m pip install -q \
  apache-airflow==3.3.2 \
  apache-airflow-providers-apache-beam==6.3.1 \
  apache-airflow-providers-google==22.8.0 \
  apache-airflow-providers-standard==1.21.0
"$venv/bin/airflow" version >/dev/null  # imports Airflow: a broken resolve fails here, not in a test
sha256sum "$0" | cut -d" " -f1 > "$venv/.complete"
