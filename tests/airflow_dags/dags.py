"""DAGs the Airflow tests run (beside examples/airflow/retrain_dag.py, linked into the same folder)."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

START = datetime(2026, 1, 1)

with DAG(dag_id="flaky", schedule=None, start_date=START, catchup=False, tags=["mlops-tui-tests"]):
    # Fails its first try, succeeds on the next: `retry` clears it and try 2 runs.
    BashOperator(
        task_id="prepare",
        bash_command='echo "preparing, try $AIRFLOW_CTX_TRY_NUMBER"; [ "$AIRFLOW_CTX_TRY_NUMBER" -ge 2 ]',
    ) >> BashOperator(task_id="report", bash_command="echo reported")

with DAG(dag_id="slow", schedule=None, start_date=START, catchup=False, tags=["mlops-tui-tests"]):
    # Writes a line a second for a while: its log is followed live, or the run is marked failed.
    BashOperator(
        task_id="count",
        bash_command='for i in $(seq 1 "${LINES:-8}"); do echo "line $i"; sleep 1; done',
        env={"LINES": "{{ dag_run.conf.get('lines', 8) }}"},
        append_env=True,
    )

with DAG(
    dag_id="paused",
    schedule=None,
    start_date=START,
    catchup=False,
    is_paused_upon_creation=True,
    tags=["mlops-tui-tests"],
):
    BashOperator(task_id="never", bash_command="echo never")
