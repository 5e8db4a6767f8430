"""The key bar at the bottom of every screen: Textual's, drawn again only when what it shows changes."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer

__all__ = ["KeyBar"]

Shown = tuple[tuple[str, str, str, str, bool, str, object], ...]


class KeyBar(Footer):
    """Textual's `Footer`, which builds its keys anew whenever the screen's bindings are told to
    have changed: on every focus move, and three times as the dashboard opens, 34 keys each time.
    This one builds them only when a key, its label, its state or its tooltip differs."""

    _shown: Shown | None = None

    def bindings_changed(self, screen: Screen[object]) -> None:
        shown = self._showing(screen)
        if shown == self._shown and self._bindings_ready:
            return
        super().bindings_changed(screen)
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            self._shown = shown  # what the recompose it asked for will show

    def compose(self) -> ComposeResult:
        if self._bindings_ready:
            self._shown = self._showing(self.screen)
        yield from super().compose()

    def _showing(self, screen: Screen[object]) -> Shown:
        app = self.app
        return tuple(
            (
                binding.key,
                app.get_key_display(binding),
                binding.description,
                binding.action,
                enabled,
                tooltip,
                binding.group,
            )
            for _, binding, enabled, tooltip in screen.active_bindings.values()
            if binding.show
        )
