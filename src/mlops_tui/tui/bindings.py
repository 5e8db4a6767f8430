"""Key bindings shared by several widgets and screens, and the names of the write actions.

Kept apart from the screens so that the dashboard can declare them without importing every screen.
"""

from __future__ import annotations

from textual.binding import Binding

__all__ = ["MODEL_ACTIONS", "PIPELINE_ACTIONS", "WRITE_ACTIONS"]

WRITE_ACTIONS = frozenset({"promote", "rollback", "retrain", "cancel", "retry"})
"""Actions that change a backend: greyed out in read-only environments; each goes through
`ops.policy.perform`."""

MODEL_ACTIONS: list[Binding | tuple[str, str] | tuple[str, str, str]] = [
    Binding("p", "promote", "Promote", id="promote", tooltip="Move an alias or stage to a version"),
    Binding("b", "rollback", "Roll back", id="rollback", tooltip="Back to the previous version"),
    Binding("h", "history", "History", id="history", tooltip="This model's audit journal"),
    Binding("t", "retrain", "Retrain", id="retrain", tooltip="Start the retraining pipeline"),
]

PIPELINE_ACTIONS: list[Binding | tuple[str, str] | tuple[str, str, str]] = [
    Binding("c", "cancel", "Cancel", id="cancel", tooltip="Cancel the pipeline"),
    Binding("R", "retry", "Retry", id="retry", tooltip="Retry a failed pipeline"),
]
