"""Anchor of `mlops-tui pipelines list --json` on Airflow: the same read and output through
`apache-airflow-client` (Airflow's own Python client, generated from its OpenAPI), run by the
interpreter of a venv of its own.

Usage: python airflowclient_runs.py URL DAG_ID USER PASSWORD_ENV LIMIT
"""

import json
import os
import sys
import urllib.request
from datetime import datetime
from typing import Any

from airflow_client.client import ApiClient, Configuration
from airflow_client.client.api.dag_run_api import DagRunApi

STATES = {"queued": "pending", "running": "running", "success": "success", "failed": "failed"}


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _token(url: str, user: str, password: str) -> str:
    # The client has no call for the simple auth manager's token endpoint: ask it as its docs say.
    request = urllib.request.Request(
        f"{url}/auth/token",
        data=json.dumps({"username": user, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as answer:
        return str(json.load(answer)["access_token"])


def main(url: str, dag_id: str, user: str, password_env: str, limit: int) -> None:
    config = Configuration(host=url, access_token=_token(url, user, os.environ[password_env]))
    with ApiClient(config) as client:
        runs = DagRunApi(client).get_dag_runs(dag_id, limit=limit, order_by=["-run_after"]).dag_runs
    out: list[dict[str, Any]] = []
    for run in runs:
        duration = (
            (run.end_date - run.start_date).total_seconds() if run.end_date and run.start_date else None
        )
        out.append(
            {
                "id": f"{run.dag_id}/{run.dag_run_id}",
                "source": "airflow",
                "status": STATES.get(str(run.state.value if run.state else ""), str(run.state)),
                "ref": run.dag_id,
                "sha": None,
                "trigger": str(run.run_type.value if run.run_type else ""),
                "user": run.triggering_user_name,
                "created": _time(run.queued_at or run.run_after),
                "started": _time(run.start_date),
                "finished": _time(run.end_date),
                "duration_seconds": duration,
                "web_url": f"{url}/dags/{run.dag_id}/runs/{run.dag_run_id}",
                "model": (run.conf or {}).get("model"),
            }
        )
    json.dump({"environment": "bench", "pipelines": out}, sys.stdout, indent=2)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
