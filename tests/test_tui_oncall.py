"""On call at 80x24 and smaller: dialogs that fit, meaning without colour, the header on every
screen, keys typed ahead, and the incident's context kept, on local rules over the demo store in a
protected environment (churn's champion fires a critical alert, fraud's a warning)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import msgspec
import pytest
from rich.style import Style
from textual import events
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Button, DataTable, Input, Label, RichLog, Static

from mlops_tui.config import (
    LOCAL_RULES,
    AlertmanagerSettings,
    EnvironmentSettings,
    MlflowSettings,
    Settings,
)
from mlops_tui.domain import utcnow
from mlops_tui.tui import MlopsApp, make_app
from mlops_tui.tui.header import EnvBar
from mlops_tui.tui.panes import AlertsPane
from mlops_tui.tui.screens.alerts import TriageScreen
from mlops_tui.tui.screens.details import PipelineScreen, RunScreen, TraceScreen
from mlops_tui.tui.screens.dialogs import ConfirmDialog, PromoteDialog, SilenceDialog
from mlops_tui.tui.screens.keys import KeysScreen
from tests.fakes.gitlab_server import FakeGitlab
from tests.helpers.alertmanager import AlertmanagerTestbed
from tests.helpers.tcp_proxy import TcpProxy
from tests.helpers.tui import click, demo_app, measured, pane, row_cells, shown, until
from tests.test_triage import gitlab, gitlab_token  # noqa: F401 (fixtures)
from tests.test_triage import settings_for as triage_settings


def oncall_settings(store: MlflowSettings, journal: Path, **env: bool) -> Settings:
    """PRD, protected, with the local rules firing on the demo store."""
    environment = EnvironmentSettings(mlflow=store, rules=list(LOCAL_RULES), protected=True, **env)
    return Settings({"prd": environment}, "prd", journal=journal, operator="priya")


def firing(app: MlopsApp) -> bool:
    return app.query_one("#alerts", AlertsPane).table.row_count == 2


def frame(app: MlopsApp) -> list[str]:
    """The text of every line of the screen as the terminal gets it."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def in_view(app: MlopsApp, widget: Widget) -> bool:
    """Every corner of the widget is on the screen and shows the widget (nothing covers or cuts it)."""
    region = widget.region
    if region.area == 0 or not app.screen.region.contains_region(region):
        return False
    corners = [
        (region.x, region.y),
        (region.right - 1, region.y),
        (region.x, region.bottom - 1),
        (region.right - 1, region.bottom - 1),
    ]
    return all(app.screen.get_widget_at(x, y)[0] is widget for x, y in corners)


def shown_text(app: MlopsApp, widget: Widget) -> str:
    """The words the screen shows inside the widget's region (its wrapped lines joined)."""
    region = widget.region
    lines = frame(app)[region.y : region.bottom]
    return " ".join(" ".join(line[region.x : region.right] for line in lines).split())


def assert_fits(app: MlopsApp) -> None:
    """The dialog's buttons are in view with their whole labels, and no label in view is cut."""
    text = "\n".join(frame(app))
    for button in app.screen.query(Button):
        assert in_view(app, button), f"button {button.id} is not in view:\n{text}"
        assert str(button.label) in shown_text(app, button), f"button {button.label} is cut:\n{text}"
    for label in app.screen.query(".dialog Label, .dialog-hint").results(Static):
        if not in_view(app, label):
            continue  # scrolled away: the dialog scrolls
        words = " ".join(str(label.render()).split())
        assert shown_text(app, label) == words, f"label {words!r} is cut:\n{text}"


@pytest.mark.parametrize("size", [(80, 24), (60, 20)], ids=["80x24", "60x20"])
async def test_dialogs_keep_their_buttons_and_labels_in_view(
    demo_store: MlflowSettings, tmp_path: Path, size: tuple[int, int]
) -> None:
    app = demo_app(oncall_settings(demo_store, tmp_path / "j.db"))
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: firing(app) and pane(app, "models").table.row_count > 0)
        pane(app, "models").table.focus()
        await pilot.press("p")
        await shown(pilot, PromoteDialog)
        await until(pilot, lambda: in_view(app, app.screen.query_one("#plan")))
        assert_fits(app)
        assert any(isinstance(w, Label) and "Environment" in str(w.render()) for w in app.screen.query(Label))
        await click(pilot, "#plan")
        dialog = await shown(pilot, ConfirmDialog)
        await until(pilot, lambda: in_view(app, dialog.query_one("#cancel")))
        assert_fits(app)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmDialog))

        app.query_one("#alerts", AlertsPane).table.focus()
        await pilot.press("s")
        await shown(pilot, SilenceDialog)
        await until(pilot, lambda: in_view(app, app.screen.query_one("#plan")))
        assert_fits(app)
        await _scrolls_to_each_field(pilot, app)


async def _scrolls_to_each_field(pilot: Pilot[None], app: MlopsApp) -> None:
    """Tab through the dialog: whatever gets focus is in view, and the buttons stay in view."""
    for _ in range(5):
        await pilot.press("tab")
        await until(pilot, lambda: app.focused is not None and in_view(app, app.focused))
        assert in_view(app, app.screen.query_one("#cancel"))


def styled(app: MlopsApp, text: str) -> list[Style]:
    """The styles of the screen's segments that hold `text`."""
    return [
        segment.style or Style()
        for strip in app.screen._compositor.render_strips()
        for segment in strip
        if text in segment.text
    ]


async def test_without_colour_focus_placeholders_and_disabled_keys_still_show(
    demo_store: MlflowSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = demo_app(oncall_settings(demo_store, tmp_path / "j.db"))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: firing(app) and pane(app, "runs").table.row_count > 0)
        assert app.no_color
        await pilot.press("a", "enter")  # triage of the critical alert: no GitLab, so no failing log
        screen = await shown(pilot, TriageScreen)
        await until(pilot, lambda: screen.triage is not None and bool(styled(app, "Failing log")))
        # A key not possible here is struck through, not only dimmer.
        assert all(style.strike for style in styled(app, "Failing log"))
        assert not any(style.strike for style in styled(app, "Roll back"))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, TriageScreen))

        pane(app, "models").table.focus()
        await pilot.press("b")  # roll back churn in PRD: the typed confirmation
        dialog = await shown(pilot, ConfirmDialog)
        await until(pilot, lambda: bool(styled(app, "type churn")))
        # The placeholder is not the answer, and does not look typed.
        assert dialog.query_one("#confirm-typed", Input).value == ""
        assert all(style.italic for style in styled(app, "type churn"))
        focusable = [dialog.query_one(selector) for selector in ("#confirm-typed", "#confirm", "#cancel")]
        frames = [frame(app)]
        for _ in range(3):
            before = app.focused
            await pilot.press("tab")
            await until(pilot, lambda before=before: app.focused is not before)  # type: ignore[misc]
            # The focused one, and only it, is drawn with heavy lines: characters, not colours.
            await until(pilot, lambda: [w for w in focusable if "━" in shown_text(app, w)] == [app.focused])
            frames.append(frame(app))
        assert all(a != b for a, b in zip(frames, frames[1:], strict=False))


async def test_an_outage_marks_kept_alerts_stale_their_ages_count_and_triage_has_the_header(
    demo_store: MlflowSettings, alertmanager: AlertmanagerTestbed, tmp_path: Path
) -> None:
    alertmanager.post("ChampionDegraded", {"summary": "churn loses AUC"}, severity="critical", model="churn")
    target = urlparse(alertmanager.url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 80)
    await proxy.start()
    later = [timedelta(0)]
    source = AlertmanagerSettings(
        url=proxy.url, filters=[str(alertmanager.matcher)], refresh_seconds=0.2, timeout_seconds=2
    )
    environment = EnvironmentSettings(mlflow=demo_store, alertmanager=source, protected=True)
    settings = Settings({"prd": environment}, "prd", journal=tmp_path / "j.db")
    app = make_app(settings, clock=lambda: utcnow() + later[0])
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            pane = app.query_one("#alerts", AlertsPane)
            await until(pilot, lambda: pane.table.row_count == 1)
            assert row_cells(pane.table, 0)["State"] == "active"
            started = row_cells(pane.table, 0)["Started"]
            await proxy.stop()
            later[0] = timedelta(minutes=11)
            await until(pilot, lambda: pane.stale and row_cells(pane.table, 0)["State"] == "active (stale)")
            assert "stale" in str(pane.border_title)
            # The kept alert's age kept counting: eleven minutes more than when it was read.
            await until(pilot, lambda: row_cells(pane.table, 0)["Started"] == "11m ago")
            assert started != "11m ago"
            status = pane.query_one(".pane-status", Static)
            line = " ".join(str(status.render()).split())
            assert "showing data from 11m ago" in line
            await until(pilot, lambda: shown_text(app, status) == line)  # wrapped, not cut, at 80

            await pilot.press("a", "enter")
            triage = await shown(pilot, TriageScreen)
            bar = triage.query_one(EnvBar)
            await until(pilot, lambda: "alertmanager ● down" in str(bar.render()))
            assert "PRD · PROTECTED" in str(bar.render())
            title = triage.query_one(".detail-title", Static)
            await until(pilot, lambda: "active (stale)" in str(title.render()))
            await until(pilot, lambda: "PRD · PROTECTED" in "\n".join(frame(app)))
    finally:
        await proxy.stop()


def burst(app: MlopsApp, *keys: str) -> None:
    """Keys sent all at once, as a fast typist or a paste over SSH sends them: none waits for the
    one before it to be handled."""
    for key in keys:
        app.post_message(events.Key(key, key if len(key) == 1 else None))


async def test_keys_typed_ahead_stack_no_screen_twice_and_wait_for_triage_to_load(
    demo_store: MlflowSettings,
    gitlab: FakeGitlab,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    app = demo_app(triage_settings(demo_store, gitlab, tmp_path / "j.db", protected=True))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: firing(app))
        burst(app, *["a", "enter", "escape"] * 4, "a", "enter")
        # Whatever a loaded machine makes of the burst's timing, it never stacks a screen twice:
        # it ends on the dashboard or on one triage over it.
        await until(pilot, lambda: app._message_queue.empty() and all(not s.is_running for s in app.workers))
        await pilot.pause(0.5)  # anything still queued from the burst has arrived by now
        stack = [type(s).__name__ for s in app.screen_stack]
        assert stack in (["Screen"], ["Screen", "TriageScreen"]), stack

        if len(app.screen_stack) > 1:
            await pilot.press("escape")
        await until(pilot, lambda: len(app.screen_stack) == 1)
        burst(app, "a", "enter", "l")  # `l` arrives while triage is still loading
        log = await shown(pilot, TraceScreen)
        assert [type(s).__name__ for s in app.screen_stack] == ["Screen", "TriageScreen", "TraceScreen"]
        await until(
            pilot, lambda: any("below the 0.88 gate" in line.text for line in log.query_one(RichLog).lines)
        )


async def test_question_mark_shows_this_screens_keys_first_grouped_and_scrolls_by_keyboard(
    demo_store: MlflowSettings,
    gitlab: FakeGitlab,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    app = demo_app(triage_settings(demo_store, gitlab, tmp_path / "j.db", protected=True))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: firing(app))
        await pilot.press("a", "enter")
        triage = await shown(pilot, TriageScreen)
        await until(pilot, lambda: triage.loaded)
        await pilot.press("question_mark")
        keys = await shown(pilot, KeysScreen)
        text = str(keys.query_one("#keys Static", Static).render())
        headings = [text.index(h) for h in ("This screen", "Everywhere", "Moving")]
        assert headings == sorted(headings)
        for does in ("Roll back", "Failing log", "Pipeline", "Silence"):  # triage's own keys
            assert headings[0] < text.index(does) < headings[1], does
        assert headings[1] < text.index("Quit") < headings[2]
        box = keys.query_one("#keys")
        assert box.max_scroll_y > 0  # taller than 24 lines: it scrolls, with the keyboard
        await pilot.press("end")
        await until(pilot, lambda: box.scroll_y == box.max_scroll_y)
        await pilot.press("home")
        await until(pilot, lambda: box.scroll_y == 0)
        await pilot.press("question_mark")
        await until(pilot, lambda: app.screen is triage)


async def test_after_a_rollback_triage_keeps_the_incident_and_titles_say_job_pipeline_commit(
    demo_store: MlflowSettings,
    gitlab: FakeGitlab,  # noqa: F811 (the fixture)
    alertmanager: AlertmanagerTestbed,
    tmp_path: Path,
) -> None:
    # Alertmanager's alert names the model, not the version: triage follows the slot.
    alertmanager.post("ChampionDegraded", {"summary": "churn loses AUC"}, severity="critical", model="churn")
    settings = triage_settings(demo_store, gitlab, tmp_path / "j.db")
    source = AlertmanagerSettings(url=alertmanager.url, filters=[str(alertmanager.matcher)])
    environment = msgspec.structs.replace(settings.environments["prd"], rules=[], alertmanager=source)
    app = demo_app(Settings({"prd": environment}, "prd", journal=tmp_path / "j.db"))
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: app.query_one("#alerts", AlertsPane).table.row_count == 1)
        await pilot.press("a", "enter")
        triage = await shown(pilot, TriageScreen)
        await until(pilot, lambda: triage.loaded and triage.triage is not None)
        assert triage.triage is not None and triage.triage.failing and triage.triage.lineage
        pipeline, job = triage.triage.failing

        await pilot.press("l")
        log = await shown(pilot, TraceScreen)
        title = log.query_one(".detail-title", Static)
        await until(pilot, lambda: "failed" in str(title.render()))
        assert f"Log of job {job.name}" in str(title.render())
        assert f"pipeline {pipeline.id}" in str(title.render())
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is triage)

        await pilot.press("b")
        await shown(pilot, ConfirmDialog)
        await click(pilot, "#confirm")
        await until(pilot, lambda: app.screen is triage)
        # After the rollback, triage shows v2 serving, and still the incident: v3, its pipeline, its job.
        await until(pilot, lambda: triage.triage is not None and triage.triage.serving is not None
                    and triage.triage.serving.version.version == "2")  # fmt: skip
        context = triage.query_one("#triage-alert", Static)
        await until(pilot, lambda: "fired on v3" in str(context.render()))
        assert f"job {job.name}" in str(context.render())
        await pilot.press("l")
        await shown(pilot, TraceScreen)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is triage)
        await pilot.press("g")
        screen = await shown(pilot, PipelineScreen)
        heading = screen.query_one(".detail-title", Static)
        await until(pilot, lambda: f"commit {pipeline.sha[:8]}" in str(heading.render()))  # type: ignore[index]


async def test_empty_triage_boxes_say_so_and_the_footer_says_enter_opens_triage(
    demo_store: MlflowSettings, tmp_path: Path
) -> None:
    app = demo_app(oncall_settings(demo_store, tmp_path / "j.db"))
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: firing(app))
        await pilot.press("a")
        await until(pilot, lambda: "⏎ Triage" in frame(app)[-1] or "enter Triage" in frame(app)[-1])
        await pilot.press("enter")
        triage = await shown(pilot, TriageScreen)
        await until(pilot, lambda: triage.loaded)
        pipelines = triage.query_one("#triage-pipelines", DataTable)
        journal = triage.query_one("#triage-journal", DataTable)
        assert str(pipelines.get_row_at(0)[0]) == "not configured"  # no runner in this environment
        assert str(journal.get_row_at(0)[0]) == "none yet"


async def test_a_long_run_name_is_cut_and_the_key_metrics_stay_in_view(demo_store: MlflowSettings) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=demo_store.tracking_uri)
    experiment = client.get_experiment_by_name("churn-training")
    assert experiment is not None
    long_name = "churn-retrain-local-2026-11-26T12-00-00-from-main-by-priya"
    run = client.create_run(experiment.experiment_id, run_name=long_name)
    client.log_metric(run.info.run_id, "val_auc", 0.91)
    client.set_terminated(run.info.run_id)
    settings = Settings({"local": EnvironmentSettings(mlflow=demo_store)}, "local")
    app = demo_app(settings)
    async with app.run_test(size=(120, 36)) as pilot:
        runs = pane(app, "runs")
        await until(pilot, lambda: runs.item(run.info.run_id) is not None)
        await measured(pilot)
        shown_name = str(runs.table.get_row(run.info.run_id)[0])
        assert shown_name.endswith("…") and long_name.startswith(shown_name[:-1])
        assert len(shown_name) <= 28
        # Every metric column starts inside the pane: none pushed off the screen.
        x = 0
        for column in runs.table.columns.values():
            if str(column.label) in runs._metric_keys:
                assert x < runs.table.size.width, column.label
            x += column.get_render_width(runs.table)
        # Models keeps its columns in view at 120x36: demand's stages whole (Archived left to its screen).
        models = pane(app, "models")
        await until(pilot, lambda: "Staging v3" in shown_text(app, models))


async def test_the_run_screen_starts_on_the_metrics_charting_the_key_metric(
    demo_store: MlflowSettings,
) -> None:
    store = msgspec.structs.replace(demo_store, key_metrics=["val_auc"])
    app = demo_app(Settings({"local": EnvironmentSettings(mlflow=store)}, "local"))
    async with app.run_test(size=(120, 36)) as pilot:
        runs = pane(app, "runs")
        await until(pilot, lambda: runs.table.row_count > 0)
        churn = next(i for i, (_, run) in enumerate(runs.shown()) if "val_auc" in run.metrics)
        runs.table.focus()
        runs.table.move_cursor(row=churn)
        await pilot.press("enter")
        screen = await shown(pilot, RunScreen)
        await until(pilot, lambda: screen.detail is not None)
        assert app.focused is screen.query_one("#metrics")
        label = screen.query_one("#chart-label", Static)
        await until(pilot, lambda: str(label.render()).startswith("val_auc over"))
