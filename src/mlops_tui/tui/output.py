"""What the app writes to the terminal: the cells that changed, without the style sequences that
change nothing.

Over SSH every byte of a redraw travels. Two things made a ticking age in a table cost a row:
- Textual writes a changed region of a line from the left edge of the widget holding it, to the
  region's right end: an age in the fourth column of a table sent the three columns before it too.
  `changed_cells` writes from the region's own left edge (on a character's boundary).
- Rich writes every segment as `ESC[<style>m text ESC[0m`, and a table row is a dozen segments,
  most of them in the row's one style (a cell's padding, its text, the next cell's padding).
  `merge_repeated_styles` takes out each "reset, then the same style again".
An alert's ticking age was 277 bytes; 185 with the second; 41 with both, its own cell. The terminal
ends in the same state either way.
"""

from __future__ import annotations

import re

from rich.cells import cell_len
from rich.console import Console
from rich.control import Control
from textual._compositor import ChopsUpdate, CompositorUpdate
from textual.strip import Strip

__all__ = ["CompactUpdate", "changed_cells", "merge_repeated_styles"]

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


def on_characters(strip: Strip, start: int, end: int) -> tuple[int, int]:
    """Cells `start` to `end` of `strip`, widened to whole characters: a double-width character
    the range cuts is written whole, never half of it as a space."""
    position = 0
    for segment in strip:
        text = segment.text
        if position >= end:
            break
        after = position + cell_len(text)
        if after > start and not text.isascii():
            for character in text:
                width = cell_len(character)
                if position < start < position + width:
                    start = position
                if position < end < position + width:
                    end = position + width
                position += width
        position = after
    return start, end


def changed_cells(update: ChopsUpdate, console: Console) -> str:
    """What `update` writes, each changed region from its own left edge to its right edge.

    Textual's `ChopsUpdate.render_segments` crops a region's line on the right only, and moves
    to the left edge of the widget holding it."""
    sequences: list[str] = []
    last_y = update.spans[-1][0]
    for y, x1, x2 in update.spans:
        for end, (x, strip) in zip(update.chop_ends[y], update.chops[y].items(), strict=True):
            if strip is None or x >= x2 or end <= x1:
                continue
            start, stop = on_characters(strip, max(x1 - x, 0), min(end, x2) - x)
            sequences.append(Control.move_to(x + start, y).segment.text)
            sequences.append(strip.crop(start, stop).render(console))
        if y != last_y:
            sequences.append("\n")
    return "".join(sequences)


class CompactUpdate(CompositorUpdate):
    """A compositor's update, rendered with `changed_cells` and `merge_repeated_styles`."""

    def __init__(self, update: CompositorUpdate) -> None:
        self.update = update

    def render_segments(self, console: Console) -> str:
        update = self.update
        data = (
            changed_cells(update, console)
            if isinstance(update, ChopsUpdate)
            else update.render_segments(console)
        )
        return merge_repeated_styles(data)
