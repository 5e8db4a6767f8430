"""A local HTTP server speaking the part of Airflow 2's stable REST API v1 that mlops-tui uses.

Airflow 2 cannot run beside Airflow 3 here; this follows the v1 OpenAPI specification
(`airflow/api_connexion/openapi/v1.yaml` of Airflow 2.10), not the client under test:

- everything under `/api/v1`; `GET /version` needs no credentials; `/api/v2/...` is 404, as on
  any Airflow 2;
- basic auth (`auth_backends = airflow.api.auth.backend.basic_auth`), or, standing for Cloud
  Composer's proxy, a bearer token; otherwise 401 with a problem document
  (`application/problem+json`: `type`, `title`, `status`, `detail`);
- `GET /dags` (`tags` repeated, any of them), `GET|PATCH /dags/{dag_id}` (`update_mask`),
  `POST /dags/~/dagRuns/list` (`ListDagRunsForm`: `dag_ids`, `states`, `order_by`, `page_limit`),
  `GET|PATCH /dags/{dag_id}/dagRuns/{dag_run_id}` (`UpdateDagRunState`: `state`),
  `POST /dags/{dag_id}/dagRuns` (`conf`, optional `logical_date`, `dag_run_id`),
  `GET .../taskInstances`, `GET|PATCH .../taskInstances/{task_id}` (`UpdateTaskInstance`:
  `dry_run` defaults to true, `new_state`), `POST /dags/{dag_id}/clearTaskInstances`
  (`ClearTaskInstances`: `dry_run` and `only_failed` default to true),
  `GET .../taskInstances/{task_id}/logs/{task_try_number}`: `text/plain` with the log, or JSON
  `{"continuation_token", "content"}` (content a string).

State is plain dicts the tests seed and inspect; every request is recorded in `requests`.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.fakes.loopback import LoopbackServer

__all__ = ["FakeAirflowV1", "V1Request"]

_NOW = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class V1Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


class _Reply(Exception):
    def __init__(self, status: int, body: Any, content_type: str = "application/json"):
        self.status, self.body, self.content_type = status, body, content_type


def _problem(status: int, title: str, detail: str) -> _Reply:
    body = {
        "type": f"https://airflow.apache.org/docs/#{title}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    return _Reply(status, body, "application/problem+json")


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


class FakeAirflowV1(LoopbackServer):
    """Airflow 2's REST API v1 on 127.0.0.1, in a thread."""

    def __init__(self, *, username: str = "admin", password: str = "secret", token: str | None = None):
        self.username, self.password, self.token = username, password, token
        self.dags: dict[str, dict[str, Any]] = {}
        self.runs: dict[tuple[str, str], dict[str, Any]] = {}
        self.tasks: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.logs: dict[tuple[str, str, str, int], str] = {}
        self.requests: list[V1Request] = []
        self._lock = threading.RLock()

    # -- seeding ----------------------------------------------------------------------------

    def add_dag(self, dag_id: str, *, tags: tuple[str, ...] = (), paused: bool = False) -> None:
        self.dags[dag_id] = {
            "dag_id": dag_id,
            "is_paused": paused,
            "is_active": True,
            "tags": [{"name": tag} for tag in tags],
            "owners": ["airflow"],
            "file_token": "x",
            "fileloc": f"/opt/airflow/dags/{dag_id}.py",
        }

    def add_run(
        self, dag_id: str, run_id: str, *, state: str = "success", conf: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        run = {
            "dag_run_id": run_id,
            "dag_id": dag_id,
            "logical_date": _iso(_NOW),
            "execution_date": _iso(_NOW),
            "start_date": _iso(_NOW),
            "end_date": _iso(_NOW) if state in ("success", "failed") else None,
            "data_interval_start": _iso(_NOW),
            "data_interval_end": _iso(_NOW),
            "last_scheduling_decision": None,
            "run_type": "manual",
            "state": state,
            "external_trigger": True,
            "conf": conf or {},
            "note": None,
        }
        self.runs[(dag_id, run_id)] = run
        self.tasks.setdefault((dag_id, run_id), [])
        return run

    def add_task(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        *,
        state: str = "success",
        try_number: int = 1,
        log: str = "",
    ) -> None:
        self.tasks[(dag_id, run_id)].append(
            {
                "task_id": task_id,
                "dag_id": dag_id,
                "dag_run_id": run_id,
                "execution_date": _iso(_NOW),
                "start_date": _iso(_NOW),
                "end_date": _iso(_NOW) if state in ("success", "failed") else None,
                "duration": 1.5,
                "state": state,
                "try_number": try_number,
                "map_index": -1,
                "max_tries": 0,
                "hostname": "worker-1",
                "unixname": "airflow",
                "pool": "default_pool",
                "pool_slots": 1,
                "queue": "default",
                "priority_weight": 1,
                "operator": "BashOperator",
                "queued_when": _iso(_NOW),
                "pid": 100,
                "executor_config": "{}",
                "note": None,
            }
        )
        for attempt in range(1, try_number + 1):
            self.logs[(dag_id, run_id, task_id, attempt)] = log.replace("{try}", str(attempt))

    # -- serving ----------------------------------------------------------------------------

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        headers = {k.lower(): v for k, v in handler.headers.items()}
        request = V1Request(handler.command, unquote(parts.path), parse_qs(parts.query), headers, body)
        with self._lock:
            self.requests.append(request)
            try:
                self._route(handler.command, parts.path, request)
                reply = _Reply(500, {"detail": "no reply"})
            except _Reply as answer:
                reply = answer
        if isinstance(reply.body, str):
            data = reply.body.encode()
        else:
            data = json.dumps(reply.body).encode()
        handler.send_response(reply.status)
        handler.send_header("Content-Type", reply.content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _authorized(self, headers: dict[str, str]) -> bool:
        given = headers.get("authorization", "")
        if self.token is not None:
            return given == f"Bearer {self.token}"
        expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return given == f"Basic {expected}"

    def _route(self, method: str, raw_path: str, request: V1Request) -> None:
        if not raw_path.startswith("/api/v1/"):
            raise _Reply(404, {"detail": "Not Found"})
        path = raw_path.removeprefix("/api/v1")
        if path == "/version" and method == "GET":
            raise _Reply(200, {"version": "2.10.5", "git_version": None})
        if not self._authorized(request.headers):
            raise _problem(401, "Unauthorized", "No credentials or invalid credentials passed")
        segments = [unquote(s) for s in path.strip("/").split("/")]
        routes = [
            ("GET", r"dags", self._dags),
            ("GET", r"dags/[^/]+", self._dag),
            ("PATCH", r"dags/[^/]+", self._patch_dag),
            ("POST", r"dags/~/dagRuns/list", self._list_runs),
            ("POST", r"dags/[^/]+/dagRuns", self._trigger),
            ("GET", r"dags/[^/]+/dagRuns/[^/]+", self._run),
            ("PATCH", r"dags/[^/]+/dagRuns/[^/]+", self._patch_run),
            ("GET", r"dags/[^/]+/dagRuns/[^/]+/taskInstances", self._task_instances),
            ("GET", r"dags/[^/]+/dagRuns/[^/]+/taskInstances/[^/]+", self._task_instance),
            ("PATCH", r"dags/[^/]+/dagRuns/[^/]+/taskInstances/[^/]+", self._patch_task),
            ("GET", r"dags/[^/]+/dagRuns/[^/]+/taskInstances/[^/]+/logs/\d+", self._log),
            ("POST", r"dags/[^/]+/clearTaskInstances", self._clear),
        ]
        joined = "/".join(s.replace("/", "%2F") for s in segments)
        for verb, pattern, handle in routes:
            if verb == method and re.fullmatch(pattern, joined):
                handle(segments, request)
        raise _Reply(404, {"detail": "Not Found"})

    def _find_dag(self, dag_id: str) -> dict[str, Any]:
        if dag_id not in self.dags:
            raise _problem(404, "DAG not found", f"DAG with dag_id: '{dag_id}' not found")
        return self.dags[dag_id]

    def _find_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        if (dag_id, run_id) not in self.runs:
            raise _problem(
                404, "DAGRun not found", f"DAGRun with DAG ID: '{dag_id}' and DagRun ID: '{run_id}' not found"
            )
        return self.runs[(dag_id, run_id)]

    def _find_task(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        for task in self.tasks.get((dag_id, run_id), []):
            if task["task_id"] == task_id:
                return task
        raise _problem(404, "Task instance not found", "Task instance not found")

    def _dags(self, segments: list[str], request: V1Request) -> None:
        tags = set(request.query.get("tags", []))
        found = [d for d in self.dags.values() if not tags or tags & {t["name"] for t in d["tags"]}]
        raise _Reply(200, {"dags": found, "total_entries": len(found)})

    def _dag(self, segments: list[str], request: V1Request) -> None:
        raise _Reply(200, self._find_dag(segments[1]))

    def _patch_dag(self, segments: list[str], request: V1Request) -> None:
        dag = self._find_dag(segments[1])
        if request.query.get("update_mask") != ["is_paused"]:
            raise _problem(400, "Bad Request", "Only `is_paused` field can be updated through the REST API")
        dag["is_paused"] = bool(request.body["is_paused"])
        raise _Reply(200, dag)

    def _list_runs(self, segments: list[str], request: V1Request) -> None:
        form = request.body or {}
        unknown = set(form) - {
            "order_by",
            "page_offset",
            "page_limit",
            "dag_ids",
            "states",
            "execution_date_gte",
        }
        if unknown:
            raise _problem(400, "Bad Request", f"Additional properties are not allowed ({sorted(unknown)})")
        runs = [
            r
            for r in self.runs.values()
            if (not form.get("dag_ids") or r["dag_id"] in form["dag_ids"])
            and (not form.get("states") or r["state"] in form["states"])
        ]
        order = str(form.get("order_by") or "id")
        key = order.lstrip("-")
        if key not in ("id", "execution_date", "start_date", "end_date", "state", "dag_run_id"):
            raise _problem(400, "Bad Request", f"Ordering with '{key}' is disallowed")
        runs.sort(key=lambda r: str(r.get(key) or r["dag_run_id"]), reverse=order.startswith("-"))
        runs = runs[: int(form.get("page_limit", 100))]
        raise _Reply(200, {"dag_runs": runs, "total_entries": len(runs)})

    def _trigger(self, segments: list[str], request: V1Request) -> None:
        dag_id = segments[1]
        self._find_dag(dag_id)
        body = request.body or {}
        unknown = set(body) - {"dag_run_id", "logical_date", "execution_date", "conf", "note"}
        if unknown:
            raise _problem(400, "Bad Request", f"Additional properties are not allowed ({sorted(unknown)})")
        run_id = body.get("dag_run_id") or f"manual__{_NOW.isoformat()}_{len(self.runs)}"
        if (dag_id, run_id) in self.runs:
            raise _problem(
                409, "Conflict", f"DAGRun with DAG ID: '{dag_id}' and DAGRun ID: '{run_id}' already exists"
            )
        run = self.add_run(dag_id, run_id, state="queued", conf=body.get("conf"))
        raise _Reply(200, run)

    def _run(self, segments: list[str], request: V1Request) -> None:
        raise _Reply(200, self._find_run(segments[1], segments[3]))

    def _patch_run(self, segments: list[str], request: V1Request) -> None:
        run = self._find_run(segments[1], segments[3])
        state = (request.body or {}).get("state")
        if state not in ("success", "failed", "queued"):
            raise _problem(400, "Bad Request", f"'{state}' is not one of ['success', 'failed', 'queued']")
        run["state"] = state
        for task in self.tasks[(segments[1], segments[3])]:
            if task["state"] not in ("success", "failed"):
                task["state"] = state
        raise _Reply(200, run)

    def _task_instances(self, segments: list[str], request: V1Request) -> None:
        self._find_run(segments[1], segments[3])
        tasks = self.tasks[(segments[1], segments[3])]
        raise _Reply(200, {"task_instances": tasks, "total_entries": len(tasks)})

    def _task_instance(self, segments: list[str], request: V1Request) -> None:
        raise _Reply(200, self._find_task(segments[1], segments[3], segments[5]))

    def _patch_task(self, segments: list[str], request: V1Request) -> None:
        task = self._find_task(segments[1], segments[3], segments[5])
        body = request.body or {}
        if body.get("dry_run", True) is False:
            task["state"] = body["new_state"]
        raise _Reply(200, {k: task[k] for k in ("task_id", "dag_id", "dag_run_id", "execution_date")})

    def _log(self, segments: list[str], request: V1Request) -> None:
        self._find_task(segments[1], segments[3], segments[5])
        key = (segments[1], segments[3], segments[5], int(segments[7]))
        if key not in self.logs:
            raise _problem(404, "TaskInstance not found", "Task instance did not exist in the DB")
        if request.headers.get("accept", "").startswith("text/plain"):
            raise _Reply(200, self.logs[key], "text/plain")
        raise _Reply(200, {"continuation_token": None, "content": self.logs[key]})

    def _clear(self, segments: list[str], request: V1Request) -> None:
        dag_id = segments[1]
        self._find_dag(dag_id)
        body = request.body or {}
        cleared = []
        for (dag, run_id), tasks in self.tasks.items():
            if dag != dag_id or (body.get("dag_run_id") and run_id != body["dag_run_id"]):
                continue
            for task in tasks:
                if body.get("task_ids") and task["task_id"] not in body["task_ids"]:
                    continue
                if body.get("only_failed", True) and task["state"] not in ("failed", "upstream_failed"):
                    continue
                cleared.append(task)
                if body.get("dry_run", True) is False:
                    task["state"] = None
                    task["try_number"] += 1
                    if body.get("reset_dag_runs", True):
                        self.runs[(dag, run_id)]["state"] = "queued"
        refs = [{k: t[k] for k in ("task_id", "dag_id", "dag_run_id", "execution_date")} for t in cleared]
        raise _Reply(200, {"task_instances": refs})
