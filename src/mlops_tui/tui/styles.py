"""Colours of statuses, shared by every table of the TUI."""

from __future__ import annotations

from rich.text import Text

__all__ = ["pipeline_status_text", "status_text"]

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


PIPELINE_STYLES = {
    "success": "green",
    "running": "bold cyan",
    "pending": "cyan",
    "created": "dim",
    "failed": "bold red",
    "canceled": "yellow",
    "skipped": "dim",
    "manual": "magenta",
}


def pipeline_status_text(status: str) -> Text:
    """A pipeline or job status, coloured as GitLab colours it."""
    return Text(status, style=PIPELINE_STYLES.get(status, ""))
