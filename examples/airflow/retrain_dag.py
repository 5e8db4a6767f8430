"""An Airflow DAG that retrains a model with mlops-tui's demo trainer, against an MLflow server.

Copy this file into the DAG folder of an Airflow 3 (or 2.4+) deployment whose workers can run mlops-tui
(`pip install mlops-tui` in the workers' image, or point MLOPS_TUI_PYTHON at an interpreter that
has it). It defines one DAG, `mlops_tui_retrain`, told what to train by its run's `conf`:

    [environments.dev.airflow]
    url = "http://airflow:8080"
    dags = ["mlops_tui_retrain"]
    username = "mlops"
    password_env = "AIRFLOW_PASSWORD"

    [environments.dev.retrain]
    kind = "airflow"
    dag = "mlops_tui_retrain"
    conf = { model = "{model}", env = "{env}" }

`conf` keys (the DAG's params): `model` (the registered model to add a version to), `env` (the
environment, recorded as a tag), `tracking_uri` (default: the worker's MLFLOW_TRACKING_URI).

The trainer tags its MLflow run with `airflow.dag_id` and `airflow.dag_run_id` (from the task's
AIRFLOW_CTX_* variables), so mlops-tui shows the run a DAG run produced, and the DAG run behind a
model version.
"""

from __future__ import annotations

import os
from datetime import datetime

try:
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import DAG, Param
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.models.param import Param
    from airflow.operators.bash import BashOperator

PYTHON = os.environ.get("MLOPS_TUI_PYTHON", "python3")
"""The interpreter that has mlops-tui (and MLflow) installed."""

with DAG(
    dag_id="mlops_tui_retrain",
    description="Retrain a model with mlops-tui's demo trainer and register a new version in MLflow",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["mlops-tui"],
    params={
        "model": Param("churn", type="string", description="registered model to add a version to"),
        "env": Param("local", type="string", description="environment name, recorded as a tag"),
        "tracking_uri": Param("", type="string", description="MLflow tracking URI; empty: the worker's"),
    },
):
    BashOperator(
        task_id="train",
        # Values reach the command as variables, never spliced into its text: a conf cannot
        # inject shell code.
        bash_command=(
            '"$MLOPS_TUI_PYTHON" -m mlops_tui.demo.trainer --model "$MODEL" --env "$ENVIRONMENT" '
            '--tracking-uri "${TRACKING_URI:-$MLFLOW_TRACKING_URI}"'
        ),
        env={
            "MLOPS_TUI_PYTHON": PYTHON,
            "MODEL": "{{ params.model }}",
            "ENVIRONMENT": "{{ params.env }}",
            "TRACKING_URI": "{{ params.tracking_uri }}",
        },
        append_env=True,
    )
