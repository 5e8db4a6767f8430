"""RFC 3339 timestamps, the one way mlops-tui writes a moment for machines and logs: UTC, `Z`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

__all__ = ["format_rfc3339", "parse_rfc3339"]

Precision = Literal["auto", "seconds", "milliseconds"]


def format_rfc3339(moment: datetime, timespec: Precision = "milliseconds") -> str:
    """`2026-11-26T12:00:00.000Z`: in UTC, to the precision asked (`auto`: microseconds when the
    moment has any). A naive datetime is taken as UTC."""
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return aware.isoformat(timespec=timespec).replace("+00:00", "Z")


def parse_rfc3339(text: str) -> datetime | None:
    """An RFC 3339 timestamp as an aware UTC datetime; None for Go's zero time
    (`0001-01-01T00:00:00Z`, which Alertmanager answers for "unset").

    Fractions finer than microseconds (Go writes nanoseconds) are cut to microseconds.

    Raises:
        ValueError: not a timestamp.
    """
    moment = datetime.fromisoformat(text.strip().upper())
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {text!r}")
    if moment.year <= 1:
        return None
    return moment.astimezone(UTC)
