"""Whether a process (or process group) still runs: zombies count as ended, and a reused pid is
told apart from the original by its start time where /proc has it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["group_alive", "pid_alive", "start_ticks"]


def proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state first), None without the process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    fields = proc_stat(pid)
    return int(fields[19]) if fields else None


def pid_alive(pid: int, started: int | None = None) -> bool:
    """Whether `pid` still runs the process started at `started` (zombies count as ended; a
    reused pid is told apart by its start time where /proc has it)."""
    if sys.platform.startswith("linux"):
        fields = proc_stat(pid)
        if fields is None or fields[0] in ("Z", "X"):
            return False
        return started is None or int(fields[19]) == started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_alive(pgid: int) -> bool:
    """Whether any process of group `pgid` is still running (zombies left aside)."""
    if sys.platform.startswith("linux"):
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                fields = proc_stat(int(entry.name))
                if fields and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
                    return True
        return False
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
