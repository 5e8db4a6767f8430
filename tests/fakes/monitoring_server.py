"""A local HTTP server standing for Cloud Monitoring's PromQL endpoint (Google Cloud Managed
Service for Prometheus), following its documentation: the Prometheus HTTP API's `/api/v1/query`
and `/api/v1/query_range` under `/v1/projects/PROJECT/location/global/prometheus`, answering in
Prometheus's JSON format, for a request carrying `Authorization: Bearer TOKEN` of an OAuth access
token with a Cloud Monitoring scope; anything else is 401 in Google's error format, another
project's path 403.

Every query answers the series in `series` (labels, one value) at each time asked for. Every
request is recorded in `requests` (path and query parameters, headers).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.loopback import LoopbackServer

__all__ = ["FakeCloudMonitoring", "Seen"]


@dataclass(frozen=True)
class Seen:
    """One request as the server read it."""

    path: str
    params: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class FakeCloudMonitoring(LoopbackServer):
    """The PromQL endpoint of project `project`, accepting access token `token`."""

    token: str
    project: str = "acme-ml"
    series: list[tuple[dict[str, str], float]] = field(default_factory=list)
    requests: list[Seen] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        """The path the Prometheus API hangs under."""
        return f"/v1/projects/{self.project}/location/global/prometheus"

    @property
    def base(self) -> str:
        """What `[metrics] url` names: the server's URL with the project's prefix."""
        return self.url + self.prefix

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        params = parse_qs(parts.query)
        if handler.command == "POST":
            length = int(handler.headers.get("Content-Length") or 0)
            params.update(parse_qs(handler.rfile.read(length).decode()))
        self.requests.append(Seen(parts.path, params, {k.lower(): v for k, v in handler.headers.items()}))
        if handler.headers.get("Authorization") != f"Bearer {self.token}":
            return self._send(handler, 401, _google_error(401, "UNAUTHENTICATED", "invalid credentials"))
        if not parts.path.startswith("/v1/projects/"):
            return self._send(handler, 404, _google_error(404, "NOT_FOUND", "not found"))
        if not parts.path.startswith(self.prefix + "/"):
            return self._send(handler, 403, _google_error(403, "PERMISSION_DENIED", "permission denied"))
        api = parts.path.removeprefix(self.prefix)
        if api == "/api/v1/query":
            at = params.get("time", ["0"])[0]
            result = [{"metric": labels, "value": [float(at), str(value)]} for labels, value in self.series]
            return self._send(handler, 200, _success("vector", result))
        if api == "/api/v1/query_range":
            start, end = float(params["start"][0]), float(params["end"][0])
            step = float(params["step"][0])
            times = [start + i * step for i in range(int((end - start) // step) + 1)]
            result = [
                {"metric": labels, "values": [[t, str(value)] for t in times]}
                for labels, value in self.series
            ]
            return self._send(handler, 200, _success("matrix", result))
        self._send(handler, 404, _google_error(404, "NOT_FOUND", "not found"))

    def _send(self, handler: BaseHTTPRequestHandler, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


def _success(kind: str, result: list[Any]) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": kind, "result": result}}


def _google_error(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}
