"""Anchor of `mlops-tui runs list --json --limit N`: the same read and output through MlflowClient.

Usage: python mlflowclient_runs.py TRACKING_URI EXPERIMENT_ID MAX_RESULTS
"""

import json
import sys
from datetime import UTC, datetime

import mlflow


def _time(ms: int | None) -> str | None:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat() if ms else None


def main(uri: str, experiment_id: str, max_results: int) -> None:
    client = mlflow.MlflowClient(tracking_uri=uri)
    runs = client.search_runs(
        [experiment_id], max_results=max_results, order_by=["attributes.start_time DESC"]
    )
    out = [
        {
            "id": r.info.run_id,
            "name": r.info.run_name,
            "experiment_id": r.info.experiment_id,
            "status": r.info.status,
            "user": r.info.user_id,
            "start_time": _time(r.info.start_time),
            "end_time": _time(r.info.end_time),
            "params": dict(r.data.params),
            "metrics": dict(r.data.metrics),
            "tags": dict(r.data.tags),
        }
        for r in runs
    ]
    json.dump({"runs": out}, sys.stdout, indent=2)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
