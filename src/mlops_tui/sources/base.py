"""The abstract interfaces every backend adapter implements."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeVar

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
    TraceChunk,
)
from mlops_tui.domain.matchers import Matcher
from mlops_tui.errors import MlopsError, NotFound, UsageError

__all__ = ["AlertSource", "MetricsSource", "PipelineSource", "ServingSource", "Source", "TrackingSource"]

T = TypeVar("T")


class Source(ABC):
    """A backend. Async; every call either returns within the configured timeout or raises."""

    name: ClassVar[str]
    """Short name shown in the status bar (`mlflow`, `gitlab`, ...)."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, most sources hold nothing
        """Release connections and threads."""


class TrackingSource(Source):
    """Experiment tracking and model registry (MLflow)."""

    @abstractmethod
    async def list_experiments(self, names: Sequence[str] = ()) -> list[Experiment]:
        """Active experiments; only those called `names` when given.

        Raises:
            NotFound: a named experiment does not exist.
            BackendError: any other failure.
        """

    @abstractmethod
    async def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str = "",
        *,
        max_results: int = 100,
        page_token: str | None = None,
        order_by: str | None = None,
    ) -> Page[Run]:
        """Runs, newest first (or by `order_by`, e.g. `metrics.val_auc DESC`), filtered, ordered
        and paged by the server.

        Raises:
            InvalidQuery: the filter does not parse.
            BackendError: any other failure.
        """

    @abstractmethod
    async def get_run(self, run_id: str) -> Run:
        """Raises: NotFound."""

    async def producing_run(self, version: ModelVersion) -> Run | None:
        """The run that produced `version`, if it has one the store still holds."""
        if not version.run_id:
            return None
        try:
            return await self.get_run(version.run_id)
        except NotFound:
            return None

    @abstractmethod
    async def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        """Every logged value of one metric, by step."""

    @abstractmethod
    async def search_models(
        self, filter_string: str = "", *, max_results: int = 100, page_token: str | None = None
    ) -> Page[RegisteredModel]:
        """Registered models by name, with aliases and latest versions."""

    @abstractmethod
    async def get_model(self, name: str) -> RegisteredModel:
        """Raises: NotFound."""

    @abstractmethod
    async def search_versions(self, filter_string: str) -> list[ModelVersion]:
        """Model versions matching a registry filter (`name='churn'`, `run_id='...'`), newest
        first, with their aliases filled in."""

    # -- registry writes ----------------------------------------------------------------------

    @abstractmethod
    async def get_version(self, name: str, version: str) -> ModelVersion:
        """One version, aliases filled in. Raises: NotFound."""

    @abstractmethod
    async def set_alias(self, name: str, alias: str, version: str) -> None:
        """Point `alias` of model `name` at `version`."""

    @abstractmethod
    async def transition_stage(
        self, name: str, version: str, stage: str, *, archive_existing: bool = False
    ) -> None:
        """Move a version to a legacy stage (`Staging`, `Production`, `Archived`, `None`)."""

    @abstractmethod
    async def set_model_tag(self, name: str, key: str, value: str) -> None:
        """Set a tag on a registered model."""

    @abstractmethod
    async def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        """Set a tag on a model version."""

    @abstractmethod
    async def ensure_model(self, name: str, *, description: str = "") -> bool:
        """Create registered model `name` unless it exists. Returns: whether it was created."""

    @abstractmethod
    async def delete_model(self, name: str) -> None:
        """Delete registered model `name` and its versions. Raises: NotFound."""

    @abstractmethod
    async def create_version(
        self,
        name: str,
        source: str,
        *,
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
        description: str = "",
    ) -> ModelVersion:
        """Register a new version of `name` from `source` (an artifact URI or `models:/...`)."""

    @abstractmethod
    async def download_uri(self, name: str, version: str) -> str:
        """Where the version's artifacts are stored, as a URI another server can read."""


class PipelineSource(Source):
    """Pipelines that build and retrain models: GitLab CI/CD, the local runner, Vertex AI."""

    can_retry: ClassVar[bool] = True
    """Whether `retry_pipeline` and `retry_job` are supported."""
    can_pause: ClassVar[bool] = False
    """Whether `is_paused` and `set_paused` are supported (Airflow pauses a DAG's runs)."""
    can_rerun: ClassVar[bool] = False
    """Whether `rerun_pipeline` is supported: every job of a pipeline run again, not only the
    failed ones (Airflow clears a whole DAG run)."""
    canceled_statuses: ClassVar[frozenset[str]] = frozenset({"canceled", "canceling"})
    """The statuses a cancelled pipeline or job reads (Airflow's cancel marks a run failed)."""

    @abstractmethod
    async def list_pipelines(
        self, *, ref: str | None = None, status: str | None = None, limit: int = 50
    ) -> list[Pipeline]:
        """Recent pipelines, newest first, filtered by the server where it can."""

    @abstractmethod
    async def get_pipeline(self, pipeline_id: str) -> Pipeline:
        """Raises: NotFound."""

    @abstractmethod
    async def list_jobs(self, pipeline_id: str) -> list[Job]:
        """The pipeline's jobs, in stage order."""

    @abstractmethod
    async def get_job(self, job_id: str) -> Job:
        """Raises: NotFound."""

    @abstractmethod
    async def read_trace(self, job_id: str, offset: int = 0) -> TraceChunk:
        """The job's log from byte `offset` on (ranged reads: a large log is never read whole
        on every poll)."""

    @abstractmethod
    async def start(
        self, variables: Mapping[str, str], *, ref: str | None = None, model: str | None = None
    ) -> Pipeline:
        """Start a pipeline with these variables (retraining `model`, where the runner records it)."""

    async def refuse_start(self, model: str | None) -> None:
        """Raise Refused when a pipeline started now for `model` would not run (a paused Airflow
        DAG); checked right before starting one."""

    @abstractmethod
    async def cancel_pipeline(self, pipeline_id: str) -> Pipeline:
        """Cancel a pipeline; returns it as it is afterwards."""

    @abstractmethod
    async def cancel_job(self, job_id: str) -> Job:
        """Cancel one job; returns it as it is afterwards."""

    async def retry_pipeline(self, pipeline_id: str) -> Pipeline:
        """Retry the failed jobs of a pipeline. Raises: UsageError where not supported."""
        raise UsageError(f"{self.name} pipelines cannot be retried")

    async def retry_job(self, job_id: str) -> Job:
        """Retry one job. Raises: UsageError where not supported."""
        raise UsageError(f"{self.name} jobs cannot be retried")

    async def rerun_pipeline(self, pipeline_id: str) -> Pipeline:
        """Run every job of a pipeline again; returns it as it is afterwards. Raises: UsageError
        where not supported."""
        raise UsageError(f"{self.name} pipelines cannot be run again whole; retry the failed jobs")

    def try_id(self, job_id: str, try_number: int) -> str | None:
        """The id whose log is one try of a job (`read_trace` reads that try's log); None where
        a job's log is its latest try's only."""
        return None

    def pausable(self, item_id: str) -> str:
        """What pausing `item_id` (a pipeline, a job, or what schedules them) pauses, by name:
        an Airflow DAG. Raises: UsageError where not supported, or for an id of another kind."""
        raise UsageError(f"{self.name} pipelines cannot be paused")

    async def is_paused(self, name: str) -> bool:
        """Whether `name` (from `pausable`) is paused. Raises: UsageError where not supported."""
        raise UsageError(f"{self.name} pipelines cannot be paused")

    async def set_paused(self, name: str, paused: bool) -> bool:
        """Pause or unpause `name` (from `pausable`); returns whether it is paused afterwards.
        Raises: UsageError where not supported."""
        raise UsageError(f"{self.name} pipelines cannot be paused")


class AlertSource(Source):
    """Firing alerts and the silences that mute them (Alertmanager, local rules, Vertex monitoring)."""

    can_silence: ClassVar[bool] = True
    """Whether `create_silence` and `expire_silence` are supported."""

    @abstractmethod
    async def list_alerts(self, matchers: Sequence[Matcher] = (), *, muted: bool = True) -> list[Alert]:
        """Firing alerts matching every matcher; silenced and inhibited ones too unless `muted`
        is False.

        Raises:
            InvalidQuery: the backend rejected a matcher.
            BackendError: any other failure.
        """

    @abstractmethod
    async def list_silences(self) -> list[Silence]:
        """Every silence the backend holds, expired ones included, newest first."""

    async def get_silence(self, silence_id: str) -> Silence:
        """Raises: NotFound."""
        from mlops_tui.errors import NotFound

        for silence in await self.list_silences():
            if silence.id == silence_id:
                return silence
        raise NotFound(self.name, f"no silence {silence_id!r}")

    async def create_silence(
        self,
        matchers: Sequence[Matcher],
        *,
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        comment: str,
    ) -> str:
        """Create a silence; returns its id. Raises: UsageError where not supported,
        InvalidQuery when the backend rejects it (its message as it words it)."""
        raise UsageError(f"{self.name} alerts cannot be silenced")

    async def expire_silence(self, silence_id: str) -> None:
        """End a silence now. Raises: NotFound, UsageError where not supported."""
        raise UsageError(f"{self.name} silences cannot be expired")


class ServingSource(Source):
    """Endpoints that serve models, their deployed models and traffic split (Vertex AI)."""

    @abstractmethod
    async def list_endpoints(self) -> list[Endpoint]:
        """The endpoints of interest, with their deployed models and traffic split."""

    @abstractmethod
    async def get_endpoint(self, ref: str) -> Endpoint:
        """One endpoint by resource name, id or display name.

        Raises:
            NotFound: no such endpoint.
        """

    @abstractmethod
    async def set_traffic(self, endpoint: Endpoint, split: Mapping[str, int]) -> Endpoint:
        """Replace the endpoint's traffic split (deployed model id -> percent); returns the
        endpoint as it is afterwards."""

    @abstractmethod
    async def undeploy(self, endpoint: Endpoint, deployed_model_id: str, split: Mapping[str, int]) -> None:
        """Undeploy one model; `split` is the traffic the remaining ones get."""

    async def monitoring_jobs(self) -> list[MonitoringJob]:
        """Jobs monitoring the deployed models (skew, drift), where the platform has them."""
        return []


class MetricsSource(Source):
    """Serving metrics of models over time: a Prometheus HTTP API, the runs a monitoring job logs
    to MLflow. What to read is a named series' query (`SeriesSettings.query`): a PromQL template,
    an MLflow metric key; the source fills it in for one model (`MetricSubject`)."""

    latest_window: ClassVar[timedelta] = timedelta(days=1)
    """How far back `latest` looks for a value, by default."""

    @abstractmethod
    async def series_range(
        self, query: str, subject: MetricSubject, start: datetime, end: datetime, step: timedelta
    ) -> list[SeriesPoint]:
        """The points of `query` for `subject` from `start` to `end`, about every `step`, oldest first;
        empty where the backend holds none.

        Raises:
            InvalidQuery: the backend refused the query (its message as it words it).
            BackendError: any other failure. BackendUnreachable: no answer.
        """

    async def latest(self, query: str, subject: MetricSubject, at: datetime) -> float | None:
        """The value of `query` for `subject` at `at` (the newest within `latest_window`), if any.

        Raises: as `series_range`.
        """
        points = await self.series_range(query, subject, at - self.latest_window, at, timedelta(minutes=5))
        return points[-1].value if points else None

    async def series_range_many(
        self,
        query: str,
        subjects: Sequence[MetricSubject],
        start: datetime,
        end: datetime,
        step: timedelta,
    ) -> list[list[SeriesPoint] | MlopsError]:
        """`series_range` of one template for each of `subjects`, in their order: each subject's
        points, or the error that kept them from being read. By default one `series_range` per
        subject, all at once; a source that can ask for many subjects in one request does.

        Raises: only what is not an MlopsError (a bug).
        """
        return await each(subjects, lambda subject: self.series_range(query, subject, start, end, step))

    async def latest_many(
        self, query: str, subjects: Sequence[MetricSubject], at: datetime
    ) -> list[float | None | MlopsError]:
        """`latest` of one template for each of `subjects`, in their order (a value, None for none,
        or the error), as `series_range_many` does.

        Raises: only what is not an MlopsError (a bug).
        """
        return await each(subjects, lambda subject: self.latest(query, subject, at))


async def each(items: Sequence[T], call: Callable[[T], Awaitable[object]]) -> list[Any]:
    """`call` for every item at once: each one's answer, or the MlopsError it raised, in order."""
    answers = await asyncio.gather(*(call(item) for item in items), return_exceptions=True)
    for answer in answers:
        if isinstance(answer, BaseException) and not isinstance(answer, MlopsError):
            raise answer
    return answers
