"""Reference for `models list`: the bare REST call over httpx, printed as the same JSON.

Usage: python httpx_models.py TRACKING_URI
"""

import json
import sys
from datetime import UTC, datetime

import httpx


def _time(ms: str | int | None) -> str | None:
    return datetime.fromtimestamp(int(ms) / 1000, UTC).isoformat() if ms else None


def main(uri: str) -> None:
    response = httpx.get(
        f"{uri.rstrip('/')}/api/2.0/mlflow/registered-models/search",
        params={"max_results": 100, "order_by": "name ASC"},
        timeout=10,
    )
    response.raise_for_status()
    out = []
    for m in response.json().get("registered_models", []):
        latest = m.get("latest_versions", [])
        out.append(
            {
                "name": m["name"],
                "description": m.get("description", ""),
                "aliases": {a["alias"]: a["version"] for a in m.get("aliases", [])},
                "stages": {
                    v["current_stage"]: v["version"]
                    for v in latest
                    if v.get("current_stage") not in (None, "None", "")
                },
                "latest_version": max((v["version"] for v in latest), key=int, default=None),
                "updated": _time(m.get("last_updated_timestamp")),
                "tags": {t["key"]: t.get("value", "") for t in m.get("tags", [])},
            }
        )
    json.dump({"models": out}, sys.stdout, indent=2)


if __name__ == "__main__":
    main(sys.argv[1])
