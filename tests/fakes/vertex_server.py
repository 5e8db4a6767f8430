"""A local HTTP server speaking the part of the Vertex AI v1 REST API that mlops-tui uses.

It follows Google's REST reference for `aiplatform.googleapis.com/v1` (projects.locations.endpoints,
.models, .pipelineJobs, .modelDeploymentMonitoringJobs, .operations) and the API design guide
(AIP-121 resources, AIP-158 pagination, AIP-151 long-running operations, AIP-193 errors), not the
client under test:

- resources are JSON with camelCase field names, timestamps in RFC 3339 (`2026-11-26T09:00:00Z`),
  enums by name (proto3 JSON: a parser accepts names and numbers alike; the `$alt` query
  parameter's `enum-encoding=int` wish is not honoured);
- lists take `pageSize` and `pageToken` and answer `nextPageToken` (absent on the last page);
- `endpoints.patch` takes `updateMask` (`trafficSplit`) and answers the endpoint;
  `endpoints.undeployModel` answers a long-running operation `{"name": ".../operations/N",
  "done": false}`, which `operations.get` reports done after `operation_polls` reads, with
  `response` or, when told to fail, `error` (a google.rpc.Status);
- `endpoints.create` takes `endpointId` as a query parameter: a user-chosen id that starts with
  a letter (up to 63 of `[a-z0-9-]`, ending in a letter or digit), or a number of up to 9 digits
  without a leading zero; without it the server chooses a number; it answers an operation whose
  response is the endpoint;
- a traffic split must name deployed models and sum to 100 (400 INVALID_ARGUMENT otherwise); a
  deployed model that still has traffic cannot be undeployed unless the request's split takes it
  away (as the reference says);
- `pipelineJobs.create` takes `pipelineJobId` as a query parameter, `pipelineJobs.cancel` answers
  `{}` and moves the job to CANCELLING, which reads as CANCELLED afterwards;
- errors are `{"error": {"code": 403, "message": "...", "status": "PERMISSION_DENIED"}}`.

The REST transport of the Python client reads operations under a `/ui/` path prefix
(`GET /ui/projects/.../operations/N`); both `/ui/` and `/v1/` are served.

Cloud Storage: `GET /storage/v1/b/BUCKET/o/OBJECT?alt=media` serves `objects` (the JSON API's
media download), for `STORAGE_EMULATOR_HOST` to point at.

State is plain dicts in the API's own JSON that tests seed and inspect; every request is recorded
in `requests`.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.fakes.loopback import LoopbackServer

__all__ = ["PIPELINE_SPEC", "FakeVertex", "VertexRequest", "iso", "seed_churn"]

EPOCH = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_RPC_CODES = {"INVALID_ARGUMENT": 3, "NOT_FOUND": 5, "PERMISSION_DENIED": 7, "FAILED_PRECONDITION": 9}
_OBJECTIVES = (
    "UNSPECIFIED",
    "RAW_FEATURE_SKEW",
    "RAW_FEATURE_DRIFT",
    "FEATURE_ATTRIBUTION_SKEW",
    "FEATURE_ATTRIBUTION_DRIFT",
)
"""ModelDeploymentMonitoringObjectiveType by number: proto3 JSON input may name an enum or number it."""
_RUNNING_PIPELINE = {"PIPELINE_STATE_QUEUED", "PIPELINE_STATE_PENDING", "PIPELINE_STATE_RUNNING"}


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


ENDPOINT_ID = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?|[1-9][0-9]{0,8}")
"""What `endpoints.create` accepts as `endpointId` (the REST reference's rule)."""


@dataclass(frozen=True)
class VertexRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]


class _Reply(Exception):
    def __init__(self, status: int, body: Any):
        self.status, self.body = status, body


def _error(status: int, message: str, rpc: str | None = None) -> _Reply:
    return _Reply(
        status, {"error": {"code": status, "message": message, "status": rpc or _STATUS_NAMES[status]}}
    )


class FakeVertex(LoopbackServer):
    """Vertex AI's v1 REST API on 127.0.0.1 for one project and location, in a thread."""

    def __init__(self, project: str = "acme-ml", location: str = "us-central1") -> None:
        self.project = project
        self.location = location
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.models: dict[str, dict[str, Any]] = {}
        """`M` or `M@VERSION` -> the Model JSON."""
        self.pipeline_jobs: dict[str, dict[str, Any]] = {}
        self.monitoring_jobs: dict[str, dict[str, Any]] = {}
        self.anomalies: dict[tuple[str, str], list[dict[str, Any]]] = {}
        """(monitoring job id, deployed model id) -> ModelMonitoringStatsAnomalies JSON."""
        self.operations: dict[str, dict[str, Any]] = {}
        self.objects: dict[tuple[str, str], bytes] = {}
        """(bucket, object name) -> content, for Cloud Storage downloads."""
        self.requests: list[VertexRequest] = []
        self.operation_polls = 1
        """How many `operations.get` answer `done: false` before the operation is done."""
        self.operation_error: tuple[str, str] | None = None
        """(status name, message): operations end with this error instead of their effect."""
        self.before_request: Any = None
        """A callable run with each request before it is answered: another operator acting."""
        self.denied: set[str] = set()
        """Resource names (or prefixes) every request on which is refused with 403."""
        self._ids = itertools.count(1)
        self._lock = threading.RLock()

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"

    def writes(self) -> list[str]:
        """Method and path of every request that could change something."""
        return [f"{r.method} {r.path}" for r in self.requests if r.method != "GET"]

    # -- seeding ------------------------------------------------------------------------------

    def add_model(
        self,
        model_id: str,
        display_name: str,
        *,
        version: str = "1",
        labels: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        model = {
            "name": f"{self.parent}/models/{model_id}",
            "displayName": display_name,
            "versionId": version,
            "versionAliases": ["default"] if version == "1" else [],
            "labels": labels or {},
            "createTime": iso(EPOCH),
            "updateTime": iso(EPOCH),
            "versionCreateTime": iso(EPOCH + timedelta(days=int(version))),
        }
        with self._lock:
            self.models[f"{model_id}@{version}"] = model
            latest = self.models.get(model_id)
            if latest is None or int(latest["versionId"]) <= int(version):
                self.models[model_id] = model
        return model

    def add_endpoint(
        self,
        endpoint_id: str,
        display_name: str,
        deployed: list[tuple[str, str, str]] = (),  # type: ignore[assignment]
        split: dict[str, int] | None = None,
    ) -> dict[str, Any]:
        """An endpoint with deployed models `(deployed id, model id, model version)`."""
        if not ENDPOINT_ID.fullmatch(endpoint_id):
            raise ValueError(f"{endpoint_id!r} is not an endpoint id the Vertex AI API accepts")
        endpoint = {
            "name": f"{self.parent}/endpoints/{endpoint_id}",
            "displayName": display_name,
            "deployedModels": [
                {
                    "id": deployed_id,
                    "model": f"{self.parent}/models/{model_id}",
                    "modelVersionId": version,
                    "displayName": f"{display_name}-{deployed_id}",
                    "createTime": iso(EPOCH + timedelta(hours=index)),
                    "dedicatedResources": {
                        "machineSpec": {"machineType": "n1-standard-2"},
                        "minReplicaCount": 1,
                    },
                }
                for index, (deployed_id, model_id, version) in enumerate(deployed)
            ],
            "trafficSplit": dict(split or {}),
            "createTime": iso(EPOCH),
            "updateTime": iso(EPOCH),
            "etag": "1",
        }
        with self._lock:
            self.endpoints[endpoint_id] = endpoint
        return endpoint

    def add_pipeline_job(
        self,
        job_id: str,
        state: str = "PIPELINE_STATE_SUCCEEDED",
        *,
        created: datetime = EPOCH,
        tasks: list[tuple[str, str]] = (),  # type: ignore[assignment]
        labels: dict[str, str] | None = None,
        error: str = "",
    ) -> dict[str, Any]:
        """A pipeline job with task details `(task name, task state)`."""
        started = created + timedelta(minutes=1)
        ended = None if state in _RUNNING_PIPELINE else started + timedelta(minutes=14)
        job = {
            "name": f"{self.parent}/pipelineJobs/{job_id}",
            "displayName": job_id,
            "state": state,
            "createTime": iso(created),
            "startTime": iso(started),
            "endTime": iso(ended),
            "updateTime": iso(ended or started),
            "labels": labels or {},
            "pipelineSpec": {"pipelineInfo": {"name": "train"}},
            "runtimeConfig": {"gcsOutputDirectory": "gs://acme-ml/pipeline-root", "parameterValues": {}},
            "jobDetail": {
                "pipelineContext": {"name": f"{self.parent}/metadataStores/default/contexts/train"},
                "taskDetails": [
                    {
                        "taskId": str(1000 + index),
                        "taskName": name,
                        "state": task_state,
                        "createTime": iso(created),
                        "startTime": iso(started),
                        "endTime": iso(ended) if task_state not in ("RUNNING", "PENDING") else None,
                        **(
                            {"error": {"code": 9, "message": error}}
                            if task_state == "FAILED" and error
                            else {}
                        ),
                    }
                    for index, (name, task_state) in enumerate(tasks)
                ],
            },
        }
        if error:
            job["error"] = {"code": 9, "message": error}
        with self._lock:
            self.pipeline_jobs[job_id] = {k: v for k, v in job.items() if v is not None}
        return job

    def add_monitoring_job(
        self,
        job_id: str,
        endpoint_id: str,
        deployed_model_ids: list[str],
        *,
        state: str = "JOB_STATE_RUNNING",
        error: str = "",
    ) -> dict[str, Any]:
        job: dict[str, Any] = {
            "name": f"{self.parent}/modelDeploymentMonitoringJobs/{job_id}",
            "displayName": f"monitor-{endpoint_id}",
            "endpoint": f"{self.parent}/endpoints/{endpoint_id}",
            "state": state,
            "scheduleState": "OFFLINE",
            "modelDeploymentMonitoringObjectiveConfigs": [
                {
                    "deployedModelId": deployed,
                    "objectiveConfig": {
                        "predictionDriftDetectionConfig": {"driftThresholds": {"tenure": {"value": 0.3}}}
                    },
                }
                for deployed in deployed_model_ids
            ],
            "modelDeploymentMonitoringScheduleConfig": {"monitorInterval": "3600s"},
            "createTime": iso(EPOCH),
            "updateTime": iso(EPOCH + timedelta(hours=2)),
            "nextScheduleTime": iso(EPOCH + timedelta(hours=3)),
            "latestMonitoringPipelineMetadata": {
                "runTime": iso(EPOCH + timedelta(hours=2)),
                "status": {"code": 9, "message": error} if error else {},
            },
        }
        with self._lock:
            self.monitoring_jobs[job_id] = job
        return job

    def add_anomaly(
        self,
        job_id: str,
        deployed_model_id: str,
        feature: str,
        *,
        deviation: float,
        threshold: float,
        objective: str = "RAW_FEATURE_DRIFT",
        when: datetime = EPOCH + timedelta(hours=2),
    ) -> None:
        """One feature's latest stats for a deployed model, as the monitoring pipeline writes them."""
        stats = self.anomalies.setdefault((job_id, deployed_model_id), [])
        entry = next((s for s in stats if s["objective"] == objective), None)
        if entry is None:
            entry = {
                "objective": objective,
                "deployedModelId": deployed_model_id,
                "anomalyCount": 0,
                "featureStats": [],
            }
            stats.append(entry)
        anomalous = deviation > threshold
        entry["anomalyCount"] += int(anomalous)
        entry["featureStats"].append(
            {
                "featureDisplayName": feature,
                "threshold": {"value": threshold},
                "predictionStats": [
                    {
                        "score": deviation,
                        "distributionDeviation": deviation,
                        "anomalyDetectionThreshold": threshold,
                        "statsUri": f"gs://acme-ml/monitoring/{job_id}/{feature}/stats",
                        **(
                            {"anomalyUri": f"gs://acme-ml/monitoring/{job_id}/{feature}/anomalies"}
                            if anomalous
                            else {}
                        ),
                        "startTime": iso(when - timedelta(hours=1)),
                        "endTime": iso(when),
                    }
                ],
            }
        )

    # -- serving ------------------------------------------------------------------------------

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("content-length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request = VertexRequest(
            handler.command,
            unquote(parts.path),
            parse_qs(parts.query),
            body,
            {k.lower(): v for k, v in handler.headers.items()},
        )
        with self._lock:
            self.requests.append(request)
            if self.before_request is not None:
                self.before_request(request)
        content_type = "application/json; charset=UTF-8"
        try:
            with self._lock:
                reply = self._route(request)
            status, payload = 200, reply
        except _Reply as answer:
            status, payload = answer.status, answer.body
        if isinstance(payload, bytes):
            data, content_type = payload, "application/octet-stream"
        else:
            data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _route(self, r: VertexRequest) -> Any:
        if r.path.startswith("/storage/v1/b/"):
            return self._storage(r)
        match = re.fullmatch(r"/(v1|ui)/projects/([^/]+)/locations/([^/]+)/(.*)", r.path)
        if match is None:
            raise _error(404, f"no such path: {r.path}")
        _, project, location, rest = match.groups()
        if (project, location) != (self.project, self.location):
            raise _error(
                403,
                f"Permission denied on resource project {project} (or it may not exist).",
                "PERMISSION_DENIED",
            )
        resource = f"projects/{project}/locations/{location}/{rest.split(':')[0]}"
        for denied in self.denied:
            if resource.startswith(denied):
                verb = {"GET": "get", "PATCH": "update", "POST": "update"}.get(r.method, "get")
                kind = rest.split("/")[0]
                raise _error(
                    403,
                    f"Permission 'aiplatform.{kind}.{verb}' denied on resource "
                    f"'//aiplatform.googleapis.com/{resource}' (or it may not exist).",
                )
        if "/operations/" in rest:
            return self._operation(f"{self.parent}/{rest}")
        kind, _, tail = rest.partition("/")
        name, _, verb = tail.partition(":")
        if kind.startswith("endpoints"):
            return self._endpoints(r, name, verb)
        if kind == "models" and name and r.method == "GET":
            return self._get(self.models, name, "Model", "models")
        if kind.startswith("pipelineJobs"):
            return self._pipeline_jobs(r, name, verb)
        if kind.startswith("modelDeploymentMonitoringJobs"):
            return self._monitoring(r, name, verb)
        raise _error(404, f"no such method: {r.method} {r.path}")

    def _get(self, table: dict[str, dict[str, Any]], key: str, what: str, collection: str) -> dict[str, Any]:
        try:
            return table[key]
        except KeyError:
            raise _error(404, f"{what} {self.parent}/{collection}/{key} is not found.") from None

    def _page(self, r: VertexRequest, items: list[dict[str, Any]], field: str) -> dict[str, Any]:
        size = int(r.query.get("pageSize", ["100"])[0] or 100)
        start = int(r.query.get("pageToken", ["0"])[0] or 0)
        page: dict[str, Any] = {field: items[start : start + size]} if items[start : start + size] else {}
        if start + size < len(items):
            page["nextPageToken"] = str(start + size)
        return page

    # -- endpoints ----------------------------------------------------------------------------

    def _endpoints(self, r: VertexRequest, name: str, verb: str) -> Any:
        if not name and r.method == "POST":
            return self._create_endpoint(r)
        if not name:
            if r.method != "GET":
                raise _error(404, "no such method")
            return self._page(r, list(self.endpoints.values()), "endpoints")
        endpoint = self._get(self.endpoints, name, "Endpoint", "endpoints")
        if r.method == "GET" and not verb:
            return endpoint
        if r.method == "PATCH" and not verb:
            mask = r.query.get("updateMask", [""])[0]
            if mask != "trafficSplit" and mask != "traffic_split":
                raise _error(400, f"Unsupported update mask: {mask!r}.")
            split = {k: int(v) for k, v in ((r.body or {}).get("trafficSplit") or {}).items()}
            self._check_split(endpoint, split)
            endpoint["trafficSplit"] = split
            self._touch(endpoint)
            return endpoint
        if r.method == "POST" and verb == "undeployModel":
            deployed_id = str((r.body or {}).get("deployedModelId", ""))
            if not any(d["id"] == deployed_id for d in endpoint["deployedModels"]):
                raise _error(
                    400, f"Deployed model {deployed_id} is not deployed to endpoint {endpoint['name']}."
                )
            split = (r.body or {}).get("trafficSplit")
            remaining = [d for d in endpoint["deployedModels"] if d["id"] != deployed_id]
            if split is None:
                if endpoint["trafficSplit"].get(deployed_id) and remaining:
                    raise _error(
                        400,
                        f"Deployed model {deployed_id} has traffic assigned; the traffic split must "
                        "take it away to undeploy it.",
                    )
                new_split = {k: v for k, v in endpoint["trafficSplit"].items() if k != deployed_id}
            else:
                new_split = {k: int(v) for k, v in split.items()}
                self._check_split({**endpoint, "deployedModels": remaining}, new_split)

            def effect() -> dict[str, Any]:
                endpoint["deployedModels"] = remaining
                endpoint["trafficSplit"] = new_split if remaining else {}
                self._touch(endpoint)
                return {"@type": "type.googleapis.com/google.cloud.aiplatform.v1.UndeployModelResponse"}

            return self._start_operation(endpoint["name"], "UndeployModelOperationMetadata", effect)
        raise _error(404, f"no such method: {r.method} {r.path}")

    def _create_endpoint(self, r: VertexRequest) -> dict[str, Any]:
        endpoint_id = r.query.get("endpointId", [""])[0] or str(next(self._ids) + 100_000)
        if not ENDPOINT_ID.fullmatch(endpoint_id):
            raise _error(400, f"Invalid endpoint id {endpoint_id!r}.")
        if endpoint_id in self.endpoints:
            raise _error(
                409, f"Endpoint {self.parent}/endpoints/{endpoint_id} already exists.", "ALREADY_EXISTS"
            )
        display_name = str((r.body or {}).get("displayName", ""))
        if not display_name:
            raise _error(400, "Endpoint display name is required.")

        def effect() -> dict[str, Any]:
            endpoint = self.add_endpoint(endpoint_id, display_name)
            return {"@type": "type.googleapis.com/google.cloud.aiplatform.v1.Endpoint", **endpoint}

        return self._start_operation(
            f"{self.parent}/endpoints/{endpoint_id}", "CreateEndpointOperationMetadata", effect
        )

    def _check_split(self, endpoint: dict[str, Any], split: dict[str, int]) -> None:
        deployed = {d["id"] for d in endpoint["deployedModels"]}
        unknown = sorted(set(split) - deployed)
        if unknown:
            raise _error(
                400, f"Traffic split names deployed models not on the endpoint: {', '.join(unknown)}."
            )
        if deployed and sum(split.values()) != 100:
            raise _error(400, f"Traffic split percentages must sum to 100, got {sum(split.values())}.")

    def _touch(self, resource: dict[str, Any]) -> None:
        resource["etag"] = str(int(resource.get("etag", "0")) + 1)
        resource["updateTime"] = iso(datetime.now(UTC))

    # -- long-running operations -----------------------------------------------------------------

    def _start_operation(self, resource: str, metadata: str, effect: Any) -> dict[str, Any]:
        name = f"{resource}/operations/{next(self._ids)}"
        operation = {
            "name": name,
            "metadata": {
                "@type": f"type.googleapis.com/google.cloud.aiplatform.v1.{metadata}",
                "genericMetadata": {"createTime": iso(datetime.now(UTC))},
            },
            "done": False,
        }
        self.operations[name] = {"operation": operation, "effect": effect, "polls": 0}
        if self.operation_polls <= 0:
            self._finish(self.operations[name])
        return dict(operation)

    def _finish(self, state: dict[str, Any]) -> None:
        operation = state["operation"]
        if operation["done"]:
            return
        operation["done"] = True
        if self.operation_error is not None:
            rpc, message = self.operation_error
            operation["error"] = {"code": _RPC_CODES.get(rpc, 2), "message": message}
        else:
            operation["response"] = state["effect"]()

    def _operation(self, name: str) -> dict[str, Any]:
        state = self.operations.get(name)
        if state is None:
            raise _error(404, f"Operation {name} is not found.")
        state["polls"] += 1
        if state["polls"] >= self.operation_polls:
            self._finish(state)
        return dict(state["operation"])

    # -- pipeline jobs ------------------------------------------------------------------------

    def _pipeline_jobs(self, r: VertexRequest, name: str, verb: str) -> Any:
        if not name:
            if r.method == "POST":
                return self._create_pipeline_job(r)
            jobs = sorted(self.pipeline_jobs.values(), key=lambda j: j["createTime"], reverse=True)
            wanted = r.query.get("filter", [""])[0]
            if wanted:
                # AIP-160 filters on `state` and `labels.KEY`, the ones mlops-tui sends.
                for term in wanted.split(" AND "):
                    key, _, value = term.partition("=")
                    key, value = key.strip(), value.strip().strip('"')
                    if key == "state":
                        jobs = [j for j in jobs if j["state"] == value]
                    elif key.startswith("labels."):
                        jobs = [j for j in jobs if j.get("labels", {}).get(key[7:]) == value]
                    else:
                        raise _error(400, f"Unsupported filter field: {key}.")
            return self._page(r, jobs, "pipelineJobs")
        job = self._get(self.pipeline_jobs, name, "PipelineJob", "pipelineJobs")
        if r.method == "GET" and not verb:
            if job["state"] == "PIPELINE_STATE_CANCELLING":
                job["state"] = "PIPELINE_STATE_CANCELLED"
                job["endTime"] = job["updateTime"] = iso(datetime.now(UTC))
            return job
        if r.method == "POST" and verb == "cancel":
            if job["state"] not in _RUNNING_PIPELINE:
                raise _error(
                    400,
                    f"Cannot cancel PipelineJob {job['name']} in state {job['state']}.",
                    "FAILED_PRECONDITION",
                )
            job["state"] = "PIPELINE_STATE_CANCELLING"
            return {}
        raise _error(404, f"no such method: {r.method} {r.path}")

    def _create_pipeline_job(self, r: VertexRequest) -> dict[str, Any]:
        body = dict(r.body or {})
        job_id = r.query.get("pipelineJobId", [""])[0] or f"pipeline-job-{next(self._ids)}"
        if not re.fullmatch(r"[a-z][-a-z0-9]{0,127}", job_id):
            raise _error(400, f"Invalid pipeline job id {job_id!r}: must match [a-z][-a-z0-9]{{0,127}}.")
        if job_id in self.pipeline_jobs:
            raise _error(409, f"PipelineJob {job_id} already exists.", "ALREADY_EXISTS")
        spec = body.get("pipelineSpec") or {}
        declared = ((spec.get("root") or {}).get("inputDefinitions") or {}).get("parameters") or {}
        given = (body.get("runtimeConfig") or {}).get("parameterValues") or {}
        undeclared = sorted(set(given) - set(declared))
        if undeclared:
            raise _error(
                400,
                f"The pipeline parameter {undeclared[0]} is not found in the pipeline job input definitions.",
            )
        if not (body.get("runtimeConfig") or {}).get("gcsOutputDirectory"):
            raise _error(400, "runtimeConfig.gcsOutputDirectory (the pipeline root) is required.")
        now = datetime.now(UTC)
        body.update(
            name=f"{self.parent}/pipelineJobs/{job_id}",
            state="PIPELINE_STATE_PENDING",
            createTime=iso(now),
            updateTime=iso(now),
        )
        body.setdefault("displayName", job_id)
        self.pipeline_jobs[job_id] = body
        return body

    # -- model monitoring -----------------------------------------------------------------------

    def _monitoring(self, r: VertexRequest, name: str, verb: str) -> Any:
        if not name:
            return self._page(r, list(self.monitoring_jobs.values()), "modelDeploymentMonitoringJobs")
        job = self._get(
            self.monitoring_jobs, name, "ModelDeploymentMonitoringJob", "modelDeploymentMonitoringJobs"
        )
        if r.method == "GET" and not verb:
            return job
        if r.method == "POST" and verb == "searchModelDeploymentMonitoringStatsAnomalies":
            body = r.body or {}
            if not body.get("deployedModelId") or not body.get("objectives"):
                raise _error(400, "deployedModelId and objectives are required.")
            objectives = {
                _OBJECTIVES[o["type"]] if isinstance(o.get("type"), int) else o.get("type")
                for o in body["objectives"]
            }
            stats = [
                s
                for s in self.anomalies.get((name, str(body["deployedModelId"])), [])
                if s["objective"] in objectives
            ]
            return self._page(r, stats, "monitoringStats")
        raise _error(404, f"no such method: {r.method} {r.path}")

    # -- Cloud Storage ------------------------------------------------------------------------

    def _storage(self, r: VertexRequest) -> bytes:
        match = re.fullmatch(r"/storage/v1/b/([^/]+)/o/(.+)", r.path)
        if match is None or r.query.get("alt") != ["media"]:
            raise _error(404, "Not Found")
        bucket, name = match.groups()
        try:
            return self.objects[(bucket, name)]
        except KeyError:
            raise _error(404, f"No such object: {bucket}/{name}") from None


# -- a realistic state shared by the tests ------------------------------------------------------------

PIPELINE_SPEC: dict[str, Any] = {
    "pipelineInfo": {"name": "churn-train"},
    "schemaVersion": "2.1.0",
    "sdkVersion": "kfp-2.7.0",
    "root": {
        "inputDefinitions": {
            "parameters": {
                "model_name": {"parameterType": "STRING"},
                "target_env": {"parameterType": "STRING"},
                "epochs": {"parameterType": "NUMBER_INTEGER", "defaultValue": 20, "isOptional": True},
            }
        },
        "dag": {"tasks": {"train": {"taskInfo": {"name": "train"}}}},
    },
}
"""A compiled KFP pipeline spec (IR), as `kfp.compiler.Compiler` writes it, trimmed."""


def seed_churn(fake: FakeVertex) -> None:
    """`churn-endpoint` (1001) serving churn-model version 1 (MLflow churn v3, deployed model 11)
    at 90% and version 2 (MLflow churn v4, deployed model 12) at 10%; `fraud-endpoint` (1002);
    two pipeline jobs, one succeeded, one running; a monitoring job on 1001 whose drift statistic
    of `tenure` on deployed model 12 is past its threshold (`age` is not)."""
    fake.add_model("501", "churn-model", version="1", labels={"mlflow_model": "churn", "mlflow_version": "3"})
    fake.add_model("501", "churn-model", version="2", labels={"mlflow_model": "churn", "mlflow_version": "4"})
    fake.add_model("502", "fraud-model", version="1")
    fake.add_endpoint(
        "1001", "churn-endpoint", [("11", "501", "1"), ("12", "501", "2")], {"11": 90, "12": 10}
    )
    fake.add_endpoint("1002", "fraud-endpoint", [("21", "502", "1")], {"21": 100})
    fake.add_pipeline_job(
        "churn-retrain-20261125090000",
        "PIPELINE_STATE_SUCCEEDED",
        created=EPOCH - timedelta(days=1),
        tasks=[("churn-train", "SUCCEEDED"), ("train", "SUCCEEDED")],
        labels={"mlflow_model": "churn"},
    )
    fake.add_pipeline_job(
        "churn-retrain-20261126090000",
        "PIPELINE_STATE_RUNNING",
        tasks=[("churn-train", "RUNNING"), ("train", "RUNNING")],
        labels={"mlflow_model": "churn"},
    )
    fake.add_monitoring_job("3001", "1001", ["11", "12"])
    fake.add_monitoring_job("3002", "1002", ["21"])
    fake.add_anomaly("3001", "12", "tenure", deviation=0.42, threshold=0.3)
    fake.add_anomaly("3001", "12", "age", deviation=0.1, threshold=0.3)
