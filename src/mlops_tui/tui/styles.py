"""Colours of statuses, shared by every table of the TUI."""

from __future__ import annotations

from rich.text import Text

__all__ = [
    "PROTECTED_STYLE",
    "alert_state_text",
    "env_badge",
    "env_label",
    "pipeline_status_text",
    "severity_text",
    "status_text",
    "traffic_bar",
]

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


def alert_state_text(state: str, *, stale: bool = False) -> Text:
    """`active`, `silenced` or `inhibited`: muted ones are dimmed; `active (stale)` is the state
    last seen of a source that is not answering."""
    text = Text(state, style="bold" if state == "active" else "dim")
    if stale:
        text.append(" (stale)", style="bold")
    return text


PROTECTED_STYLE = "bold white on red"
"""A protected environment's badge: the same unmistakable red in every theme (and the word
PROTECTED, which survives NO_COLOR)."""


def env_badge(name: str, *, protected: bool, read_only: bool = False) -> Text:
    """` PRD · PROTECTED ` in reverse video, red when protected: the header and the dialogs."""
    badge = f" {name.upper()} "
    if protected:
        badge += "· PROTECTED "
    if read_only:
        badge += "· READ-ONLY "
    return Text(badge, style=PROTECTED_STYLE if protected else "bold reverse")


def env_label(name: str, *, protected: bool, read_only: bool = False) -> Text:
    """An environment named in a list or a column: `prd protected`, red when protected."""
    label = Text(name, style="bold red" if protected else "bold")
    if protected:
        label.append(" protected", style="red")
    if read_only:
        label.append(" read-only", style="yellow")
    return label


def traffic_bar(percent: int, width: int = 10) -> Text:
    """A share of an endpoint's traffic as a bar and its percent: `█████████░  90%`."""
    filled = round(width * percent / 100)
    bar = Text("█" * filled, style="bold green" if percent else "")
    bar.append("░" * (width - filled), style="dim")
    bar.append(f" {percent:>3}%")
    return bar
