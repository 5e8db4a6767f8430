"""What the libraries mlops-tui uses would do on their own: log, warn and phone home.

Their log records and Python warnings go to a log file under the state directory
(`$XDG_STATE_HOME/mlops-tui/mlops-tui.log`), never across the TUI nor into a headless command's
diagnostics; with `--debug`, a headless command shows them on stderr. MLflow 3's usage telemetry
(which also writes an installation id under `~/.config/mlflow`) is off unless the user decided
otherwise with `MLFLOW_DISABLE_TELEMETRY` or `DO_NOT_TRACK`.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from mlops_tui.config import locations

__all__ = [
    "DEBUG_ENV_VAR",
    "debugging",
    "keep_private",
    "log_file",
    "route_library_output",
    "take_over_mlflow_logger",
]

DEBUG_ENV_VAR = "MLOPS_TUI_DEBUG"
"""Set (by `--debug`, or by the user): tracebacks of internal errors and library logs on stderr."""

_TELEMETRY_SWITCHES = ("MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK")


def debugging() -> bool:
    """Whether `--debug` (or `$MLOPS_TUI_DEBUG`) is in effect."""
    return bool(os.environ.get(DEBUG_ENV_VAR))


def log_file() -> Path:
    """Where library log records and warnings go."""
    return locations.state_dir() / "mlops-tui.log"


def keep_private() -> None:
    """Turn MLflow's telemetry off unless the user set one of its switches. MLflow reads them when
    it is imported and when it would send; set in the environment, they also reach the processes
    this one starts (the trainer, a local runner)."""
    if not any(name in os.environ for name in _TELEMETRY_SWITCHES):
        os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"


class _LogFile(logging.FileHandler):
    """Appends to the log file, created (with its directory) only when there is a record to write."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, encoding="utf-8", delay=True)

    def _open(self):  # type: ignore[no-untyped-def]
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


def route_library_output(*, to_terminal: bool = False) -> None:
    """Send library logs and Python warnings to the log file, or (`to_terminal`) to stderr at INFO.

    Safe to call again: it replaces the handler it installed before.
    """
    keep_private()
    # MLflow gives its logger a stderr handler of its own at import unless told not to: without
    # one its records reach the root logger's handler, ours.
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "mlops_tui", False)]:
        root.removeHandler(old)
        old.close()
    handler: logging.Handler = logging.StreamHandler(sys.stderr) if to_terminal else _LogFile(log_file())
    handler.mlops_tui = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO if to_terminal else logging.WARNING)
    logging.captureWarnings(True)
    if "mlflow" in sys.modules:  # imported before (a test, a plugin): undo what its import set up
        take_over_mlflow_logger()


def take_over_mlflow_logger() -> None:
    """MLflow's logger without a handler of its own, its records reaching the root's handler;
    INFO lines (`Creating initial MLflow database tables...`) only when debugging."""
    logger = logging.getLogger("mlflow")
    if any(getattr(h, "mlops_tui", False) for h in logging.getLogger().handlers):
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True
    logger.setLevel(logging.INFO if debugging() else logging.WARNING)
