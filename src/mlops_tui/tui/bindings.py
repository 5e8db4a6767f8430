"""Every key binding of the TUI, declared once with a stable id, and the `[keymap]` that overrides them.

Widgets and screens build their `BINDINGS` from this catalogue (`bindings("promote", ...)`), so the
ids a user may name in `[keymap]`, the README's table of keys and the keys the app really has are
one list. Kept apart from the screens so that the dashboard can declare its keys without importing
every screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.binding import Binding
from textual.keys import REPLACED_KEYS, Keys, key_to_character

from mlops_tui.errors import ConfigError

__all__ = [
    "ALERT_ACTIONS",
    "APPROVAL_ACTIONS",
    "ENDPOINT_ACTIONS",
    "TRIAGE_ACTIONS",
    "KEYS",
    "MODEL_ACTIONS",
    "PIPELINE_ACTIONS",
    "SILENCE_ACTIONS",
    "TRACE_ACTIONS",
    "WRITE_ACTIONS",
    "BindingList",
    "KeySpec",
    "bindings",
    "check_keymap",
    "check_theme",
    "check_ui",
    "keys_table",
]

BindingList = list[Binding | tuple[str, str] | tuple[str, str, str]]


@dataclass(frozen=True)
class KeySpec:
    """One binding: its default keys, the action it runs, and what the documentation says of it."""

    keys: str
    action: str
    description: str
    where: str
    does: str
    show: bool = True


KEYS: dict[str, KeySpec] = {
    "quit": KeySpec("q", "quit", "Quit", "everywhere", "quit"),
    "help": KeySpec("question_mark", "keys", "Keys", "everywhere", "show or hide the keys"),
    "switch_env": KeySpec("e", "switch_env", "Env", "everywhere", "switch environment"),
    "fleet": KeySpec("f", "fleet", "Fleet", "everywhere", "every environment at once: the fleet view"),
    "maturity": KeySpec(
        "L",
        "maturity",
        "Maturity",
        "everywhere",
        "MLOps maturity level of every model, its criteria's evidence and next steps",
        show=False,
    ),
    "focus_alerts": KeySpec(
        "a", "focus_alerts", "Alerts", "everywhere", "the most severe alert (Enter: triage)"
    ),
    "refresh": KeySpec("r", "refresh", "Refresh", "dashboard", "poll every pane now", show=False),
    "pause": KeySpec("space", "toggle_pause", "Pause", "everywhere", "pause or resume polling", show=False),
    "filter": KeySpec("slash", "filter", "Filter", "panes", "filter the pane (Enter applies, Escape closes)"),
    "next_page": KeySpec("right_square_bracket", "page(1)", "Next page", "panes", "next server page", False),
    "prev_page": KeySpec(
        "left_square_bracket", "page(-1)", "Prev page", "panes", "previous server page", False
    ),
    "mark": KeySpec(
        "m", "mark", "Mark", "Runs", "mark or unmark the run for comparison; the cursor moves on"
    ),
    "compare": KeySpec("c", "compare", "Compare", "Runs", "compare the marked runs (two or more)"),
    "unmark": KeySpec("M", "unmark", "Unmark all", "Runs", "unmark every run", show=False),
    "sort": KeySpec(
        "o",
        "sort",
        "Order",
        "Runs",
        "order by each key metric, highest then lowest first, then newest first again",
    ),
    "open_web": KeySpec(
        "w",
        "open_web",
        "Web",
        "panes, detail screens",
        "the selected item's page in its web UI: copied, and opened where there is a browser",
        show=False,
    ),
    "promote": KeySpec(
        "p", "promote", "Promote", "Models, model screen", "promote (version, alias or stage, or another env)"
    ),
    "rollback": KeySpec(
        "b", "rollback", "Roll back", "Models, model screen", "roll back the environment's default slot"
    ),
    "history": KeySpec("h", "history", "History", "Models, model screen", "the model's audit journal here"),
    "retrain": KeySpec("t", "retrain", "Retrain", "Models, model screen", "start the retraining pipeline"),
    "cancel": KeySpec("c", "cancel", "Cancel", "Pipelines, pipeline screen", "cancel the pipeline (or job)"),
    "retry": KeySpec("R", "retry", "Retry", "Pipelines, pipeline screen", "retry the pipeline (or job)"),
    "retry_all": KeySpec(
        "X",
        "retry_all",
        "Run all again",
        "Pipelines, pipeline screen",
        "run every job of the ended pipeline again, not only the failed ones (Airflow: clear the whole run)",
        show=False,
    ),
    "pause_dag": KeySpec(
        "P",
        "pause_dag",
        "Pause DAG",
        "Pipelines, pipeline screen",
        "pause the pipeline's Airflow DAG: new runs wait, queued, until it is unpaused",
        show=False,
    ),
    "unpause_dag": KeySpec(
        "U",
        "unpause_dag",
        "Unpause DAG",
        "Pipelines, pipeline screen",
        "unpause the pipeline's Airflow DAG",
        show=False,
    ),
    "prev_try": KeySpec(
        "left_square_bracket", "step_try(-1)", "Prev try", "job log", "the log of the job's previous try"
    ),
    "next_try": KeySpec(
        "right_square_bracket", "step_try(1)", "Next try", "job log", "the log of the job's next try"
    ),
    "open_pipeline": KeySpec("g", "open_pipeline", "Pipeline", "run screen", "open the pipeline that ran it"),
    "differences": KeySpec(
        "d", "toggle_differences", "Differences", "comparison", "show only what differs, or everything"
    ),
    "silence": KeySpec(
        "s",
        "silence",
        "Silence",
        "Alerts, alert screen",
        "silence alerts like the selected one (matchers, duration, comment)",
    ),
    "open_model": KeySpec(
        "m",
        "open_model",
        "Model",
        "Alerts, alert screen",
        "the versions of the model the alert concerns",
    ),
    "silences": KeySpec(
        "S",
        "silences",
        "Silences",
        "Alerts, alert screen",
        "every silence of the environment",
    ),
    "open_triage": KeySpec("enter", "select_cursor", "Triage", "Alerts", "the selected alert's triage"),
    "group_alerts": KeySpec(
        "G", "group", "Group", "Alerts", "group by severity or by alert name", show=False
    ),
    "toggle_muted": KeySpec(
        "u",
        "toggle_muted",
        "Muted",
        "Alerts",
        "show or hide silenced and inhibited alerts",
        show=False,
    ),
    "expire": KeySpec("x", "expire", "Expire", "silences screen", "end the selected silence now"),
    "approvals": KeySpec(
        "A",
        "approvals",
        "Approvals",
        "everywhere",
        "the environment's approval requests (four eyes; the header counts them)",
        show=False,
    ),
    "approve": KeySpec("y", "approve", "Approve", "approvals screen", "approve the selected request"),
    "reject": KeySpec(
        "n", "reject", "Reject", "approvals screen", "reject the selected request, with a reason"
    ),
    "shift_traffic": KeySpec(
        "s",
        "shift_traffic",
        "Shift traffic",
        "Endpoints",
        "set the endpoint's traffic split (a 90/10 canary)",
    ),
    "rollback_traffic": KeySpec(
        "b",
        "rollback_traffic",
        "Roll back traffic",
        "Endpoints",
        "back to the split before the endpoint's last change",
    ),
    "undeploy": KeySpec(
        "u",
        "undeploy",
        "Undeploy",
        "Endpoints",
        "undeploy the selected model (its traffic goes to the others)",
    ),
    "triage_rollback": KeySpec(
        "b", "rollback", "Roll back", "triage", "roll back the model the alert concerns"
    ),
    "triage_silence": KeySpec("s", "silence", "Silence", "triage", "silence alerts like this one"),
    "triage_retrain": KeySpec("t", "retrain", "Retrain", "triage", "start the model's retraining pipeline"),
    "failing_log": KeySpec("l", "failing_log", "Failing log", "triage", "the log of the model's failing job"),
    "triage_pipeline": KeySpec(
        "g", "open_pipeline", "Pipeline", "triage", "the pipeline that made the serving version"
    ),
    "triage_model": KeySpec("m", "open_model", "Model", "triage", "the model's versions"),
    "alert_details": KeySpec("i", "details", "Alert", "triage", "every label and annotation of the alert"),
    "back": KeySpec(
        "escape,backspace", "app.pop_screen", "Back", "screens, dialogs", "back, or close the dialog"
    ),
    "reload": KeySpec("r", "reload", "Reload", "detail screens", "load again"),
    "series_window": KeySpec(
        "v",
        "cycle_window",
        "Window",
        "model screen",
        "chart the serving series over the next window: 1h, 6h, 24h, 7d",
    ),
}
"""Binding id -> its default keys and documentation, in the order the README lists them."""

WRITE_ACTIONS = frozenset(
    {
        "promote",
        "rollback",
        "retrain",
        "cancel",
        "retry",
        "retry_all",
        "pause_dag",
        "unpause_dag",
        "silence",
        "expire",
        "shift_traffic",
        "rollback_traffic",
        "undeploy",
        "approve",
    }
)
"""Actions that change a backend: greyed out in read-only environments; each goes through
`ops.policy.perform`."""

_TOOLTIPS = {
    "promote": "Move an alias or stage to a version",
    "rollback": "Back to the previous version",
    "history": "This model's audit journal",
    "retrain": "Start the retraining pipeline",
    "cancel": "Cancel the pipeline",
    "retry": "Retry a failed pipeline",
    "pause": "Pause or resume polling",
    "help": "Show every key",
    "silence": "Silence alerts like this one",
    "open_model": "The model this alert concerns",
    "silences": "Every silence; expire one",
    "group_alerts": "By severity or by name",
    "toggle_muted": "Show or hide muted",
    "expire": "End the selected silence now",
}


def bindings(*ids: str, action: str | None = None, keys: str | None = None) -> BindingList:
    """The bindings of `ids` as Textual declares them; `action`/`keys` override the catalogue's
    (a dialog's `back` dismisses it rather than popping a screen; a dialog does not take backspace,
    which its inputs need)."""
    made: BindingList = []
    for binding_id in ids:
        spec = KEYS[binding_id]
        made.append(
            Binding(
                keys or spec.keys,
                action or spec.action,
                spec.description,
                show=spec.show,
                id=binding_id,
                tooltip=_TOOLTIPS.get(binding_id, spec.does[:1].upper() + spec.does[1:]),
            )
        )
    return made


MODEL_ACTIONS = bindings("promote", "rollback", "history", "retrain")
PIPELINE_ACTIONS = bindings("cancel", "retry", "retry_all", "pause_dag", "unpause_dag")
TRACE_ACTIONS = bindings("prev_try", "next_try")
ALERT_ACTIONS = bindings("silence", "open_model", "silences")
SILENCE_ACTIONS = bindings("expire")
APPROVAL_ACTIONS = bindings("approve", "reject")
ENDPOINT_ACTIONS = bindings("shift_traffic", "rollback_traffic", "undeploy")
TRIAGE_ACTIONS = bindings(
    "triage_rollback",
    "triage_silence",
    "triage_retrain",
    "failing_log",
    "triage_pipeline",
    "triage_model",
    "alert_details",
)

_MODIFIERS = {"ctrl", "shift", "alt", "meta", "super", "hyper"}
_NAMED_KEYS = {k.value for k in Keys if "+" not in k.value and not k.value.startswith("<")}


def _valid_key(key: str) -> bool:
    *modifiers, base = key.split("+")
    if not base or any(m not in _MODIFIERS for m in modifiers):
        return False
    if len(base) == 1:
        return base.isprintable() and not base.isspace()
    return base in _NAMED_KEYS or key_to_character(REPLACED_KEYS.get(base, base)) is not None


def check_keymap(keymap: dict[str, str], path: Path | None) -> dict[str, str]:
    """The `[keymap]` table, checked: every id one of KEYS, every key one Textual knows.

    Raises:
        ConfigError: naming the file and `keymap.<id>`, for every bad entry (`problems`).
    """
    where = str(path) if path else None
    problems: list[ConfigError] = []
    for binding_id, keys in keymap.items():
        if binding_id not in KEYS:
            problems.append(
                ConfigError(
                    f"unknown key binding id; expected one of: {', '.join(KEYS)}",
                    path=where,
                    key=f"keymap.{binding_id}",
                )
            )
            continue
        names = [k.strip() for k in keys.split(",")]
        bad = [k for k in names if not _valid_key(k)]
        if bad or not names:
            problems.append(
                ConfigError(
                    f"{bad[0] if bad else keys!r} is not a key; write keys as Textual names them, "
                    "comma-separated: `r`, `R`, `f5`, `ctrl+r`, `space`, `escape`, `question_mark`",
                    path=where,
                    key=f"keymap.{binding_id}",
                )
            )
    if problems:
        raise ConfigError.several(problems)
    return keymap


def check_theme(theme: str | None, path: Path | None) -> str | None:
    """The `theme` setting, checked: one of Textual's themes, or none for the default.

    Raises:
        ConfigError: naming the file, `theme` and the themes there are.
    """
    from textual.theme import BUILTIN_THEMES

    if theme is not None and theme not in BUILTIN_THEMES:
        raise ConfigError(
            f"unknown theme {theme!r}; one of: {', '.join(sorted(BUILTIN_THEMES))}",
            path=str(path) if path else None,
            key="theme",
        )
    return theme


def check_ui(keymap: dict[str, str], theme: str | None, path: Path | None) -> None:
    """`check_keymap` and `check_theme` together, as `load_settings(check_ui=...)` calls them.

    Raises:
        ConfigError: every problem of both (`problems`).
    """
    problems: list[ConfigError] = []
    for check in (lambda: check_keymap(keymap, path), lambda: check_theme(theme, path)):
        try:
            check()
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError.several(problems)


def keys_table() -> str:
    """The README's table of keys, generated from KEYS."""
    from textual.keys import format_key

    def shown(key: str) -> str:
        character = format_key(key)
        return character if len(character) == 1 and character.isascii() else key

    lines = ["| id | key | where | does |", "|---|---|---|---|"]
    for binding_id, spec in KEYS.items():
        keys = ", ".join(f"`{shown(k)}`" for k in spec.keys.split(","))
        lines.append(f"| `{binding_id}` | {keys} | {spec.where} | {spec.does} |")
    return "\n".join(lines)
