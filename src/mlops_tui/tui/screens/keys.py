"""`?`: the keys of the screen you are on first, then those of everywhere, then the cursor keys,
grouped and scrolled with the keyboard."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import ActiveBinding
from textual.containers import VerticalScroll
from textual.keys import format_key
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from mlops_tui.tui.bindings import KEYS, BindingList, bindings

__all__ = ["KeysScreen", "key_groups"]

Group = tuple[str, list[tuple[str, str, bool]]]
"""A heading and its lines: the key, what it does, whether it is possible now."""


def key_groups(screen: Screen[object]) -> list[Group]:
    """The keys active on `screen`: its own and its panes' first, then everywhere's, then the
    keys of the widget in focus (cursor keys), each key once."""
    own: list[tuple[str, str, bool]] = []
    everywhere: list[tuple[str, str, bool]] = []
    cursor: list[tuple[str, str, bool]] = []
    for key, active in screen.active_bindings.items():
        line = (format_key(key), _does(active), active.enabled)
        if isinstance(active.node, App):
            everywhere.append(line)
        elif isinstance(active.node, Screen) or active.binding.id in KEYS:
            own.append(line)
        else:
            cursor.append(line)
    groups = [("This screen", own), ("Everywhere", everywhere), ("Moving", cursor)]
    return [(heading, lines) for heading, lines in groups if lines]


def _does(active: ActiveBinding) -> str:
    spec = KEYS.get(active.binding.id or "")
    if spec is not None:
        return f"{spec.description}: {spec.does}"
    return active.binding.description or active.binding.action


def keys_text(groups: Iterable[Group]) -> Text:
    """The groups as lines: headings in bold, keys not possible now marked so in words."""
    text = Text()
    for heading, lines in groups:
        if text:
            text.append("\n")
        text.append(f"{heading}\n", style="bold underline")
        for key, does, enabled in lines:
            text.append(f"  {key:<8}", style="bold" if enabled else "dim")
            text.append(does, style="" if enabled else "dim")
            if not enabled:
                text.append("  (not now)", style="italic")
            text.append("\n")
    return text


class KeysScreen(ModalScreen[None]):
    """The keys of the screen below, scrolled with the arrows, Page Up/Down, Home and End;
    `?` or Escape closes it."""

    BINDINGS: ClassVar[BindingList] = [
        *bindings("back", action="dismiss(None)", keys="escape"),
        *bindings("help"),
    ]
    AUTO_FOCUS = "#keys"

    def __init__(self, groups: list[Group]) -> None:
        super().__init__()
        self.groups = groups

    def action_keys(self) -> None:
        """`?` again: close."""
        self.dismiss(None)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="keys"):
            yield Static(keys_text(self.groups))
