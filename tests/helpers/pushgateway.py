"""A real Pushgateway (Debian's `prometheus-pushgateway`) and a real Prometheus scraping it, for the
tests of deploy markers: what mlops-tui pushes is read back the way a dashboard reads it, through
Prometheus's query API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import free_port
from tests.helpers.alertmanager import START_SECONDS, binary
from tests.helpers.services import loopback_client, running_service

__all__ = ["MarkerStack", "running_marker_stack"]

SCRAPE_SECONDS = 1
"""How often Prometheus scrapes the Pushgateway."""
QUERY_DEADLINE = 90.0
"""Upper bound for a pushed series to show in Prometheus (a scrape or two: about 2 s)."""


@dataclass(frozen=True)
class MarkerStack:
    """A Pushgateway and the Prometheus scraping it."""

    pushgateway: str
    prometheus: str

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The instant vector `promql` selects now (`/api/v1/query`): `[{"metric": {...}, "value":
        [t, "v"]}]`."""
        with loopback_client() as client:
            answer = client.get(f"{self.prometheus}/api/v1/query", params={"query": promql})
        answer.raise_for_status()
        data: dict[str, Any] = answer.json()
        assert data["status"] == "success", data
        result: list[dict[str, Any]] = data["data"]["result"]
        return result

    def wait_for(self, promql: str, count: int = 1) -> list[dict[str, Any]]:
        """Poll `promql` until it selects at least `count` series; fails the test after
        QUERY_DEADLINE."""
        deadline = time.monotonic() + QUERY_DEADLINE
        while True:
            found = self.query(promql)
            if len(found) >= count or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if len(found) < count:
            pytest.fail(f"{promql} selected {len(found)} series, not {count}, within {QUERY_DEADLINE:g} s")
        return found

    def delete_all(self) -> None:
        """Empty the Pushgateway (its admin API), so a test starts from no marker."""
        with loopback_client() as client:
            client.put(f"{self.pushgateway}/api/v1/admin/wipe").raise_for_status()


@contextmanager
def running_marker_stack(directory: Path) -> Iterator[MarkerStack]:
    """A Pushgateway (admin API on) and a Prometheus scraping it every second with
    `honor_labels: true`, as the Pushgateway's documentation says to scrape it."""
    pushgateway = f"http://127.0.0.1:{free_port()}"
    (directory / "pushgateway").mkdir()
    (directory / "prometheus").mkdir()
    command = [
        binary("prometheus-pushgateway", "prometheus-pushgateway"),
        f"--web.listen-address={pushgateway.removeprefix('http://')}",
        "--web.enable-admin-api",
    ]
    with running_service(
        "pushgateway",
        command,
        ready_url=f"{pushgateway}/-/ready",
        directory=directory / "pushgateway",
        seconds=START_SECONDS,
    ):
        config = directory / "prometheus" / "prometheus.yml"
        config.write_text(
            f"""\
global:
  scrape_interval: {SCRAPE_SECONDS}s
scrape_configs:
  - job_name: pushgateway
    honor_labels: true
    static_configs:
      - targets: ["{pushgateway.removeprefix("http://")}"]
""",
            encoding="utf-8",
        )
        prometheus = f"http://127.0.0.1:{free_port()}"
        command = [
            binary("prometheus", "prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={directory / 'prometheus' / 'data'}",
            f"--web.listen-address={prometheus.removeprefix('http://')}",
        ]
        with running_service(
            "prometheus",
            command,
            ready_url=f"{prometheus}/-/ready",
            directory=directory / "prometheus",
            seconds=START_SECONDS,
        ):
            yield MarkerStack(pushgateway, prometheus)
