"""The pane of a source the environment does not configure: the hint to configure it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

__all__ = ["NotConfiguredPane"]


class NotConfiguredPane(Vertical):
    """A pane whose source this environment does not configure, with the hint to configure it."""

    def __init__(self, title: str, hint: str, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="not-configured")
        self.pane_title = title
        self.hint = hint

    def compose(self) -> ComposeResult:
        yield Static(f"[b]{self.pane_title}: not configured[/b]\n\n{self.hint}", markup=True)

    def on_mount(self) -> None:
        self.border_title = self.pane_title
