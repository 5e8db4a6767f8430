"""Vertex AI: serving endpoints and their traffic split, pipeline jobs, and model monitoring.

Over Google's low-level `google.cloud.aiplatform_v1` clients with the REST transport. The
high-level `aiplatform` SDK is not used: it takes 2-3 s to import, and `PipelineJob.submit()`
probes Cloud Storage and Resource Manager first, hanging for minutes when they are out of reach.

The clients are synchronous: every call runs in a worker thread (`sources.transport.BlockingApi`),
with the configured timeout and no client-side retry besides a 429's (the panes poll again anyway).
The clients are imported in that thread by the first Vertex call, so neither the TUI's first frame
nor a command that never touches Vertex pays for it; and only the four services used
(`_aiplatform_v1`), not the package's forty.

Ids: a Vertex pipeline job is known by its job id (`churn-retrain-20261126093000`: AIP-122 ids
start with a lower-case letter, which is how the hub tells them from GitLab's numbers and the
local runner's `L<n>`); one of its tasks by `JOB_ID/TASK_ID`.

Which MLflow version a deployed model serves: the Vertex model's labels `mlflow_model` and
`mlflow_version`, which a deployment pipeline sets when it uploads the model.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar, TypeVar

from mlops_tui.config import VertexSettings
from mlops_tui.domain import (
    Alert,
    DeployedModel,
    Endpoint,
    Job,
    MonitoringJob,
    Pipeline,
    Silence,
    TraceChunk,
    label_fingerprint,
    utcnow,
)
from mlops_tui.domain.matchers import Matcher, matches_all
from mlops_tui.errors import BackendError, BackendUnreachable, ConfigError, NotFound, UsageError
from mlops_tui.sources.base import AlertSource, PipelineSource, ServingSource
from mlops_tui.sources.transport import BlockingApi, RateLimited
from mlops_tui.text.rfc3339 import format_rfc3339

__all__ = ["VertexMonitoring", "VertexSource", "is_vertex_id"]

SOURCE = "vertex"
MLFLOW_MODEL_LABEL = "mlflow_model"
"""Label of a Vertex model naming the MLflow registered model it was made from."""
MLFLOW_VERSION_LABEL = "mlflow_version"
"""Label of a Vertex model naming the MLflow model version it was made from."""
VERTEX_PIPELINE_ID = re.compile(r"^[a-z][-a-z0-9]{0,127}(/\d+)?$")
"""A pipeline job id (AIP-122), optionally followed by `/TASK_ID`."""
_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
_CONSOLE = "https://console.cloud.google.com/vertex-ai"
_PIPELINE_STATES = {
    "PIPELINE_STATE_UNSPECIFIED": "created",
    "PIPELINE_STATE_QUEUED": "created",
    "PIPELINE_STATE_PENDING": "pending",
    "PIPELINE_STATE_RUNNING": "running",
    "PIPELINE_STATE_SUCCEEDED": "success",
    "PIPELINE_STATE_FAILED": "failed",
    "PIPELINE_STATE_CANCELLING": "canceling",
    "PIPELINE_STATE_CANCELLED": "canceled",
    "PIPELINE_STATE_PAUSED": "manual",
}
"""Vertex's PipelineState in GitLab's words (domain.PIPELINE_STATUSES)."""
_TASK_STATES = {
    "STATE_UNSPECIFIED": "created",
    "PENDING": "pending",
    "RUNNING": "running",
    "SUCCEEDED": "success",
    "CANCEL_PENDING": "canceling",
    "CANCELLING": "canceling",
    "CANCELLED": "canceled",
    "FAILED": "failed",
    "SKIPPED": "skipped",
    "NOT_TRIGGERED": "skipped",
}
_MONITORING_OBJECTIVES = (
    "RAW_FEATURE_SKEW",
    "RAW_FEATURE_DRIFT",
    "FEATURE_ATTRIBUTION_SKEW",
    "FEATURE_ATTRIBUTION_DRIFT",
)
_ALERT_NAMES = {
    "RAW_FEATURE_SKEW": "VertexFeatureSkew",
    "RAW_FEATURE_DRIFT": "VertexFeatureDrift",
    "FEATURE_ATTRIBUTION_SKEW": "VertexAttributionSkew",
    "FEATURE_ATTRIBUTION_DRIFT": "VertexAttributionDrift",
}
MONITORING_WINDOW = timedelta(days=1)
"""How far back monitoring statistics are read: an anomaly older than this no longer fires."""
_T = TypeVar("_T")


def is_vertex_id(pipeline_or_job_id: str) -> bool:
    """Whether an id names a Vertex pipeline job (or one of its tasks)."""
    return bool(VERTEX_PIPELINE_ID.match(pipeline_or_job_id))


_SDK = "google.cloud.aiplatform_v1"
_SERVICES = ("endpoint_service", "model_service", "pipeline_service", "job_service")
_sdk_lock = threading.RLock()


def _aiplatform_v1() -> ModuleType:
    """`google.cloud.aiplatform_v1` with the services in `_SERVICES` and the types they use loaded.

    The package's `__init__` imports every one of Vertex AI's forty services, and that of its
    `types` every type of them: 1.2 s of CPU here, where these four services and their types take
    0.4 s, paid by every command that reads Vertex. So both packages are made without running their
    `__init__` (`_without_init`); the types used here are read from their own modules.
    """
    with _sdk_lock:
        _without_init(_SDK)
        _without_init(f"{_SDK}.types")
        for service in _SERVICES:
            importlib.import_module(f"{_SDK}.services.{service}")
        return sys.modules[_SDK]


def _without_init(name: str) -> None:
    """Put the package `name` in `sys.modules` (unless it is there) without running its `__init__`.

    An attribute asked of it that is not loaded yet (PEP 562) is a submodule, imported alone (`from
    google.cloud.aiplatform_v1.types import endpoint`, as the services do), or else runs the
    `__init__` in full: other code importing the package gets it whole.
    """
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    package = importlib.util.module_from_spec(spec)

    def complete(attribute: str) -> Any:
        with _sdk_lock:
            if importlib.util.find_spec(f"{name}.{attribute}") is not None:
                return importlib.import_module(f"{name}.{attribute}")
            if package.__dict__.pop("__getattr__", None) is not None:
                spec.loader.exec_module(package)  # type: ignore[union-attr]
        try:
            return package.__dict__[attribute]
        except KeyError:
            raise AttributeError(f"module {name!r} has no attribute {attribute!r}") from None

    package.__getattr__ = complete  # type: ignore[method-assign]
    sys.modules[name] = package
    parent, _, child = name.rpartition(".")
    setattr(sys.modules[parent], child, package)


@dataclass
class _Clients:
    endpoints: Any
    models: Any
    pipelines: Any
    jobs: Any
    credentials: Any
    types: Any
    """The `google.cloud.aiplatform_v1.types` package: its modules (`types.endpoint.Endpoint`)."""


class _VertexApi:
    """The aiplatform_v1 clients of one project and region, built on first use in a worker thread;
    every call made there, with the timeout, and its exceptions turned into the error tree."""

    def __init__(self, settings: VertexSettings) -> None:
        self.settings = settings
        self.parent = f"projects/{settings.project}/locations/{settings.location}"
        self.timeout = settings.timeout_seconds
        self.host = settings.api_endpoint or f"{settings.location}-aiplatform.googleapis.com"
        self.blocking = BlockingApi(SOURCE, self.host, self.timeout)
        self._clients: _Clients | None = None
        self._lock = threading.Lock()

    def clients(self) -> _Clients:
        with self._lock:
            if self._clients is None:
                from google.api_core.client_options import ClientOptions

                aiplatform_v1 = _aiplatform_v1()
                credentials = self._credentials()
                options = ClientOptions(api_endpoint=self.host)

                def make(client: Any) -> Any:
                    return client(transport="rest", client_options=options, credentials=credentials)

                services = aiplatform_v1.services
                self._clients = _Clients(
                    endpoints=make(services.endpoint_service.EndpointServiceClient),
                    models=make(services.model_service.ModelServiceClient),
                    pipelines=make(services.pipeline_service.PipelineServiceClient),
                    jobs=make(services.job_service.JobServiceClient),
                    credentials=credentials,
                    types=aiplatform_v1.types,
                )
            return self._clients

    def _credentials(self) -> Any:
        settings = self.settings
        if settings.credentials == "anonymous":
            from google.auth.credentials import AnonymousCredentials

            return AnonymousCredentials()  # type: ignore[no-untyped-call]
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError

        if settings.credentials_env:
            path = os.environ.get(settings.credentials_env)
            if not path:
                raise ConfigError(
                    f"environment variable {settings.credentials_env} is not set: set it to the path "
                    "of a service-account key file (vertex.credentials_env names it), or remove "
                    "credentials_env to use application default credentials"
                )
            from google.oauth2 import service_account

            try:
                return service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                    path, scopes=_SCOPES
                )
            except (OSError, ValueError) as exc:
                raise BackendError(
                    SOURCE, f"cannot use the key file in ${settings.credentials_env} ({path}): {exc}"
                ) from None
        try:
            credentials, _ = google.auth.default(scopes=_SCOPES)
        except DefaultCredentialsError:
            raise BackendError(
                SOURCE,
                "no Google credentials found: run `gcloud auth application-default login`, set "
                "GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, or name such a "
                "variable in vertex.credentials_env",
            ) from None
        return credentials

    async def run(self, what: str, call: Callable[[_Clients], _T]) -> _T:
        """Run `call(clients)` in a worker thread, a 429 retried and requests' exceptions mapped as
        for every blocking SDK (`BlockingApi`). `what` names the resource for error messages."""
        return await self.blocking.run(lambda: self._attempt(what, call))

    def _attempt(self, what: str, call: Callable[[_Clients], _T]) -> _T:
        """`call(clients)`, with the Google clients' errors turned into the error tree (a 429 into
        `RateLimited`)."""
        from google.api_core import exceptions as api
        from google.auth.exceptions import InvalidOperation, RefreshError, TransportError
        from google.protobuf.json_format import ParseError

        clients = self.clients()
        try:
            return call(clients)
        except api.TooManyRequests as exc:
            response = getattr(exc, "response", None)
            headers = getattr(response, "headers", None) or {}
            raise RateLimited(headers.get("Retry-After")) from None
        except ParseError as exc:
            raise BackendError(SOURCE, f"malformed answer about {what}: {exc}") from None
        # Over REST the classes are HTTP's (Forbidden), over gRPC the RPC codes' (PermissionDenied).
        except (api.Forbidden, api.PermissionDenied) as exc:
            raise BackendError(SOURCE, f"permission denied on {what} (403): {_said(exc)}") from None
        except (api.Unauthorized, api.Unauthenticated) as exc:
            raise BackendError(SOURCE, f"Google rejected the credentials (401): {_said(exc)}") from None
        except api.NotFound:
            raise NotFound(SOURCE, f"{what} not found") from None
        except (api.ServiceUnavailable, api.BadGateway, api.GatewayTimeout, api.DeadlineExceeded) as exc:
            raise BackendUnreachable(SOURCE, f"{self.host} is unavailable: {_said(exc)}") from None
        except api.GoogleAPICallError as exc:
            code = f" (HTTP {exc.code})" if isinstance(exc.code, int) else ""
            raise BackendError(SOURCE, f"{what}: {_said(exc)}{code}") from None
        except (RefreshError, InvalidOperation) as exc:
            # A 401 makes google-auth refresh the credentials; anonymous ones cannot be.
            raise BackendError(
                SOURCE, f"Google rejected the credentials (401) and they could not be refreshed: {exc}"
            ) from None
        except api.RetryError as exc:
            raise BackendUnreachable(SOURCE, f"{self.host}: {exc.message}") from None
        except TransportError as exc:
            raise self.blocking.unreachable(exc) from None

    def wait(self, what: str, operation: Any) -> Any:
        """Wait for a long-running operation (the client polls it); its error becomes ours."""
        import concurrent.futures

        from google.api_core import exceptions as api

        try:
            return operation.result(timeout=self.timeout, retry=None)
        except concurrent.futures.TimeoutError:
            raise BackendError(
                SOURCE,
                f"{what}: operation {operation.operation.name} did not finish within {self.timeout:g} s; "
                "it may still complete (look again)",
            ) from None
        except api.GoogleAPICallError as exc:
            if exc.code in (401, 403, 404, 502, 503, 504):
                raise  # the polling itself failed: `call` says how
            raise BackendError(
                SOURCE, f"{what}: operation {operation.operation.name} failed: {_said(exc)}"
            ) from None

    def options(self) -> dict[str, Any]:
        """Per-call options: the timeout, and no retry inside the client."""
        return {"timeout": self.timeout, "retry": None}


def _said(exc: Any) -> str:
    """What the server said, without the `GET https://...: ` the REST transport puts first."""
    return re.sub(r"^[A-Z]+ \S+: ", "", str(exc.message))


def _time(value: Any) -> datetime | None:
    """A proto timestamp as the client gives it (a timezone-aware datetime; unset is the epoch)."""
    if not value or getattr(value, "year", 1970) <= 1970:
        return None
    return value  # type: ignore[no-any-return]


def _enum_name(value: Any) -> str:
    return str(getattr(value, "name", value))


def _label(text: str) -> str:
    """A value Vertex accepts as a label: lower-case letters, digits, `-` and `_`, 63 at most."""
    return re.sub(r"[^a-z0-9_-]", "-", text.lower())[:63]


class VertexSource(PipelineSource, ServingSource):
    """One Vertex AI project and region: endpoints, their traffic, and pipeline jobs."""

    name: ClassVar[str] = SOURCE
    can_retry: ClassVar[bool] = False

    def __init__(self, settings: VertexSettings, *, environment: str = "") -> None:
        self.settings = settings
        self.environment = environment
        self.api = _VertexApi(settings)
        self._models: dict[str, Any] = {}
        """`model@version` -> the Vertex model (labels do not change under a deployed version)."""

    # -- endpoints ------------------------------------------------------------------------------

    def endpoint_name(self, endpoint_id: str) -> str:
        return f"{self.api.parent}/endpoints/{endpoint_id}"

    async def list_endpoints(self) -> list[Endpoint]:
        """The endpoints of interest (`endpoints` in the config, in its order; else every one)."""
        return await self.api.run(f"endpoints of {self.api.parent}", self._list_endpoints)

    def _list_endpoints(self, c: _Clients) -> list[Endpoint]:
        found = list(c.endpoints.list_endpoints(parent=self.api.parent, **self.api.options()))
        wanted = self.settings.endpoints
        if wanted:
            by_key = {key: e for e in found for key in (e.name.rsplit("/", 1)[-1], e.display_name)}
            found = [by_key[key] for key in wanted if key in by_key]
        return [self._endpoint(c, e) for e in found]

    async def get_endpoint(self, ref: str) -> Endpoint:
        """One endpoint by resource name, id or display name. Ids are numbers unless the endpoint
        was created with an id of its own (`endpointId`: letters, digits and hyphens, such as
        `churn-prd`), so anything but a number or a resource name is looked up by id or display
        name; callers that have resolved an endpoint pass its resource name. Raises: NotFound."""

        def read(c: _Clients) -> Endpoint:
            if ref.startswith("projects/") or ref.isdigit():
                name = ref if ref.startswith("projects/") else self.endpoint_name(ref)
                return self._endpoint(c, c.endpoints.get_endpoint(name=name, **self.api.options()))
            found = list(c.endpoints.list_endpoints(parent=self.api.parent, **self.api.options()))
            for raw in sorted(found, key=lambda e: e.name != self.endpoint_name(ref)):  # the id first
                if raw.name == self.endpoint_name(ref) or raw.display_name == ref:
                    return self._endpoint(c, raw)
            raise NotFound(SOURCE, f"no endpoint {ref!r} in {self.api.parent}")

        return await self.api.run(f"endpoint {ref}", read)

    def _endpoint(self, c: _Clients, raw: Any) -> Endpoint:
        endpoint_id = raw.name.rsplit("/", 1)[-1]
        return Endpoint(
            id=endpoint_id,
            name=raw.name,
            display_name=raw.display_name,
            deployed_models=tuple(self._deployed(c, d) for d in raw.deployed_models),
            traffic_split={str(k): int(v) for k, v in raw.traffic_split.items()},
            created=_time(raw.create_time),
            updated=_time(raw.update_time),
            web_url=f"{_CONSOLE}/locations/{self.settings.location}/endpoints/{endpoint_id}"
            f"?project={self.settings.project}",
        )

    def _deployed(self, c: _Clients, raw: Any) -> DeployedModel:
        model = self._model(c, raw.model, raw.model_version_id)
        labels = dict(model.labels) if model is not None else {}
        return DeployedModel(
            id=str(raw.id),
            display_name=raw.display_name,
            model=raw.model,
            model_version=raw.model_version_id or (model.version_id if model is not None else ""),
            model_display_name=model.display_name if model is not None else "",
            mlflow_model=labels.get(MLFLOW_MODEL_LABEL),
            mlflow_version=labels.get(MLFLOW_VERSION_LABEL),
            created=_time(raw.create_time),
        )

    def _model(self, c: _Clients, name: str, version: str) -> Any:
        key = f"{name}@{version}" if version else name
        if key not in self._models:
            from google.api_core import exceptions as api

            try:
                self._models[key] = c.models.get_model(name=key, **self.api.options())
            except api.NotFound:
                return None  # deleted under its deployment: shown without its labels
        return self._models[key]

    async def set_traffic(self, endpoint: Endpoint, split: Mapping[str, int]) -> Endpoint:
        """Replace the endpoint's traffic split (`endpoints.patch`, `updateMask=trafficSplit`)."""

        def write(c: _Clients) -> Endpoint:
            from google.protobuf import field_mask_pb2

            body = c.types.endpoint.Endpoint(name=endpoint.name, traffic_split=dict(split))
            updated = c.endpoints.update_endpoint(
                endpoint=body,
                update_mask=field_mask_pb2.FieldMask(paths=["traffic_split"]),
                **self.api.options(),
            )
            return self._endpoint(c, updated)

        return await self.api.run(f"endpoint {endpoint.name}", write)

    async def undeploy(self, endpoint: Endpoint, deployed_model_id: str, split: Mapping[str, int]) -> None:
        """Undeploy one model; `split` is the traffic the remaining ones get (a long-running
        operation, waited for)."""
        what = f"undeploy of {deployed_model_id} from {endpoint.name}"

        def write(c: _Clients) -> None:
            operation = c.endpoints.undeploy_model(
                endpoint=endpoint.name,
                deployed_model_id=deployed_model_id,
                traffic_split=dict(split),
                **self.api.options(),
            )
            self.api.wait(what, operation)

        await self.api.run(what, write)

    # -- pipeline jobs --------------------------------------------------------------------------

    def _pipeline_name(self, pipeline_id: str) -> str:
        if not is_vertex_id(pipeline_id) or "/" in pipeline_id:
            raise NotFound(SOURCE, f"no Vertex pipeline job {pipeline_id!r}")
        return f"{self.api.parent}/pipelineJobs/{pipeline_id}"

    def _pipeline(self, raw: Any) -> Pipeline:
        job_id = raw.name.rsplit("/", 1)[-1]
        spec = raw.pipeline_spec or {}
        info = spec.get("pipelineInfo") if hasattr(spec, "get") else None
        return Pipeline(
            id=job_id,
            source=SOURCE,
            status=_PIPELINE_STATES.get(_enum_name(raw.state), "created"),
            ref=str((info or {}).get("name", "")) if info else "",
            trigger="schedule" if raw.schedule_name else "api",
            user=raw.labels.get("mlops_tui_operator") or None,
            created=_time(raw.create_time),
            started=_time(raw.start_time),
            finished=_time(raw.end_time),
            web_url=f"{_CONSOLE}/locations/{self.settings.location}/pipelines/runs/{job_id}"
            f"?project={self.settings.project}",
            model=raw.labels.get(MLFLOW_MODEL_LABEL) or None,
        )

    async def list_pipelines(
        self, *, ref: str | None = None, status: str | None = None, limit: int = 50
    ) -> list[Pipeline]:
        """Recent pipeline jobs, newest first; `status` is filtered by the server, `ref` (the
        pipeline's name) here."""
        states = [s for s, ours in _PIPELINE_STATES.items() if ours == status] if status else []
        if status and not states:
            return []

        def read(c: _Clients) -> list[Pipeline]:
            request: dict[str, Any] = {"parent": self.api.parent, "page_size": min(limit, 100)}
            request["order_by"] = "create_time desc"
            if states:
                request["filter"] = " OR ".join(f'state="{s}"' for s in states)
            pager = c.pipelines.list_pipeline_jobs(request=request, **self.api.options())
            found = []
            for raw in pager:
                pipeline = self._pipeline(raw)
                if ref is None or pipeline.ref == ref:
                    found.append(pipeline)
                if len(found) >= limit:
                    break
            return found

        return await self.api.run(f"pipeline jobs of {self.api.parent}", read)

    async def _get_raw(self, pipeline_id: str) -> Any:
        name = self._pipeline_name(pipeline_id)
        return await self.api.run(
            f"pipeline job {name}", lambda c: c.pipelines.get_pipeline_job(name=name, **self.api.options())
        )

    async def get_pipeline(self, pipeline_id: str) -> Pipeline:
        return self._pipeline(await self._get_raw(pipeline_id))

    async def list_jobs(self, pipeline_id: str) -> list[Job]:
        """The pipeline job's tasks (its job detail), in the order Vertex lists them."""
        raw = await self._get_raw(pipeline_id)
        return [_task(pipeline_id, t) for t in raw.job_detail.task_details]

    async def _task(self, job_id: str) -> tuple[Any, Any]:
        pipeline_id, _, task_id = job_id.partition("/")
        if not task_id:
            raise NotFound(SOURCE, f"no Vertex task {job_id!r} (tasks are PIPELINE_JOB_ID/TASK_ID)")
        raw = await self._get_raw(pipeline_id)
        for task in raw.job_detail.task_details:
            if str(task.task_id) == task_id:
                return raw, task
        raise NotFound(SOURCE, f"pipeline job {pipeline_id} has no task {task_id}")

    async def get_job(self, job_id: str) -> Job:
        _, task = await self._task(job_id)
        return _task(job_id.partition("/")[0], task)

    async def read_trace(self, job_id: str, offset: int = 0) -> TraceChunk:
        """What Vertex records of a task: its state, times and error, and where its log is.

        The log itself is in Cloud Logging, which this source does not read; the record is
        returned whole at offset 0, and nothing is ever appended to it (reload to read it again).
        """
        raw, task = await self._task(job_id)
        job = _task(job_id.partition("/")[0], task)
        query = f'resource.labels.pipeline_job_id="{job.pipeline_id}"'
        lines = [
            f"Vertex AI task {task.task_name} ({task.task_id}) of pipeline job {job.pipeline_id}",
            f"state:    {_enum_name(task.state)}",
            f"created:  {_iso(job.created)}",
            f"started:  {_iso(job.started)}",
            f"ended:    {_iso(job.finished)}",
        ]
        if task.error and task.error.message:
            lines.append(f"error:    {task.error.message}")
        elif raw.error and raw.error.message:
            lines.append(f"pipeline error: {raw.error.message}")
        lines += [
            "",
            "No log available here: Vertex AI writes task logs to Cloud Logging.",
            f"https://console.cloud.google.com/logs/query;query={query}?project={self.settings.project}",
            "",
        ]
        data = "\n".join(lines).encode()
        text = data[offset:].decode(errors="replace") if offset < len(data) else ""
        return TraceChunk(text=text, next_offset=max(offset, len(data)), complete=True)

    async def start(
        self, variables: Mapping[str, str], *, ref: str | None = None, model: str | None = None
    ) -> Pipeline:
        """Create a pipeline job from `pipeline_template` with `variables` as its parameters.

        Raises:
            UsageError: no template, or a parameter the template does not declare.
        """
        settings = self.settings
        if not settings.pipeline_template:
            raise UsageError("the [vertex] table names no pipeline_template to run")
        if not settings.pipeline_root:
            raise UsageError("the [vertex] table names no pipeline_root (a gs:// directory)")
        stamp = utcnow().strftime("%Y%m%d%H%M%S")
        job_id = _label(f"{model or 'pipeline'}-retrain-{stamp}").strip("-_")
        if not job_id[:1].isalpha():
            job_id = f"p{job_id}"
        labels = {"mlops_tui_env": _label(self.environment)} if self.environment else {}
        if model:
            labels[MLFLOW_MODEL_LABEL] = _label(model)
        what = f"pipeline job {job_id} from {settings.pipeline_template}"

        def create(c: _Clients) -> Pipeline:
            spec = self._template(c)
            job = c.types.pipeline_job.PipelineJob(
                display_name=job_id,
                pipeline_spec=spec,
                labels=labels,
                runtime_config=c.types.pipeline_job.PipelineJob.RuntimeConfig(
                    gcs_output_directory=settings.pipeline_root,
                    parameter_values=_parameters(spec, variables),
                ),
                service_account=settings.service_account,
            )
            created = c.pipelines.create_pipeline_job(
                parent=self.api.parent, pipeline_job=job, pipeline_job_id=job_id, **self.api.options()
            )
            return self._pipeline(created)

        return await self.api.run(what, create)

    def _template(self, c: _Clients) -> dict[str, Any]:
        """The compiled pipeline spec: a local file or a Cloud Storage object, JSON or YAML."""
        location = self.settings.pipeline_template
        if location.startswith("gs://"):
            text = _download(location, c.credentials, self.api.timeout)
        else:
            try:
                text = Path(location).expanduser().read_text(encoding="utf-8")
            except OSError as exc:
                raise UsageError(f"cannot read the pipeline template {location}: {exc.strerror}") from None
        try:
            document = json.loads(text)
        except ValueError:
            import yaml  # type: ignore[import-untyped]

            try:
                document = next(iter(yaml.safe_load_all(text)), None)
            except yaml.YAMLError as exc:
                raise UsageError(
                    f"the pipeline template {location} is neither JSON nor YAML: {exc}"
                ) from None
        if not isinstance(document, dict):
            raise UsageError(f"the pipeline template {location} is not a compiled pipeline spec")
        # A KFP v1-style job file wraps the spec.
        spec = document.get("pipelineSpec", document)
        if not isinstance(spec, dict) or "root" not in spec:
            raise UsageError(f"the pipeline template {location} has no `root`: not a compiled pipeline spec")
        return spec

    async def cancel_pipeline(self, pipeline_id: str) -> Pipeline:
        """Ask Vertex to cancel (asynchronous: the job reads `canceling` until it has stopped)."""
        name = self._pipeline_name(pipeline_id)

        def cancel(c: _Clients) -> Pipeline:
            c.pipelines.cancel_pipeline_job(name=name, **self.api.options())
            return self._pipeline(c.pipelines.get_pipeline_job(name=name, **self.api.options()))

        return await self.api.run(f"pipeline job {name}", cancel)

    async def cancel_job(self, job_id: str) -> Job:
        raise UsageError("a Vertex pipeline task cannot be canceled on its own: cancel its pipeline job")

    # -- model monitoring ------------------------------------------------------------------------

    async def monitoring_jobs(self) -> list[MonitoringJob]:
        """Model deployment monitoring jobs of the endpoints of interest (all, with none configured)."""
        return await self.api.run(f"monitoring jobs of {self.api.parent}", self._monitoring_jobs)

    def _monitoring_jobs(self, c: _Clients) -> list[MonitoringJob]:
        found = c.jobs.list_model_deployment_monitoring_jobs(parent=self.api.parent, **self.api.options())
        jobs = [_monitoring_job(raw) for raw in found]
        wanted = self.settings.endpoints
        if wanted:
            names = {e.name for e in self._list_endpoints(c)}
            jobs = [j for j in jobs if j.endpoint in names]
        return jobs

    def _anomalies(self, c: _Clients, job: MonitoringJob, deployed_model_id: str) -> list[Any]:
        request = c.types.job_service.SearchModelDeploymentMonitoringStatsAnomaliesRequest(
            model_deployment_monitoring_job=job.name,
            deployed_model_id=deployed_model_id,
            objectives=[
                c.types.job_service.SearchModelDeploymentMonitoringStatsAnomaliesRequest.StatsAnomaliesObjective(
                    type_=o
                )
                for o in _MONITORING_OBJECTIVES
            ],
            start_time=utcnow() - MONITORING_WINDOW,
        )
        return list(
            c.jobs.search_model_deployment_monitoring_stats_anomalies(request=request, **self.api.options())
        )

    def monitoring_alerts(self, c: _Clients) -> list[Alert]:
        """Alerts for the latest statistics past their threshold, and for failing monitoring jobs."""
        jobs = self._monitoring_jobs(c)
        endpoints = {e.name: e for e in self._list_endpoints(c)}
        alerts = []
        for job in jobs:
            endpoint = endpoints.get(job.endpoint)
            if job.last_error or job.state == "failed":
                alerts.append(_job_alert(job, endpoint))
            for deployed_id in job.deployed_model_ids:
                deployed = endpoint.deployed(deployed_id) if endpoint else None
                for stats in self._anomalies(c, job, deployed_id):
                    alerts.extend(_feature_alerts(job, endpoint, deployed, deployed_id, stats))
        return alerts


def _iso(value: datetime | None) -> str:
    return format_rfc3339(value, "auto") if value else "-"


def _task(pipeline_id: str, raw: Any) -> Job:
    return Job(
        id=f"{pipeline_id}/{raw.task_id}",
        pipeline_id=pipeline_id,
        name=raw.task_name,
        stage="task" if raw.parent_task_id else "pipeline",
        status=_TASK_STATES.get(_enum_name(raw.state), "created"),
        created=_time(raw.create_time),
        started=_time(raw.start_time),
        finished=_time(raw.end_time),
        source=SOURCE,
    )


def _parameters(spec: Mapping[str, Any], variables: Mapping[str, str]) -> dict[str, Any]:
    """`variables` typed as the template declares its parameters. Raises: UsageError for one it
    does not declare (Vertex would refuse the whole job)."""
    declared = ((spec.get("root") or {}).get("inputDefinitions") or {}).get("parameters") or {}
    values: dict[str, Any] = {}
    for key, text in variables.items():
        if key not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise UsageError(f"the pipeline template declares no parameter {key!r} (it declares: {known})")
        kind = str(declared[key].get("parameterType") or declared[key].get("type") or "STRING")
        try:
            if kind in ("NUMBER_INTEGER", "INT"):
                values[key] = int(text)
            elif kind in ("NUMBER_DOUBLE", "DOUBLE"):
                values[key] = float(text)
            elif kind == "BOOLEAN":
                values[key] = text.strip().lower() in ("1", "true", "yes")
            elif kind in ("STRUCT", "LIST"):
                values[key] = json.loads(text)
            else:
                values[key] = text
        except ValueError:
            raise UsageError(f"pipeline parameter {key}={text!r} is not a {kind.lower()}") from None
    return values


def _download(uri: str, credentials: Any, timeout: float) -> str:
    """A Cloud Storage object through the JSON API (`STORAGE_EMULATOR_HOST` overrides the host,
    as Google's own storage client does)."""
    from urllib.parse import quote

    from google.auth.transport.requests import AuthorizedSession

    bucket, _, name = uri.removeprefix("gs://").partition("/")
    host = os.environ.get("STORAGE_EMULATOR_HOST") or "https://storage.googleapis.com"
    if "://" not in host:
        host = f"http://{host}"
    url = f"{host.rstrip('/')}/storage/v1/b/{quote(bucket, safe='')}/o/{quote(name, safe='')}?alt=media"
    session = AuthorizedSession(credentials)  # type: ignore[no-untyped-call]
    response = session.get(url, timeout=timeout)
    if response.status_code == 404:
        raise NotFound(SOURCE, f"pipeline template {uri} not found")
    if response.status_code == 403:
        raise BackendError(SOURCE, f"permission denied on {uri} (403): the credentials cannot read it")
    if response.status_code != 200:
        raise BackendError(SOURCE, f"cannot read {uri}: HTTP {response.status_code}")
    return str(response.text)


_JOB_STATES = re.compile(r"^JOB_STATE_")


def _monitoring_job(raw: Any) -> MonitoringJob:
    latest = raw.latest_monitoring_pipeline_metadata
    error = (latest.status.message if latest and latest.status else "") or (
        raw.error.message if raw.error else ""
    )
    return MonitoringJob(
        id=raw.name.rsplit("/", 1)[-1],
        name=raw.name,
        display_name=raw.display_name,
        endpoint=raw.endpoint,
        state=_JOB_STATES.sub("", _enum_name(raw.state)).lower(),
        schedule_state=_enum_name(raw.schedule_state).replace("MONITORING_SCHEDULE_STATE_", "").lower(),
        created=_time(raw.create_time),
        updated=_time(raw.update_time),
        next_run=_time(raw.next_schedule_time),
        last_run=_time(latest.run_time) if latest else None,
        last_error=error,
        deployed_model_ids=tuple(
            str(o.deployed_model_id) for o in raw.model_deployment_monitoring_objective_configs
        ),
    )


def _model_label(endpoint: Endpoint | None, deployed: DeployedModel | None) -> dict[str, str]:
    if deployed is None:
        return {}
    labels = {"model": deployed.mlflow_model or deployed.model_display_name or deployed.model}
    if deployed.mlflow_version:
        labels["version"] = deployed.mlflow_version
    return labels


def _job_alert(job: MonitoringJob, endpoint: Endpoint | None) -> Alert:
    labels = {
        "alertname": "VertexMonitoringJobFailing",
        "severity": "warning",
        "endpoint": endpoint.display_name if endpoint else job.endpoint.rsplit("/", 1)[-1],
        "monitoring_job": job.id,
    }
    if endpoint and len(endpoint.deployed_models) == 1:
        labels.update(_model_label(endpoint, endpoint.deployed_models[0]))
    return Alert(
        fingerprint=label_fingerprint(labels),
        labels=labels,
        annotations={
            "summary": f"model monitoring job {job.display_name} is {job.state}",
            "description": job.last_error or f"the job is {job.state}",
        },
        starts_at=job.last_run or job.updated,
        source=SOURCE,
    )


def _feature_alerts(
    job: MonitoringJob,
    endpoint: Endpoint | None,
    deployed: DeployedModel | None,
    deployed_id: str,
    stats: Any,
) -> Iterable[Alert]:
    objective = _enum_name(stats.objective)
    for feature in stats.feature_stats:
        points = sorted(feature.prediction_stats, key=lambda p: _time(p.end_time) or datetime.min)
        if not points:
            continue
        latest = points[-1]
        threshold = latest.anomaly_detection_threshold or (
            feature.threshold.value if feature.threshold else 0
        )
        deviation = latest.distribution_deviation or latest.score
        if not threshold or deviation <= threshold:
            continue
        labels = {
            "alertname": _ALERT_NAMES.get(objective, "VertexModelMonitoring"),
            "severity": "warning",
            "endpoint": endpoint.display_name if endpoint else job.endpoint.rsplit("/", 1)[-1],
            "deployed_model_id": deployed_id,
            "feature": feature.feature_display_name,
            "monitoring_job": job.id,
            **_model_label(endpoint, deployed),
        }
        kind = objective.lower().replace("_", " ")
        yield Alert(
            fingerprint=label_fingerprint(labels),
            labels=labels,
            annotations={
                "summary": f"{kind} of {feature.feature_display_name}: {deviation:.3g} > {threshold:.3g}",
                "description": (
                    f"on endpoint {labels['endpoint']} (deployed model {deployed_id}); "
                    f"statistics: {latest.stats_uri}"
                ),
            },
            starts_at=_time(latest.end_time),
            source=SOURCE,
            generator_url=f"{_CONSOLE}/locations/{job.name.split('/')[3]}/model-monitoring/{job.id}"
            f"?project={job.name.split('/')[1]}",
        )


class VertexMonitoring(AlertSource):
    """Vertex AI model monitoring as alerts: a feature whose latest skew or drift statistic is past
    its threshold, and a monitoring job that is failing. Alerts carry `source="vertex"` and a
    `model` label (the MLflow model of the deployed model, where its labels say so)."""

    name: ClassVar[str] = SOURCE
    can_silence: ClassVar[bool] = False

    def __init__(self, source: VertexSource) -> None:
        self.source = source

    async def list_alerts(self, matchers: Sequence[Matcher] = (), *, muted: bool = True) -> list[Alert]:
        api = self.source.api
        alerts = await api.run(f"model monitoring of {api.parent}", self.source.monitoring_alerts)
        return [a for a in alerts if matches_all(matchers, a.labels)]

    async def list_silences(self) -> list[Silence]:
        return []
