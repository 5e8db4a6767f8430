r"""Text from backends, made safe for a terminal: the one sanitizer for everything mlops-tui draws.

Every string shown to the operator was written by someone else: alert labels built from scraped
targets, run names and params (anyone with MLflow write access), model descriptions, commit titles,
job logs. Sent to a terminal as they are, control characters in them set its title, clear the
screen, write to the clipboard (OSC 52), make hyperlinks (OSC 8), or reorder what is read (bidi
overrides). So:

- `printable`: C0 and C1 controls (ESC included, so no escape sequence survives), DEL and the
  bidirectional embeddings, overrides, isolates and marks are shown as visible escapes (`\x1b`,
  `\u202e`). The TUI applies it to every line it draws (`tui.app.TerminalSafe`), the headless
  commands to every table cell and stderr line; JSON stays exact (its encoder escapes controls).
- `terminal_log`: a job log keeps its colours (SGR) and nothing else.
- `web_link`: a URL is a link, or offered to open, only when it is http(s).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

__all__ = ["UNSAFE", "printable", "terminal_log", "web_link"]

UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""What never reaches the terminal as it is: C0 and C1 controls, DEL, and the bidirectional
formatting characters (ALM, LRM, RLM, embeddings, overrides, isolates)."""


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    r"""`text` with every unsafe character shown as its escape: `a\x1b]0;t\x07` comes out as the
    17 visible characters `a\x1b]0;t\x07`, so a run name or a label never moves the cursor, clears
    the screen, sets a title or reorders the line."""
    return UNSAFE.sub(_escape, text) if UNSAFE.search(text) else text


# A job log's escape sequences, by kind. SGR (colours) is kept; the others are a terminal's
# housekeeping (GitLab's runner ends each line with `\e[0K`) or an attack (titles, the clipboard,
# hyperlinks), and are dropped whole so that none of their bytes reach the screen.
_SEQUENCE = re.compile(
    r"""
    (?P<sgr>\x1b\[[0-9;:]*m)
    | \x1b\[[0-?]*[ -/]*[@-~]                    # other CSI: cursor, erase, modes
    | \x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?         # OSC: title, clipboard (52), hyperlink (8)
    | \x1b[P^_X][^\x1b]*(?:\x1b\\)?              # DCS, PM, APC, SOS
    | \x1b[ -/]*[0-~]?                           # any other escape, or a lone ESC
    """,
    re.VERBOSE,
)
# After the sequences are dealt with, ESC is left only in SGR: everything else unsafe is escaped.
_LOG_UNSAFE = re.compile(
    r"[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
# A lone carriage return overwrites its line (progress bars): what a terminal would show is kept.
_OVERWRITTEN = re.compile(r"[^\n]*\r(?!\n)")


def terminal_log(text: str) -> str:
    r"""A job log as it may be written to a terminal: colours (SGR sequences) kept, every other
    escape sequence dropped, a line overwritten by a carriage return shown as a terminal would
    show it, any other control character shown as its escape. Newlines and tabs stay."""
    text = _OVERWRITTEN.sub("", text.replace("\r\n", "\n"))
    kept = _SEQUENCE.sub(lambda match: match.group("sgr") or "", text)
    return _LOG_UNSAFE.sub(_escape, kept)


def web_link(url: str | None) -> str | None:
    """`url` when it is an http(s) URL with a host and nothing unsafe in it, else None: only such a
    URL becomes a link or is offered to open (never `javascript:`, `file:` or a terminal escape)."""
    if not url or UNSAFE.search(url) or any(char.isspace() for char in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.hostname else None
