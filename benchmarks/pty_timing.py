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

from common import BenchmarkError, peak_rss_mb

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
    peak_rss_mb: float | None = None
    """The process's peak resident memory (VmHWM) when it was asked to quit."""


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


def _describe(status: int) -> str:
    if os.WIFEXITED(status):
        return f"exit {os.WEXITSTATUS(status)}"
    return f"signal {os.WTERMSIG(status)}"


class PtyApp:
    """A command running in a pseudo-terminal of its own, whose output is read and kept.

    Times are seconds since spawn. Use as a context manager: leaving it quits the app (ctrl+q),
    reaps it and records `exit_status`, and `peak_rss_mb` just before.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        size: tuple[int, int] = (120, 40),
    ) -> None:
        env = {**env, "TERM": "xterm-256color", "COLUMNS": str(size[0]), "LINES": str(size[1])}
        self.start = time.perf_counter()
        self.pid, self.fd = _spawn(argv, env, cwd, size)
        self.output = bytearray()
        self.alive = True
        self.first_output: float | None = None
        self.exit_status = "running"
        self.peak_rss_mb: float | None = None

    def __enter__(self) -> PtyApp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()

    def now(self) -> float:
        return time.perf_counter() - self.start

    def pump(self, wait: float) -> int:
        """Read what the app writes within `wait` seconds; return the number of bytes read."""
        if not self.alive:
            time.sleep(wait)
            return 0
        ready, _, _ = select.select([self.fd], [], [], wait)
        if not ready:
            return 0
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # EIO: every slave descriptor closed
            chunk = b""
        if not chunk:
            self.alive = False
            return 0
        self.output += chunk
        if self.first_output is None and strip_escapes(chunk).strip():
            self.first_output = self.now()
        return len(chunk)

    def text(self, since: int = 0) -> str:
        """What the app printed from byte `since` on, escape sequences stripped."""
        return strip_escapes(bytes(self.output[since:]))

    def wait_for(self, markers: Sequence[str], timeout: float, *, since: int = 0) -> float | None:
        """Seconds since spawn when every marker has appeared in the output after byte `since`
        (case-insensitive); None when they did not within `timeout` or the app ended."""
        wanted = [m.lower() for m in markers]
        deadline = time.perf_counter() + timeout
        while True:
            lowered = self.text(since).lower()
            if all(m in lowered for m in wanted):
                return self.now()
            if not self.alive or time.perf_counter() >= deadline:
                return None
            self.pump(min(0.05, max(0.0, deadline - time.perf_counter())))

    def drain(self, seconds: float) -> int:
        """Keep reading for `seconds`; return the bytes read meanwhile."""
        deadline = time.perf_counter() + seconds
        read = 0
        while time.perf_counter() < deadline:
            read += self.pump(max(0.0, min(0.05, deadline - time.perf_counter())))
        return read

    def settle(self, quiet: float = 1.0, timeout: float = 30.0) -> int:
        """Read until the app has written nothing for `quiet` seconds; return the bytes read."""
        deadline = time.perf_counter() + timeout
        read = 0
        last = time.perf_counter()
        while time.perf_counter() < deadline and time.perf_counter() - last < quiet:
            got = self.pump(0.05)
            if got:
                read += got
                last = time.perf_counter()
        return read

    def send(self, keys: str | bytes) -> None:
        """Type `keys` into the app's terminal."""
        os.write(self.fd, keys.encode() if isinstance(keys, str) else keys)

    def cpu_seconds(self) -> float:
        """User plus system CPU time of the app so far, all its threads (/proc/PID/stat)."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        # After the command name: state is field 3, utime and stime are fields 14 and 15.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def finish(self, timeout: float = 5.0) -> str:
        """Ask the app to quit (ctrl+q), drain its output, and reap it; kill it if it will not go."""
        if self.exit_status != "running":
            return self.exit_status
        try:
            self.peak_rss_mb = peak_rss_mb(self.pid)
        except (OSError, BenchmarkError):
            pass
        try:
            self.send(CTRL_Q)
        except OSError:
            pass
        deadline = time.monotonic() + timeout
        for sig in (None, signal.SIGTERM, signal.SIGKILL):
            if sig is not None:
                try:
                    os.kill(self.pid, sig)
                except ProcessLookupError:
                    pass
                deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                done, status = os.waitpid(self.pid, os.WNOHANG)
                if done:
                    how = _describe(status)
                    self._reaped(how if sig is None else f"{how} after {signal.Signals(sig).name}")
                    return self.exit_status
                if self.pump(0.05) == 0 and not self.alive:
                    time.sleep(0.02)
        os.waitpid(self.pid, 0)
        self._reaped("killed")
        return self.exit_status

    def _reaped(self, how: str) -> None:
        self.exit_status = how
        os.close(self.fd)


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
    with PtyApp(argv, env=env, cwd=cwd, size=size) as app:
        frame = app.wait_for(first_frame, timeout)
        done = app.wait_for(filled, timeout - app.now()) if frame is not None else None
        tail = " ".join(app.text().split())[-300:]
    return Startup(app.first_output, frame, done, app.exit_status, tail, app.peak_rss_mb)
