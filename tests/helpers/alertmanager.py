"""A real Alertmanager (Debian's `prometheus-alertmanager`) and a real Prometheus for the tests.

One Alertmanager serves the whole session (`alertmanager_server` in tests/conftest.py). Alerts
cannot be deleted from it, so each test posts its alerts with its own `test` label and looks only at
those (`AlertmanagerTestbed`, the `alertmanager` fixture); silences are expired before each test.
The inhibit rule names `test` among its `equal` labels for the same reason: one test's critical
alert never inhibits another test's warning.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mlops_tui.config import AlertmanagerSettings
from mlops_tui.domain.matchers import Matcher
from mlops_tui.sources.alertmanager import AlertmanagerSource
from tests.helpers import free_port
from tests.helpers.services import loopback_client, running_service

__all__ = [
    "ALERTMANAGER_CONFIG",
    "AlertmanagerTestbed",
    "binary",
    "expire_all_silences",
    "post_alerts",
    "running_alertmanager",
    "running_prometheus",
]

START_SECONDS = 60
"""Upper bound for Alertmanager or Prometheus to answer /-/ready (they take well under a second)."""

ALERTMANAGER_CONFIG = """\
route:
  receiver: "null"
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: "null"
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [model, test]
"""


def binary(name: str, package: str) -> str:
    """The path of the command `name`, installed by Debian's `package`; fails the test without it."""
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; ./scripts/test installs it (apt-get install {package})")
    return found


@contextmanager
def running_alertmanager(directory: Path) -> Iterator[str]:
    """A real Alertmanager on 127.0.0.1, clustering off, state in `directory`; yields its base URL."""
    config = directory / "alertmanager.yml"
    config.write_text(ALERTMANAGER_CONFIG, encoding="utf-8")
    url = f"http://127.0.0.1:{free_port()}"
    command = [
        binary("prometheus-alertmanager", "prometheus-alertmanager"),
        f"--config.file={config}",
        f"--storage.path={directory / 'data'}",
        f"--web.listen-address={url.removeprefix('http://')}",
        "--cluster.listen-address=",
    ]
    with running_service(
        "alertmanager", command, ready_url=f"{url}/-/ready", directory=directory, seconds=START_SECONDS
    ):
        yield url


@contextmanager
def running_prometheus(directory: Path, alertmanager_url: str, rules: str) -> Iterator[str]:
    """A real Prometheus on 127.0.0.1 evaluating `rules` (a rule file's YAML) every second and
    sending its alerts to `alertmanager_url`; yields its base URL."""
    (directory / "rules.yml").write_text(rules, encoding="utf-8")
    (directory / "prometheus.yml").write_text(
        f"""\
global:
  evaluation_interval: 1s
rule_files: [rules.yml]
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["{alertmanager_url.removeprefix("http://")}"]
""",
        encoding="utf-8",
    )
    url = f"http://127.0.0.1:{free_port()}"
    command = [
        binary("prometheus", "prometheus"),
        f"--config.file={directory / 'prometheus.yml'}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address={url.removeprefix('http://')}",
        # Else the host name: the alerts' generatorURL would not name this server.
        f"--web.external-url={url}",
        "--rules.alert.resend-delay=1s",
    ]
    with running_service(
        "prometheus", command, ready_url=f"{url}/-/ready", directory=directory, seconds=START_SECONDS
    ):
        yield url


def post_alerts(url: str, alerts: Sequence[Mapping[str, Any]]) -> None:
    """`POST /api/v2/alerts` as Prometheus sends them: each alert a dict with `labels` and
    optionally `annotations`, `generatorURL`; firing from now for an hour unless `startsAt` and
    `endsAt` say otherwise."""
    now = datetime.now(UTC)
    body = [
        {
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(hours=1)).isoformat(),
            **alert,
        }
        for alert in alerts
    ]
    with loopback_client() as client:
        client.post(f"{url}/api/v2/alerts", json=body).raise_for_status()


def expire_all_silences(url: str) -> None:
    """Expire every silence that is not expired yet (Alertmanager keeps expired ones)."""
    with loopback_client() as client:
        answer = client.get(f"{url}/api/v2/silences")
        answer.raise_for_status()
        for silence in answer.json():
            if silence["status"]["state"] != "expired":
                client.delete(f"{url}/api/v2/silence/{silence['id']}").raise_for_status()


@dataclass(frozen=True)
class AlertmanagerTestbed:
    """The session's Alertmanager as one test sees it: the alerts carrying its own `test` label."""

    url: str
    test: str
    """The value of the `test` label of this test's alerts."""

    @property
    def matcher(self) -> Matcher:
        """Matches this test's alerts only."""
        return Matcher.equal("test", self.test)

    def post(self, alertname: str, annotations: Mapping[str, str] | None = None, **labels: str) -> None:
        """Post one firing alert with this test's label."""
        self.post_many([{"alertname": alertname, **labels}], annotations)

    def post_many(
        self, label_sets: Sequence[Mapping[str, str]], annotations: Mapping[str, str] | None = None
    ) -> None:
        post_alerts(
            self.url,
            [
                {
                    "labels": {**labels, "test": self.test},
                    "annotations": dict(annotations or {}),
                    "generatorURL": f"http://prometheus.test/graph?g0.expr={labels.get('alertname', '')}",
                }
                for labels in label_sets
            ],
        )

    def settings(self, **overrides: Any) -> AlertmanagerSettings:
        """Settings for this Alertmanager, filtered to this test's alerts."""
        values: dict[str, Any] = {"url": self.url, "filters": [str(self.matcher)], **overrides}
        return AlertmanagerSettings(**values)

    def source(self, **overrides: Any) -> AlertmanagerSource:
        return AlertmanagerSource(self.settings(**overrides))
