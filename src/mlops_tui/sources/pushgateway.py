"""A Prometheus Pushgateway as a destination of deploy markers: the series `mlops_tui_deploy`, its
value the time of the change (Unix seconds), pushed in the text exposition format.

```
PUT /metrics/job@base64/JOB/env@base64/ENV/target@base64/TARGET
    mlops_tui_deploy{model="churn",version="v4",previous="v3",action="promote",operator="alice"} 1.7e9
200 (202 before Pushgateway 1.0)   replaced the group's series
400                                the body was refused: the Pushgateway's words say why
```
Each environment and target is a group of its own (`PUT` replaces the group), so the Pushgateway
holds the last change of every slot; Prometheus, scraping it with `honor_labels: true`, keeps the
history: `changes(mlops_tui_deploy[1h]) > 0`, or `mlops_tui_deploy * 1000` as Grafana annotations'
time. Grouping values are base64url-encoded, so a target may hold any character (`/`, spaces).
"""

from __future__ import annotations

import base64

from mlops_tui.config import PushgatewayMarkerSettings
from mlops_tui.domain import DeployMarker
from mlops_tui.errors import BackendError
from mlops_tui.sources.http import HttpApi, excerpt
from mlops_tui.sources.markers import MarkerSink

__all__ = ["METRIC", "Pushgateway", "exposition", "grouping_path"]

METRIC = "mlops_tui_deploy"
"""The marker series' name."""
_HELP = "Time (Unix seconds) of the last change of a serving slot made with mlops-tui."


def grouping_path(job: str, labels: dict[str, str]) -> str:
    """`metrics/job@base64/...` for the grouping key of `job` and `labels` (values base64url)."""
    parts = ["metrics", "job@base64", _b64(job)]
    for name, value in labels.items():
        parts += [f"{name}@base64", _b64(value)]
    return "/".join(parts)


def _b64(value: str) -> str:
    # The Pushgateway reads a lone `=` as the empty value.
    return base64.urlsafe_b64encode(value.encode()).decode() or "="


def _label(value: str) -> str:
    """A label value as the text format quotes it."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def exposition(marker: DeployMarker) -> str:
    """`marker` as one sample of `mlops_tui_deploy` in the text exposition format."""
    labels = {
        "model": marker.model,
        "version": marker.version,
        "previous": marker.previous or "",
        "action": marker.action,
        "operator": marker.operator,
    }
    text = ",".join(f'{name}="{_label(value)}"' for name, value in labels.items())
    return (
        f"# HELP {METRIC} {_HELP}\n# TYPE {METRIC} gauge\n{METRIC}{{{text}}} {marker.time.timestamp():.3f}\n"
    )


class Pushgateway(MarkerSink):
    """Pushes each marker to one Pushgateway, under the grouping key job / env / target."""

    name = "pushgateway"

    def __init__(self, settings: PushgatewayMarkerSettings) -> None:
        """Raises: ConfigError, when the token (or password) cannot be resolved."""
        self.settings = settings
        self._api = HttpApi(
            self.name, settings.url, settings, timeout=settings.timeout_seconds, keepalive=False
        )

    async def post(self, marker: DeployMarker) -> str:
        path = grouping_path(self.settings.job, {"env": marker.environment, "target": marker.target})
        response = await self._api.send(
            "PUT",
            path,
            content=exposition(marker),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )
        if response.status_code in (200, 202):
            return f"{METRIC} on {self._api.url} (job {self.settings.job})"
        said = excerpt(response.text) or "no message"
        raise BackendError(
            self.name, f"{self._api.url} refused the marker (HTTP {response.status_code}: {said})"
        )

    async def aclose(self) -> None:
        await self._api.aclose()
