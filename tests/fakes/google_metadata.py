"""The Compute Engine metadata server as google-auth's own code asks it for Application Default
Credentials (`Metadata-Flavor: Google`), standing for Google's token service, so that sources signed
with a Google access token (Cloud Composer, Cloud Monitoring) are tested with no network and no
patched google-auth."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.loopback import LoopbackServer

__all__ = ["FakeMetadata", "use_metadata_server"]


class FakeMetadata(LoopbackServer):
    """The default service account's access token (`token`), its identity and the project id."""

    def __init__(self, token: str, project: str = "acme-ml") -> None:
        self.token = token
        self.project = project
        self.asked: list[str] = []

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        self.asked.append(handler.path)
        path = handler.path.split("?")[0]
        body: Any
        if path.endswith("/service-accounts/default/token"):
            body = {"access_token": self.token, "expires_in": 3599, "token_type": "Bearer"}
        elif "/service-accounts/default" in path:
            body = {
                "email": f"runner@{self.project}.iam.gserviceaccount.com",
                "scopes": ["https://www.googleapis.com/auth/cloud-platform"],
                "aliases": ["default"],
            }
        elif path.endswith("/project/project-id"):
            body = self.project
        else:
            body = ""
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        handler.send_response(200)
        handler.send_header("Metadata-Flavor", "Google")
        handler.send_header("Content-Type", "application/json" if not isinstance(body, str) else "text/plain")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


def use_metadata_server(monkeypatch: pytest.MonkeyPatch, metadata: FakeMetadata, tmp_path: Path) -> None:
    """Make google-auth's Application Default Credentials those of `metadata`, as on a GCE VM: no
    key file, no gcloud login."""
    host = metadata.url.removeprefix("http://")
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))  # no gcloud login here
    monkeypatch.setenv("GCE_METADATA_HOST", host)
    monkeypatch.setenv("GCE_METADATA_IP", host)
    # google-auth reads GCE_METADATA_HOST once, when first imported (an earlier test may have
    # imported it): what a fresh process would read from the variable set above.
    from google.auth.compute_engine import _metadata

    monkeypatch.setattr(_metadata, "_GCE_METADATA_HOST", host)
