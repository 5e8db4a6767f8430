"""What the app writes to the terminal, without the style sequences that change nothing.

Rich writes every segment as `ESC[<style>m text ESC[0m`, and a table row is a dozen segments, most of
them in the row's one style (a cell's padding, its text, the next cell's padding). Over SSH every
byte of a redraw travels: a row of the Alerts pane whose age ticked was 277 bytes, 185 with each
"reset, then the same style again" taken out. The terminal ends in the same state either way.
"""

from __future__ import annotations

import re

from rich.console import Console
from textual._compositor import CompositorUpdate

__all__ = ["CompactUpdate", "merge_repeated_styles"]

_SGR = re.compile(r"(\x1b\[[0-9;]*m)")
_RESET = "\x1b[0m"


def merge_repeated_styles(data: str) -> str:
    """`data` with every `ESC[0m` that is followed by the style it ended taken out, with that
    style: `ESC[1m a ESC[0m ESC[1m b ESC[0m` is `ESC[1m a b ESC[0m`. A style is only known after
    a reset, so the state the terminal was in before `data` never matters."""
    parts = _SGR.split(data)  # text, style, text, style, ..., text
    out: list[str] = []
    clean = False  # a reset was written and nothing since: the terminal's state is known
    style: str | None = None  # the one style set on a clean state, if that is the state now
    held_reset = False
    for index, part in enumerate(parts):
        if index % 2 == 0:
            if part and held_reset:
                out.append(_RESET)
                held_reset, clean, style = False, True, None
            out.append(part)
            continue
        if part == _RESET:
            held_reset = True
            continue
        if held_reset:
            held_reset = False
            if part == style:
                continue  # reset, then the very style it ended: the terminal's state is unchanged
            out.append(_RESET)
            clean, style = True, None
        style = part if clean and style is None else None
        clean = False
        out.append(part)
    if held_reset:
        out.append(_RESET)
    return "".join(out)


class CompactUpdate(CompositorUpdate):
    """A compositor's update, rendered with `merge_repeated_styles`."""

    def __init__(self, update: CompositorUpdate) -> None:
        self.update = update

    def render_segments(self, console: Console) -> str:
        return merge_repeated_styles(self.update.render_segments(console))
