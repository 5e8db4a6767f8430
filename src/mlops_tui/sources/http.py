"""HTTP JSON APIs over httpx, shared by the backends that speak one (MLflow's REST API, Alertmanager's
API v2): the client with its credentials and timeout, and the failures every such backend shares
mapped onto the error tree (rate limits and connection failures as `sources.transport` words them).

What a backend's own error bodies mean (MLflow's `error_code`, Alertmanager's message text) stays in
the backend's module.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Literal, Protocol, TypeVar

if "httpx" not in sys.modules:
    # httpx's package imports its command-line client, and with it rich.progress, rich.syntax,
    # pygments and click, whenever they are installed (beside Textual they are): ~0.1 s of every
    # command's start and of the TUI's first page, for a client mlops-tui never runs. Without the
    # module httpx defines a stub `main` instead. The backends import httpx through here.
    sys.modules["httpx._main"] = None  # type: ignore[assignment]

import httpx  # noqa: E402

from mlops_tui.config import resolve_secret
from mlops_tui.errors import BackendError, BackendUnreachable
from mlops_tui.sources import transport

__all__ = ["HttpApi", "Method", "credentials_hint", "decode", "excerpt"]

Method = Literal["GET", "POST", "PATCH", "PUT", "DELETE"]


class Credentials(Protocol):
    """The credential settings of a backend: names of environment variables or a command, never
    the secrets themselves."""

    @property
    def token_env(self) -> str | None: ...

    @property
    def token_command(self) -> list[str] | None: ...

    @property
    def username_env(self) -> str | None: ...

    @property
    def password_env(self) -> str | None: ...


def credentials_hint(credentials: Credentials) -> str:
    """What to check when a server refuses the credentials: the setting and variable names only."""
    if credentials.token_env:
        return f"check the token in ${credentials.token_env} (token_env)"
    if credentials.token_command:
        return f"check the token printed by {credentials.token_command[0]!r} (token_command)"
    if credentials.username_env:
        return (
            f"check the user name in ${credentials.username_env} and the password in "
            f"${credentials.password_env} (username_env/password_env)"
        )
    return "no credentials are configured: set token_env or token_command, or username_env/password_env"


class HttpApi:
    """One backend's HTTP API under a base URL, with its credentials and timeout.

    `send` raises what every backend shares: BackendUnreachable when the server cannot be reached,
    does not answer within the timeout or its gateway says it is down (502, 503, 504), and
    BackendError when it refuses the credentials (401, 403), naming the setting to check. Every
    other answer is returned for the backend to interpret.
    """

    def __init__(
        self,
        source: str,
        url: str,
        credentials: Credentials | None,
        *,
        timeout: float,
        base_path: str = "",
        keepalive: bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
        auth: httpx.Auth | None = None,
        hint: str | None = None,
        refusals: Collection[int] = (401, 403),
    ) -> None:
        """Raises: ConfigError when a named secret cannot be resolved.

        `auth`, for a backend that signs requests its own way (a token it fetches, a cloud
        credential), replaces the token or user of `credentials` (then None); `hint` says what to check
        when the server refuses it. `refusals`: the statuses `send` reports as refused credentials
        (a backend that words a 403 itself leaves it out).
        """
        headers = {"Accept": "application/json"}
        if auth is None and credentials is not None:
            token = resolve_secret(credentials.token_env, credentials.token_command)
            if token:
                headers["Authorization"] = f"Bearer {token}"
            elif credentials.username_env:
                auth = httpx.BasicAuth(
                    resolve_secret(credentials.username_env) or "",
                    resolve_secret(credentials.password_env) or "",
                )
        self.source = source
        # Shown in messages: without any user:password written into the URL.
        self.url = str(httpx.URL(url.rstrip("/")).copy_with(username=None, password=None))
        self._hint = hint or (
            credentials_hint(credentials) if credentials else "no credentials are configured"
        )
        self._refusals = frozenset(refusals)
        self._timeout = timeout
        self._client = httpx.AsyncClient(
            base_url=f"{url.rstrip('/')}{base_path.rstrip('/')}/",
            headers=headers,
            auth=auth,
            timeout=timeout,
            limits=httpx.Limits() if keepalive else httpx.Limits(max_keepalive_connections=0),
            # Loading the CA bundle costs 50-90 ms, for nothing on a plain-http server.
            verify=not url.startswith("http://"),
            transport=transport,
        )

    async def send(
        self,
        method: Method,
        path: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        json: Any = None,
        content: str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One request to `path` (relative to the base URL), with a `json` body or a `content`
        body of the type `headers` name.

        A 429 is retried after its `Retry-After` while the wait fits in the timeout
        (`sources.transport`).

        Raises:
            BackendUnreachable: refused, DNS, timeout, 502/503/504.
            BackendError: 401/403 (`refusals`), naming the credentials to check; 429 beyond the
                timeout.
        """
        budget = transport.RetryBudget(self._timeout)
        while True:
            try:
                response = await self._client.request(
                    method, path, params=tuple(params), json=json, content=content, headers=headers
                )
            except httpx.TimeoutException:
                raise BackendUnreachable(
                    self.source, f"{self.url} did not answer within {self._timeout:g} s"
                ) from None
            except httpx.TransportError as exc:
                raise BackendUnreachable(
                    self.source, f"cannot reach {self.url}: {transport.connection_reason(exc)}"
                ) from None
            if response.status_code != 429:
                break
            wait, again = budget.wait(response.headers.get("Retry-After"))
            if not again:
                raise BackendError(self.source, transport.rate_limited_message(wait))
            await asyncio.sleep(wait)
        if response.status_code in self._refusals:
            raise BackendError(
                self.source,
                f"{self.url} refused the credentials (HTTP {response.status_code}); {self._hint}",
            )
        if response.status_code in (502, 503, 504):
            raise BackendUnreachable(self.source, f"{self.url} is unavailable (HTTP {response.status_code})")
        return response

    async def aclose(self) -> None:
        await self._client.aclose()


MESSAGE_LIMIT = 300
"""How much of a server's own words an error message quotes."""
_T = TypeVar("_T")


def excerpt(text: str) -> str:
    """A server's words as one line, cut to MESSAGE_LIMIT characters."""
    line = " ".join(text.split())
    return line if len(line) <= MESSAGE_LIMIT else line[: MESSAGE_LIMIT - 1] + "…"


def decode(source: str, what: str, answer: Any, convert: Callable[[Any], _T]) -> _T:
    """`convert(answer)`; an answer of another shape than the API's is a BackendError of `source`."""
    try:
        return convert(answer)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BackendError(source, f"malformed answer about {what}: {type(exc).__name__}: {exc}") from None
