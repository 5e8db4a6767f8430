"""Pipeline write actions: retrain (start a pipeline), cancel and retry, through the one policy."""

from __future__ import annotations

from typing import Literal, Protocol

from msgspec.structs import replace

from mlops_tui.config import EnvironmentSettings
from mlops_tui.domain import FINISHED_STATUSES, Change, Job, Pipeline
from mlops_tui.errors import Refused, UsageError
from mlops_tui.ops.policy import WriteAction
from mlops_tui.sources.base import PipelineSource

__all__ = ["plan_pause", "plan_pipeline_change", "plan_retrain"]


class PipelineScope(Protocol):
    """One environment as pipeline actions need it (the hub is one)."""

    env_name: str
    env: EnvironmentSettings

    @property
    def pipeline_sources(self) -> dict[str, PipelineSource]: ...

    def pipeline_ref(self, pipeline_or_job_id: str) -> tuple[PipelineSource, str]: ...


class Retrain(WriteAction):
    """Start a training pipeline for one model. Starting twice makes two pipelines: there is no
    earlier state to race on, so `current()` is always None."""

    def __init__(
        self, source: PipelineSource, change: Change, variables: dict[str, str], ref: str, model: str
    ):
        self.source = source
        self.model = model
        self.change = change
        self.variables = variables
        self.ref = ref
        self.started: Pipeline | None = None

    async def current(self) -> str | None:
        """None: nothing is there before; Refused when the runner would not run it now."""
        await self.source.refuse_start(self.model)
        return None

    async def apply(self) -> None:
        self.started = await self.source.start(self.variables, ref=self.ref, model=self.model)
        self.change = replace(self.change, after=f"{self.source.name} pipeline {self.started.id}")

    async def verify(self) -> str | None:
        if self.started is None:
            return "no pipeline was started"
        await self.source.get_pipeline(self.started.id)
        return None


def plan_retrain(scope: PipelineScope, model: str, extra: dict[str, str]) -> Retrain:
    """Decide to start the environment's retraining for `model`, variables filled in.

    Raises:
        UsageError: the environment configures no [retrain].
    """
    retrain = scope.env.retrain
    if retrain is None:
        raise UsageError(f"environment {scope.env_name!r} has no [retrain] table")
    values = {"model": model, "env": scope.env_name}
    templates = dict(retrain.variables)
    if retrain.kind == "vertex" and scope.env.vertex is not None:
        templates = {**scope.env.vertex.parameters, **templates}
    if retrain.kind == "airflow":
        templates = {**retrain.conf, **templates}
    variables = {
        key: value.replace("{model}", model).replace("{env}", scope.env_name)
        for key, value in templates.items()
    }
    if retrain.kind == "local":
        variables = {**values, **variables}
    variables.update(extra)
    source = scope.pipeline_sources[retrain.kind]
    where = {
        "gitlab": f"gitlab ref {retrain.ref}",
        "airflow": f"airflow DAG {retrain.dag.replace('{model}', model)}",
    }.get(retrain.kind, retrain.kind)
    details = tuple(f"{k}={v}" for k, v in sorted(variables.items()))
    if retrain.kind == "vertex" and scope.env.vertex is not None:
        details = (f"template {scope.env.vertex.pipeline_template}", *details)
    change = Change(
        action="retrain",
        environment=scope.env_name,
        target=f"{model} ({where})",
        subject=model,
        before=None,
        after=f"a new {retrain.kind} pipeline",
        details=details,
        starts=True,
    )
    return Retrain(source, change, variables, retrain.ref, model)


Verb = Literal["cancel", "retry"]


class PipelineChange(WriteAction):
    """Cancel or retry a pipeline or one job; refused if its status moved since it was decided.
    `whole`: a retry runs every job of the pipeline again, not only the failed ones."""

    def __init__(
        self,
        source: PipelineSource,
        change: Change,
        *,
        verb: Verb,
        job: bool,
        item_id: str,
        whole: bool = False,
    ):
        self.source = source
        self.change = change
        self.verb = verb
        self.job = job
        self.item_id = item_id
        self.whole = whole
        self.result: Pipeline | Job | None = None

    async def _read(self) -> Pipeline | Job:
        if self.job:
            return await self.source.get_job(self.item_id)
        return await self.source.get_pipeline(self.item_id)

    async def current(self) -> str | None:
        return (await self._read()).status

    async def apply(self) -> None:
        if self.verb == "cancel":
            call = self.source.cancel_job if self.job else self.source.cancel_pipeline
        elif self.whole:
            call = self.source.rerun_pipeline
        else:
            call = self.source.retry_job if self.job else self.source.retry_pipeline
        self.result = await call(self.item_id)
        self.change = replace(self.change, after=self.result.status)

    async def verify(self) -> str | None:
        if self.result is None:
            return "nothing was done"
        canceled = self.source.canceled_statuses
        if self.verb == "cancel" and self.result.status not in canceled:
            now = (await self._read()).status
            if now not in canceled:
                return f"{self.change.target} is {now}, not canceled"
        return None


async def plan_pipeline_change(
    scope: PipelineScope, item_id: str, *, verb: Verb, job: bool, whole: bool = False
) -> PipelineChange:
    """Decide to cancel or retry a pipeline (or a job), on the status it has now. `item_id` is
    bare (`1234`) or qualified by its runner (`gitlab:1234`). `whole`: retry every job of the
    pipeline, once it has ended however it ended (Airflow clears the whole DAG run).

    Raises:
        NotFound: no such pipeline or job. UsageError: the runner cannot retry (or not whole).
        Refused: nothing to do in the state it is in (cancel a finished one, retry a success,
        run again one that has not ended).
    """
    source, item_id = scope.pipeline_ref(item_id)
    if verb == "retry" and not source.can_retry:
        raise UsageError(f"{source.name} pipelines cannot be retried; start a new one (retrain)")
    if whole and (verb != "retry" or job):
        raise UsageError("only a pipeline's retry can take every job (--all), not a cancel or one job's")
    if whole and not source.can_rerun:
        raise UsageError(f"{source.name} pipelines cannot be run again whole; retry the failed jobs")
    kind = "job" if job else "pipeline"
    action = PipelineChange(
        source,
        Change(
            action=verb,
            environment=scope.env_name,
            target=f"{source.name} {kind} {item_id}",
            subject=item_id,
            before=None,
            after="canceled" if verb == "cancel" else "running again",
            details=("every job runs again, not only the failed ones",) if whole else (),
        ),
        verb=verb,
        job=job,
        item_id=item_id,
        whole=whole,
    )
    status = await action.current()
    if verb == "cancel" and status in FINISHED_STATUSES:
        raise Refused(f"{action.change.target} already ended ({status}): nothing to cancel")
    if whole and status not in FINISHED_STATUSES:
        raise Refused(f"{action.change.target} is {status}: a pipeline runs again whole once it has ended")
    if verb == "retry" and not whole and status not in ("failed", "canceled"):
        raise Refused(f"{action.change.target} is {status}: only failed or canceled ones are retried")
    action.change = replace(action.change, before=status)
    return action


class PauseChange(WriteAction):
    """Pause or unpause what schedules a runner's pipelines (an Airflow DAG)."""

    def __init__(self, source: PipelineSource, change: Change, name: str, *, paused: bool):
        self.source = source
        self.change = change
        self.name = name
        self.paused = paused

    async def current(self) -> str | None:
        return "paused" if await self.source.is_paused(self.name) else "active"

    async def apply(self) -> None:
        await self.source.set_paused(self.name, self.paused)


async def plan_pause(scope: PipelineScope, item_id: str, *, paused: bool) -> PauseChange:
    """Decide to pause (or unpause) the DAG of `item_id`: `airflow:DAG`, or one of its runs or
    task instances.

    Raises:
        UsageError: the runner cannot pause. NotFound: no such DAG.
    """
    source, bare = scope.pipeline_ref(item_id)
    if not source.can_pause:
        raise UsageError(f"{source.name} pipelines cannot be paused")
    name = source.pausable(bare)
    verb = "pause" if paused else "unpause"
    action = PauseChange(
        source,
        Change(
            action=verb,
            environment=scope.env_name,
            target=f"{source.name} DAG {name}",
            subject=name,
            before=None,
            after="paused" if paused else "active",
        ),
        name,
        paused=paused,
    )
    action.change = replace(action.change, before=await action.current())
    return action
