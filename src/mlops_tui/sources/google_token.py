"""An OAuth access token of Google's Application Default Credentials, for the httpx sources that
call a Google API (Cloud Composer's Airflow, Cloud Monitoring's PromQL endpoint).

google-auth comes with the Vertex SDK; it is imported by the first token asked for, not by this
module, so a source built without Google auth never pays for it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Generator
from typing import Any

import httpx

from mlops_tui.errors import BackendError, BackendUnreachable

__all__ = ["GoogleAuth", "GoogleToken"]

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


class GoogleToken:
    """The access token of the Application Default Credentials, refreshed when it expires.

    Errors name `source`, the backend whose requests it signs.
    """

    def __init__(self, source: str) -> None:
        self._source = source
        self._credentials: Any = None
        self._refreshing = threading.Lock()
        """google-auth's credentials are refreshed by one worker thread at a time."""

    async def token(self) -> str:
        """The current token; google-auth's own HTTP calls run in a worker thread.

        Raises:
            BackendError: no credentials, or Google refused to refresh them.
            BackendUnreachable: Google could not be reached to refresh them.
        """
        return await asyncio.to_thread(self._token)

    def _token(self) -> str:
        import google.auth
        import google.auth.exceptions
        from google.auth.transport.requests import Request

        try:
            with self._refreshing:
                if self._credentials is None:
                    self._credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
                if not self._credentials.valid:
                    self._credentials.refresh(Request())
                return str(self._credentials.token)
        except google.auth.exceptions.DefaultCredentialsError as exc:
            raise BackendError(
                self._source,
                f"no Google application default credentials ({exc}); run `gcloud auth "
                "application-default login` or set GOOGLE_APPLICATION_CREDENTIALS",
            ) from None
        except google.auth.exceptions.TransportError as exc:
            raise BackendUnreachable(self._source, f"cannot refresh the Google access token: {exc}") from None
        except google.auth.exceptions.RefreshError as exc:
            raise BackendError(self._source, f"Google refused to refresh the access token: {exc}") from None


class GoogleAuth(httpx.Auth):
    """Signs every request with the Application Default Credentials' access token."""

    def __init__(self, source: str) -> None:
        self._token = GoogleToken(source)

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = f"Bearer {await self._token.token()}"
        yield request

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("Google-signed sources are async only")
