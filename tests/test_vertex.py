"""The Vertex AI source through the real `google.cloud.aiplatform_v1` clients (REST transport,
anonymous credentials) against the fake Vertex AI v1 REST server: endpoints and traffic, pipeline
jobs and retraining, model monitoring, and the faults a person must be able to act on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops_tui.config import EnvironmentSettings, Settings, VertexSettings, parse_settings
from mlops_tui.domain.matchers import Matcher
from mlops_tui.errors import BackendError, BackendUnreachable, ConfigError, NotFound, UsageError
from mlops_tui.hub import Hub, runner_of
from mlops_tui.sources.vertex import VertexMonitoring, VertexSource
from tests.fakes.vertex_server import PIPELINE_SPEC, FakeVertex, seed_churn
from tests.helpers import closed_port


@pytest.fixture
def fake() -> Iterator[FakeVertex]:
    with FakeVertex("acme-ml", "us-central1") as server:
        seed_churn(server)
        yield server


@pytest.fixture
def template(tmp_path: Path) -> Path:
    path = tmp_path / "churn-train.json"
    path.write_text(json.dumps(PIPELINE_SPEC))
    return path


def vertex_settings(url: str, **overrides: Any) -> VertexSettings:
    table: dict[str, Any] = {
        "project": "acme-ml",
        "location": "us-central1",
        "endpoints": ["churn-endpoint"],
        "api_endpoint": url,
        "credentials": "anonymous",
        "pipeline_root": "gs://acme-ml/pipeline-root",
        "parameters": {"model_name": "{model}", "target_env": "{env}"},
        "timeout_seconds": 10.0,
        **overrides,
    }
    return VertexSettings(**table)


@pytest.fixture
def source(fake: FakeVertex, template: Path) -> VertexSource:
    return VertexSource(vertex_settings(fake.url, pipeline_template=str(template)), environment="prd")


# -- endpoints -------------------------------------------------------------------------------------


async def test_endpoints_of_interest_with_deployed_models_and_the_mlflow_version_they_serve(
    source: VertexSource,
) -> None:
    [endpoint] = await source.list_endpoints()
    assert (endpoint.id, endpoint.display_name) == ("1001", "churn-endpoint")
    assert endpoint.traffic_split == {"11": 90, "12": 10}
    assert endpoint.split_text == "11=90 12=10"
    served = [
        (d.id, d.model_display_name, d.model_version, d.mlflow_model, d.mlflow_version)
        for d in endpoint.deployed_models
    ]
    assert served == [("11", "churn-model", "1", "churn", "3"), ("12", "churn-model", "2", "churn", "4")]
    assert endpoint.deployed_models[0].model == "projects/acme-ml/locations/us-central1/models/501"
    assert endpoint.created is not None and endpoint.created.tzinfo is not None


async def test_every_endpoint_when_none_is_named(fake: FakeVertex) -> None:
    source = VertexSource(vertex_settings(fake.url, endpoints=[]))
    assert [e.display_name for e in await source.list_endpoints()] == ["churn-endpoint", "fraud-endpoint"]


async def test_one_endpoint_by_id_or_display_name(source: VertexSource, fake: FakeVertex) -> None:
    assert (await source.get_endpoint("1001")).display_name == "churn-endpoint"
    assert (await source.get_endpoint("fraud-endpoint")).id == "1002"
    with pytest.raises(NotFound, match="no endpoint 'nope'"):
        await source.get_endpoint("nope")
    with pytest.raises(NotFound, match="endpoint 9999 not found"):
        await source.get_endpoint("9999")


async def test_set_traffic_patches_the_split_with_its_update_mask(
    source: VertexSource, fake: FakeVertex
) -> None:
    endpoint = await source.get_endpoint("churn-endpoint")
    updated = await source.set_traffic(endpoint, {"11": 0, "12": 100})
    assert updated.traffic_split == {"11": 0, "12": 100}
    [patch] = [r for r in fake.requests if r.method == "PATCH"]
    assert patch.path == "/v1/projects/acme-ml/locations/us-central1/endpoints/1001"
    assert patch.query["updateMask"] == ["trafficSplit"]
    assert patch.body["trafficSplit"] == {"11": 0, "12": 100}


async def test_undeploy_waits_for_the_long_running_operation(source: VertexSource, fake: FakeVertex) -> None:
    fake.operation_polls = 2
    endpoint = await source.get_endpoint("churn-endpoint")
    await source.undeploy(endpoint, "12", {"11": 100})
    assert [d["id"] for d in fake.endpoints["1001"]["deployedModels"]] == ["11"]
    assert fake.endpoints["1001"]["trafficSplit"] == {"11": 100}
    polls = [r.path for r in fake.requests if "/operations/" in r.path]
    # The REST transport polls operations under /ui/, until done.
    assert len(polls) == 2 and all(
        p.startswith("/ui/projects/acme-ml/locations/us-central1/endpoints/1001/operations/") for p in polls
    )


async def test_a_failed_operation_shows_its_error(source: VertexSource, fake: FakeVertex) -> None:
    fake.operation_error = ("FAILED_PRECONDITION", "Deployed model 12 is serving a running batch job.")
    endpoint = await source.get_endpoint("churn-endpoint")
    with pytest.raises(BackendError) as caught:
        await source.undeploy(endpoint, "12", {"11": 100})
    assert "failed: Deployed model 12 is serving a running batch job." in caught.value.message
    assert "/operations/" in caught.value.message
    assert len(fake.endpoints["1001"]["deployedModels"]) == 2


async def test_permission_denied_names_the_resource(source: VertexSource, fake: FakeVertex) -> None:
    fake.denied.add("projects/acme-ml/locations/us-central1/endpoints")
    with pytest.raises(BackendError) as caught:
        await source.list_endpoints()
    assert not isinstance(caught.value, BackendUnreachable | NotFound)
    message = caught.value.message
    assert message.startswith(
        "vertex: permission denied on endpoints of projects/acme-ml/locations/us-central1 (403)"
    )
    assert "aiplatform.endpoints.get" in message


async def test_another_project_is_permission_denied_too(fake: FakeVertex) -> None:
    source = VertexSource(vertex_settings(fake.url, project="someone-else"))
    with pytest.raises(BackendError, match=r"permission denied on endpoints of projects/someone-else/"):
        await source.list_endpoints()


async def test_unreachable_is_backend_unreachable() -> None:
    source = VertexSource(vertex_settings(f"http://127.0.0.1:{closed_port()}"))
    with pytest.raises(BackendUnreachable, match="cannot reach http://127.0.0.1:.*connection refused"):
        await source.list_endpoints()


# -- credentials -----------------------------------------------------------------------------------


@pytest.fixture
def no_google_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A machine with no application default credentials: no key file variable, an empty gcloud
    config, and no metadata server (google-auth's own switch for skipping that probe)."""
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")


async def test_missing_default_credentials_say_how_to_provide_them(
    fake: FakeVertex, no_google_credentials: None
) -> None:
    source = VertexSource(vertex_settings(fake.url, credentials="default"))
    with pytest.raises(BackendError) as caught:
        await source.list_endpoints()
    assert "no Google credentials found: run `gcloud auth application-default login`" in caught.value.message
    assert "GOOGLE_APPLICATION_CREDENTIALS" in caught.value.message
    assert fake.requests == []


async def test_an_unset_credentials_variable_is_named(fake: FakeVertex, no_google_credentials: None) -> None:
    source = VertexSource(
        vertex_settings(fake.url, credentials="default", credentials_env="GOOGLE_APPLICATION_CREDENTIALS")
    )
    with pytest.raises(ConfigError, match="environment variable GOOGLE_APPLICATION_CREDENTIALS is not set"):
        await source.list_endpoints()


async def test_an_unreadable_key_file_is_named(
    fake: FakeVertex, no_google_credentials: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VERTEX_KEY", str(tmp_path / "missing.json"))
    source = VertexSource(vertex_settings(fake.url, credentials="default", credentials_env="VERTEX_KEY"))
    with pytest.raises(BackendError, match=r"cannot use the key file in \$VERTEX_KEY"):
        await source.list_endpoints()


# -- pipeline jobs ---------------------------------------------------------------------------------


async def test_pipeline_jobs_newest_first_in_gitlabs_words(source: VertexSource) -> None:
    pipelines = await source.list_pipelines()
    assert [(p.id, p.status, p.source, p.model) for p in pipelines] == [
        ("churn-retrain-20261126090000", "running", "vertex", "churn"),
        ("churn-retrain-20261125090000", "success", "vertex", "churn"),
    ]
    done = pipelines[1]
    assert done.ref == "train" and done.duration is not None and done.duration.total_seconds() == 14 * 60
    assert done.web_url and "pipelines/runs/churn-retrain-20261125090000?project=acme-ml" in done.web_url
    assert [p.id for p in await source.list_pipelines(status="success")] == ["churn-retrain-20261125090000"]
    assert await source.list_pipelines(ref="other") == []


async def test_jobs_are_the_tasks_and_the_trace_is_their_record(
    source: VertexSource, fake: FakeVertex
) -> None:
    fake.add_pipeline_job(
        "churn-failed", "PIPELINE_STATE_FAILED", tasks=[("train", "FAILED")], error="OOMKilled"
    )
    [task] = await source.list_jobs("churn-failed")
    assert (task.id, task.name, task.status) == ("churn-failed/1000", "train", "failed")
    assert (await source.get_job(task.id)).status == "failed"
    chunk = await source.read_trace(task.id)
    assert chunk.complete and "state:    FAILED" in chunk.text and "error:    OOMKilled" in chunk.text
    assert "No log available here: Vertex AI writes task logs to Cloud Logging." in chunk.text
    assert (await source.read_trace(task.id, chunk.next_offset)).text == ""
    with pytest.raises(NotFound):
        await source.get_job("churn-failed/42")


async def test_cancel_moves_the_job_to_canceling_then_canceled(
    source: VertexSource, fake: FakeVertex
) -> None:
    after = await source.cancel_pipeline("churn-retrain-20261126090000")
    assert after.status in ("canceling", "canceled")
    assert (await source.get_pipeline("churn-retrain-20261126090000")).status == "canceled"
    assert (
        "POST /v1/projects/acme-ml/locations/us-central1/pipelineJobs/churn-retrain-20261126090000:cancel"
        in fake.writes()
    )


async def test_start_creates_a_pipeline_job_from_the_template_with_typed_parameters(
    source: VertexSource, fake: FakeVertex
) -> None:
    started = await source.start({"model_name": "churn", "target_env": "prd", "epochs": "5"}, model="churn")
    assert started.source == "vertex" and started.status == "pending" and started.model == "churn"
    assert runner_of(started.id) == "vertex" and started.id.startswith("churn-retrain-")
    [create] = [r for r in fake.requests if r.method == "POST" and r.path.endswith("/pipelineJobs")]
    assert create.query["pipelineJobId"] == [started.id]
    assert create.body["runtimeConfig"] == {
        "gcsOutputDirectory": "gs://acme-ml/pipeline-root",
        "parameterValues": {"model_name": "churn", "target_env": "prd", "epochs": 5},
    }
    assert create.body["pipelineSpec"]["pipelineInfo"] == {"name": "churn-train"}
    assert create.body["labels"] == {"mlflow_model": "churn", "mlops_tui_env": "prd"}


async def test_a_parameter_the_template_does_not_declare_is_refused_before_sending(
    source: VertexSource, fake: FakeVertex
) -> None:
    with pytest.raises(
        UsageError,
        match=r"declares no parameter 'learning_rate' \(it declares: epochs, model_name, target_env\)",
    ):
        await source.start({"learning_rate": "0.1"})
    assert fake.writes() == []


async def test_a_template_in_cloud_storage_is_downloaded(
    fake: FakeVertex, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.objects[("acme-ml", "pipelines/churn-train.json")] = json.dumps(PIPELINE_SPEC).encode()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", fake.url)
    source = VertexSource(
        vertex_settings(fake.url, pipeline_template="gs://acme-ml/pipelines/churn-train.json")
    )
    started = await source.start({"model_name": "churn"}, model="churn")
    assert fake.pipeline_jobs[started.id]["pipelineSpec"]["pipelineInfo"]["name"] == "churn-train"
    download = [r for r in fake.requests if r.path.startswith("/storage/")]
    assert download[0].path == "/storage/v1/b/acme-ml/o/pipelines/churn-train.json"
    missing = VertexSource(vertex_settings(fake.url, pipeline_template="gs://acme-ml/nope.json"))
    with pytest.raises(NotFound, match="pipeline template gs://acme-ml/nope.json not found"):
        await missing.start({})


async def test_a_yaml_template_works_too(fake: FakeVertex, tmp_path: Path) -> None:
    import yaml

    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(PIPELINE_SPEC))
    source = VertexSource(vertex_settings(fake.url, pipeline_template=str(path)))
    started = await source.start({"epochs": "3"})
    assert fake.pipeline_jobs[started.id]["runtimeConfig"]["parameterValues"] == {"epochs": 3}


# -- model monitoring ------------------------------------------------------------------------------


async def test_monitoring_jobs_of_the_endpoints_of_interest(source: VertexSource) -> None:
    [job] = await source.monitoring_jobs()
    assert (job.id, job.state, job.deployed_model_ids) == ("3001", "running", ("11", "12"))
    assert job.endpoint.endswith("/endpoints/1001") and job.last_run is not None


async def test_anomalies_are_alerts_linked_to_the_model(source: VertexSource, fake: FakeVertex) -> None:
    monitoring = VertexMonitoring(source)
    [alert] = await monitoring.list_alerts()
    assert alert.source == "vertex" and alert.name == "VertexFeatureDrift" and alert.severity == "warning"
    assert alert.labels["model"] == "churn" and alert.labels["version"] == "4"
    assert alert.labels["feature"] == "tenure" and alert.labels["endpoint"] == "churn-endpoint"
    assert alert.summary == "raw feature drift of tenure: 0.42 > 0.3"
    search = [r for r in fake.requests if r.path.endswith(":searchModelDeploymentMonitoringStatsAnomalies")]
    assert {r.body["deployedModelId"] for r in search} == {"11", "12"}
    assert await monitoring.list_alerts([Matcher.equal("model", "fraud")]) == []
    assert not monitoring.can_silence


async def test_a_failing_monitoring_job_is_an_alert(fake: FakeVertex) -> None:
    fake.add_monitoring_job("3003", "1001", ["11"], error="BigQuery table acme.logs not found")
    source = VertexSource(vertex_settings(fake.url))
    alerts = await VertexMonitoring(source).list_alerts()
    failing = [a for a in alerts if a.name == "VertexMonitoringJobFailing"]
    assert len(failing) == 1 and failing[0].description == "BigQuery table acme.logs not found"


# -- config and routing ----------------------------------------------------------------------------


def test_anonymous_credentials_need_an_api_endpoint() -> None:
    table = {"project": "p", "location": "us-central1", "credentials": "anonymous"}
    with pytest.raises(ConfigError) as caught:
        parse_settings({"environments": {"prd": {"vertex": table}}})
    assert caught.value.key == "environments.prd.vertex.credentials"
    parse_settings({"environments": {"prd": {"vertex": {**table, "api_endpoint": "http://127.0.0.1:1"}}}})


def test_vertex_retraining_needs_a_template() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(
            {
                "environments": {
                    "prd": {"vertex": {"project": "p", "location": "l"}, "retrain": {"kind": "vertex"}}
                }
            }
        )
    assert caught.value.key == "environments.prd.retrain.kind" and "pipeline_template" in caught.value.message


def test_ids_route_to_their_runner() -> None:
    assert runner_of("L3") == runner_of("L3-1") == "local"
    assert runner_of("41117") == "gitlab"
    assert runner_of("churn-retrain-20261126") == runner_of("churn-retrain-20261126/1000") == "vertex"
    with pytest.raises(UsageError, match="not a pipeline id"):
        runner_of("Churn!")


async def test_the_hub_lists_vertex_pipelines_beside_the_others_and_marks_an_outage(fake: FakeVertex) -> None:
    env = EnvironmentSettings(vertex=vertex_settings(fake.url))
    hub = Hub(Settings({"prd": env}, "prd"))
    assert [p.id for p in (await hub.pipelines()).items][0] == "churn-retrain-20261126090000"
    assert hub.statuses["vertex"].state == "ok"
    assert hub.pipeline_source("churn-retrain-20261126090000").name == "vertex"
    down = Hub(
        Settings(
            {"prd": EnvironmentSettings(vertex=vertex_settings(f"http://127.0.0.1:{closed_port()}"))}, "prd"
        )
    )
    with pytest.raises(BackendUnreachable):
        await down.endpoints()
    assert down.statuses["vertex"].state == "down"


def test_the_sdk_loads_four_services_and_stays_whole_for_other_code() -> None:
    """The source loads the four services it calls and their types alone; code importing the
    package afterwards (the package is one per process) still finds every name its `__init__`
    gives, and so does its `types` package."""
    import subprocess
    import sys

    script = """
import sys
from mlops_tui.sources.vertex import _aiplatform_v1
sdk = _aiplatform_v1()
prefix = "google.cloud.aiplatform_v1.services."
print(len({m.split(".")[4] for m in sys.modules if m.startswith(prefix)}))
print("google.cloud.aiplatform_v1.types.index" in sys.modules)  # the index service's types
from google.cloud import aiplatform_v1
from google.cloud.aiplatform_v1 import IndexServiceClient
print(aiplatform_v1 is sdk, IndexServiceClient.__name__, all(hasattr(sdk, n) for n in sdk.__all__))
from google.cloud.aiplatform_v1.types import Index
print(Index.__module__, all(hasattr(sdk.types, n) for n in sdk.types.__all__))
try:
    sdk.no_such_name
except AttributeError as exc:
    print(exc)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.splitlines() == [
        "4",
        "False",
        "True IndexServiceClient True",
        "google.cloud.aiplatform_v1.types.index True",
        "module 'google.cloud.aiplatform_v1' has no attribute 'no_such_name'",
    ]
    assert done.stderr == ""
