"""Grafana as a destination of deploy markers: an annotation per change through Grafana's HTTP API
(`POST /api/annotations`), tagged `mlops-tui`, the environment, the model and its version.

```
POST /api/annotations   {"time": MS, "tags": [...], "text": "...", "dashboardUID"?, "panelId"?}
200                     {"message": "Annotation added", "id": 17}
400                     {"message": "..."}: the body was refused
401, 403                the token is refused, or lacks the permission to write annotations
500                     {"message": "..."}: Grafana failed
```
Authentication: a service account token as a bearer token, or basic auth.
"""

from __future__ import annotations

import json
from typing import Any

from mlops_tui.config import GrafanaMarkerSettings
from mlops_tui.domain import DeployMarker
from mlops_tui.errors import BackendError
from mlops_tui.sources.http import HttpApi, credentials_hint, decode, excerpt
from mlops_tui.sources.markers import MarkerSink

__all__ = ["GrafanaAnnotations", "annotation_tags"]

TAG = "mlops-tui"
"""The tag every annotation of mlops-tui carries: what a dashboard's annotation query filters on."""


def annotation_tags(marker: DeployMarker, extra: list[str]) -> list[str]:
    """The tags of `marker`'s annotation: `mlops-tui`, the environment, the model, its version and
    the action, then `extra`; each once."""
    tags = [TAG, marker.environment, marker.model, marker.version, marker.action, *extra]
    return list(dict.fromkeys(tag for tag in tags if tag))


class GrafanaAnnotations(MarkerSink):
    """Posts each marker as an annotation of one Grafana (an organization's, or a dashboard's)."""

    name = "grafana"

    def __init__(self, settings: GrafanaMarkerSettings) -> None:
        """Raises: ConfigError, when the token (or password) cannot be resolved."""
        self.settings = settings
        # 403 is worded below: for annotations it says the token may not write them.
        self._api = HttpApi(
            self.name,
            settings.url,
            settings,
            timeout=settings.timeout_seconds,
            keepalive=False,
            refusals=(401,),
        )

    async def post(self, marker: DeployMarker) -> str:
        body: dict[str, Any] = {
            "time": int(marker.time.timestamp() * 1000),
            "tags": annotation_tags(marker, self.settings.tags),
            "text": marker.text(),
        }
        if self.settings.dashboard_uid:
            body["dashboardUID"] = self.settings.dashboard_uid
        if self.settings.panel_id is not None:
            body["panelId"] = self.settings.panel_id
        response = await self._api.send("POST", "api/annotations", json=body)
        url = self._api.url
        if response.status_code == 200:
            number = decode(
                self.name, "the annotation", _json(response.text), lambda answer: int(answer["id"])
            )
            return f"annotation {number} on {url}"
        said = _message(response.text)
        if response.status_code == 403:
            raise BackendError(
                self.name,
                f"{url} denied the annotation (HTTP 403: {said}): the service account needs the Editor "
                f"role or the annotations:write permission; {credentials_hint(self.settings)}",
            )
        raise BackendError(self.name, f"{url} refused the annotation (HTTP {response.status_code}: {said})")

    async def aclose(self) -> None:
        await self._api.aclose()


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _message(text: str) -> str:
    """Grafana's words in an error answer: its `message`, else the body as it is."""
    answer = _json(text)
    if isinstance(answer, dict) and isinstance(answer.get("message"), str):
        return excerpt(answer["message"])
    return excerpt(text) or "no message"
