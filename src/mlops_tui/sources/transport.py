"""What every source shares about reaching its server: rate limits, connection failures in a few
words, and blocking SDKs run in worker threads.

Rate limits: a server that rate-limits (429) says how long to wait (`Retry-After`: seconds, or an
HTTP date). A call retries after that wait at most `MAX_RETRIES` times and only while the wait
still fits in the call's timeout budget (`RetryBudget`); otherwise it fails at once with "rate
limited, retry after N s", so a pane shows why and a headless command exits instead of sleeping
for an hour.

Blocking SDKs: python-gitlab and the `aiplatform_v1` clients (REST transport) are synchronous and
both sit on `requests`. `BlockingApi` runs their calls in a worker thread, retries a 429 the call
reports as `RateLimited`, and maps requests' exceptions onto the error tree; what each SDK's own
errors mean stays in the backend's module. The HTTP backends on httpx share the same budget and
words through `sources.http`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from mlops_tui.errors import BackendError, BackendUnreachable

__all__ = [
    "BlockingApi",
    "RateLimited",
    "RetryBudget",
    "connection_reason",
    "rate_limited_message",
]

MAX_RETRIES = 3
"""How many times one call retries after a 429 before giving up."""
DEFAULT_WAIT_SECONDS = 1.0
"""The wait when a 429 says nothing usable about it."""
_CONNECTION_FAILURES = ("Connection refused", "Name or service not known", "timed out", "No route to host")
"""Causes of a failed connection worth naming as they are, found deep in a wrapped error's text."""
_T = TypeVar("_T")


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float:
    """Seconds to wait from a `Retry-After` header (RFC 9110: delay-seconds or an HTTP-date)."""
    if value is None or not value.strip():
        return DEFAULT_WAIT_SECONDS
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return DEFAULT_WAIT_SECONDS
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class RetryBudget:
    """The retries one call has left after 429s: a count and the time left before its timeout."""

    def __init__(self, timeout_seconds: float) -> None:
        self._deadline = time.monotonic() + timeout_seconds
        self._retries = 0

    def wait(self, retry_after: str | None) -> tuple[float, bool]:
        """Returns: the wait the server asks for, and whether the call may retry after it."""
        seconds = retry_after_seconds(retry_after)
        allowed = self._retries < MAX_RETRIES and time.monotonic() + seconds <= self._deadline
        if allowed:
            self._retries += 1
        return seconds, allowed


def rate_limited_message(seconds: float) -> str:
    """The reason a call gave up after a 429: `rate limited, retry after 120 s`."""
    return f"rate limited, retry after {seconds:g} s"


def connection_reason(exc: BaseException) -> str:
    """Why a connection failed, in a few words: `connection refused`, `name or service not known`,
    ...; otherwise the first line of the error (without an `[Errno N]` prefix), or its type."""
    text = str(exc)
    for cause in _CONNECTION_FAILURES:
        if cause in text:
            return cause.lower()
    first = text.splitlines()[0].rsplit("] ", 1)[-1] if text.strip() else ""
    return first[:200] or type(exc).__name__


class RateLimited(Exception):
    """Raised inside a `BlockingApi` call for a 429 answer, with the answer's `Retry-After`."""

    def __init__(self, retry_after: str | None) -> None:
        super().__init__(f"rate limited (Retry-After: {retry_after})")
        self.retry_after = retry_after


class BlockingApi:
    """A backend reached through a blocking SDK built on `requests`, one host and timeout.

    `run` calls in a worker thread, so a slow or dead backend never blocks the event loop; `call`
    retries a `RateLimited` call within the `RetryBudget` and turns requests' exceptions into the
    error tree. The call maps its SDK's own errors (and raises `RateLimited` for a 429) itself.
    """

    def __init__(self, source: str, host: str, timeout: float) -> None:
        """Args:
        source: the backend's name, first in every message.
        host: the server as messages name it (a URL or a host name).
        timeout: seconds one call, retries included, may take.
        """
        self.source = source
        self.host = host
        self.timeout = timeout

    async def run(self, attempt: Callable[[], _T]) -> _T:
        """`call(attempt)` in a worker thread."""
        return await asyncio.to_thread(self.call, attempt)

    def call(self, attempt: Callable[[], _T]) -> _T:
        """`attempt()` in this thread, again after each 429 while the budget allows.

        Raises:
            BackendUnreachable: refused, DNS, no answer in time, the connection closed mid-answer.
            BackendError: a 429 whose wait does not fit the budget; any other failed request.
            MlopsError: what `attempt` raises itself.
        """
        # requests comes with the SDK that makes `attempt`, in this worker thread, never before.
        import requests

        budget = RetryBudget(self.timeout)
        while True:
            try:
                return attempt()
            except RateLimited as limited:
                wait, again = budget.wait(limited.retry_after)
                if not again:
                    raise BackendError(self.source, rate_limited_message(wait)) from None
                time.sleep(wait)
            except requests.Timeout:
                raise BackendUnreachable(
                    self.source, f"{self.host} did not answer within {self.timeout:g} s"
                ) from None
            except requests.ConnectionError as exc:
                raise self.unreachable(exc) from None
            except requests.exceptions.ChunkedEncodingError:
                # The connection closed before the whole answer came: the server went away.
                raise BackendUnreachable(
                    self.source, f"cannot reach {self.host}: the connection closed mid-answer"
                ) from None
            except requests.RequestException as exc:
                raise BackendError(self.source, f"request to {self.host} failed: {exc}") from None

    def unreachable(self, exc: BaseException) -> BackendUnreachable:
        """`cannot reach HOST: connection refused`, for a connection that failed with `exc`."""
        return BackendUnreachable(self.source, f"cannot reach {self.host}: {connection_reason(exc)}")
