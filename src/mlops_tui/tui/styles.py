"""Colours of statuses, shared by every table of the TUI."""

from __future__ import annotations

from rich.text import Text

__all__ = ["status_text"]

STATUS_STYLES = {
    "FINISHED": "green",
    "RUNNING": "bold cyan",
    "SCHEDULED": "cyan",
    "FAILED": "bold red",
    "KILLED": "yellow",
}


def status_text(status: str) -> Text:
    """A run status in lower case, coloured by what it means."""
    return Text(status.lower(), style=STATUS_STYLES.get(status.upper(), ""))
