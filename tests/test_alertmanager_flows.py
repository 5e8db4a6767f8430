"""Alerts from a real Alertmanager through the whole tool: the Alerts pane, silences made from the
TUI and headless, `status`, and the jump from an alert to the model it concerns.

Each test posts its alerts with a `test` label of its own and configures the environment's
`filters` on it, so tests sharing the session's Alertmanager never see each other's alerts.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec

from mlops_tui.config import EnvironmentSettings, MlflowSettings, Settings
from mlops_tui.errors import ExitCode
from mlops_tui.ops.journal import Journal
from mlops_tui.tui import make_app
from mlops_tui.tui.panes import AlertsPane
from mlops_tui.tui.screens.details import ModelScreen
from mlops_tui.tui.screens.dialogs import ConfirmDialog, SilenceDialog
from tests.helpers import closed_port, eventually, run_cli, write_config
from tests.helpers.alertmanager import AlertmanagerTestbed
from tests.helpers.tui import SIZE, click, idle, row_cells, shown, until

DRIFT = {"summary": "churn drifted", "runbook_url": "https://runbooks.example.com/drift"}


def config(tmp_path: Path, mlflow: str, alertmanager: AlertmanagerTestbed, **env: Any) -> Path:
    table = {
        "mlflow": {"tracking_uri": mlflow},
        "alertmanager": {
            k: v for k, v in msgspec.to_builtins(alertmanager.settings()).items() if v is not None
        },
        **env,
    }
    return write_config(tmp_path / "mlops-tui.toml", {"prd": table}, operator="priya")


async def test_alerts_silence_and_status_headless(
    tmp_path: Path, writable_server: str, alertmanager: AlertmanagerTestbed
) -> None:
    alertmanager.post("ModelDrift", DRIFT, severity="critical", model="churn")
    alertmanager.post("SlowPredictions", severity="warning", model="fraud")
    path = config(tmp_path, writable_server, alertmanager)

    def names(*extra: str) -> list[str]:
        return [
            a["name"] for a in run_cli("alerts", "list", "--json", *extra, "--config", path).json()["alerts"]
        ]

    both = ["ModelDrift", "SlowPredictions"]
    await eventually(lambda: asyncio.to_thread(names), lambda found: found == both, "both alerts listed")
    listed = run_cli("alerts", "list", "--json", "--filter", 'model=~"ch.*"', "--config", path).json()
    [drift] = listed["alerts"]
    assert (drift["source"], drift["model"], drift["summary"], drift["runbook_url"]) == (
        "alertmanager",
        "churn",
        "churn drifted",
        "https://runbooks.example.com/drift",
    )
    status = run_cli("status", "--json", "--config", path)
    assert status.code == ExitCode.FAILED, status
    assert status.json()["environments"][0]["alerts"]["firing"] == {"critical": 1, "warning": 1}

    made = run_cli(
        "alerts", "silence", 'alertname="ModelDrift"', *("--duration", "1h", "--comment", "known"), "--yes",
        "--json", "--config", path,
    )  # fmt: skip
    assert made.code == ExitCode.OK, made
    silence_id = made.json()["after"].removeprefix("silence ")
    await eventually(lambda: asyncio.to_thread(names), lambda found: found == both[1:], "the silence applied")
    healthy = await asyncio.to_thread(run_cli, "status", "--config", path)
    assert healthy.code == ExitCode.OK, healthy
    [silence] = [
        s
        for s in run_cli("alerts", "silences", "--json", "--config", path).json()["silences"]
        if s["id"] == silence_id
    ]
    assert (silence["source"], silence["created_by"], silence["comment"]) == (
        "alertmanager",
        "priya",
        "known",
    )

    assert run_cli("alerts", "expire", silence_id, "--yes", "--config", path).code == ExitCode.OK
    await eventually(lambda: asyncio.to_thread(names), lambda found: found == both, "the silence lifted")
    journal = Journal(tmp_path / "xdg_state_home" / "mlops-tui" / "journal.sqlite3")
    assert [(e.action, e.result) for e in journal.entries()] == [("expire", "ok"), ("silence", "ok")]
    journal.close()


def test_alertmanager_refusals_are_worded_as_it_words_them(
    tmp_path: Path, writable_server: str, alertmanager: AlertmanagerTestbed
) -> None:
    path = config(tmp_path, writable_server, alertmanager)
    # Every matcher matches the empty string: Alertmanager refuses such a silence.
    result = run_cli(
        "alerts", "silence", 'model=~".*"', "--duration", "1h", "--comment", "x", "--yes", "--config", path
    )
    assert result.code == ExitCode.USAGE, result
    assert "at least one matcher must not match the empty string" in result.stderr


def test_status_when_the_alertmanager_is_unreachable(tmp_path: Path, writable_server: str) -> None:
    table = {
        "mlflow": {"tracking_uri": writable_server},
        "alertmanager": {"url": f"http://127.0.0.1:{closed_port()}", "timeout_seconds": 2},
    }
    path = write_config(tmp_path / "mlops-tui.toml", {"prd": table})
    result = run_cli("status", "--json", "--config", path)
    assert result.code == ExitCode.UNREACHABLE, result
    report = result.json()["environments"][0]
    assert report["sources"]["alertmanager"]["state"] == "down"
    assert report["sources"]["mlflow"]["state"] == "ok"
    assert report["serving"]["versions"]["churn"] == "v3"  # the registry still answered
    listing = run_cli("alerts", "list", "--config", path)
    assert listing.code == ExitCode.UNREACHABLE and listing.stderr.startswith("mlops-tui: alertmanager:")


async def test_alertmanager_alerts_in_the_tui_silenced_from_it(
    demo_store: MlflowSettings, tmp_path: Path, alertmanager: AlertmanagerTestbed
) -> None:
    alertmanager.post("ModelDrift", DRIFT, severity="critical", model="churn")
    env = EnvironmentSettings(mlflow=demo_store, alertmanager=alertmanager.settings(refresh_seconds=0.5))
    # The real clock: Alertmanager times the silence by its own.
    app = make_app(Settings({"prd": env}, "prd", journal=tmp_path / "j.db", operator="priya"))
    async with app.run_test(size=SIZE) as pilot:
        alerts = app.query_one("#alerts", AlertsPane)
        await until(pilot, lambda: alerts.table.row_count == 1)
        assert row_cells(alerts.table, 0) | {"Started": ""} == {
            "Severity": "critical",
            "Started": "",
            "Alert": "ModelDrift",
            "Model": "churn",
            "State": "active",
            "Summary": "churn drifted",
            "Source": "alertmanager",
        }
        alerts.table.focus()
        await pilot.press("s")
        await shown(pilot, SilenceDialog)
        app.screen.query_one("#silence-comment").value = "known drift"  # type: ignore[attr-defined]
        await click(pilot, "#plan")
        await shown(pilot, ConfirmDialog)
        await click(pilot, "#confirm")
        await until(pilot, lambda: idle(app) and not isinstance(app.screen, ConfirmDialog))
        await until(pilot, lambda: row_cells(alerts.table, 0)["State"] == "silenced", timeout=20)
        silences = (await app.hub.silences()).items
        assert [(s.source, s.comment, s.created_by) for s in silences if s.state == "active"] == [
            ("alertmanager", "known drift", "priya")
        ]
        await pilot.press("m")
        await until(pilot, lambda: isinstance(app.screen, ModelScreen) and bool(app.screen.versions))
    assert [(e.action, e.result) for e in Journal(tmp_path / "j.db").entries()] == [("silence", "ok")]
