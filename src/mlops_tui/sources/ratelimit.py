"""How every source answers a 429: wait what `Retry-After` says, a few times, within the call's timeout.

A server that rate-limits says how long to wait (`Retry-After`: seconds, or an HTTP date). A call
retries after that wait at most `MAX_RETRIES` times and only while the wait still fits in the
call's timeout budget; otherwise it fails at once with "rate limited, retry after N s", so a pane
shows why and a headless command exits instead of sleeping for an hour.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = [
    "DEFAULT_WAIT_SECONDS",
    "MAX_RETRIES",
    "RetryBudget",
    "rate_limited_message",
    "retry_after_seconds",
]

MAX_RETRIES = 3
"""How many times one call retries after a 429 before giving up."""
DEFAULT_WAIT_SECONDS = 1.0
"""The wait when a 429 says nothing usable about it."""


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
    return f"rate limited, retry after {seconds:g} s"
