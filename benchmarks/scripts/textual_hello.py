"""Reference for TUI start-up: the smallest Textual app showing the word `local`.

Python start, the Textual import, one screen with one widget: the floor of any Textual app's first
frame on this machine. Quits on ctrl+q (Textual's default binding).
"""

from textual.app import App, ComposeResult
from textual.widgets import Static


class Hello(App[None]):
    def compose(self) -> ComposeResult:
        yield Static("local")


if __name__ == "__main__":
    Hello().run()
