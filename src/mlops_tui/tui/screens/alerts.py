"""Screens of the monitoring side: triage of an alert, one alert in full, and the silences."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Static

from mlops_tui.domain import Alert, Series, Silence, SourceState
from mlops_tui.errors import MlopsError, NotFound
from mlops_tui.hub import Hub
from mlops_tui.ops.journal import Journal
from mlops_tui.sources.registry import Role
from mlops_tui.text import humanize
from mlops_tui.tui.bindings import ALERT_ACTIONS, SILENCE_ACTIONS, TRIAGE_ACTIONS, WRITE_ACTIONS
from mlops_tui.tui.footer import KeyBar
from mlops_tui.tui.requests import AlertRequests, ModelRequests, SilenceRequests, write_possible
from mlops_tui.tui.screens.base import DetailScreen, detail_table
from mlops_tui.tui.screens.details import PipelineScreen, TraceScreen
from mlops_tui.tui.serving import ServingChart, before_after_text
from mlops_tui.tui.styles import alert_state_text, pipeline_status_text, severity_text
from mlops_tui.tui.terminal_safe import url_text
from mlops_tui.views.metrics import ModelMetrics, metrics_around
from mlops_tui.views.triage import Triage, gather_triage

__all__ = ["AlertScreen", "SilencesScreen", "TriageScreen"]


def alert_title(alert: Alert, model: str | None, hub: Hub) -> Text:
    """`critical  ModelDrift  active  model churn  since 5m ago`: the title line of an alert;
    `active (stale)` while its source does not answer."""
    status = hub.statuses.get(alert.source)
    stale = status is not None and status.state in (SourceState.DOWN, SourceState.DEGRADED)
    now = hub.clock()
    return Text.assemble(
        severity_text(alert.severity),
        "  ",
        (alert.name, "bold"),
        "  ",
        alert_state_text(alert.state, stale=stale),
        "  ",
        (f"model {model}", "cyan") if model else "",
        "  ",
        (f"since {humanize.age(alert.starts_at, now)}", "dim"),
    )


class AlertScreen(DetailScreen, AlertRequests):
    """An alert: its labels, summary, description and runbook, and what mutes it."""

    BINDINGS = ALERT_ACTIONS

    @property
    def subject(self) -> object:
        return self.alert.fingerprint

    def web_item(self) -> object | None:
        return self.alert

    def __init__(self, hub: Hub, alert: Alert) -> None:
        super().__init__(hub)
        self.alert = alert

    def body(self) -> ComposeResult:
        yield Static("", classes="detail-title")
        with VerticalScroll(id="alert-detail"):
            yield Static("", id="alert-text")
        yield detail_table("Label", "Value", id="alert-labels")
        yield KeyBar()

    async def show(self) -> None:
        self._draw()
        current = {a.fingerprint: a for a in (await self.hub.alerts()).items}
        if self.alert.fingerprint not in current:
            raise NotFound(self.alert.source, f"{self.alert.name} is no longer firing")
        self.alert = current[self.alert.fingerprint]
        self._draw()

    def _draw(self) -> None:
        alert = self.alert
        model = self.hub.alert_model(alert)
        self.query_one(".detail-title", Static).update(alert_title(alert, model, self.hub))
        lines = [
            Text(alert.summary, style="bold") if alert.summary else None,
            Text(alert.description) if alert.description else None,
            Text.assemble(("runbook  ", "dim"), url_text(alert.runbook_url)) if alert.runbook_url else None,
            Text.assemble(
                ("source   ", "dim"),
                alert.source,
                *(("  ", url_text(alert.generator_url)) if alert.generator_url else ()),
            ),
            Text.assemble(("silenced ", "dim"), ", ".join(alert.silenced_by)) if alert.silenced_by else None,
            Text.assemble(("inhibited", "dim"), " by ", ", ".join(alert.inhibited_by))
            if alert.inhibited_by
            else None,
            Text("m: the model's versions  s: silence  S: silences", style="dim") if model else None,
        ]
        self.query_one("#alert-text", Static).update(Text("\n").join(line for line in lines if line))
        table = self.query_one("#alert-labels", DataTable)
        table.clear()
        for key, value in sorted(alert.labels.items()):
            table.add_row(key, value, key=key)
        for key, value in sorted(alert.annotations.items()):
            if key not in ("summary", "description", "runbook_url"):
                table.add_row(Text(key, style="dim"), value, key=f"annotation:{key}")

    def action_silence(self) -> None:
        self.post_message(self.SilenceRequested(self.hub, self.alert))

    def action_open_model(self) -> None:
        self.post_message(self.ModelRequested(self.hub, self.alert))

    def action_silences(self) -> None:
        self.app.push_screen(SilencesScreen(self.hub))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in WRITE_ACTIONS:
            return True if self.hub.can_silence(self.alert) else None
        if action == "open_model":
            return None if self.hub.alert_model(self.alert) is None else True
        return True


class SilencesScreen(DetailScreen, SilenceRequests):
    """Every silence of the environment, active and pending first; `x` expires the selected one."""

    BINDINGS = SILENCE_ACTIONS

    @property
    def subject(self) -> object:
        return self.hub.env_name

    def __init__(self, hub: Hub) -> None:
        super().__init__(hub)
        self.silences: list[Silence] = []

    def body(self) -> ComposeResult:
        yield Static(f"Silences in {self.hub.env_name}: loading…", classes="detail-title")
        yield detail_table("State", "Matchers", "Ends", "By", "Comment", "Source", "Id", id="silences")
        yield KeyBar()

    async def show(self) -> None:
        self.silences = (await self.hub.silences()).items
        active = sum(s.state != "expired" for s in self.silences)
        self.query_one(".detail-title", Static).update(
            Text.assemble((f"Silences in {self.hub.env_name}", "bold"), f"  {active} active or pending")
        )
        table = self.query_one("#silences", DataTable)
        table.clear()
        for s in self.silences:
            table.add_row(
                Text(s.state, style="dim" if s.state == "expired" else "bold"),
                ", ".join(str(m) for m in s.matchers),
                humanize.timestamp(s.ends_at),
                s.created_by,
                s.comment,
                s.source,
                s.id,
                key=s.id,
            )
        self.refresh_bindings()

    def selected(self) -> Silence | None:
        row = self.query_one("#silences", DataTable).cursor_row
        return self.silences[row] if 0 <= row < len(self.silences) else None

    def action_expire(self) -> None:
        if silence := self.selected():
            self.post_message(self.ExpireRequested(self.hub, silence.id))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in WRITE_ACTIONS:
            silence = self.selected()
            return write_possible(self.hub, chosen=silence is not None and silence.state != "expired")
        return True


class TriageScreen(DetailScreen, ModelRequests, AlertRequests):
    """One alert, and all on-call needs beside it: the serving version and the one before with their
    metrics side by side, the model's recent pipelines, the journal, and the actions that fit."""

    BINDINGS = TRIAGE_ACTIONS

    @property
    def subject(self) -> object:
        return self.alert.fingerprint

    def web_item(self) -> object | None:
        return self.alert

    def __init__(self, hub: Hub, journal: Journal, alert: Alert) -> None:
        super().__init__(hub)
        self.journal = journal
        self.alert = alert
        self.triage: Triage | None = None
        self.serving: ModelMetrics | None = None
        """The alerted model's serving series around the alert and the last change."""
        self.fired: Triage | None = None
        """The triage as first gathered: the incident's context (the version serving when the alert
        fired, its pipeline, its failing job), kept beside the new state after a rollback."""

    def body(self) -> ComposeResult:
        yield Static("", classes="detail-title")
        yield Static("", id="triage-alert")
        if self.hub.backends_for(Role.METRICS):
            with Vertical(id="triage-serving"):
                yield Static(Text("serving metrics: loading…", style="dim"), id="triage-before-after")
                yield ServingChart(id="triage-chart")
        with Horizontal(id="triage-middle"):
            yield detail_table("Metric", "serving", "previous", id="triage-versions")
            yield detail_table("Pipeline", "Status", "Ref", "Created", id="triage-pipelines")
        yield detail_table("When", "Who", "Action", "Target", "Change", "Result", id="triage-journal")
        yield KeyBar()

    def on_mount(self) -> None:
        titles = {
            "#triage-versions": "Serving version beside the previous one",
            "#triage-pipelines": "Recent pipelines · enter opens",
            "#triage-journal": "Audit journal of this model",
        }
        if self.hub.backends_for(Role.METRICS):
            titles["#triage-serving"] = "Serving metrics around the last change"
        for selector, title in titles.items():
            self.query_one(selector).border_title = title
        super().on_mount()

    async def show(self) -> None:
        self._draw_alert()
        self.triage = triage = await gather_triage(self.hub, self.journal, self.alert)
        if self.fired is None:
            self.fired = triage
        self._draw_alert()
        self._draw_versions(triage)
        self._draw_pipelines(triage)
        self._draw_journal(triage)
        self.refresh_bindings()
        if triage.model and self.hub.backends_for(Role.METRICS):
            # A second step: the rest of triage is shown without waiting for the metrics source.
            self._read_serving(triage.model)

    @work(exclusive=True, group="serving", exit_on_error=False)
    async def _read_serving(self, model: str) -> None:
        summary = self.query_one("#triage-before-after", Static)
        chart = self.query_one("#triage-chart", ServingChart)
        try:
            found = await metrics_around(self.hub, self.journal, model, self.alert.starts_at)
        except MlopsError as exc:
            summary.update(Text(f"serving metrics: {exc.message}", style="red"))
            return
        finally:
            show_sources = getattr(self.app, "show_sources", None)
            if show_sources is not None:
                show_sources()
        self.serving = found
        last = found.last_change
        # The changes for the worse first: a short terminal shows the first two lines.
        summaries = sorted(
            (b for b in found.before_after if b.before is not None or b.after is not None),
            key=lambda b: not b.worse,
        )
        lines = [before_after_text(b) for b in summaries]
        if last is None:
            lines = [Text("no change of the slot on record", style="dim")]
        lines += [Text(f"{name}: {failure.message}", style="red") for name, failure in found.failures.items()]
        lines += [Text(problem, style="red") for problem in found.problems]
        summary.update(Text("\n").join(lines))
        series = _charted(found)
        if series is None:
            chart.show_problem("no serving series")
        else:
            chart.show(series, found.start, found.end, [last] if last else [], now=self.hub.clock())

    def _draw_alert(self) -> None:
        alert, triage = self.alert, self.triage
        model = triage.model if triage else None
        self.query_one(".detail-title", Static).update(alert_title(alert, model, self.hub))
        lines = [Text(alert.summary or alert.name, style="bold")]
        if alert.runbook_url:
            lines.append(Text.assemble(("runbook ", "dim"), url_text(alert.runbook_url)))
        fired = self.fired
        if fired and triage and fired.serving and fired.serving != triage.serving:
            made = f", made by {fired.lineage.source} pipeline {fired.lineage.id}" if fired.lineage else ""
            lines.append(
                Text.assemble(
                    ("fired on ", "dim"),
                    (f"v{fired.serving.version.version}", "bold"),
                    made,
                    ("   g: it", "dim"),
                )
            )
        if fired and fired.failing:
            pipeline, job = fired.failing
            lines.append(
                Text.assemble(
                    ("failing ", "dim"),
                    (f"{pipeline.source} pipeline {pipeline.id} job {job.name}", "bold red"),
                    f" at {pipeline.sha[:8]}" if pipeline.sha else "",
                    ("   l: its log", "dim"),
                )
            )
        for problem in triage.problems if triage else ():
            lines.append(Text(problem, style="red"))
        self.query_one("#triage-alert", Static).update(Text("\n").join(lines))

    def _draw_versions(self, triage: Triage) -> None:
        table = self.query_one("#triage-versions", DataTable)
        table.clear(columns=True)
        serving, previous = triage.serving, triage.previous
        table.add_columns(
            "Metric",
            f"serving v{serving.version.version}" if serving else "serving",
            f"previous v{previous.version.version}" if previous else triage.no_rollback or "previous",
        )
        for key in triage.key_metrics:
            now = serving.run.metrics.get(key) if serving and serving.run else None
            before = previous.run.metrics.get(key) if previous and previous.run else None
            differs = (
                now is not None and before is not None and humanize.metric(now) != humanize.metric(before)
            )
            table.add_row(
                key,
                Text(humanize.metric(now), style="bold" if differs else ""),
                humanize.metric(before),
                key=key,
            )

    def _draw_pipelines(self, triage: Triage) -> None:
        table = self.query_one("#triage-pipelines", DataTable)
        table.clear()
        for p in triage.pipelines:
            made = " ← made it" if triage.lineage and p.id == triage.lineage.id else ""
            table.add_row(
                f"{p.source} {p.id}{made}",
                pipeline_status_text(p.status),
                p.ref,
                humanize.age(p.created, self.hub.clock()),
                key=p.id,
            )
        run = triage.serving.run if triage.serving else None
        tagged = self.hub.pipeline_of(run) if run else None
        if tagged and triage.lineage is None:
            # The serving run names its pipeline, which no runner here has (any more).
            table.add_row(f"{tagged} ← made it (run tag)", Text("not found", style="dim"), "", "")
        if not table.row_count:
            empty = "none" if self.hub.pipeline_sources else "not configured"
            table.add_row(Text(empty, style="dim italic"), "", "", "")

    def _draw_journal(self, triage: Triage) -> None:
        table = self.query_one("#triage-journal", DataTable)
        table.clear()
        for e in triage.journal:
            table.add_row(
                humanize.age(e.time, self.hub.clock()),
                e.operator,
                e.action,
                e.target,
                f"{e.before or '(unset)'} → {e.after or ''}",
                e.result,
                key=str(e.id),
            )
        if not triage.journal:
            table.add_row(Text("none yet", style="dim italic"), "", "", "", "", "")

    # -- actions ----------------------------------------------------------------------------

    def action_rollback(self) -> None:
        if self.triage and self.triage.model:
            self.post_message(self.RollbackRequested(self.hub, self.triage.model))

    def action_silence(self) -> None:
        self.post_message(self.SilenceRequested(self.hub, self.alert))

    def action_retrain(self) -> None:
        if self.triage and self.triage.model:
            self.post_message(self.RetrainRequested(self.hub, self.triage.model))

    def action_failing_log(self) -> None:
        if self.fired and self.fired.failing:
            pipeline, job = self.fired.failing
            self.app.push_screen(TraceScreen(self.hub, job.id, job=job, pipeline=pipeline))

    def action_open_pipeline(self) -> None:
        if self.fired and self.fired.lineage:
            self.app.push_screen(PipelineScreen(self.hub, self.fired.lineage.id))

    def action_open_model(self) -> None:
        self.post_message(self.ModelRequested(self.hub, self.alert))

    def action_details(self) -> None:
        self.app.push_screen(AlertScreen(self.hub, self.alert))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        triage = self.triage
        has_model = bool(triage and triage.model)
        if action == "retrain" and self.hub.env.retrain is None:
            return False
        if action == "silence":
            return True if self.hub.can_silence(self.alert) else None
        if action == "rollback" and triage and triage.no_rollback:
            return None  # the versions table says why
        if action in WRITE_ACTIONS:
            return write_possible(self.hub, chosen=has_model)
        if action == "failing_log":
            return True if self.fired and self.fired.failing else None
        if action == "open_pipeline":
            return True if self.fired and self.fired.lineage else None
        if action == "open_model":
            return True if has_model or self.hub.alert_model(self.alert) else None
        return True

    @on(DataTable.RowSelected, "#triage-pipelines")
    def _pipeline_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None and event.row_key.value in {
            p.id for p in (self.triage.pipelines if self.triage else [])
        }:
            self.app.push_screen(PipelineScreen(self.hub, event.row_key.value))


def _charted(found: ModelMetrics) -> Series | None:
    """The series triage charts: the one the last change made worst, else the first."""
    worse = sorted(
        (b for b in found.before_after if b.worse and b.ratio is not None), key=lambda b: -abs(b.ratio or 0)
    )
    by_name = {s.name: s for s in found.series}
    for summary in worse:
        if summary.series in by_name:
            return by_name[summary.series]
    return found.series[0] if found.series else None
