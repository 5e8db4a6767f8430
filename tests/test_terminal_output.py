"""What the app writes to the terminal: the same screen in fewer bytes (`tui/output.py`)."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual._compositor import ChopsUpdate, LayoutUpdate
from textual.geometry import Region
from textual.strip import Strip

from mlops_tui.tui.output import CompactUpdate, changed_cells, merge_repeated_styles

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


MOVE = re.compile(r"\x1b\[(\d+);(\d+)H")


class Terminal:
    """The cells of a terminal's screen, as a terminal keeps them: a double-width character takes
    its cell and the next (`""`), and writing over either half of one blanks the other."""

    def __init__(self, lines: list[list[tuple[str, str]]]) -> None:
        self.cells = [list(line) for line in lines]

    def write(self, data: str) -> None:
        y = x = 0
        for char, style in drawn(data):
            if move := MOVE.fullmatch(char):
                y, x = int(move[1]) - 1, int(move[2]) - 1
            elif char == "\n":
                y, x = y + 1, 0
            else:
                width = cell_len(char)
                row = self.cells[y]
                for cell in range(x, x + width):
                    if row[cell][0] == "" and cell > 0:
                        row[cell - 1] = (" ", row[cell - 1][1])
                    if cell + 1 < len(row) and cell_len(row[cell][0]) == 2:
                        row[cell + 1] = (" ", row[cell + 1][1])
                row[x] = (char, style)
                if width == 2:
                    row[x + 1] = ("", style)
                x += width


def screen_of(strip: Strip, console: Console) -> list[tuple[str, str]]:
    """The cells a terminal shows for `strip` written from the left edge of a clean screen."""
    terminal = Terminal([[("?", "")] * strip.cell_length])
    terminal.write(f"\x1b[1;1H{RESET}{strip.render(console)}")
    return terminal.cells[0]


texts = st.sampled_from(["ab", "c", " ", "界", "a界b", "界界", "  x  "])
styles = st.sampled_from([Style.parse("#dadada on #005f5f"), Style.parse("bold #dadada on #ff005f")])
strips = st.lists(st.tuples(texts, styles), min_size=1, max_size=5).map(
    lambda parts: Strip([Segment(text, style) for text, style in parts])
)


@given(st.lists(strips, min_size=1, max_size=3), st.data())
def test_only_the_changed_cells_are_written_and_the_screen_ends_the_same(
    widgets: list[Strip], data: st.DataObject
) -> None:
    """A line of widgets side by side; a changed region anywhere in it. Written onto a screen
    showing the line as it now is but for old cells in that region, the update leaves the line
    as it now is: each cell, its style, every double-width character whole."""
    console = Console(color_system="256", force_terminal=True, width=200)
    chops: dict[int, Strip | None] = {}
    ends: list[int] = []
    x = 0
    for strip in widgets:
        chops[x] = strip
        x += strip.cell_length
        ends.append(x)
    line = Strip([segment for strip in widgets for segment in strip])
    x1 = data.draw(st.integers(0, x - 1))
    x2 = data.draw(st.integers(x1 + 1, x))
    update = ChopsUpdate([chops], [(0, x1, x2)], [ends])
    now = screen_of(line, console)
    before = Terminal([now[:x1] + [("?", "old")] * (x2 - x1) + now[x2:]])
    for cell in (x1, x2):  # the old cells' edges cut no double-width character of the line now
        if cell < x and now[cell][0] == "":
            before.cells[0][cell - 1] = ("?", "old")
    written = CompactUpdate(update).render_segments(console)
    before.write(RESET + written)  # every frame ends in a reset
    assert before.cells[0] == now
    # Nothing left of the region is written but the start of a character it cuts.
    first = int(MOVE.search(written)[2]) - 1  # type: ignore[index]
    assert first == x1 or (first == x1 - 1 and now[x1][0] == "")


def test_a_ticking_age_is_written_alone() -> None:
    """An age in the fourth column of a table row: Textual sends the row from the table's left
    edge to the age; what mlops-tui writes is the age's cell."""
    base = Style.parse("#dadada on #005f5f")
    cells = [" churn-2024-11-30 ", " FINISHED ", " 0.912 ", " 4m ago ", " 3s "]
    strip = Strip([Segment(text, base + Style(meta={"column": i})) for i, text in enumerate(cells)])
    x1 = sum(len(c) for c in cells[:3])
    update = ChopsUpdate([{0: strip}], [(0, x1, x1 + len(cells[3]))], [[strip.cell_length]])
    console = Console(color_system="256", force_terminal=True, width=80)
    textual = update.render_segments(console)
    ours = changed_cells(update, console)
    assert "churn" in textual and "churn" not in ours
    assert [c for c, _ in drawn(ours) if not c.startswith("\x1b")] == list(" 4m ago ")
    assert ours.startswith(f"\x1b[1;{x1 + 1}H")
