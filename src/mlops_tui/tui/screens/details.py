"""The detail screens of the dashboard's rows: a run, a model and its history, a pipeline and a
job's live log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.coordinate import Coordinate
from textual.timer import Timer
from textual.widgets import DataTable, RichLog, Static

from mlops_tui.domain import Job, ModelVersion, Pipeline, RegisteredModel, Run, tags_in_order
from mlops_tui.errors import MlopsError
from mlops_tui.hub import Hub, RunDetail
from mlops_tui.ops.journal import Journal
from mlops_tui.sources.registry import Role
from mlops_tui.text import humanize
from mlops_tui.text.sanitize import terminal_log
from mlops_tui.tui.bindings import (
    MODEL_ACTIONS,
    PIPELINE_ACTIONS,
    TRACE_ACTIONS,
    WRITE_ACTIONS,
    BindingList,
    bindings,
)
from mlops_tui.tui.chart import LEVEL_STYLES, MetricChart, Series, now_text, span_label, sparkline
from mlops_tui.tui.footer import KeyBar
from mlops_tui.tui.header import EnvScreen
from mlops_tui.tui.requests import ModelRequests, PipelineRequests, pipeline_action_possible, write_possible
from mlops_tui.tui.screens.base import DetailScreen, detail_table
from mlops_tui.tui.serving import ServingChart
from mlops_tui.tui.styles import pipeline_status_text, status_text
from mlops_tui.tui.terminal_safe import url_text
from mlops_tui.views.metrics import ModelMetrics, gather_metrics, headline_settings

__all__ = ["HistoryScreen", "ModelScreen", "PipelineScreen", "RunScreen", "TraceScreen"]


class RunScreen(DetailScreen):
    """A run: parameters, metrics with their history as a chart, tags, the versions made from it."""

    @property
    def subject(self) -> object:
        return self.run_id

    def web_item(self) -> object | None:
        return self.detail.run if self.detail else None

    def __init__(self, hub: Hub, run_id: str) -> None:
        super().__init__(hub)
        self.run_id = run_id
        self.detail: RunDetail | None = None

    BINDINGS: ClassVar[BindingList] = bindings("open_pipeline")
    AUTO_FOCUS = "#metrics"
    """The metrics first: the chart follows the highlighted one."""

    def body(self) -> ComposeResult:
        yield Static(Text(f"Run {self.run_id}: loading…"), classes="detail-title")
        yield Static("", id="lineage")
        with Horizontal():
            with Vertical(classes="column"):
                yield detail_table("Parameter", "Value", id="params")
                yield detail_table("Tag", "Value", id="tags")
            with Vertical(classes="column"):
                yield detail_table("Metric", "Last", "Min", "Max", "Steps", id="metrics")
                yield Static("", id="chart-label")
                yield MetricChart(id="chart")
                yield detail_table("Model", "Version", "Aliases", "Stage", id="versions")
        yield KeyBar()

    async def show(self) -> None:
        detail = await self.hub.run_detail(self.run_id)
        self.detail = detail
        run = detail.run
        title = Text.assemble(
            (run.name, "bold"),
            f"  {detail.experiment}  ",
            status_text(run.status),
            f"  started {humanize.timestamp(run.start_time)} UTC",
            f"  took {humanize.duration(run.duration)}" if run.duration else "",
            f"  by {run.user}" if run.user else "",
            (f"  {run.id}", "dim"),
        )
        self.query_one(".detail-title", Static).update(title)
        self._fill("#params", sorted(run.params.items()))
        self._fill("#tags", tags_in_order(run.tags))
        rows = []
        for key, value in sorted(run.metrics.items()):
            values = [p.value for p in detail.history.get(key, ())] or [value]
            rows.append(
                (
                    key,
                    humanize.metric(value),
                    humanize.metric(min(values)),
                    humanize.metric(max(values)),
                    str(len(values)),
                )
            )
        self._fill("#metrics", rows, keys=[r[0] for r in rows])
        self._fill(
            "#versions",
            [(v.name, v.version, ", ".join(v.aliases), v.stage) for v in detail.versions],
            keys=[f"{v.name}/{v.version}" for v in detail.versions],
        )
        if rows:
            # The experiment's key metric first (`mlflow.key_metrics`), not the first by name.
            names = [r[0] for r in rows]
            key_metrics = self.hub.env.mlflow.key_metrics if self.hub.env.mlflow else []
            chosen = next((m for m in key_metrics if m in names), names[0])
            self.query_one("#metrics", DataTable).move_cursor(row=names.index(chosen))
            self._chart(chosen)
        await self._show_lineage(run)

    async def _show_lineage(self, run: Run) -> None:
        line = Text()
        commit = run.tags.get("mlflow.source.git.commit")
        pipeline_id = self.hub.pipeline_of(run)
        if pipeline_id:
            try:
                pipeline, _ = await self.hub.pipeline(pipeline_id)
            except MlopsError as exc:
                line.append(f"pipeline {pipeline_id}: {exc.message}", style="red")
            else:
                line.append(f"{pipeline.source} pipeline {pipeline.id} ")
                line.append_text(pipeline_status_text(pipeline.status))
                line.append("  g: open", style="dim")
        if commit:
            line.append(f"   commit {commit[:12]}", style="dim")
        self.query_one("#lineage", Static).update(line)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "open_pipeline":
            return self.detail is not None and self.hub.pipeline_of(self.detail.run) is not None
        return True

    def action_open_pipeline(self) -> None:
        if self.detail is not None and (pipeline_id := self.hub.pipeline_of(self.detail.run)):
            self.app.push_screen(PipelineScreen(self.hub, pipeline_id))

    def _fill(self, selector: str, rows: Sequence[Sequence[str]], keys: Sequence[str] | None = None) -> None:
        table = self.query_one(selector, DataTable)
        table.clear()
        for index, row in enumerate(rows):
            table.add_row(*row, key=keys[index] if keys else None)

    def _chart(self, key: str) -> None:
        if self.detail is None:
            return
        points = self.detail.history.get(key, [])
        values = [p.value for p in points]
        self.query_one("#chart", MetricChart).plot([Series(key, points)])
        label = f"{key} over {len(values)} steps"
        if values:
            label += f": {humanize.metric(values[0])} → {humanize.metric(values[-1])}"
        self.query_one("#chart-label", Static).update(Text(label, style="bold"))

    @on(DataTable.RowHighlighted, "#metrics")
    def _metric_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value:
            self._chart(event.row_key.value)

    @on(DataTable.RowSelected, "#versions")
    def _version_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            name = event.row_key.value.split("/", 1)[0]
            self.app.push_screen(ModelScreen(self.hub, name))


SERIES_WINDOWS = (timedelta(hours=1), timedelta(hours=6), timedelta(hours=24), timedelta(days=7))
"""The windows the model screen charts serving series over, in the order `v` cycles them."""
DEFAULT_WINDOW = 2
"""The window first shown (24h: a day of a daily monitoring job's hourly points)."""
SPARK_WIDTH = 16


class ModelScreen(DetailScreen, ModelRequests):
    """A registered model's versions: aliases, stages, tags and source run; Enter opens the run.
    Where the environment has a metrics source: its serving series, each as a sparkline, and the
    highlighted one charted with a marker at each change of the slot."""

    BINDINGS = [*MODEL_ACTIONS, *bindings("series_window")]

    @property
    def subject(self) -> object:
        return self.model_name

    def __init__(self, hub: Hub, name: str) -> None:
        super().__init__(hub)
        self.model_name = name
        self.versions: list[ModelVersion] = []
        self.model: RegisteredModel | None = None
        metrics = hub.backends_for(Role.METRICS)
        self.metrics_interval = metrics[0].refresh_in(hub.env) if metrics else None
        """Seconds between two reads of the serving series; None: no metrics source."""
        self.window = SERIES_WINDOWS[DEFAULT_WINDOW]
        self.serving: ModelMetrics | None = None
        """The serving series last read, with the slot's changes."""
        self.charted: str | None = None
        """The series charted (None: the headline)."""
        self._metrics_timer: Timer | None = None

    def web_item(self) -> object | None:
        return self.model

    def body(self) -> ComposeResult:
        yield Static(Text(f"Model {self.model_name}: loading…"), classes="detail-title")
        yield detail_table(
            "Version", "Aliases", "Stage", "Status", "Created", "Run", "Tags", id="model-versions"
        )
        if self.metrics_interval is not None:
            with Vertical(id="model-metrics"):
                yield detail_table("Series", "Trend", "Now", id="model-series")
                yield ServingChart(id="model-chart")
        with VerticalScroll(id="version-detail"):
            yield Static("", id="version-text")
        yield KeyBar()

    def on_mount(self) -> None:
        if self.metrics_interval is not None:
            self.add_class("-metrics")
            self.query_one("#model-series").border_title = "Serving metrics · v: window"
        super().on_mount()

    async def show(self) -> None:
        model, versions = await self.hub.model(self.model_name)
        self.model, self.versions = model, versions
        labels = "  ".join(f"{a}→v{v}" for a, v in sorted(model.aliases.items()))
        stages = "  ".join(f"{s}→v{v}" for s, v in model.stages().items())
        self.query_one(".detail-title", Static).update(
            Text.assemble(
                (model.name, "bold"),
                f"  {model.description}" if model.description else "",
                (f"  {labels}", "green") if labels else "",
                (f"  {stages}", "yellow") if stages else "",
            )
        )
        table = self.query_one("#model-versions", DataTable)
        table.clear()
        now = self.hub.clock()
        for v in versions:
            table.add_row(
                f"v{v.version}",
                Text(", ".join(v.aliases), style="bold green" if "champion" in v.aliases else "cyan"),
                v.stage,
                v.status.lower(),
                humanize.age(v.created, now),
                (v.run_id or "")[:12],
                " ".join(f"{k}={val}" for k, val in tags_in_order(v.tags)),
                key=v.version,
            )
        if self.metrics_interval is not None:
            # A second step: the versions are shown without waiting for the metrics source.
            self.read_series()

    # -- serving metrics --------------------------------------------------------------------

    def read_series(self) -> None:
        """Read the serving series over the window, now (then again at the source's refresh)."""
        if self._metrics_timer is not None:
            self._metrics_timer.stop()
            self._metrics_timer = None
        self._read_series()

    def _series_due(self) -> None:
        self._metrics_timer = None
        if self.app.screen is not self or getattr(self.app, "polling_paused", False):
            self._reschedule_series()
        else:
            self._read_series()

    def _reschedule_series(self) -> None:
        if self._metrics_timer is None and self.is_mounted and self.metrics_interval is not None:
            self._metrics_timer = self.set_timer(self.metrics_interval, self._series_due)

    @work(exclusive=True, group="series", exit_on_error=False)
    async def _read_series(self) -> None:
        journal: Journal = self.app.journal  # type: ignore[attr-defined]
        chart = self.query_one("#model-chart", ServingChart)
        try:
            found = await gather_metrics(
                self.hub, journal, self.hub.model_name(self.model_name), since=self.window
            )
        except MlopsError as exc:
            chart.show_problem(f"serving metrics: {exc.message}")
            return
        finally:
            self._reschedule_series()
            show_sources = getattr(self.app, "show_sources", None)
            if show_sources is not None:
                show_sources()
        self.serving = found
        table = self.query_one("#model-series", DataTable)
        rows = {s.name: s for s in found.series}
        if list(rows) != [str(k.value) for k in table.rows]:
            table.clear()
            for name in rows:
                table.add_row(name, "", "", key=name)
            for name, failure in found.failures.items():
                table.add_row(name, Text(failure.message, style="red"), "", key=name)
        for name, series in rows.items():
            values = [p.value for p in series.points]
            spark = Text(sparkline(values, SPARK_WIDTH), style=LEVEL_STYLES[series.level])
            # Only cells whose text changed are drawn again: an unchanged answer draws nothing.
            self._set_cell(table, name, 1, spark)
            self._set_cell(table, name, 2, now_text(series))
        self.query_one(
            "#model-series"
        ).border_title = f"Serving metrics over {span_label(self.window)} · v: window"
        self._chart()

    @staticmethod
    def _set_cell(table: DataTable[Any], row: str, column: int, value: Text) -> None:
        key = table.ordered_columns[column].key
        if table.get_cell(row, key) != value:
            table.update_cell(row, key, value, update_width=True)

    def _chart(self) -> None:
        found = self.serving
        if found is None:
            return
        by_name = {s.name: s for s in found.series}
        name = self.charted if self.charted in by_name else None
        if name is None:
            try:
                name = headline_settings(self.hub)[0]
            except MlopsError:
                name = next(iter(by_name), None)
        chart = self.query_one("#model-chart", ServingChart)
        if name not in by_name:
            failure = found.failures.get(name or "")
            chart.show_problem(f"{name}: {failure.message}" if failure else "no serving series")
            return
        chart.show(by_name[name], found.start, found.end, found.changes, now=self.hub.clock())

    @on(DataTable.RowHighlighted, "#model-series")
    def _series_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value and self.query_one("#model-series").has_focus:
            self.charted = event.row_key.value
            self._chart()

    def action_cycle_window(self) -> None:
        index = SERIES_WINDOWS.index(self.window) if self.window in SERIES_WINDOWS else DEFAULT_WINDOW
        self.window = SERIES_WINDOWS[(index + 1) % len(SERIES_WINDOWS)]
        self.read_series()

    @on(DataTable.RowHighlighted, "#model-versions")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        version = next((v for v in self.versions if v.version == event.row_key.value), None)
        if version is None:
            return
        lines = [
            Text.assemble((f"v{version.version}", "bold"), f"  {version.description}"),
            Text(f"source  {version.source or ''}"),
            Text.assemble(f"run     {version.run_id or '(none)'}   ", ("enter: open the run", "dim")),
        ]
        self.query_one("#version-text", Static).update(Text("\n").join(lines))

    def highlighted_version(self) -> str | None:
        table = self.query_one("#model-versions", DataTable)
        if not self.versions or not 0 <= table.cursor_row < len(self.versions):
            return None
        return self.versions[table.cursor_row].version

    def action_promote(self) -> None:
        self.post_message(
            self.PromoteRequested(self.hub, self.model_name, self.versions, self.highlighted_version())
        )

    def action_rollback(self) -> None:
        self.post_message(self.RollbackRequested(self.hub, self.model_name))

    def action_history(self) -> None:
        self.post_message(self.HistoryRequested(self.hub, self.model_name))

    def action_retrain(self) -> None:
        self.post_message(self.RetrainRequested(self.hub, self.model_name))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "retrain" and self.hub.env.retrain is None:
            return False
        if action in WRITE_ACTIONS:
            return write_possible(self.hub, chosen=bool(self.versions))
        if action == "cycle_window":
            return self.metrics_interval is not None
        return True

    @on(DataTable.RowSelected, "#model-versions")
    def _selected(self, event: DataTable.RowSelected) -> None:
        version = next((v for v in self.versions if v.version == event.row_key.value), None)
        if version is not None and version.run_id:
            self.app.push_screen(RunScreen(self.hub, version.run_id))


class HistoryScreen(DetailScreen):
    """The audit journal of one model in this environment, newest first."""

    @property
    def subject(self) -> object:
        return self.model_name

    def __init__(self, hub: Hub, journal: Journal, model: str) -> None:
        super().__init__(hub)
        self.journal = journal
        self.model_name = model

    def body(self) -> ComposeResult:
        yield Static(Text(f"History of {self.model_name}: loading…"), classes="detail-title")
        yield detail_table(
            "Time (UTC)",
            "Operator",
            "Action",
            "Target",
            "From",
            "To",
            "Result",
            "Message",
            id="history",
        )
        yield KeyBar()

    async def show(self) -> None:
        subject = self.hub.model_name(self.model_name)
        entries = self.journal.entries(environment=self.hub.env_name, subject=subject)
        self.query_one(".detail-title", Static).update(
            Text.assemble(
                ("History ", "bold"),
                (self.model_name, "bold"),
                f"  in {self.hub.env_name}",
                (f"  {len(entries)} actions, from {self.journal.path}", "dim"),
            )
        )
        table = self.query_one("#history", DataTable)
        table.clear()
        for e in entries:
            table.add_row(
                humanize.timestamp(e.time),
                e.operator,
                e.action,
                e.target,
                e.before or "",
                e.after or "",
                Text(e.result, style=RESULT_STYLES.get(e.result, "")),
                e.message,
                key=str(e.id),
            )


class PipelineScreen(DetailScreen, PipelineRequests):
    """A pipeline's jobs by stage; Enter opens a job's log; `c` and `R` cancel and retry a job;
    `X` runs the whole pipeline again; `P` and `U` pause and unpause its Airflow DAG."""

    BINDINGS = PIPELINE_ACTIONS

    @property
    def subject(self) -> object:
        return self.pipeline_id

    def __init__(self, hub: Hub, pipeline_id: str) -> None:
        super().__init__(hub)
        self.pipeline_id = pipeline_id
        self.pipeline: Pipeline | None = None
        self.jobs: list[Job] = []

    def web_item(self) -> object | None:
        return self.pipeline

    def body(self) -> ComposeResult:
        yield Static(Text(f"Pipeline {self.pipeline_id}: loading…"), classes="detail-title")
        yield detail_table("Stage", "Job", "Status", "Duration", id="jobs")
        yield detail_table("Run produced", "Status", "Started", id="pipeline-runs")
        yield KeyBar()

    async def show(self) -> None:
        pipeline, jobs = await self.hub.pipeline(self.pipeline_id)
        self.pipeline, self.jobs = pipeline, jobs
        if self.hub.env.mlflow is not None:
            runs = self.query_one("#pipeline-runs", DataTable)
            runs.clear()
            for run in await self.hub.pipeline_runs(pipeline):
                runs.add_row(
                    run.name, status_text(run.status), humanize.timestamp(run.start_time), key=run.id
                )
        self.query_one(".detail-title", Static).update(
            Text.assemble(
                (f"{pipeline.source} pipeline {pipeline.id}", "bold"),
                "  ",
                pipeline_status_text(pipeline.status),
                f"  ref {pipeline.ref}" if pipeline.ref else "",
                f"  commit {pipeline.sha[:8]}" if pipeline.sha else "",
                f"  by {pipeline.user}" if pipeline.user else "",
                f"  {humanize.duration(pipeline.duration)}",
                *(("  ", url_text(pipeline.web_url)) if pipeline.web_url else ()),
            )
        )
        table = self.query_one("#jobs", DataTable)
        table.clear()
        for job in jobs:
            table.add_row(
                job.stage,
                job.name,
                pipeline_status_text(job.status),
                humanize.duration(job.duration),
                key=job.id,
            )

    def selected_job(self) -> str | None:
        table = self.query_one("#jobs", DataTable)
        if not table.row_count or not 0 <= table.cursor_row < table.row_count:
            return None
        key = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value
        return str(key) if key is not None else None

    def action_cancel(self) -> None:
        if job := self.selected_job():
            self.post_message(self.ChangeRequested(self.hub, job, "cancel", job=True))

    def action_retry(self) -> None:
        if job := self.selected_job():
            self.post_message(self.ChangeRequested(self.hub, job, "retry", job=True))

    def action_retry_all(self) -> None:
        if self.pipeline is not None:
            self.post_message(self.ChangeRequested(self.hub, self.pipeline.id, "retry", whole=True))

    def action_pause_dag(self) -> None:
        if (pipeline := self.pipeline) is not None:
            self.post_message(self.PauseRequested(self.hub, f"{pipeline.source}:{pipeline.id}", paused=True))

    def action_unpause_dag(self) -> None:
        if (pipeline := self.pipeline) is not None:
            self.post_message(self.PauseRequested(self.hub, f"{pipeline.source}:{pipeline.id}", paused=False))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("cancel", "retry"):
            return write_possible(self.hub, chosen=self.selected_job() is not None)
        if action in WRITE_ACTIONS:
            source = self.pipeline.source if self.pipeline else None
            return pipeline_action_possible(self.hub, action, source)
        return True

    @on(DataTable.RowSelected, "#jobs")
    def _job_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            job = next((j for j in self.jobs if j.id == event.row_key.value), None)
            self.app.push_screen(TraceScreen(self.hub, event.row_key.value, job=job, pipeline=self.pipeline))

    @on(DataTable.RowSelected, "#pipeline-runs")
    def _run_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self.app.push_screen(RunScreen(self.hub, event.row_key.value))


class TraceScreen(EnvScreen):
    """A job's log, followed live while the job runs: only the new part is read each time. Where
    the runner keeps each try's log (Airflow), `[` and `]` step to the previous and next try; the
    latest one is followed live."""

    BINDINGS: ClassVar[BindingList] = [*bindings("back"), *TRACE_ACTIONS]
    FOLLOW_SECONDS = 1.0

    @property
    def subject(self) -> object:
        return self.job_id

    def __init__(
        self, hub: Hub, job_id: str, *, job: Job | None = None, pipeline: Pipeline | None = None
    ) -> None:
        super().__init__()
        self.hub = hub
        self.job_id = job_id
        self.job = job
        self.pipeline = pipeline
        self.log_offset = 0
        self.complete = False
        self.try_number: int | None = None
        """The try shown when it is not the latest (None: the latest, followed while it runs)."""
        self._follow: Timer | None = None

    @property
    def tries(self) -> int | None:
        """How many tries the job has had, where its runner reads each try's log; else None."""
        if self.job is None or not self.job.attempt:
            return None
        try:
            source, bare = self.hub.pipeline_ref(self.job_id)
        except MlopsError:
            return None
        return self.job.attempt if source.try_id(bare, 1) is not None else None

    @property
    def shown_try(self) -> int | None:
        """The try whose log is shown, where the runner has tries."""
        tries = self.tries
        return None if tries is None else self.try_number or tries

    def log_id(self) -> str:
        """The id whose log is read: the job's, or one try of it (qualified by its runner)."""
        if self.try_number is None:
            return self.job_id
        source, bare = self.hub.pipeline_ref(self.job_id)
        return f"{source.name}:{source.try_id(bare, self.try_number)}"

    def heading(self) -> Text:
        """`Log of job gate (validate) · try 2 of 3 · gitlab pipeline 1234 · failed`, as much as
        is known."""
        job, pipeline = self.job, self.pipeline
        text = Text(f"Log of job {job.name} ({job.id})" if job else f"Log of job {self.job_id}", style="bold")
        if (shown := self.shown_try) is not None:
            text.append(f" · try {shown} of {self.tries}")
        if pipeline:
            text.append(f" · {pipeline.source} pipeline {pipeline.id}")
            if pipeline.sha:
                text.append(f" at {pipeline.sha[:8]}", style="dim")
        if not self.complete:
            text.append(" · following…", style="dim")
        elif job and self.try_number is None:
            text.append(" · ")
            text.append_text(pipeline_status_text(job.status))
        else:
            text.append(" · finished", style="dim")
        return text

    def body(self) -> ComposeResult:
        yield Static(self.heading(), classes="detail-title")
        yield RichLog(id="trace", wrap=True, markup=False, auto_scroll=True)
        yield KeyBar()

    def on_mount(self) -> None:
        self.read_more()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "step_try":
            shown, tries = self.shown_try, self.tries
            if shown is None or tries is None:
                return False  # a runner without tries (or not known yet): not in the footer
            delta = parameters[0] if parameters and isinstance(parameters[0], int) else 0
            return True if 1 <= shown + delta <= tries else None
        return True

    def action_step_try(self, delta: int) -> None:
        """Show the log of the previous (-1) or next (1) try; the latest is followed live."""
        shown, tries = self.shown_try, self.tries
        if shown is None or tries is None or not 1 <= shown + delta <= tries:
            self.app.bell()
            return
        wanted = shown + delta
        self.try_number = None if wanted == tries else wanted
        if self._follow is not None:
            self._follow.stop()
            self._follow = None
        self.log_offset, self.complete = 0, False
        self.query_one(RichLog).clear()
        self.query_one(".detail-title", Static).update(self.heading())
        self.refresh_bindings()
        self.read_more()

    @work(exclusive=True, group="trace", exit_on_error=False)
    async def read_more(self) -> None:
        self._follow = None
        try:
            chunk = await self.hub.trace(self.log_id(), self.log_offset)
        except MlopsError as exc:
            self.query_one(".detail-title", Static).update(Text(exc.message, style="bold red"))
        else:
            if chunk.text:
                self.query_one(RichLog).write(Text.from_ansi(terminal_log(humanize.clean_trace(chunk.text))))
            self.log_offset = chunk.next_offset
            if (
                chunk.complete
                and not self.complete
                and self.job
                and not self.job.done
                and self.try_number is None
            ):
                await self._read_final_status(self.job)
            self.complete = chunk.complete
            self.query_one(".detail-title", Static).update(self.heading())
            self.refresh_bindings()
        if not self.complete:
            self._follow = self.set_timer(self.FOLLOW_SECONDS, self.read_more)

    async def _read_final_status(self, job: Job) -> None:
        """The job ended while its log was followed: how (the status it was opened with is old)."""
        try:
            _, jobs = await self.hub.pipeline(job.pipeline_id)
        except MlopsError:
            return  # the title says what it knew
        self.job = next((j for j in jobs if j.id == job.id), job)


RESULT_STYLES = {"ok": "green", "failed": "bold red", "refused": "yellow", "unknown": "bold magenta"}
