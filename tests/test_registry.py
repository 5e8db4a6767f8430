"""The backend registry: every backend declared once, the hub building what the config names from
it, ids qualified by their source, and a new pipeline backend added with one declaration."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
from msgspec.structs import replace

from mlops_tui.config import (
    AirflowSettings,
    AlertmanagerSettings,
    AlertRule,
    EnvironmentSettings,
    GitlabSettings,
    MlflowSettings,
    RetrainSettings,
    Settings,
    VertexSettings,
)
from mlops_tui.domain import Job, Pipeline, Run, TraceChunk
from mlops_tui.errors import NotFound, UsageError
from mlops_tui.hub import Hub, pipeline_tags, runner_of
from mlops_tui.ops.pipelines import plan_pipeline_change
from mlops_tui.sources import registry
from mlops_tui.sources.base import AlertSource, PipelineSource, ServingSource, TrackingSource
from mlops_tui.sources.registry import Backend, BuildContext, Role

AIRFLOW_RUN = "manual__2026-12-04T10:00:00+00:00"
"""An Airflow run id: no shape the built-in runners know, and a `:` of its own."""


def every_backend(tmp_path: Any) -> EnvironmentSettings:
    """An environment configuring every built-in backend (none is contacted: sources are built,
    not read)."""
    return EnvironmentSettings(
        mlflow=MlflowSettings(tracking_uri="http://127.0.0.1:9", refresh_seconds=12.0),
        gitlab=GitlabSettings(url="http://127.0.0.1:9", project="ml/churn", refresh_seconds=40.0),
        retrain=RetrainSettings(kind="local", command=["true"], workdir=str(tmp_path)),
        alertmanager=AlertmanagerSettings(url="http://127.0.0.1:9"),
        rules=[AlertRule(name="Low", metric="val_auc", op="<", threshold=0.8)],
        vertex=VertexSettings(project="p", location="europe-west4", credentials="anonymous"),
        airflow=AirflowSettings(url="http://127.0.0.1:9"),
    )


def test_every_backend_is_declared_once_with_what_its_roles_need() -> None:
    declared = registry.backends()
    names = [b.name for b in declared]
    assert names == [
        "mlflow",
        "gitlab",
        "local",
        "alertmanager",
        "rules",
        "vertex",
        "airflow",
        "prometheus",
        "mlflow-metrics",
    ]
    assert len(set(names)) == len(names)
    for backend in declared:
        assert backend.roles and backend.hint and backend.table
        # Serving metrics feed no pane of their own: they are drawn in others' (sparklines).
        assert backend.panes or backend.roles == {Role.METRICS}, backend.name
        assert ":" not in backend.name
    for backend in registry.backends(Role.PIPELINES):
        lineage = backend.run_tag or backend.lineage
        assert lineage and backend.owns_id is not None and backend.id_shape, backend.name
    assert pipeline_tags() == {
        "gitlab.pipeline_id": "gitlab",
        "mlops_tui.pipeline_id": "local",
        "vertex.pipeline_job_id": "vertex",
    }
    assert [b.name for b in registry.backends(Role.SERVING)] == ["vertex"]
    assert [b.name for b in registry.backends(Role.METRICS)] == ["prometheus", "mlflow-metrics"]
    assert registry.tables(Role.METRICS) == "[metrics] table"
    with pytest.raises(ValueError, match="already registered"):
        registry.register(registry.backend("gitlab"))


async def test_the_hub_builds_what_the_config_names_in_registry_order(tmp_path: Any) -> None:
    hub = Hub(Settings({"all": every_backend(tmp_path)}, "all"))
    try:
        assert list(hub.statuses) == [
            "mlflow",
            "gitlab",
            "local",
            "alertmanager",
            "rules",
            "vertex",
            "airflow",
        ]
        assert isinstance(hub.tracking, TrackingSource)
        assert list(hub.pipeline_sources) == ["gitlab", "local", "vertex", "airflow"]
        assert list(hub.alert_sources) == ["alertmanager", "rules", "vertex"]
        assert all(isinstance(s, PipelineSource) for s in hub.pipeline_sources.values())
        assert all(isinstance(s, AlertSource) for s in hub.alert_sources.values())
        assert isinstance(hub.serving, ServingSource)
        # One Vertex source plays three roles: its pipelines and endpoints are the same object.
        assert hub.serving is hub.pipeline_sources["vertex"]
        # Each pane refreshes as the first configured backend feeding it asks.
        first = {
            p: next(b for b in hub.backends if b.feeds(p)).refresh_in(hub.env) for p in ("runs", "pipelines")
        }
        assert first == {"runs": 12.0, "pipelines": 40.0}
    finally:
        await hub.aclose()
    bare = Hub(Settings({"bare": EnvironmentSettings()}, "bare"))
    assert bare.statuses == {} and bare.pipeline_sources == {} and bare.alert_sources == {}
    with pytest.raises(
        UsageError,
        match=r"has no \[gitlab\] table, no \[vertex\] table, no \[airflow\] table and no local \[retrain\]",
    ):
        await bare.pipelines()
    with pytest.raises(UsageError, match=r"has no \[vertex\] table$"):
        bare.serving  # noqa: B018 - the property builds, or refuses


async def test_qualified_ids_route_by_their_source_and_bare_ids_by_who_can_own_them(tmp_path: Any) -> None:
    hub = Hub(Settings({"all": every_backend(tmp_path)}, "all"))
    try:
        sources = hub.pipeline_sources
        assert hub.pipeline_ref("gitlab:1234") == (sources["gitlab"], "1234")
        assert hub.pipeline_ref("local:L3-1") == (sources["local"], "L3-1")
        assert hub.pipeline_ref("vertex:churn-retrain-1/7") == (sources["vertex"], "churn-retrain-1/7")
        # A qualified id routes by its source even where its shape says otherwise.
        assert hub.pipeline_ref("vertex:1234") == (sources["vertex"], "1234")
        assert hub.pipeline_ref("1234") == (sources["gitlab"], "1234")
        assert hub.pipeline_ref("L3") == (sources["local"], "L3")
        assert hub.pipeline_ref(f"airflow:retrain_churn/{AIRFLOW_RUN}") == (
            sources["airflow"],
            f"retrain_churn/{AIRFLOW_RUN}",
        )
        # A Vertex task's id (digits after the job's name) is not an Airflow run's; a run id is.
        assert hub.pipeline_ref("churn-retrain-1/7") == (sources["vertex"], "churn-retrain-1/7")
        assert hub.pipeline_ref(f"retrain_churn/{AIRFLOW_RUN}") == (
            sources["airflow"],
            f"retrain_churn/{AIRFLOW_RUN}",
        )
        with pytest.raises(UsageError, match="no configured pipeline source has a pipeline 'Churn!'"):
            hub.pipeline_ref("Churn!")
    finally:
        await hub.aclose()
    only_gitlab = Hub(
        Settings({"g": replace_env(every_backend(tmp_path), retrain=None, vertex=None, airflow=None)}, "g")
    )
    with pytest.raises(UsageError, match=r"\(configured: gitlab\); vertex pipelines need \[vertex\]"):
        only_gitlab.pipeline_ref("vertex:churn-retrain-1")
    # A bare id whose part before `:` names no backend is a bare id (an Airflow run's time).
    assert registry.split_id(AIRFLOW_RUN) == (None, AIRFLOW_RUN)
    assert registry.split_id(f"gitlab:{AIRFLOW_RUN}") == ("gitlab", AIRFLOW_RUN)
    assert runner_of("gitlab:1") == "gitlab"


def replace_env(env: EnvironmentSettings, **changes: Any) -> EnvironmentSettings:
    return replace(env, **changes)


# -- a new pipeline backend, added with one declaration -----------------------------------------


@dataclass(frozen=True)
class ToySettings:
    """The toy backend's settings; a real backend's are a table of `[environments.NAME]`."""

    refresh_seconds: float = 7.0


class ToyRunner(PipelineSource):
    """Pipelines held in memory, with Airflow-shaped run ids (`manual__<time>`)."""

    name: ClassVar[str] = "toyflow"

    def __init__(self) -> None:
        created = datetime(2026, 12, 4, 10, tzinfo=UTC)
        self.pipelines = {
            AIRFLOW_RUN: Pipeline(id=AIRFLOW_RUN, source=self.name, status="running", created=created)
        }

    def _job(self, pipeline: Pipeline) -> Job:
        return Job(
            id=f"{pipeline.id}/train",
            pipeline_id=pipeline.id,
            name="train",
            stage="train",
            status=pipeline.status,
            source=self.name,
        )

    async def list_pipelines(
        self, *, ref: str | None = None, status: str | None = None, limit: int = 50
    ) -> list[Pipeline]:
        return [p for p in self.pipelines.values() if status is None or p.status == status][:limit]

    async def get_pipeline(self, pipeline_id: str) -> Pipeline:
        try:
            return self.pipelines[pipeline_id]
        except KeyError:
            raise NotFound(self.name, f"no run {pipeline_id!r}") from None

    async def list_jobs(self, pipeline_id: str) -> list[Job]:
        return [self._job(await self.get_pipeline(pipeline_id))]

    async def get_job(self, job_id: str) -> Job:
        return self._job(await self.get_pipeline(job_id.removesuffix("/train")))

    async def read_trace(self, job_id: str, offset: int = 0) -> TraceChunk:
        text = f"training in {job_id}\n".encode()
        return TraceChunk(text[offset:].decode(), len(text), complete=False)

    async def start(
        self, variables: Mapping[str, str], *, ref: str | None = None, model: str | None = None
    ) -> Pipeline:
        raise NotImplementedError

    async def cancel_pipeline(self, pipeline_id: str) -> Pipeline:
        canceled = replace(await self.get_pipeline(pipeline_id), status="canceled")
        self.pipelines[pipeline_id] = canceled
        return canceled

    async def cancel_job(self, job_id: str) -> Job:
        return self._job(await self.cancel_pipeline(job_id.removesuffix("/train")))


TOY_TABLES: dict[int, ToySettings] = {}
"""The toy's settings by environment: what a config table is to a real backend."""


def toy_backend(
    owns_id: Any = lambda text: text.startswith(("manual__", "scheduled__")),
) -> Backend[ToySettings]:
    return Backend[ToySettings](
        name="toyflow",
        roles=frozenset({Role.PIPELINES}),
        settings=ToySettings,
        configured=lambda env: TOY_TABLES.get(id(env)),
        factory=lambda settings, context: ToyRunner(),
        refresh=lambda settings, env: settings.refresh_seconds,
        panes=("pipelines",),
        table="[toyflow] table",
        hint="a toy scheduler ([environments.NAME.toyflow])",
        run_tag="toyflow.run_id",
        owns_id=owns_id,
        id_shape="toy runs manual__<time>",
    )


@pytest.fixture
def toy() -> Iterator[Backend[ToySettings]]:
    declared = toy_backend()
    registry.register(declared)
    try:
        yield declared
    finally:
        registry.unregister(declared.name)


def with_toy(env: EnvironmentSettings) -> Settings:
    TOY_TABLES[id(env)] = ToySettings()
    return Settings({"dev": env}, "dev")


async def test_a_toy_pipeline_backend_needs_one_declaration(toy: Backend[ToySettings], tmp_path: Any) -> None:
    env = replace_env(
        every_backend(tmp_path), mlflow=None, rules=[], alertmanager=None, vertex=None, airflow=None
    )
    hub = Hub(with_toy(env))
    try:
        assert list(hub.statuses) == ["gitlab", "local", "toyflow"]
        assert list(hub.pipeline_sources) == ["gitlab", "local", "toyflow"]
        source = hub.pipeline_sources["toyflow"]
        # Routed by its source, and by the bare id only it can own.
        assert hub.pipeline_ref(f"toyflow:{AIRFLOW_RUN}") == (source, AIRFLOW_RUN)
        assert hub.pipeline_ref(AIRFLOW_RUN) == (source, AIRFLOW_RUN)
        assert runner_of(AIRFLOW_RUN) == "toyflow"
        pipeline, jobs = await hub.pipeline(f"toyflow:{AIRFLOW_RUN}")
        assert pipeline.id == AIRFLOW_RUN and pipeline.qualified_id == f"toyflow:{AIRFLOW_RUN}"
        assert [j.qualified_id for j in jobs] == [f"toyflow:{AIRFLOW_RUN}/train"]
        assert (await hub.trace(jobs[0].qualified_id)).text == f"training in {AIRFLOW_RUN}/train\n"
        assert hub.statuses["toyflow"].state == "ok"
        # Lineage: a run tagged by the toy's run tag names its pipeline.
        run = Run("r1", "run", "0", "FINISHED", None, None, tags={"toyflow.run_id": AIRFLOW_RUN})
        assert hub.lineage_of(run) == ("toyflow", AIRFLOW_RUN) and hub.pipeline_of(run) == AIRFLOW_RUN
        # The one write flow's plan takes the qualified id, and journals the id as its runner knows it.
        action = await plan_pipeline_change(hub, f"toyflow:{AIRFLOW_RUN}", verb="cancel", job=False)
        assert action.change.target == f"toyflow pipeline {AIRFLOW_RUN}" and action.change.before == "running"
        await action.apply()
        assert (await hub.pipeline(AIRFLOW_RUN))[0].status == "canceled"
        # The TUI's hint and the messages list it beside the others.
        assert "a toy scheduler ([environments.NAME.toyflow])" in registry.pane_hint("pipelines")
        assert registry.tables(Role.PIPELINES) == (
            "[gitlab] table, no [vertex] table, no [airflow] table, no [toyflow] table and no local [retrain]"
        )
    finally:
        await hub.aclose()
    assert registry.backends()[-1].name == "toyflow"


async def test_an_ambiguous_bare_id_is_a_usage_error_naming_the_candidates(tmp_path: Any) -> None:
    declared = toy_backend(owns_id=lambda text: True)
    registry.register(declared, before="vertex")
    try:
        assert [b.name for b in registry.backends(Role.PIPELINES)] == [
            "gitlab",
            "local",
            "toyflow",
            "vertex",
            "airflow",
        ]
        env = replace_env(every_backend(tmp_path), retrain=None, vertex=None, airflow=None)
        hub = Hub(with_toy(env))
        with pytest.raises(UsageError) as caught:
            hub.pipeline_ref("1234")
        assert "gitlab:1234" in caught.value.message and "toyflow:1234" in caught.value.message
        with pytest.raises(UsageError, match="gitlab:1234, toyflow:1234"):
            await hub.pipeline("1234")
        with pytest.raises(UsageError, match="several sources"):
            runner_of("1234")
        # Qualified, it is not ambiguous.
        assert hub.pipeline_ref("toyflow:1234")[0].name == "toyflow"
        assert hub.pipeline_ref("gitlab:1234")[0].name == "gitlab"
        await hub.aclose()
    finally:
        registry.unregister(declared.name)
    assert runner_of("1234") == "gitlab"


def test_a_context_is_all_a_factory_gets() -> None:
    """Factories see the environment through `BuildContext` only: no hub, no front end."""
    fields = set(BuildContext.__dataclass_fields__)
    assert fields == {"env_name", "env", "clock", "names", "tracking"}


def test_declarations_import_no_backend_module() -> None:
    """The registry is read by every command: its factories import their source modules (and
    SDKs) when called, never when declared."""
    script = "import json, sys\nimport mlops_tui.hub\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout))
    backend_modules = {
        "gitlab",
        "mlops_tui.sources.gitlab",
        "mlops_tui.sources.local.runner",
        "mlops_tui.sources.alertmanager",
        "mlops_tui.sources.rules",
        "mlops_tui.sources.vertex",
        "mlops_tui.sources.mlflow",
    }
    assert loaded & backend_modules == set()
