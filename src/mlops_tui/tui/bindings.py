"""Key bindings shared by several widgets and screens, and the names of the write actions.

Kept apart from the screens so that the dashboard can declare them without importing every screen.
"""

from __future__ import annotations

from textual.binding import Binding

__all__ = [
    "ALERT_ACTIONS",
    "TRIAGE_ACTIONS",
    "MODEL_ACTIONS",
    "PIPELINE_ACTIONS",
    "SILENCE_ACTIONS",
    "WRITE_ACTIONS",
]

WRITE_ACTIONS = frozenset({"promote", "rollback", "retrain", "cancel", "retry", "silence", "expire"})
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

ALERT_ACTIONS: list[Binding | tuple[str, str] | tuple[str, str, str]] = [
    Binding("s", "silence", "Silence", id="silence", tooltip="Silence alerts like this one"),
    Binding("m", "open_model", "Model", id="open_model", tooltip="The model this alert concerns"),
    Binding("S", "silences", "Silences", id="silences", tooltip="Every silence; expire one"),
]

SILENCE_ACTIONS: list[Binding | tuple[str, str] | tuple[str, str, str]] = [
    Binding("x", "expire", "Expire", id="expire", tooltip="End the selected silence now"),
]

TRIAGE_ACTIONS: list[Binding | tuple[str, str] | tuple[str, str, str]] = [
    Binding("b", "rollback", "Roll back", id="triage_rollback", tooltip="Back to the previous version"),
    Binding("s", "silence", "Silence", id="triage_silence", tooltip="Silence alerts like this one"),
    Binding("t", "retrain", "Retrain", id="triage_retrain", tooltip="Start the retraining pipeline"),
    Binding("l", "failing_log", "Failing log", id="failing_log", tooltip="Log of the failing job"),
    Binding("g", "open_pipeline", "Pipeline", id="triage_pipeline", tooltip="The pipeline that made it"),
    Binding("m", "open_model", "Model", id="triage_model", tooltip="The model's versions"),
    Binding("i", "details", "Alert", id="alert_details", tooltip="Every label and annotation"),
]
