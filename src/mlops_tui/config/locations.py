"""Where mlops-tui keeps its files, following the XDG base directory specification."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["config_dir", "data_dir", "state_dir", "APP_NAME"]

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
