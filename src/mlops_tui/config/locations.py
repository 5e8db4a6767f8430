"""Where mlops-tui keeps its files, following the XDG base directory specification, and how it writes
them: whole or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["config_dir", "data_dir", "state_dir", "write_atomic"]

APP_NAME = "mlops-tui"


def _xdg(variable: str, fallback: str) -> Path:
    value = os.environ.get(variable, "")
    # The spec says relative paths in XDG variables are invalid and must be ignored.
    base = Path(value) if value and os.path.isabs(value) else Path.home() / fallback
    return base / APP_NAME


def config_dir() -> Path:
    """`$XDG_CONFIG_HOME/mlops-tui`, by default `~/.config/mlops-tui`."""
    return _xdg("XDG_CONFIG_HOME", ".config")


def data_dir() -> Path:
    """`$XDG_DATA_HOME/mlops-tui`, by default `~/.local/share/mlops-tui`: the local MLflow store."""
    return _xdg("XDG_DATA_HOME", ".local/share")


def state_dir() -> Path:
    """`$XDG_STATE_HOME/mlops-tui`, by default `~/.local/state/mlops-tui`: journal and logs."""
    return _xdg("XDG_STATE_HOME", ".local/state")


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` (UTF-8), whole or not at all: written to a temporary file beside it,
    flushed to the disk, then renamed over it, so a crash or a full disk never leaves half a file.
    The directory is created when missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
