"""What the app writes to the terminal: the same screen in fewer bytes (`tui/output.py`)."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual._compositor import LayoutUpdate
from textual.geometry import Region
from textual.strip import Strip

from mlops_tui.tui.output import CompactUpdate, merge_repeated_styles

RESET = "\x1b[0m"
BOLD = "\x1b[1m"
ROW_STYLE = "\x1b[38;5;253;48;5;23m"
TOKEN = re.compile(r"\x1b\[[0-9;]*m|\x1b\[[0-9;]*H|.", re.S)


def drawn(data: str) -> list[tuple[str, str]]:
    """Each character a terminal prints with the style sequences in force since the last reset
    (`?` for the state before `data`); cursor moves are kept as they are."""
    state = "?"
    out = []
    for token in TOKEN.findall(data):
        if token == RESET:
            state = ""
        elif token.startswith("\x1b[") and token.endswith("m"):
            state += token
        else:
            out.append((token, "" if token.startswith("\x1b") else state))
    return out


@given(
    st.lists(
        st.sampled_from([RESET, BOLD, ROW_STYLE, "\x1b[1;31m", "a", "bc", " ", "", "\x1b[3;4H"]),
        max_size=40,
    )
)
def test_the_terminal_prints_the_same_characters_in_the_same_styles(tokens: list[str]) -> None:
    data = "".join(tokens)
    merged = merge_repeated_styles(data)
    assert drawn(merged) == drawn(data)
    assert len(merged) <= len(data)


def test_a_reset_and_the_same_style_again_are_left_out() -> None:
    row = f"{RESET}{ROW_STYLE} {RESET}{ROW_STYLE}ChampionAucLow{RESET}{ROW_STYLE} 2m ago {RESET}"
    assert merge_repeated_styles(row) == f"{RESET}{ROW_STYLE} ChampionAucLow 2m ago {RESET}"
    # Before any reset the terminal's state is not known: nothing is merged there.
    unknown = f"{BOLD}a{RESET}{BOLD}b{RESET}"
    assert merge_repeated_styles(unknown) == unknown
    # Another style, or text between the reset and the style, keeps both.
    other = f"{RESET}{BOLD}a{RESET}{ROW_STYLE}b{RESET}"
    assert merge_repeated_styles(other) == other
    plain = f"{RESET}{BOLD}a{RESET}b{BOLD}c{RESET}"
    assert merge_repeated_styles(plain) == plain


def test_a_table_row_the_compositor_renders_is_written_shorter_and_the_same() -> None:
    """A row as Textual renders a DataTable's: one segment per cell and per padding, each cell
    carrying its own mouse metadata, so the segments cannot be joined before rendering."""
    base = Style.parse("#dadada on #005f5f")
    cells = [(" ", base), ("critical", Style.parse("bold #dadada on #ff005f")), (" ", base)]
    for column, text in enumerate([" 2m ago ", " ChampionAucLow ", " churn "]):
        cells.append((text, base + Style(meta={"row": 0, "column": column})))
    strip = Strip([Segment(text, style) for text, style in cells])
    update = LayoutUpdate([[strip]], Region(0, 0, strip.cell_length, 1))
    console = Console(color_system="256", force_terminal=True, width=80)
    plain = update.render_segments(console)
    compact = CompactUpdate(update).render_segments(console)
    assert drawn(compact) == drawn(plain)
    assert len(compact) < 0.8 * len(plain)
