"""The single entry point of both front ends: one environment's sources, their health, and reads.

The hub builds the sources an environment names by iterating the backend registry
(`sources.registry`): every backend the environment configures, in registry order. It runs every
read through `_track` so each source's status (ok / degraded / down, last error, age of the last
good data) is always current, and answers the questions the panes and the headless commands ask.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar, cast

from msgspec import structs

from mlops_tui.config import Settings
from mlops_tui.config.naming import ModelNames
from mlops_tui.domain import (
    Alert,
    Endpoint,
    Experiment,
    Job,
    MetricPoint,
    MetricSubject,
    ModelVersion,
    MonitoringJob,
    Page,
    Pipeline,
    RegisteredModel,
    Run,
    SeriesPoint,
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
from mlops_tui.ops.markers import Markers
from mlops_tui.ops.policy import Policy
from mlops_tui.sources import registry
from mlops_tui.sources.base import (
    AlertSource,
    MetricsSource,
    PipelineSource,
    ServingSource,
    Source,
    TrackingSource,
)
from mlops_tui.sources.registry import Backend, BuildContext, Role
from mlops_tui.text import humanize

__all__ = ["Gathered", "Hub", "RunDetail", "pipeline_tags", "policy_of", "runner_of"]


def pipeline_tags() -> dict[str, str]:
    """Run tags naming the pipeline that produced a run, and the runner each belongs to
    (each pipeline backend's `run_tag`)."""
    return {b.run_tag: b.name for b in registry.backends(Role.PIPELINES) if b.run_tag}


def _owners(bare_id: str, declared: Sequence[Backend[Any]]) -> list[str]:
    return [b.name for b in declared if b.owns_id is not None and b.owns_id(bare_id)]


def runner_of(pipeline_or_job_id: str) -> str:
    """The runner an id belongs to: the source named before its `:` (`gitlab:1234`), else the one
    registered runner that can own the bare id (local runs are `L<n>`, GitLab's pipelines and jobs
    numbers, Vertex pipeline jobs lower-case names).

    Raises:
        UsageError: no registered runner can own the id, or several can (the message names them).
    """
    source, bare = registry.split_id(pipeline_or_job_id)
    if source is not None:
        return source
    declared = registry.backends(Role.PIPELINES)
    owners = _owners(bare, declared)
    if len(owners) == 1:
        return owners[0]
    if owners:
        raise _ambiguous(bare, owners)
    shapes = ", ".join(b.id_shape for b in declared if b.id_shape)
    raise UsageError(f"{pipeline_or_job_id!r} is not a pipeline id: {shapes}")


def _ambiguous(bare: str, owners: Sequence[str]) -> UsageError:
    candidates = ", ".join(f"{name}:{bare}" for name in owners)
    return UsageError(f"{bare!r} could be a pipeline of several sources: say which, as one of {candidates}")


def policy_of(settings: Settings, env_name: str) -> Policy:
    """What environment `env_name` allows write actions to do.

    Raises:
        UsageError: no such environment.
    """
    _, env = settings.environment(env_name)
    return Policy(
        env_name,
        protected=env.protected,
        read_only=env.read_only or settings.read_only,
        approvals={
            action: needed
            for action, needed in (("promote", env.approvals), ("rollback", env.rollback_approvals))
            if needed
        },
        approval_expiry=timedelta(hours=env.approval_expiry_hours),
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
        self.backends: tuple[Backend[Any], ...] = tuple(
            b for b in registry.backends() if b.configured(self.env) is not None
        )
        """The backends this environment configures, in registry order."""
        self._built: dict[str, Source] = {}
        self._roles: dict[Role, dict[str, Source]] = {}
        self._experiments: dict[str, str] = {}
        self._last_good: OrderedDict[tuple[Hashable, ...], tuple[Sequence[object], datetime]] = OrderedDict()
        self.statuses: dict[str, SourceStatus] = {b.name: SourceStatus(b.name) for b in self.backends}

    @property
    def policy(self) -> Policy:
        """What this environment allows write actions to do."""
        return policy_of(self.settings, self.env_name)

    @property
    def markers(self) -> Markers:
        """Where this environment's changes of what serves are marked (its `[markers]` table)."""
        return Markers(self.env.markers)

    def backends_for(self, role: Role) -> tuple[Backend[Any], ...]:
        """The configured backends playing `role`, in registry order."""
        return tuple(b for b in self.backends if role in b.roles)

    def source(self, name: str) -> Source:
        """The source of configured backend `name`, built on first use.

        Raises:
            UsageError: the environment does not configure it. ConfigError: a secret it needs
            cannot be resolved (also its status).
        """
        if name not in self._built:
            declared = next((b for b in self.backends if b.name == name), None)
            if declared is None:
                raise UsageError(f"environment {self.env_name!r} has no {name}")
            context = BuildContext(
                env_name=self.env_name,
                env=self.env,
                clock=self.clock,
                names=self.names,
                tracking=lambda: self.tracking,
            )
            with self._building(name):
                self._built[name] = declared.build(self.env, context)
        return self._built[name]

    def _sources(self, role: Role) -> dict[str, Source]:
        """The sources playing `role`, by backend name, built on first use; each is checked to
        implement the role's base class, so the typed accessors below may cast."""
        if role not in self._roles:
            built: dict[str, Source] = {}
            for declared in self.backends_for(role):
                source = self.source(declared.name)
                view = declared.views.get(role)
                built[declared.name] = view(source) if view is not None else source
            base = registry.ROLE_BASES.get(role, Source)
            for name, source in built.items():
                if not isinstance(source, base):
                    raise TypeError(f"backend {name!r} plays {role} but its source is no {base.__name__}")
            self._roles[role] = built
        return self._roles[role]

    def _one(self, role: Role) -> Source:
        """The first configured source playing `role`. Raises: UsageError: none is configured."""
        sources = self._sources(role)
        if not sources:
            raise UsageError(f"environment {self.env_name!r} has no {registry.tables(role)}")
        return next(iter(sources.values()))

    @property
    def tracking(self) -> TrackingSource:
        """The tracking source (MLflow), built on first use.

        Raises:
            UsageError: the environment names no tracking server.
        """
        return cast(TrackingSource, self._one(Role.TRACKING))

    @contextlib.contextmanager
    def _building(self, source: str) -> Iterator[None]:
        """Build a source: what stops it (a secret that cannot be resolved) becomes its status."""
        try:
            yield
        except ConfigError as exc:
            status = self.statuses.get(source) or SourceStatus(source)
            self.statuses[source] = structs.replace(
                status, state=SourceState.DEGRADED, last_error=exc.message
            )
            raise

    @property
    def serving(self) -> ServingSource:
        """The serving source (Vertex AI endpoints), built on first use.

        Raises:
            UsageError: the environment names no serving platform.
        """
        return cast(ServingSource, self._one(Role.SERVING))

    @property
    def metrics(self) -> MetricsSource:
        """The metrics source (Prometheus, or a monitoring job's MLflow runs), built on first use.

        Raises:
            UsageError: the environment names no metrics source.
        """
        return cast(MetricsSource, self._one(Role.METRICS))

    async def _track(self, source: str, call: Awaitable[T]) -> T:
        """Await one backend call and record what it says about the backend's health."""
        status = self.statuses.get(source) or SourceStatus(source)
        try:
            result = await call
        except (InvalidQuery, NotFound):
            # The question was wrong, not the backend: its status stands.
            raise
        except BackendUnreachable as exc:
            self.statuses[source] = structs.replace(status, state=SourceState.DOWN, last_error=exc.reason)
            raise
        except BackendError as exc:
            self.statuses[source] = structs.replace(status, state=SourceState.DEGRADED, last_error=exc.reason)
            raise
        except _SHAPE_ERRORS as exc:
            # The backend answered, but not in the shape its API documents (a proxy's page, another
            # API version): a backend error the pane can show, not a crash.
            error = BackendError(source, f"unexpected answer ({type(exc).__name__}: {exc})")
            self.statuses[source] = structs.replace(
                status, state=SourceState.DEGRADED, last_error=error.reason
            )
            raise error from None
        self.statuses[source] = structs.replace(
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
        return cast(dict[str, PipelineSource], self._sources(Role.PIPELINES))

    def pipeline_ref(self, pipeline_or_job_id: str) -> tuple[PipelineSource, str]:
        """The runner of a pipeline or job id, and the id as that runner knows it.

        A qualified id (`gitlab:1234`, `airflow:manual__2026-12-04T10:00:00+00:00`) names its
        runner. A bare id is accepted where exactly one configured runner can own it.

        Raises:
            UsageError: the id names a runner the environment lacks; or no configured runner can
            own the bare id; or several can (the message names the qualified candidates).
        """
        name, bare = registry.split_id(pipeline_or_job_id)
        configured = self.pipeline_sources
        if name is not None:
            if name in configured:
                return configured[name], bare
            raise UsageError(
                f"no configured pipeline source has a pipeline {pipeline_or_job_id!r} in {self.env_name} "
                f"(configured: {', '.join(configured) or 'none'}); {name} pipelines need "
                f"{registry.backend(name).table} in the config"
            )
        owners = _owners(bare, self.backends_for(Role.PIPELINES))
        if len(owners) == 1:
            return configured[owners[0]], bare
        if owners:
            raise _ambiguous(bare, owners)
        elsewhere = _owners(bare, registry.backends(Role.PIPELINES))
        message = (
            f"no configured pipeline source has a pipeline {pipeline_or_job_id!r} in {self.env_name} "
            f"(configured: {', '.join(configured) or 'none'})"
        )
        if elsewhere:
            needs = " or ".join(registry.backend(name).table for name in elsewhere)
            message += (
                f"; as an id it would be {' or '.join(elsewhere)}'s, and that needs {needs} in the config"
            )
        raise UsageError(message)

    def pipeline_source(self, pipeline_or_job_id: str) -> PipelineSource:
        """The runner a pipeline or job id belongs to (see `pipeline_ref`)."""
        return self.pipeline_ref(pipeline_or_job_id)[0]

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
            raise UsageError(f"environment {self.env_name!r} has no {registry.tables(Role.PIPELINES)}")
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
        """A pipeline and its jobs in stage order; `pipeline_id` bare or qualified (see `pipeline_ref`)."""
        source, bare = self.pipeline_ref(pipeline_id)
        pipeline, jobs = await self._track(
            source.name,
            asyncio.gather(source.get_pipeline(bare), source.list_jobs(bare)),
        )
        return pipeline, list(jobs)

    async def trace(self, job_id: str, offset: int = 0) -> TraceChunk:
        """A job's log from byte `offset` on; `job_id` bare or qualified (see `pipeline_ref`)."""
        source, bare = self.pipeline_ref(job_id)
        return await self._track(source.name, source.read_trace(bare, offset))

    # -- alerts -----------------------------------------------------------------------------

    @property
    def alert_sources(self) -> dict[str, AlertSource]:
        """The environment's alert sources by name (`alertmanager`, `rules`), built on first use."""
        return cast(dict[str, AlertSource], self._sources(Role.ALERTS))

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
            raise UsageError(f"environment {self.env_name!r} has no {registry.tables(Role.ALERTS)}")
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
        try:
            results = await asyncio.gather(
                *(self._track(name, call) for name, call in calls.items()), return_exceptions=True
            )
        except asyncio.CancelledError:
            # A poll cancelled before a source's turn came (a screen opened over its pane): that
            # call never started, and Python would warn about it on the terminal.
            for call in calls.values():
                if isinstance(call, Coroutine):
                    call.close()
            raise
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

    # -- serving: endpoints and their monitoring ------------------------------------------------

    async def endpoints(self) -> list[Endpoint]:
        """The endpoints of interest, with their deployed models and traffic split."""
        serving = self.serving
        return await self._track(serving.name, serving.list_endpoints())

    async def endpoint(self, ref: str) -> Endpoint:
        """One endpoint by id or display name. Raises: NotFound."""
        serving = self.serving
        return await self._track(serving.name, serving.get_endpoint(ref))

    async def vertex_pipelines(self, *, limit: int = 50) -> list[Pipeline]:
        """Recent Vertex pipeline jobs only, newest first.

        Raises:
            UsageError: the environment names no Vertex project.
        """
        source = self.pipeline_sources.get("vertex")
        if source is None:
            raise UsageError(f"environment {self.env_name!r} has no {registry.backend('vertex').table}")
        return await self._track(source.name, source.list_pipelines(limit=limit))

    async def monitoring_jobs(self) -> list[MonitoringJob]:
        """Model deployment monitoring jobs of the endpoints of interest."""
        serving = self.serving
        return await self._track(serving.name, serving.monitoring_jobs())

    # -- serving metrics -------------------------------------------------------------------------

    async def series_points(
        self, query: str, subject: MetricSubject, start: datetime, end: datetime, step: timedelta
    ) -> list[SeriesPoint]:
        """One named series' points for `subject` (see `MetricsSource.series_range`)."""
        metrics = self.metrics
        return await self._track(metrics.name, metrics.series_range(query, subject, start, end, step))

    async def series_latest(self, query: str, subject: MetricSubject) -> float | None:
        """One named series' current value for `subject`, if any."""
        metrics = self.metrics
        return await self._track(metrics.name, metrics.latest(query, subject, self.clock()))

    async def series_points_many(
        self,
        query: str,
        subjects: Sequence[MetricSubject],
        start: datetime,
        end: datetime,
        step: timedelta,
    ) -> list[list[SeriesPoint] | MlopsError]:
        """One named series' points for each of `subjects`, in one query per template where the
        source can (see `MetricsSource.series_range_many`): each one's points, or its error."""
        metrics = self.metrics
        answers = await self._track(
            metrics.name, metrics.series_range_many(query, subjects, start, end, step)
        )
        self._track_answers(metrics.name, answers)
        return answers

    async def series_latest_many(
        self, query: str, subjects: Sequence[MetricSubject]
    ) -> list[float | None | MlopsError]:
        """One named series' current value for each of `subjects` (see `series_points_many`)."""
        metrics = self.metrics
        answers = await self._track(metrics.name, metrics.latest_many(query, subjects, self.clock()))
        self._track_answers(metrics.name, answers)
        return answers

    def _track_answers(self, source: str, answers: Sequence[object]) -> None:
        """Record in `source`'s status the worst failure among the answers of a batched read."""
        failures = [a for a in answers if isinstance(a, BackendError)]
        down = [a for a in failures if isinstance(a, BackendUnreachable)]
        if failures:
            worst = (down or failures)[0]
            status = self.statuses.get(source) or SourceStatus(source)
            state = SourceState.DOWN if down else SourceState.DEGRADED
            self.statuses[source] = structs.replace(status, state=state, last_error=worst.reason)

    # -- lineage ----------------------------------------------------------------------------

    def lineage_of(self, run: Run) -> tuple[str, str] | None:
        """The runner and id of the pipeline that produced `run`, from its tags (each pipeline
        backend's `run_tag`), where this environment has that runner."""
        for declared in self.backends_for(Role.PIPELINES):
            if pipeline_id := declared.pipeline_in(run.tags):
                return declared.name, pipeline_id
        return None

    def pipeline_of(self, run: Run) -> str | None:
        """The id of the pipeline that produced `run` (see `lineage_of`), qualified by its runner
        where a bare id would not route to it alone."""
        found = self.lineage_of(run)
        if found is None:
            return None
        name, pipeline_id = found
        owners = _owners(pipeline_id, self.backends_for(Role.PIPELINES))
        return pipeline_id if owners == [name] else f"{name}:{pipeline_id}"

    async def pipeline_runs(self, pipeline: Pipeline) -> list[Run]:
        """The runs a pipeline produced (tagged with its id)."""
        found = registry.backend(pipeline.source).runs_of(pipeline.id)
        if found is None:
            return []
        page = await self.runs(found, max_results=50)
        return list(page.items)

    async def aclose(self) -> None:
        closed: set[int] = set()
        for source in [*self._built.values(), *(s for role in self._roles.values() for s in role.values())]:
            if id(source) not in closed:
                closed.add(id(source))
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
