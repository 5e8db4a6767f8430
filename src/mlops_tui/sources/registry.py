"""Every backend, declared once: what the hub, the TUI and the headless commands need to know of it.

A `Backend` says which roles a backend plays (tracking, pipelines, alerts, serving, metrics), how
an environment configures it, how to build its source, how often its panes refresh, which panes
it feeds and what to configure when it is missing. The hub builds an environment's sources by
iterating `backends()`; the TUI lays out its panes from the same list. Adding a backend is one
source module and one declaration here.

Declarations import no backend SDK: each factory imports its source module when it is called, so a
headless command that never touches a backend never pays for its import.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from mlops_tui.config import (
    AirflowSettings,
    AlertmanagerSettings,
    AlertRule,
    EnvironmentSettings,
    GitlabSettings,
    MetricsSettings,
    MlflowSettings,
    RetrainSettings,
    VertexSettings,
    resolve_secret,
)
from mlops_tui.config.naming import ModelNames
from mlops_tui.errors import UsageError
from mlops_tui.sources.base import (
    AlertSource,
    MetricsSource,
    PipelineSource,
    ServingSource,
    Source,
    TrackingSource,
)

__all__ = [
    "ROLE_BASES",
    "Backend",
    "BuildContext",
    "Role",
    "backend",
    "backends",
    "pane_hint",
    "register",
    "split_id",
    "tables",
    "unregister",
]


class Role(StrEnum):
    """What a backend does for an environment; each role has its abstract base in `sources.base`."""

    TRACKING = "tracking"
    """Experiments, runs and the model registry (`TrackingSource`)."""
    PIPELINES = "pipelines"
    """Pipelines that build and retrain models (`PipelineSource`)."""
    ALERTS = "alerts"
    """Firing alerts and their silences (`AlertSource`)."""
    SERVING = "serving"
    """Endpoints serving models, and their traffic (`ServingSource`)."""
    METRICS = "metrics"
    """Time series of serving metrics per model (`MetricsSource`)."""


ROLE_BASES: dict[Role, type[Source]] = {
    Role.TRACKING: TrackingSource,
    Role.PIPELINES: PipelineSource,
    Role.ALERTS: AlertSource,
    Role.SERVING: ServingSource,
    Role.METRICS: MetricsSource,
}
"""The abstract base a source implements for each role it plays (the hub checks it)."""


@dataclass(frozen=True)
class BuildContext:
    """What a factory may use besides its own settings: the environment it serves."""

    env_name: str
    env: EnvironmentSettings
    clock: Callable[[], datetime]
    names: ModelNames
    """How this environment names registered models."""
    tracking: Callable[[], TrackingSource]
    """The environment's tracking source, built on first call."""


S = TypeVar("S")


@dataclass(frozen=True, kw_only=True, eq=False)
class Backend(Generic[S]):
    """One backend's declaration. `S` is the type of its settings (its config table).
    Declarations compare by identity: a name is registered once."""

    name: str
    """Its name: in the status bar, in `Pipeline.source`, and before `:` in a qualified id."""
    roles: frozenset[Role]
    """The roles its source plays; the source implements each role's base class."""
    settings: type[Any]
    """The type of its settings, the table of `[environments.NAME]` that configures it."""
    configured: Callable[[EnvironmentSettings], S | None]
    """Its settings in an environment, or None where the environment does not configure it."""
    factory: Callable[[S, BuildContext], Source]
    """Builds its source from its settings. Imports the source module (and its SDK) lazily."""
    refresh: Callable[[S, EnvironmentSettings], float]
    """Seconds between two polls of the panes it feeds."""
    panes: tuple[str, ...]
    """The dashboard panes it feeds (`runs`, `models`, `pipelines`, `alerts`, `endpoints`)."""
    table: str
    """How messages name what configures it: `[gitlab] table`, `local [retrain]`."""
    hint: str
    """What to configure for it, as a pane that is not configured lists it:
    `a GitLab project ([environments.NAME.gitlab])`."""
    hinted_in: tuple[str, ...] | None = None
    """The panes whose 'not configured' text names it (default: every pane it feeds)."""
    embedded: bool = False
    """Runs inside mlops-tui, with no server of its own: listed after the others in hints."""
    views: Mapping[Role, Callable[[Any], Source]] = field(default_factory=dict)
    """For a role its source does not play itself, the adapter that plays it over the source."""
    run_tag: str | None = None
    """Pipelines: the run tag naming the pipeline that produced an MLflow run."""
    lineage: Callable[[Mapping[str, str]], str | None] | None = None
    """Pipelines whose runs name them in several tags: the pipeline id a run's tags name (default:
    the value of `run_tag`)."""
    runs_filter: Callable[[str], str] | None = None
    """Pipelines: the MLflow runs filter finding the runs a pipeline produced (default: `run_tag`
    equal to its id)."""
    owns_id: Callable[[str], bool] | None = None
    """Pipelines: whether a bare id (no `name:` before it) can be one of its pipelines or jobs.
    Only used to route bare ids, which stay accepted where exactly one source can own them."""
    id_shape: str = ""
    """Pipelines: how its ids look, for the message about an id no source can own."""

    def _settings(self, env: EnvironmentSettings) -> S:
        settings = self.configured(env)
        if settings is None:
            raise UsageError(f"the environment has no {self.table}")
        return settings

    def build(self, env: EnvironmentSettings, context: BuildContext) -> Source:
        """Its source for `env`.

        Raises:
            UsageError: `env` does not configure it. ConfigError: a secret cannot be resolved.
        """
        return self.factory(self._settings(env), context)

    def refresh_in(self, env: EnvironmentSettings) -> float:
        """Seconds between polls of its panes in `env`. Raises: UsageError: `env` does not
        configure it."""
        return self.refresh(self._settings(env), env)

    def pipeline_in(self, tags: Mapping[str, str]) -> str | None:
        """The id of this backend's pipeline that an MLflow run's `tags` name, if any."""
        if self.lineage is not None:
            return self.lineage(tags)
        return tags.get(self.run_tag) or None if self.run_tag else None

    def runs_of(self, pipeline_id: str) -> str | None:
        """The MLflow runs filter finding what pipeline `pipeline_id` produced; None: no lineage."""
        if self.runs_filter is not None:
            return self.runs_filter(pipeline_id)
        if self.run_tag is None:
            return None
        quoted = pipeline_id.replace("'", "\\'")
        return f"tags.`{self.run_tag}` = '{quoted}'"

    def feeds(self, pane: str) -> bool:
        """Whether it fills dashboard pane `pane`."""
        return pane in self.panes

    def hinted(self, pane: str) -> bool:
        """Whether `pane`'s 'not configured' text names it."""
        return pane in (self.hinted_in if self.hinted_in is not None else self.panes)


def _own_refresh(settings: Any, env: EnvironmentSettings) -> float:
    refresh: float = settings.refresh_seconds
    return refresh


# -- factories: each imports its source module when called ------------------------------------


def _mlflow(settings: MlflowSettings, context: BuildContext) -> Source:
    from mlops_tui.sources.mlflow import open_mlflow

    return open_mlflow(settings)


def _gitlab(settings: GitlabSettings, context: BuildContext) -> Source:
    from mlops_tui.sources.gitlab import GitlabSource

    retrain = context.env.retrain
    trigger = None
    if retrain is not None and retrain.kind == "gitlab" and retrain.trigger_token_env:
        trigger = resolve_secret(retrain.trigger_token_env)
    return GitlabSource(settings, ref=retrain.ref if retrain is not None else "main", trigger_token=trigger)


def _local(settings: RetrainSettings, context: BuildContext) -> Source:
    from mlops_tui.sources.local.runner import LocalRunner

    mlflow = context.env.mlflow
    return LocalRunner(
        settings, environment=context.env_name, tracking_uri=mlflow.tracking_uri if mlflow else ""
    )


def _alertmanager(settings: AlertmanagerSettings, context: BuildContext) -> Source:
    from mlops_tui.sources.alertmanager import AlertmanagerSource

    return AlertmanagerSource(settings)


def _rules(settings: list[AlertRule], context: BuildContext) -> Source:
    from mlops_tui.config import locations
    from mlops_tui.sources.rules import RulesSource, SilenceStore

    env, names = context.env, context.names
    mode = env.mlflow.promotion if env.mlflow else "alias"
    return RulesSource(
        settings,
        environment=context.env_name,
        models=env.models,
        tracking=context.tracking,
        registered_name=names.registered,
        model_name=names.model,
        owns=names.owns,
        serving="champion" if mode == "alias" else "Production",
        store=SilenceStore(
            locations.state_dir() / "alerts" / f"{context.env_name}.json", "rules", context.clock
        ),
    )


def _vertex(settings: VertexSettings, context: BuildContext) -> Source:
    # Light: the Vertex SDK is imported by the source's first call, not by its module.
    from mlops_tui.sources.vertex import VertexSource

    return VertexSource(settings, environment=context.env_name)


def _vertex_monitoring(source: Any) -> Source:
    from mlops_tui.sources.vertex import VertexMonitoring

    return VertexMonitoring(source)


def _vertex_id(text: str) -> bool:
    from mlops_tui.sources.vertex import is_vertex_id

    return is_vertex_id(text)


def _airflow(settings: AirflowSettings, context: BuildContext) -> Source:
    from mlops_tui.sources.airflow import AirflowSource

    retrain = context.env.retrain
    dag = retrain.dag if retrain is not None and retrain.kind == "airflow" else ""
    return AirflowSource(settings, dag_template=dag)


def _airflow_lineage(tags: Mapping[str, str]) -> str | None:
    from mlops_tui.sources.airflow import pipeline_from_tags

    return pipeline_from_tags(tags)


def _airflow_runs(pipeline_id: str) -> str:
    from mlops_tui.sources.airflow import lineage_filter

    return lineage_filter(pipeline_id)


def _prometheus(settings: MetricsSettings, context: BuildContext) -> Source:
    from mlops_tui.sources.prometheus import PrometheusSource

    return PrometheusSource(settings)


def _mlflow_metrics(settings: MetricsSettings, context: BuildContext) -> Source:
    from mlops_tui.sources.mlflow_metrics import MlflowMetricsSource

    if not settings.tracking_uri:
        return MlflowMetricsSource(settings, context.tracking)
    from mlops_tui.sources.mlflow import open_mlflow

    own = open_mlflow(
        MlflowSettings(
            tracking_uri=settings.tracking_uri,
            token_env=settings.token_env,
            token_command=settings.token_command,
            username_env=settings.username_env,
            password_env=settings.password_env,
            timeout_seconds=settings.timeout_seconds,
        )
    )
    return MlflowMetricsSource(settings, lambda: own, owned=own)


def _metrics_of(kind: str) -> Callable[[EnvironmentSettings], MetricsSettings | None]:
    return lambda env: env.metrics if env.metrics is not None and env.metrics.kind == kind else None


def _matches(pattern: str) -> Callable[[str], bool]:
    shape = re.compile(pattern)
    return lambda text: shape.match(text) is not None


def _local_retrain(env: EnvironmentSettings) -> RetrainSettings | None:
    return env.retrain if env.retrain is not None and env.retrain.kind == "local" else None


def _rules_of(env: EnvironmentSettings) -> list[AlertRule] | None:
    return env.rules or None


def _rules_refresh(rules: list[AlertRule], env: EnvironmentSettings) -> float:
    # Rules are read from the tracking server: they refresh with it.
    return env.mlflow.refresh_seconds if env.mlflow else 30.0


_BUILT_IN: tuple[Backend[Any], ...] = (
    Backend[MlflowSettings](
        name="mlflow",
        roles=frozenset({Role.TRACKING}),
        settings=MlflowSettings,
        configured=lambda env: env.mlflow,
        factory=_mlflow,
        refresh=_own_refresh,
        panes=("runs", "models"),
        table="[mlflow] table",
        hint="an MLflow tracking server or store ([environments.NAME.mlflow])",
    ),
    Backend[GitlabSettings](
        name="gitlab",
        roles=frozenset({Role.PIPELINES}),
        settings=GitlabSettings,
        configured=lambda env: env.gitlab,
        factory=_gitlab,
        refresh=_own_refresh,
        panes=("pipelines",),
        table="[gitlab] table",
        hint="a GitLab project ([environments.NAME.gitlab])",
        run_tag="gitlab.pipeline_id",
        owns_id=_matches(r"^\d+$"),
        id_shape="GitLab's are numbers",
    ),
    Backend[RetrainSettings](
        name="local",
        roles=frozenset({Role.PIPELINES}),
        settings=RetrainSettings,
        configured=_local_retrain,
        factory=_local,
        # Local runs are short and cheap to look at: their pane follows them closely.
        refresh=lambda settings, env: 5.0,
        panes=("pipelines",),
        table="local [retrain]",
        hint="a local retraining command ([environments.NAME.retrain])",
        embedded=True,
        run_tag="mlops_tui.pipeline_id",
        owns_id=_matches(r"^L\d+(-\d+)?$"),
        id_shape="local runs L<n>",
    ),
    Backend[AlertmanagerSettings](
        name="alertmanager",
        roles=frozenset({Role.ALERTS}),
        settings=AlertmanagerSettings,
        configured=lambda env: env.alertmanager,
        factory=_alertmanager,
        refresh=_own_refresh,
        panes=("alerts",),
        table="[alertmanager] table",
        hint="an Alertmanager ([environments.NAME.alertmanager])",
    ),
    Backend[list[AlertRule]](
        name="rules",
        roles=frozenset({Role.ALERTS}),
        settings=AlertRule,
        configured=_rules_of,
        factory=_rules,
        refresh=_rules_refresh,
        panes=("alerts",),
        table="[[rules]]",
        hint="local rules on MLflow metrics ([[environments.NAME.rules]])",
        embedded=True,
    ),
    Backend[VertexSettings](
        name="vertex",
        roles=frozenset({Role.PIPELINES, Role.ALERTS, Role.SERVING}),
        settings=VertexSettings,
        configured=lambda env: env.vertex,
        factory=_vertex,
        refresh=_own_refresh,
        panes=("pipelines", "alerts", "endpoints"),
        table="[vertex] table",
        hint="a Vertex AI project ([environments.NAME.vertex])",
        # Its model monitoring alerts concern Vertex-served models only: not the way to get alerts.
        hinted_in=("pipelines", "endpoints"),
        views={Role.ALERTS: _vertex_monitoring},
        run_tag="vertex.pipeline_job_id",
        owns_id=_vertex_id,
        id_shape="Vertex pipeline jobs lower-case names",
    ),
    Backend[AirflowSettings](
        name="airflow",
        roles=frozenset({Role.PIPELINES}),
        settings=AirflowSettings,
        configured=lambda env: env.airflow,
        factory=_airflow,
        refresh=_own_refresh,
        panes=("pipelines",),
        table="[airflow] table",
        hint="an Airflow or Cloud Composer ([environments.NAME.airflow])",
        lineage=_airflow_lineage,
        runs_filter=_airflow_runs,
        # A run id of digits alone has the shape of a Vertex task's id: that one must be qualified.
        owns_id=_matches(r"^[A-Za-z0-9_.-]+/(?!\d+(/|$))[^/\s]+(/[^/\s]+)?$"),
        id_shape="Airflow's DAG/RUN_ID",
    ),
    Backend[MetricsSettings](
        name="prometheus",
        roles=frozenset({Role.METRICS}),
        settings=MetricsSettings,
        configured=_metrics_of("prometheus"),
        factory=_prometheus,
        refresh=_own_refresh,
        panes=(),
        table="[metrics] table",
        hint="a Prometheus HTTP API ([environments.NAME.metrics])",
    ),
    Backend[MetricsSettings](
        name="mlflow-metrics",
        roles=frozenset({Role.METRICS}),
        settings=MetricsSettings,
        configured=_metrics_of("mlflow"),
        factory=_mlflow_metrics,
        refresh=_own_refresh,
        panes=(),
        table="[metrics] table",
        hint='serving metrics logged to MLflow ([environments.NAME.metrics] kind = "mlflow")',
        embedded=True,
    ),
)

_registry: list[Backend[Any]] = list(_BUILT_IN)


def backends(role: Role | None = None) -> tuple[Backend[Any], ...]:
    """The registered backends in order (the status bar's, and who feeds a pane first), or only
    those playing `role`."""
    return tuple(b for b in _registry if role is None or role in b.roles)


def backend(name: str) -> Backend[Any]:
    """Raises: KeyError: no backend of that name is registered."""
    for declared in _registry:
        if declared.name == name:
            return declared
    raise KeyError(name)


def register(declaration: Backend[Any], *, before: str | None = None) -> None:
    """Add a backend, last or before the one called `before`.

    Raises:
        ValueError: a backend of that name is already registered, or its name holds a `:`.
    """
    if ":" in declaration.name:
        raise ValueError(f"backend name {declaration.name!r} holds ':', which qualified ids use")
    if any(b.name == declaration.name for b in _registry):
        raise ValueError(f"backend {declaration.name!r} is already registered")
    at = len(_registry) if before is None else _registry.index(backend(before))
    _registry.insert(at, declaration)


def unregister(name: str) -> None:
    """Remove the backend called `name`. Raises: KeyError: none is registered."""
    _registry.remove(backend(name))


def split_id(text: str, role: Role = Role.PIPELINES) -> tuple[str | None, str]:
    """An id as `(source, id)`: `gitlab:1234` is `("gitlab", "1234")`; a bare id (or one whose part
    before `:` names no backend of `role`, as an Airflow run id's date does) is `(None, text)`."""
    prefix, colon, rest = text.partition(":")
    if colon and rest and any(b.name == prefix for b in backends(role)):
        return prefix, rest
    return None, text


def remote_first(declared: Iterable[Backend[Any]]) -> list[Backend[Any]]:
    """Backends with a server of their own first, then the embedded ones, each in registry order."""
    listed = list(declared)
    return [b for b in listed if not b.embedded] + [b for b in listed if b.embedded]


def _either(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


ROLE_PANES = {
    Role.TRACKING: "runs",
    Role.PIPELINES: "pipelines",
    Role.ALERTS: "alerts",
    Role.SERVING: "endpoints",
}
"""The pane showing each role: a message on a missing role names what that pane's hint names."""


def tables(role: Role) -> str:
    """What configures `role`, as `environment 'dev' has no ...` ends: `[alertmanager] table and no
    [[rules]]`."""
    pane = ROLE_PANES.get(role)
    # Backends of one table (a kind of it each) name it once.
    listed = list(
        dict.fromkeys(b.table for b in remote_first(backends(role)) if pane is None or b.hinted(pane))
    )
    if not listed:
        return f"{role} backend"
    return listed[0] if len(listed) == 1 else f"{', no '.join(listed[:-1])} and no {listed[-1]}"


def pane_hint(pane: str) -> str:
    """What to configure to fill `pane`: `a GitLab project ([environments.NAME.gitlab]), ... or
    a local retraining command ([environments.NAME.retrain])`."""
    return _either([b.hint for b in remote_first(backends()) if b.hinted(pane)])
