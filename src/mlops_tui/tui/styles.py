"""Colours of statuses, shared by every table of the TUI."""

from __future__ import annotations

from rich.text import Text

__all__ = ["alert_state_text", "pipeline_status_text", "severity_text", "status_text"]

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


SEVERITY_STYLES = {"critical": "bold white on red", "error": "bold red", "warning": "yellow", "info": "cyan"}


def severity_text(severity: str) -> Text:
    """An alert severity, coloured by how urgent it is."""
    return Text(severity, style=SEVERITY_STYLES.get(severity.lower(), "dim"))


def alert_state_text(state: str) -> Text:
    """`active`, `silenced` or `inhibited`: muted ones are dimmed."""
    return Text(state, style="bold" if state == "active" else "dim")
