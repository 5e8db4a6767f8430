"""Anchor of `mlops-tui models list --json`: the same read and output through MlflowClient.

Usage: python mlflowclient_models.py TRACKING_URI
"""

import json
import sys
from datetime import UTC, datetime

import mlflow


def _time(ms: int | None) -> str | None:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat() if ms else None


def main(uri: str) -> None:
    client = mlflow.MlflowClient(tracking_uri=uri)
    models = client.search_registered_models(order_by=["name ASC"])
    out = [
        {
            "name": m.name,
            "description": m.description or "",
            "aliases": dict(m.aliases),
            "stages": {
                v.current_stage: v.version for v in m.latest_versions if v.current_stage not in ("None", "")
            },
            "latest_version": max((v.version for v in m.latest_versions), key=int, default=None),
            "updated": _time(m.last_updated_timestamp),
            "tags": dict(m.tags),
        }
        for m in models
    ]
    json.dump({"models": out}, sys.stdout, indent=2)


if __name__ == "__main__":
    main(sys.argv[1])
