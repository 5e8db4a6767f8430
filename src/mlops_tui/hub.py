"""The single entry point of both front ends: one environment's sources, their health, and reads.

The hub builds the sources an environment names, runs every read through `_track` so each source's
status (ok / degraded / down, last error, age of the last good data) is always current, and answers
the questions the panes and the headless commands ask.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

from mlops_tui.config import Settings, resolve_secret
from mlops_tui.config.naming import ModelNames
from mlops_tui.domain import (
    Alert,
    Endpoint,
    Experiment,
    Job,
    MetricPoint,
    ModelVersion,
    MonitoringJob,
    Page,
    Pipeline,
    RegisteredModel,
    Run,
    Silence,
    SourceState,
    SourceStatus,
    TraceChunk,
    utcnow,
)
from mlops_tui.domain.matchers import Matcher
from mlops_tui.errors import (
    BackendError,
    BackendUnreachable,
    ConfigError,
    InvalidQuery,
    MlopsError,
    NotFound,
    PartlyAnswered,
    UsageError,
)
from mlops_tui.ops.policy import Policy
from mlops_tui.sources.base import AlertSource, PipelineSource, TrackingSource

# Light: the Vertex SDK is imported by the source's first call, not by its module.
from mlops_tui.sources.vertex import VERTEX_PIPELINE_ID, VertexSource
from mlops_tui.text import humanize

__all__ = ["PIPELINE_TAGS", "Gathered", "Hub", "RunDetail", "runner_of"]

AIRFLOW_PREFIX = "airflow:"
"""Airflow's ids carry their source (`sources.airflow.PREFIX`); that module, and httpx with it, is
imported when an Airflow source is built, not by every command."""

PIPELINE_TAGS = {
    "gitlab.pipeline_id": "gitlab",
    "mlops_tui.pipeline_id": "local",
    "vertex.pipeline_job_id": "vertex",
}
"""Run tags naming the pipeline that produced a run, and the runner each belongs to."""
_RUNNER_IDS = (
    ("local", re.compile(r"^L\d+(-\d+)?$")),
    ("gitlab", re.compile(r"^\d+$")),
    ("vertex", VERTEX_PIPELINE_ID),
)


def runner_of(pipeline_or_job_id: str) -> str:
    """The runner an id belongs to: an id qualified by its source (`airflow:DAG/RUN_ID`) is that
    source's; local runs are `L<n>` (jobs `L<n>-1`), GitLab's pipelines and jobs are numbers,
    Vertex pipeline jobs are lower-case names (tasks `NAME/TASK_ID`).

    Raises:
        UsageError: the id has none of these shapes.
    """
    if pipeline_or_job_id.startswith(AIRFLOW_PREFIX):
        return "airflow"
    for runner, shape in _RUNNER_IDS:
        if shape.match(pipeline_or_job_id):
            return runner
    raise UsageError(
        f"{pipeline_or_job_id!r} is not a pipeline id: GitLab's are numbers, local runs L<n>, "
        "Vertex pipeline jobs lower-case names"
    )


T = TypeVar("T")
KEPT_ANSWERS = 32
"""How many answers of single sources to listings several feed a hub keeps for when they fail."""
_SHAPE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)


@dataclass(frozen=True)
class Gathered(Generic[T]):
    """What several sources answered to one question.

    A source that failed is in `failures`, and its items are the last good ones it gave to the same
    question, if it ever answered it: a pane keeps showing them beside the error.
    """

    items: list[T]
    failures: Mapping[str, MlopsError] = field(default_factory=dict)
    kept: Mapping[str, datetime] = field(default_factory=dict)
    """When each failed source last answered the same question: its items are from then."""

    def problem(self, now: datetime) -> str | None:
        """One line on the failures, each with the age of the items kept, as a pane shows it."""
        lines = []
        for name, failure in self.failures.items():
            since = self.kept.get(name)
            kept = f"showing data from {humanize.age(since, now)}" if since else "no data yet"
            lines.append(f"{failure.message} · {kept}")
        return " · ".join(lines) or None

    def raise_failures(self) -> None:
        """Raises: PartlyAnswered, for a headless command that printed what did answer."""
        if self.failures:
            raise PartlyAnswered(list(self.failures.values()))


@dataclass(frozen=True)
class RunDetail:
    """A run with everything its detail screen shows."""

    run: Run
    experiment: str
    history: dict[str, list[MetricPoint]]
    versions: list[ModelVersion]


class Hub:
    """One environment: its sources, their status, and every read the front ends need."""

    def __init__(
        self,
        settings: Settings,
        env_name: str | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.env_name, self.env = settings.environment(env_name)
        self.clock = clock
        self.names = ModelNames.of(settings, self.env)
        self._tracking: TrackingSource | None = None
        self._pipelines: dict[str, PipelineSource] | None = None
        self._alert_sources: dict[str, AlertSource] | None = None
        self._vertex: VertexSource | None = None
        self._experiments: dict[str, str] = {}
        self._last_good: OrderedDict[tuple[Hashable, ...], tuple[Sequence[object], datetime]] = OrderedDict()
        self.statuses: dict[str, SourceStatus] = {}
        if self.env.mlflow is not None:
            self.statuses["mlflow"] = SourceStatus("mlflow")
        if self.env.gitlab is not None:
            self.statuses["gitlab"] = SourceStatus("gitlab")
        if self.env.retrain is not None and self.env.retrain.kind == "local":
            self.statuses["local"] = SourceStatus("local")
        if self.env.alertmanager is not None:
            self.statuses["alertmanager"] = SourceStatus("alertmanager")
        if self.env.rules:
            self.statuses["rules"] = SourceStatus("rules")
        if self.env.vertex is not None:
            self.statuses["vertex"] = SourceStatus("vertex")
        if self.env.airflow is not None:
            self.statuses["airflow"] = SourceStatus("airflow")

    @property
    def policy(self) -> Policy:
        """What this environment allows write actions to do."""
        return Policy(
            self.env_name,
            protected=self.env.protected,
            read_only=self.env.read_only or self.settings.read_only,
            approvals={"promote": self.env.approvals, "rollback": self.env.rollback_approvals},
            approval_expiry=timedelta(hours=self.env.approval_expiry_hours),
        )

    @property
    def tracking(self) -> TrackingSource:
        """The MLflow source, built on first use.

        Raises:
            UsageError: the environment names no MLflow server.
        """
        if self._tracking is None:
            if self.env.mlflow is None:
                raise UsageError(f"environment {self.env_name!r} has no [mlflow] table")
            from mlops_tui.sources.mlflow import open_mlflow

            with self._building("mlflow"):
                self._tracking = open_mlflow(self.env.mlflow)
        return self._tracking

    @contextlib.contextmanager
    def _building(self, source: str) -> Iterator[None]:
        """Build a source: what stops it (a secret that cannot be resolved) becomes its status."""
        try:
            yield
        except ConfigError as exc:
            status = self.statuses.get(source) or SourceStatus(source)
            self.statuses[source] = replace(status, state=SourceState.DEGRADED, last_error=exc.message)
            raise

    @property
    def vertex(self) -> VertexSource:
        """The Vertex AI source, built on first use (its SDK is imported by its first call).

        Raises:
            UsageError: the environment names no Vertex project.
        """
        if self._vertex is None:
            if self.env.vertex is None:
                raise UsageError(f"environment {self.env_name!r} has no [vertex] table")
            with self._building("vertex"):
                self._vertex = VertexSource(self.env.vertex, environment=self.env_name)
        return self._vertex

    async def _track(self, source: str, call: Awaitable[T]) -> T:
        """Await one backend call and record what it says about the backend's health."""
        status = self.statuses.get(source) or SourceStatus(source)
        try:
            result = await call
        except (InvalidQuery, NotFound):
            # The question was wrong, not the backend: its status stands.
            raise
        except BackendUnreachable as exc:
            self.statuses[source] = replace(status, state=SourceState.DOWN, last_error=exc.reason)
            raise
        except BackendError as exc:
            self.statuses[source] = replace(status, state=SourceState.DEGRADED, last_error=exc.reason)
            raise
        except _SHAPE_ERRORS as exc:
            # The backend answered, but not in the shape its API documents (a proxy's page, another
            # API version): a backend error the pane can show, not a crash.
            error = BackendError(source, f"unexpected answer ({type(exc).__name__}: {exc})")
            self.statuses[source] = replace(status, state=SourceState.DEGRADED, last_error=error.reason)
            raise error from None
        self.statuses[source] = replace(
            status, state=SourceState.OK, last_error=None, last_success=self.clock()
        )
        return result

    # -- tracking ---------------------------------------------------------------------------

    async def experiments(self) -> list[Experiment]:
        """The experiments of interest: the configured ones, else every active experiment."""
        names = self.env.mlflow.experiments if self.env.mlflow else []
        found = await self._track("mlflow", self.tracking.list_experiments(names))
        self._experiments = {e.id: e.name for e in found}
        return found

    def sibling(self, env_name: str) -> Hub:
        """The hub of another environment of the same settings; close it with `aclose`."""
        return Hub(self.settings, env_name, clock=self.clock)

    def registered_name(self, model: str) -> str:
        """The registered model that holds `model` in this environment (`registered_model`);
        the mapped name itself is accepted too."""
        return self.names.registered(model)

    def model_name(self, registered: str) -> str:
        """The model a registered model of this environment holds: `prod.churn` -> `churn`."""
        return self.names.model(registered)

    def key_metrics(self, runs: Sequence[Run]) -> tuple[str, ...]:
        """The metrics listings of `runs` show as columns: `mlflow.key_metrics`, else the three
        most common among them."""
        configured = self.env.mlflow.key_metrics if self.env.mlflow else []
        if configured:
            return tuple(configured)
        counts = Counter(key for run in runs for key in run.metrics)
        return tuple(sorted(counts, key=lambda key: (-counts[key], key))[:3])

    def web_url(self, item: object) -> str | None:
        """The page of `item` (a run, a model, a pipeline, an endpoint, an alert) in its backend's
        web UI: the MLflow UI, GitLab, the Vertex AI console, Alertmanager. None where there is
        none (a SQLite store has no UI)."""
        from urllib.parse import quote

        uri = self.env.mlflow.tracking_uri.rstrip("/") if self.env.mlflow else ""
        mlflow = uri if uri.startswith(("http://", "https://")) else None
        if isinstance(item, Run):
            return f"{mlflow}/#/experiments/{item.experiment_id}/runs/{item.id}" if mlflow else None
        if isinstance(item, RegisteredModel):
            return f"{mlflow}/#/models/{quote(item.name, safe='')}" if mlflow else None
        if isinstance(item, Pipeline | Endpoint):
            return item.web_url
        if isinstance(item, Alert):
            alertmanager = self.env.alertmanager
            if item.source == "alertmanager" and alertmanager is not None:
                matcher = quote(f'{{alertname="{item.name}"}}', safe="")
                return f"{alertmanager.url.rstrip('/')}/#/alerts?filter={matcher}"
            return item.generator_url or item.runbook_url or None
        return None

    def experiment_name(self, experiment_id: str) -> str:
        return self._experiments.get(experiment_id, experiment_id)

    async def runs(
        self,
        filter_string: str = "",
        *,
        experiment: str | None = None,
        page_token: str | None = None,
        max_results: int | None = None,
        order_by: str | None = None,
    ) -> Page[Run]:
        """One page of runs of the experiments of interest (or of `experiment`), newest first or
        by `order_by` (`metrics.val_auc DESC`), ordered by the server.

        Raises:
            NotFound: `experiment` does not exist.
            InvalidQuery: the filter does not parse.
        """
        if experiment is not None:
            found = await self._track("mlflow", self.tracking.list_experiments([experiment]))
            self._experiments.update({e.id: e.name for e in found})
            ids = [e.id for e in found]
        elif page_token is None or not self._experiments:
            ids = [e.id for e in await self.experiments()]
        else:
            ids = list(self._experiments)
        size = max_results or (self.env.mlflow.page_size if self.env.mlflow else 100)
        return await self._track(
            "mlflow",
            self.tracking.search_runs(
                ids, filter_string, max_results=size, page_token=page_token, order_by=order_by
            ),
        )

    async def run_detail(self, run_id: str) -> RunDetail:
        """A run, the history of each of its metrics, and the model versions made from it."""
        run = await self._track("mlflow", self.tracking.get_run(run_id))
        keys = sorted(run.metrics)
        histories, versions = await asyncio.gather(
            asyncio.gather(*(self.tracking.metric_history(run_id, k) for k in keys)),
            self.tracking.search_versions(f"run_id='{run_id}'"),
        )
        if run.experiment_id not in self._experiments:
            await self.experiments()
        return RunDetail(
            run=run,
            experiment=self.experiment_name(run.experiment_id),
            history=dict(zip(keys, histories, strict=True)),
            versions=versions,
        )

    # -- registry ---------------------------------------------------------------------------

    async def models(self, name_filter: str = "", *, page_token: str | None = None) -> Page[RegisteredModel]:
        """Registered models: the environment's models of interest, else one page of the registry.

        `name_filter` is a substring of the name (`LIKE` on the server), or a full registry filter
        expression when it contains `=` or `LIKE`.
        """
        if self.env.models:
            wanted = [m for m in self.env.models if name_filter.lower() in m.lower()]
            models = await self._track(
                "mlflow",
                asyncio.gather(*(self.tracking.get_model(self.registered_name(m)) for m in wanted)),
            )
            return Page(tuple(models))
        size = self.env.mlflow.page_size if self.env.mlflow else 100
        page = await self._track(
            "mlflow",
            self.tracking.search_models(
                self.names.server_filter(_model_filter(name_filter)),
                max_results=size,
                page_token=page_token,
            ),
        )
        return Page(tuple(m for m in page.items if self.names.owns(m.name)), page.next_token)

    async def model(self, name: str) -> tuple[RegisteredModel, list[ModelVersion]]:
        """A registered model and all its versions, newest first, aliases filled in.

        `name` is the model (`churn`) or its registered model in this environment (`prod.churn`).

        Raises:
            NotFound: no such model.
        """
        name = self.registered_name(name)
        model = await self._track("mlflow", self.tracking.get_model(name))
        versions = await self._track("mlflow", self.tracking.search_versions(f"name='{_quote(name)}'"))
        return model, versions

    # -- pipelines --------------------------------------------------------------------------

    @property
    def pipeline_sources(self) -> dict[str, PipelineSource]:
        """The environment's pipeline runners by name (`gitlab`, `local`), built on first use."""
        if self._pipelines is None:
            built: dict[str, PipelineSource] = {}
            retrain = self.env.retrain
            if self.env.gitlab is not None:
                from mlops_tui.sources.gitlab import GitlabSource

                with self._building("gitlab"):
                    trigger = None
                    if retrain is not None and retrain.kind == "gitlab" and retrain.trigger_token_env:
                        trigger = resolve_secret(retrain.trigger_token_env)
                    built["gitlab"] = GitlabSource(
                        self.env.gitlab,
                        ref=retrain.ref if retrain is not None else "main",
                        trigger_token=trigger,
                    )
            if retrain is not None and retrain.kind == "local":
                from mlops_tui.sources.local.runner import LocalRunner

                built["local"] = LocalRunner(
                    retrain,
                    environment=self.env_name,
                    tracking_uri=self.env.mlflow.tracking_uri if self.env.mlflow else "",
                )
            if self.env.vertex is not None:
                built["vertex"] = self.vertex
            if self.env.airflow is not None:
                from mlops_tui.sources.airflow import AirflowSource

                with self._building("airflow"):
                    built["airflow"] = AirflowSource(
                        self.env.airflow,
                        dag_template=retrain.dag if retrain is not None and retrain.kind == "airflow" else "",
                    )
            self._pipelines = built
        return self._pipelines

    def pipeline_source(self, pipeline_or_job_id: str) -> PipelineSource:
        """The runner an id belongs to (see `runner_of`).

        Raises:
            UsageError: not a pipeline id, or the environment has no such runner.
        """
        name = runner_of(pipeline_or_job_id)
        try:
            return self.pipeline_sources[name]
        except KeyError:
            table = {
                "local": "[retrain] kind = 'local'",
                "gitlab": "[gitlab]",
                "vertex": "[vertex]",
                "airflow": "[airflow]",
            }[name]
            configured = ", ".join(self.pipeline_sources) or "none"
            raise UsageError(
                f"no configured pipeline source has a pipeline {pipeline_or_job_id!r} in {self.env_name} "
                f"(configured: {configured}); as an id it would be {name}'s, and that needs {table} "
                "in the config"
            ) from None

    async def pipelines(
        self, *, ref: str | None = None, status: str | None = None, limit: int = 50
    ) -> Gathered[Pipeline]:
        """Recent pipelines of every runner, newest first. A runner that fails is marked in its
        status and in the answer's failures, with the pipelines it last gave.

        Raises:
            UsageError: no runner configured. MlopsError: every runner failed.
        """
        sources = self.pipeline_sources
        if not sources:
            raise UsageError(
                f"environment {self.env_name!r} has no [gitlab], [vertex], [airflow] or local [retrain]"
            )
        found = await self._gather(
            ("pipelines", ref, status, limit),
            {
                name: source.list_pipelines(ref=ref, status=status, limit=limit)
                for name, source in sources.items()
            },
        )
        newest_first = sorted(
            found.items, key=lambda p: p.created or datetime.min.replace(tzinfo=UTC), reverse=True
        )
        return replace(found, items=newest_first[:limit])

    async def pipeline(self, pipeline_id: str) -> tuple[Pipeline, list[Job]]:
        """A pipeline and its jobs in stage order."""
        source = self.pipeline_source(pipeline_id)
        pipeline, jobs = await self._track(
            source.name,
            asyncio.gather(source.get_pipeline(pipeline_id), source.list_jobs(pipeline_id)),
        )
        return pipeline, list(jobs)

    async def trace(self, job_id: str, offset: int = 0) -> TraceChunk:
        """A job's log from byte `offset` on."""
        source = self.pipeline_source(job_id)
        return await self._track(source.name, source.read_trace(job_id, offset))

    # -- alerts -----------------------------------------------------------------------------

    @property
    def alert_sources(self) -> dict[str, AlertSource]:
        """The environment's alert sources by name (`alertmanager`, `rules`), built on first use."""
        if self._alert_sources is None:
            built: dict[str, AlertSource] = {}
            if self.env.alertmanager is not None:
                from mlops_tui.sources.alertmanager import AlertmanagerSource

                with self._building("alertmanager"):
                    built["alertmanager"] = AlertmanagerSource(self.env.alertmanager)
            if self.env.rules:
                from mlops_tui.config import locations
                from mlops_tui.sources.rules import RulesSource, SilenceStore

                mode = self.env.mlflow.promotion if self.env.mlflow else "alias"
                built["rules"] = RulesSource(
                    self.env.rules,
                    environment=self.env_name,
                    models=self.env.models,
                    tracking=lambda: self.tracking,
                    registered_name=self.registered_name,
                    model_name=self.model_name,
                    owns=self.names.owns,
                    serving="champion" if mode == "alias" else "Production",
                    store=SilenceStore(
                        locations.state_dir() / "alerts" / f"{self.env_name}.json", "rules", self.clock
                    ),
                )
            if self.env.vertex is not None:
                from mlops_tui.sources.vertex import VertexMonitoring

                built["vertex"] = VertexMonitoring(self.vertex)
            self._alert_sources = built
        return self._alert_sources

    def alert_source(self, name: str) -> AlertSource:
        """Raises: UsageError: the environment has no such alert source."""
        try:
            return self.alert_sources[name]
        except KeyError:
            known = ", ".join(self.alert_sources) or "none"
            raise UsageError(
                f"environment {self.env_name!r} has no {name} alerts (configured: {known})"
            ) from None

    def _require_alerts(self) -> dict[str, AlertSource]:
        if not self.alert_sources:
            raise UsageError(f"environment {self.env_name!r} has no [alertmanager] table and no [[rules]]")
        return self.alert_sources

    async def alerts(self, matchers: Sequence[Matcher] = (), *, muted: bool = True) -> Gathered[Alert]:
        """Firing alerts of every source, most severe first, then newest first. A source that
        fails is marked in its status and in the answer's failures, with the alerts it last gave.

        Raises:
            UsageError: no alert source configured. MlopsError: every source failed.
        """
        sources = self._require_alerts()
        found = await self._gather(
            ("alerts", tuple(str(m) for m in matchers), muted),
            {name: source.list_alerts(matchers, muted=muted) for name, source in sources.items()},
        )
        newest_first = sorted(
            found.items, key=lambda a: a.starts_at or datetime.min.replace(tzinfo=UTC), reverse=True
        )
        return replace(found, items=sorted(newest_first, key=lambda a: a.severity_rank))

    async def unmuted_alerts(self) -> list[Alert]:
        """Firing alerts nobody silenced or inhibited, as a promotion gate asks: every source
        must answer.

        Raises:
            UsageError: no alert source. MlopsError: a source failed.
        """
        found = await self.alerts(muted=False)
        found.raise_failures()
        return found.items

    async def silences(self) -> Gathered[Silence]:
        """Every source's silences, active and pending first, then newest first."""
        found = await self._gather(
            ("silences",), {name: s.list_silences() for name, s in self._require_alerts().items()}
        )
        newest_first = sorted(found.items, key=lambda s: s.starts_at, reverse=True)
        return replace(found, items=sorted(newest_first, key=lambda s: s.state == "expired"))

    async def silence(self, silence_id: str) -> tuple[AlertSource, Silence]:
        """A silence and the source holding it.

        Raises:
            NotFound: no source holds it.
        """
        for source in self._require_alerts().values():
            try:
                return source, await self._track(source.name, source.get_silence(silence_id))
            except NotFound:
                continue
        raise NotFound("alerts", f"no silence {silence_id!r} in {self.env_name}")

    def model_label(self, source: str) -> str:
        """The label naming the model an alert of `source` concerns: Alertmanager's is configured
        (`model_label`), the other sources write `model`."""
        if source == "alertmanager" and self.env.alertmanager is not None:
            return self.env.alertmanager.model_label
        return "model"

    def alert_model(self, alert: Alert) -> str | None:
        """The model an alert concerns, by its model label, as this environment names models."""
        value = alert.labels.get(self.model_label(alert.source))
        return self.model_name(value) if value else None

    def can_silence(self, alert: Alert) -> bool:
        """Whether silencing `alert` is possible here: writable, and its source holds silences."""
        source = self.alert_sources.get(alert.source)
        return not self.policy.read_only and source is not None and source.can_silence

    async def _gather(
        self, question: tuple[Hashable, ...], calls: dict[str, Awaitable[list[T]]]
    ) -> Gathered[T]:
        """Every source's answer to one `question` (its kind, then its arguments), tracked.

        A source that fails adds the items it gave the last time it was asked the same question.
        Raises only when every source failed, or when the question itself was wrong.
        """
        results = await asyncio.gather(
            *(self._track(name, call) for name, call in calls.items()), return_exceptions=True
        )
        items: list[T] = []
        failures: dict[str, MlopsError] = {}
        kept: dict[str, datetime] = {}
        for name, result in zip(calls, results, strict=True):
            if isinstance(result, InvalidQuery | NotFound) or not isinstance(result, list | MlopsError):
                raise result
            if isinstance(result, MlopsError):
                failures[name] = result
                if last := self._last_good.get((name, *question)):
                    items.extend(last[0])  # type: ignore[arg-type]
                    kept[name] = last[1]
            else:
                self._keep((name, *question), result)
                items.extend(result)
        if failures and len(failures) == len(results):
            raise next(iter(failures.values()))
        return Gathered(items, failures, kept)

    def _keep(self, key: tuple[Hashable, ...], answer: Sequence[object]) -> None:
        """Keep a source's answer to a question, for when it fails to answer it again; the
        questions asked longest ago go first (a pane's filter, triage's, the fleet's: a few)."""
        self._last_good[key] = (answer, self.clock())
        self._last_good.move_to_end(key)
        while len(self._last_good) > KEPT_ANSWERS:
            self._last_good.popitem(last=False)

    # -- Vertex AI endpoints and monitoring ----------------------------------------------------

    async def endpoints(self) -> list[Endpoint]:
        """The endpoints of interest, with their deployed models and traffic split."""
        return await self._track("vertex", self.vertex.list_endpoints())

    async def endpoint(self, ref: str) -> Endpoint:
        """One endpoint by id or display name. Raises: NotFound."""
        return await self._track("vertex", self.vertex.get_endpoint(ref))

    async def vertex_pipelines(self, *, limit: int = 50) -> list[Pipeline]:
        """Recent Vertex pipeline jobs only, newest first."""
        return await self._track("vertex", self.vertex.list_pipelines(limit=limit))

    async def monitoring_jobs(self) -> list[MonitoringJob]:
        """Model deployment monitoring jobs of the endpoints of interest."""
        return await self._track("vertex", self.vertex.monitoring_jobs())

    # -- lineage ----------------------------------------------------------------------------

    def pipeline_of(self, run: Run) -> str | None:
        """The id of the pipeline that produced `run`, from its tags, where this environment has
        that pipeline's runner."""
        for tag, runner in PIPELINE_TAGS.items():
            if run.tags.get(tag) and runner in self.pipeline_sources:
                return run.tags[tag]
        if "airflow" in self.pipeline_sources:
            from mlops_tui.sources.airflow import pipeline_from_tags

            return pipeline_from_tags(run.tags)
        return None

    async def pipeline_runs(self, pipeline: Pipeline) -> list[Run]:
        """The runs a pipeline produced (tagged with its id)."""
        if pipeline.source == "airflow":
            from mlops_tui.sources.airflow import lineage_filter

            return list((await self.runs(lineage_filter(pipeline.id), max_results=50)).items)
        tag = next(t for t, runner in PIPELINE_TAGS.items() if runner == pipeline.source)
        page = await self.runs(f"tags.`{tag}` = '{_quote(pipeline.id)}'", max_results=50)
        return list(page.items)

    async def aclose(self) -> None:
        if self._tracking is not None:
            await self._tracking.aclose()
        for source in [*(self._pipelines or {}).values(), *(self._alert_sources or {}).values()]:
            await source.aclose()

    def status_list(self) -> Sequence[SourceStatus]:
        return list(self.statuses.values())


def _quote(value: str) -> str:
    return value.replace("'", "\\'")


def _model_filter(text: str) -> str:
    text = text.strip()
    if not text:
        return ""
    if "=" in text or " like " in text.lower():
        return text
    return f"name ILIKE '%{_quote(text)}%'"
