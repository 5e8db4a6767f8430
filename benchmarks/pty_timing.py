"""TUI start-up as a person sees it: the installed command in a pseudo-terminal, timed by its output.

The child gets a real terminal (120x40, TERM=xterm-256color); the parent reads everything it writes,
strips the escape sequences, and notes when markers first appear in the remaining text: the
environment name in the header (first frame), then a run name and an alias (panes filled).
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import termios
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

CTRL_Q = b"\x11"

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), DCS/APC/PM/SOS (ESC P|_|^|X ... ST), then any
# other escape (ESC, intermediates, final: charset selection, keypad modes, ...).
_ESCAPES = re.compile(
    rb"\x1b\[[0-?]*[ -/]*[@-~]"
    rb"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    rb"|\x1b[P_^X][^\x1b]*(?:\x1b\\)?"
    rb"|\x1b[ -/]*[0-~]"
)


def strip_escapes(data: bytes) -> str:
    """The text a terminal would print from `data`, without control sequences, as one string."""
    return _ESCAPES.sub(b"", data).decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Startup:
    """Seconds from spawn to each marker (None: never seen), and how the process ended."""

    first_output: float | None
    first_frame: float | None
    filled: float | None
    exit_status: str
    tail: str
    """The last stripped text, for diagnostics when a marker never came."""


def _spawn(argv: Sequence[str], env: Mapping[str, str], cwd: Path, size: tuple[int, int]) -> tuple[int, int]:
    """Fork `argv` onto a new pseudo-terminal of `size` (columns, rows); return (pid, master fd)."""
    columns, rows = size
    pid, fd = pty.fork()
    if pid == 0:  # child: size its terminal before Textual asks, then become the command
        try:
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
            os.chdir(cwd)
            os.execve(argv[0], list(argv), dict(env))
        finally:
            os._exit(127)
    return pid, fd


def _read(fd: int, wait: float) -> bytes | None:
    """Bytes available on `fd` within `wait` seconds: b"" when none, None once the child is gone."""
    ready, _, _ = select.select([fd], [], [], wait)
    if not ready:
        return b""
    try:
        return os.read(fd, 65536) or None
    except OSError:  # EIO: every slave descriptor closed
        return None


def _describe(status: int) -> str:
    if os.WIFEXITED(status):
        return f"exit {os.WEXITSTATUS(status)}"
    return f"signal {os.WTERMSIG(status)}"


def _finish(pid: int, fd: int, timeout: float) -> str:
    """Ask the app to quit (ctrl+q), drain its output, and reap it; kill it if it will not go."""
    try:
        os.write(fd, CTRL_Q)
    except OSError:
        pass
    deadline = time.monotonic() + timeout
    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        if sig is not None:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                how = _describe(status)
                return how if sig is None else f"{how} after {signal.Signals(sig).name}"
            if _read(fd, 0.05) is None:
                time.sleep(0.02)
    os.waitpid(pid, 0)
    return "killed"


def time_startup(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    first_frame: Sequence[str],
    filled: Sequence[str],
    size: tuple[int, int] = (120, 40),
    timeout: float = 20.0,
) -> Startup:
    """Spawn `argv` in a pseudo-terminal and time its start-up by the text it prints.

    `first_frame` markers must all appear for the first frame, `filled` ones for the filled panes;
    markers match case-insensitively (a header may print `local` as `LOCAL`).
    Gives up after `timeout` seconds or when the process ends; always quits and reaps the child.
    """
    env = {**env, "TERM": "xterm-256color", "COLUMNS": str(size[0]), "LINES": str(size[1])}
    start = time.perf_counter()
    pid, fd = _spawn(argv, env, cwd, size)
    first_frame = [m.lower() for m in first_frame]
    filled = [m.lower() for m in filled]
    output = bytearray()
    seen_output = seen_frame = seen_filled = None
    text = ""
    try:
        while time.perf_counter() - start < timeout and seen_filled is None:
            chunk = _read(fd, 0.05)
            if chunk is None:
                break
            if not chunk:
                continue
            now = time.perf_counter() - start
            output += chunk
            text = strip_escapes(bytes(output))
            lowered = text.lower()
            if seen_output is None and text.strip():
                seen_output = now
            if seen_frame is None and all(m in lowered for m in first_frame):
                seen_frame = now
            if seen_frame is not None and all(m in lowered for m in filled):
                seen_filled = now
    finally:
        status = _finish(pid, fd, timeout=5.0)
        os.close(fd)
    tail = " ".join(text.split())[-300:]
    return Startup(seen_output, seen_frame, seen_filled, status, tail)
