"""Short human renderings of times and numbers, shared by the tables of both front ends."""

from __future__ import annotations

import math
import re
import sys
from datetime import datetime, timedelta

__all__ = ["age", "clean_trace", "count", "duration", "metric", "parse_duration", "shorten", "timestamp"]


def count(number: int, noun: str) -> str:
    """`1 environment`, `3 environments` (nouns whose plural takes an `s`)."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def duration(value: timedelta | None) -> str:
    """`42s`, `12m 05s`, `3h 20m`, `2d 4h`; empty for None."""
    if value is None:
        return ""
    seconds = max(0, int(value.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800}


def parse_duration(text: str) -> timedelta:
    """`90s`, `30m`, `2h`, `1h30m`, `7d`, `1w` as a timedelta.

    Raises:
        ValueError: anything else, or a duration of zero.
    """
    compact = text.replace(" ", "").lower()
    parts = _DURATION_PART.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise ValueError(f"{text!r} is not a duration; write e.g. 30m, 2h, 1h30m, 7d")
    seconds = sum(float(number) * _DURATION_UNITS[unit] for number, unit in parts)
    if seconds <= 0:
        raise ValueError(f"{text!r}: a duration must be longer than zero")
    return timedelta(seconds=seconds)


def age(then: datetime | None, now: datetime) -> str:
    """`just now`, `5m ago`, `3h ago`, `6d ago`; empty for None."""
    if then is None:
        return ""
    seconds = (now - then).total_seconds()
    if seconds < 45:
        return "just now"
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return "just now"


def timestamp(value: datetime | None) -> str:
    """`2026-11-26 14:03` in UTC; empty for None."""
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def metric(value: float | None) -> str:
    """Four significant digits, enough to compare runs at a glance; `inf`, `-inf`, `nan` as such."""
    if value is None:
        return ""
    if abs(value) >= sys.float_info.max:
        # MLflow's SQL stores keep an infinity as the largest float: it was an infinity.
        return "inf" if value > 0 else "-inf"
    if math.isnan(value):
        return str(value)
    return f"{value:.4g}"


_SECTION_MARKER = re.compile(r"section_(?:start|end):\d+:[^\r\n]*?\r(?:\x1b\[0K)?")


def clean_trace(text: str) -> str:
    r"""A CI log without GitLab's collapsible-section markers (`section_start:TS:name\r\e[0K`);
    ANSI colours are kept."""
    return _SECTION_MARKER.sub("", text)


def shorten(text: str, width: int) -> str:
    """`text` in at most `width` characters: cut with an ellipsis when longer."""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"
