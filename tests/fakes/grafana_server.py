"""A local HTTP server speaking the part of Grafana's HTTP API that deploy markers use: annotations.

It follows Grafana's documentation of the annotations API (`POST /api/annotations`, `GET
/api/annotations`) and of authentication (service account tokens; basic auth), not the client
under test:

- authentication: `Authorization: Bearer TOKEN` of a service account, or `Basic` user:password;
  anything else is 401 `{"message": "Unauthorized"}`. A token of a Viewer (`VIEWER_TOKEN`) may not
  write annotations: 403 `{"message": "You'll need additional permissions to perform this action.
  Permissions needed: annotations:create"}`;
- `POST /api/annotations` takes JSON `{"dashboardUID"?, "panelId"?, "time"?, "timeEnd"?, "tags"?,
  "text"}` (times in epoch milliseconds; no time: now) and answers 200 `{"message": "Annotation
  added", "id": N}`; a body that is not JSON, an empty `text`, tags that are not strings: 400
  with Grafana's message; a `dashboardUID` of no dashboard: 400 `{"message": "Invalid dashboard UID
  in annotation request"}`;
- `GET /api/annotations?tags=T&tags=U` lists the annotations carrying every tag given, newest first;
- `fail_with = 500` stands for a Grafana whose database fails: 500 `{"message": "Failed to save
  annotation"}`.

State is plain data tests inspect; every request is recorded in `requests`.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.loopback import LoopbackServer

__all__ = ["EDITOR_TOKEN", "FakeGrafana", "GrafanaRequest", "VIEWER_TOKEN"]

EDITOR_TOKEN = "glsa_editor-service-account-token"
"""A service account token of the Editor role: may write annotations."""
VIEWER_TOKEN = "glsa_viewer-service-account-token"
"""A service account token of the Viewer role: may read, not write, annotations."""
_USERS = {("admin", "admin-password"): "Admin"}


@dataclass(frozen=True)
class GrafanaRequest:
    """One request as the fake received it."""

    method: str
    path: str
    headers: dict[str, str]
    """Lower-case names."""
    body: bytes


class FakeGrafana(LoopbackServer):
    """Grafana's annotations API on 127.0.0.1."""

    def __init__(self, dashboards: tuple[str, ...] = ("serving",)) -> None:
        self.dashboards = set(dashboards)
        """The dashboard UIDs this Grafana holds."""
        self.annotations: list[dict[str, Any]] = []
        self.requests: list[GrafanaRequest] = []
        self.fail_with: int | None = None
        self._lock = threading.Lock()

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        url = urlsplit(handler.path)
        request = GrafanaRequest(
            handler.command, url.path, {k.lower(): v for k, v in handler.headers.items()}, body
        )
        with self._lock:
            self.requests.append(request)
            status, answer = self._answer(request, parse_qs(url.query))
        data = json.dumps(answer).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _role(self, request: GrafanaRequest) -> str | None:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme == "Bearer":
            return {EDITOR_TOKEN: "Editor", VIEWER_TOKEN: "Viewer"}.get(credentials)
        if scheme == "Basic":
            try:
                user, _, password = base64.b64decode(credentials).decode().partition(":")
            except ValueError:
                return None
            return _USERS.get((user, password))
        return None

    def _answer(self, request: GrafanaRequest, query: dict[str, list[str]]) -> tuple[int, Any]:
        if request.path != "/api/annotations":
            return 404, {"message": "Not found"}
        role = self._role(request)
        if role is None:
            return 401, {"message": "Unauthorized"}
        if request.method == "GET":
            wanted = set(query.get("tags", []))
            found = [a for a in reversed(self.annotations) if wanted <= set(a["tags"])]
            return 200, found
        if request.method != "POST":
            return 405, {"message": "Method not allowed"}
        if role == "Viewer":
            return 403, {
                "message": "You'll need additional permissions to perform this action. "
                "Permissions needed: annotations:create"
            }
        try:
            body = json.loads(request.body)
        except ValueError:
            return 400, {"message": "bad request data"}
        if not isinstance(body, dict):
            return 400, {"message": "bad request data"}
        tags = body.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            return 400, {"message": "bad request data"}
        if not isinstance(body.get("text"), str) or not body["text"].strip():
            return 400, {"message": "Failed to save annotation: text field should not be empty"}
        uid = body.get("dashboardUID")
        if uid and uid not in self.dashboards:
            return 400, {"message": "Invalid dashboard UID in annotation request"}
        if self.fail_with is not None:
            return self.fail_with, {"message": "Failed to save annotation"}
        now = int(time.time() * 1000)
        annotation = {
            "id": len(self.annotations) + 1,
            "dashboardUID": uid or "",
            "panelId": int(body.get("panelId") or 0),
            "time": int(body.get("time") or now),
            "timeEnd": int(body.get("timeEnd") or body.get("time") or now),
            "tags": tags,
            "text": body["text"],
        }
        self.annotations.append(annotation)
        return 200, {"message": "Annotation added", "id": annotation["id"]}
