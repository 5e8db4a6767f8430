"""A local HTTP server speaking the part of GitLab's REST API v4 that mlops-tui uses.

It follows GitLab's documentation (docs/api/projects.md, pipelines.md, jobs.md, pipeline_triggers.md
and rest/index.md for authentication and pagination), not the client under test:

- authentication with the `PRIVATE-TOKEN` header; otherwise 401 `{"message": "401 Unauthorized"}`
  (the trigger API authenticates with the trigger token in the body instead);
- `:id` is a numeric id or a URL-encoded path (`ml%2Fchurn-model`); an unknown project is
  404 `{"message": "404 Project Not Found"}`;
- offset pagination: `page`, `per_page` (default 20, at most 100), `Link` header with
  `rel="next"`/`"prev"`/`"first"`/`"last"`, and `X-Page`, `X-Per-Page`, `X-Next-Page`,
  `X-Prev-Page`, `X-Total`, `X-Total-Pages`;
- `GET .../jobs/:job_id/trace` answers `text/plain` with the whole log: GitLab documents no ranged
  read and ignores `Range`. `honour_range = True` makes it answer ranges as RFC 9110 says (206 with
  `Content-Range`, 416 past the end), standing for a server or proxy that does;
- writes answer 201 (Grape's default for POST) with the resource's JSON.

State is plain dicts that tests seed and inspect; every request is recorded in `requests`.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any, NoReturn
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from tests.fakes.loopback import LoopbackServer

__all__ = ["FakeGitlab", "GitlabRequest", "TOKEN"]

TOKEN = "glpat-fake-token"
"""The personal access token the fake accepts by default."""
_EPOCH = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
_CANCELABLE = {"created", "waiting_for_resource", "preparing", "pending", "running", "scheduled"}
_RETRYABLE = {"failed", "canceled", "success", "skipped"}


@dataclass(frozen=True)
class GitlabRequest:
    """One request as the fake received it."""

    method: str
    path: str
    """Decoded path, e.g. `/api/v4/projects/ml/churn-model/pipelines` (raw in `raw_path`)."""
    raw_path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    """Lower-case names."""
    body: bytes

    def form(self) -> dict[str, Any]:
        """The body as GitLab reads it: JSON, or form fields (`variables[KEY]=value` nested)."""
        if not self.body:
            return {}
        if self.headers.get("content-type", "").startswith("application/json"):
            data: dict[str, Any] = json.loads(self.body)
            return data
        fields: dict[str, Any] = {}
        for key, values in parse_qs(self.body.decode(), keep_blank_values=True).items():
            if "[" in key and key.endswith("]"):
                outer, inner = key[:-1].split("[", 1)
                fields.setdefault(outer, {})[inner] = values[-1]
            else:
                fields[key] = values[-1]
        return fields


class _Reply(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None):
        self.status, self.body, self.headers = status, body, headers or {}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FakeGitlab(LoopbackServer):
    """GitLab's REST API v4 on 127.0.0.1, in a thread. Use as a context manager or start()/stop()."""

    def __init__(self, *, token: str = TOKEN, username: str = "alice") -> None:
        self.token = token
        self.username = username
        self.projects: dict[int, dict[str, Any]] = {}
        self.branches: dict[int, set[str]] = {}
        self.trigger_tokens: dict[int, set[str]] = {}
        self.pipelines: dict[int, dict[str, Any]] = {}
        """Pipeline id -> the single-pipeline JSON (plus `project_id`)."""
        self.pipeline_variables: dict[int, list[dict[str, str]]] = {}
        self.jobs: dict[int, dict[str, Any]] = {}
        """Job id -> the job JSON; `retried: True` marks attempts replaced by a retry."""
        self.traces: dict[int, bytearray] = {}
        self.requests: list[GitlabRequest] = []
        self.honour_range = False
        self._rate_limited = 0
        self._retry_after = 1
        self._next_id = 1000
        self._lock = threading.RLock()

    # -- seeding and injection ----------------------------------------------------------------

    def _id(self) -> int:
        with self._lock:
            self._next_id += 1
            return self._next_id

    def add_project(
        self, path: str, *, branches: tuple[str, ...] = ("main",), trigger_tokens: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        project_id = len(self.projects) + 1
        namespace, _, name = path.rpartition("/")
        project = {
            "id": project_id,
            "name": name,
            "path": name,
            "path_with_namespace": path,
            "namespace": {"full_path": namespace},
            "default_branch": branches[0] if branches else "main",
            "web_url": f"https://gitlab.example.com/{path}",
        }
        self.projects[project_id] = project
        self.branches[project_id] = set(branches)
        self.trigger_tokens[project_id] = set(trigger_tokens)
        return project

    def add_pipeline(
        self,
        project_id: int,
        *,
        ref: str = "main",
        status: str = "success",
        source: str = "push",
        user: str | None = None,
        created: datetime | None = None,
        pipeline_id: int | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        """A pipeline; `name` is what the project's `workflow:name` made of it (null without one)."""
        pid = pipeline_id or self._id()
        created = created or _EPOCH + timedelta(minutes=pid % 10_000)
        started = created + timedelta(seconds=5) if status not in ("created", "pending") else None
        finished = created + timedelta(minutes=3) if status in _RETRYABLE else None
        path = self.projects[project_id]["path_with_namespace"]
        username = user or self.username
        pipeline = {
            "id": pid,
            "iid": pid,
            "project_id": project_id,
            "sha": f"{pid:040x}",
            "ref": ref,
            "status": status,
            "source": source,
            "name": name,
            "created_at": _iso(created),
            "updated_at": _iso(finished or created),
            "web_url": f"https://gitlab.example.com/{path}/-/pipelines/{pid}",
            "before_sha": "0" * 40,
            "tag": False,
            "yaml_errors": None,
            "user": {"id": 1, "username": username, "name": username.title(), "state": "active"},
            "started_at": _iso(started),
            "finished_at": _iso(finished),
            "committed_at": None,
            "duration": 175 if finished else None,
            "queued_duration": 5,
            "coverage": None,
            "detailed_status": {"text": status, "label": status, "group": status},
        }
        self.pipelines[pid] = pipeline
        return pipeline

    def add_job(
        self, pipeline_id: int, name: str, stage: str, *, status: str = "success", trace: str = ""
    ) -> dict[str, Any]:
        pipeline = self.pipelines[pipeline_id]
        job_id = self._id()
        path = self.projects[pipeline["project_id"]]["path_with_namespace"]
        job = {
            "id": job_id,
            "status": status,
            "stage": stage,
            "name": name,
            "ref": pipeline["ref"],
            "tag": False,
            "coverage": None,
            "allow_failure": False,
            "created_at": pipeline["created_at"],
            "started_at": pipeline["started_at"],
            "finished_at": pipeline["finished_at"] if status in _RETRYABLE else None,
            "erased_at": None,
            "duration": None,
            "queued_duration": 1.0,
            "user": pipeline["user"],
            "commit": {"id": pipeline["sha"]},
            "pipeline": {
                "id": pipeline_id,
                "project_id": pipeline["project_id"],
                "ref": pipeline["ref"],
                "sha": pipeline["sha"],
                "status": pipeline["status"],
            },
            "web_url": f"https://gitlab.example.com/{path}/-/jobs/{job_id}",
            "project": {"ci_job_token_scope_enabled": False},
            "artifacts": [],
            "runner": None,
            "retried": False,
        }
        self.jobs[job_id] = job
        self.traces[job_id] = bytearray(trace.encode())
        return job

    def append_trace(self, job_id: int, text: str) -> None:
        """What a runner does while the job runs: more log at the end."""
        with self._lock:
            self.traces[job_id].extend(text.encode())

    def rate_limit(self, count: int, *, retry_after: int = 1) -> None:
        """Answer the next `count` requests with 429 and `Retry-After: retry_after`."""
        with self._lock:
            self._rate_limited, self._retry_after = count, retry_after

    def requests_to(self, method: str, suffix: str) -> list[GitlabRequest]:
        """Recorded requests of `method` whose decoded path ends with `suffix`."""
        return [r for r in self.requests if r.method == method and r.path.endswith(suffix)]

    # -- serving ------------------------------------------------------------------------------

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        split = urlsplit(handler.path)
        request = GitlabRequest(
            method=handler.command,
            path=unquote(split.path),
            raw_path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=handler.rfile.read(length) if length else b"",
        )
        with self._lock:
            self.requests.append(request)
            limited = self._rate_limited > 0
            if limited:
                self._rate_limited -= 1
        status: int
        headers: dict[str, str] = {}
        if limited:
            status, body = 429, b"Retry later\n"
            headers = {"Content-Type": "text/plain", "Retry-After": str(self._retry_after)}
        else:
            try:
                with self._lock:
                    result = self._route(request, split.path)
                status, payload, headers = 200, result, {}
            except _Reply as reply:
                status, payload, headers = reply.status, reply.body, reply.headers
            if isinstance(payload, bytes | bytearray):
                body = bytes(payload)
                headers.setdefault("Content-Type", "text/plain")
            else:
                body = json.dumps(payload).encode()
                headers.setdefault("Content-Type", "application/json")
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _route(self, request: GitlabRequest, raw_path: str) -> Any:
        # Split the raw path first: a URL-encoded project path holds `%2F`, not a separator.
        parts = [unquote(part) for part in raw_path.split("/")]
        if parts[:4] != ["", "api", "v4", "projects"] or len(parts) < 5:
            raise _Reply(404, {"error": "404 Not Found"})
        rest = parts[5:]
        method = request.method
        if method == "POST" and rest == ["trigger", "pipeline"]:
            return self._trigger(request, self._project(parts[4]))
        if request.headers.get("private-token") != self.token:
            raise _Reply(401, {"message": "401 Unauthorized"})
        project = self._project(parts[4])
        pid = project["id"]
        match method, rest:
            case "GET", []:
                return project
            case "GET", ["pipelines"]:
                return self._list_pipelines(request, pid)
            case "GET", ["pipelines", number]:
                return self._pipeline_json(self._pipeline(pid, number))
            case "GET", ["pipelines", number, "jobs"]:
                pipeline = self._pipeline(pid, number)
                jobs = [
                    j
                    for j in self.jobs.values()
                    if j["pipeline"]["id"] == pipeline["id"] and not j["retried"]
                ]
                jobs.sort(key=lambda j: j["id"], reverse=True)
                return self._paged(request, jobs)
            case "GET", ["jobs", number]:
                return self._job_json(self._job(pid, number))
            case "GET", ["jobs", number, "trace"]:
                return self._trace(request, self._job(pid, number))
            case "POST", ["pipeline"]:
                return self._create_pipeline(request, pid)
            case "POST", ["pipelines", number, "cancel"]:
                return self._cancel_pipeline(self._pipeline(pid, number))
            case "POST", ["pipelines", number, "retry"]:
                return self._retry_pipeline(self._pipeline(pid, number))
            case "POST", ["jobs", number, "cancel"]:
                return self._cancel_job(self._job(pid, number))
            case "POST", ["jobs", number, "retry"]:
                return self._retry_job(self._job(pid, number))
        raise _Reply(404, {"error": "404 Not Found"})

    def _project(self, key: str) -> dict[str, Any]:
        for project in self.projects.values():
            if key == str(project["id"]) or key == project["path_with_namespace"]:
                return project
        raise _Reply(404, {"message": "404 Project Not Found"})

    def _pipeline(self, project_id: int, number: str) -> dict[str, Any]:
        pipeline = self.pipelines.get(int(number)) if number.isdigit() else None
        if pipeline is None or pipeline["project_id"] != project_id:
            raise _Reply(404, {"message": "404 Not found"})
        return pipeline

    def _job(self, project_id: int, number: str) -> dict[str, Any]:
        job = self.jobs.get(int(number)) if number.isdigit() else None
        if job is None or job["pipeline"]["project_id"] != project_id:
            raise _Reply(404, {"message": "404 Not found"})
        return job

    @staticmethod
    def _pipeline_json(pipeline: dict[str, Any]) -> dict[str, Any]:
        return dict(pipeline)

    def _job_json(self, job: dict[str, Any]) -> dict[str, Any]:
        data = {k: v for k, v in job.items() if k != "retried"}
        data["pipeline"] = dict(job["pipeline"], status=self.pipelines[job["pipeline"]["id"]]["status"])
        return data

    # -- listings -----------------------------------------------------------------------------

    def _list_pipelines(self, request: GitlabRequest, project_id: int) -> Any:
        query = {key: values[-1] for key, values in request.query.items()}
        rows = [p for p in self.pipelines.values() if p["project_id"] == project_id]
        for key in ("ref", "status", "source", "sha", "name"):
            if key in query:
                rows = [p for p in rows if p[key] == query[key]]
        if "username" in query:
            rows = [p for p in rows if p["user"]["username"] == query["username"]]
        order_by = query.get("order_by", "id")
        if order_by not in ("id", "status", "ref", "updated_at", "user_id"):
            raise _Reply(400, {"error": "order_by does not have a valid value"})
        sort = query.get("sort", "desc")
        if sort not in ("asc", "desc"):
            raise _Reply(400, {"error": "sort does not have a valid value"})
        sort_key = {"user_id": "id"}.get(order_by, order_by)
        rows.sort(key=lambda p: (p[sort_key], p["id"]), reverse=sort == "desc")
        # The list endpoint gives the basic attributes only (docs/api/pipelines.md).
        basic = (
            "id", "iid", "project_id", "sha", "ref", "status", "source", "name", "created_at",
            "updated_at", "web_url",
        )  # fmt: skip
        return self._paged(request, [{k: p[k] for k in basic} for p in rows])

    def _paged(self, request: GitlabRequest, rows: list[dict[str, Any]]) -> NoReturn:
        query = {key: values[-1] for key, values in request.query.items()}
        try:
            page = max(1, int(query.get("page", 1)))
            per_page = min(100, max(1, int(query.get("per_page", 20))))
        except ValueError:
            raise _Reply(400, {"error": "page is invalid"}) from None
        total = len(rows)
        pages = max(1, -(-total // per_page))
        items = rows[(page - 1) * per_page : page * per_page]
        base = f"{self.url}{request.raw_path}"

        def link(number: int) -> str:
            params = {**query, "page": str(number), "per_page": str(per_page)}
            return f"{base}?{urlencode(params)}"

        links = []
        if page > 1:
            links.append(f'<{link(page - 1)}>; rel="prev"')
        if page < pages:
            links.append(f'<{link(page + 1)}>; rel="next"')
        links.append(f'<{link(1)}>; rel="first"')
        links.append(f'<{link(pages)}>; rel="last"')
        headers = {
            "Link": ", ".join(links),
            "X-Page": str(page),
            "X-Per-Page": str(per_page),
            "X-Next-Page": str(page + 1) if page < pages else "",
            "X-Prev-Page": str(page - 1) if page > 1 else "",
            "X-Total": str(total),
            "X-Total-Pages": str(pages),
        }
        raise _Reply(200, items, headers)

    def _trace(self, request: GitlabRequest, job: dict[str, Any]) -> bytes:
        log = bytes(self.traces.get(job["id"], b""))
        wanted = request.headers.get("range", "")
        if self.honour_range and wanted.startswith("bytes=") and wanted.endswith("-"):
            start = int(wanted[len("bytes=") : -1])
            if start >= len(log):
                raise _Reply(416, b"", {"Content-Range": f"bytes */{len(log)}"})
            headers = {"Content-Range": f"bytes {start}-{len(log) - 1}/{len(log)}"}
            raise _Reply(206, log[start:], headers)
        return log

    # -- writes -------------------------------------------------------------------------------

    def _create_pipeline(self, request: GitlabRequest, project_id: int) -> Any:
        data = request.form()
        ref = data.get("ref")
        if not ref:
            raise _Reply(400, {"error": "ref is missing"})
        if ref not in self.branches[project_id]:
            raise _Reply(400, {"message": {"base": ["Reference not found"]}})
        variables = data.get("variables") or []
        if not isinstance(variables, list) or not all(isinstance(v, dict) and "key" in v for v in variables):
            raise _Reply(400, {"error": "variables is invalid"})
        pipeline = self.add_pipeline(project_id, ref=ref, status="created", source="api")
        self.pipeline_variables[pipeline["id"]] = [
            {"key": str(v["key"]), "value": str(v.get("value", ""))} for v in variables
        ]
        raise _Reply(201, self._pipeline_json(pipeline))

    def _trigger(self, request: GitlabRequest, project: dict[str, Any]) -> Any:
        data = request.form()
        token, ref = data.get("token"), data.get("ref")
        if not token:
            raise _Reply(400, {"error": "token is missing"})
        if not ref:
            raise _Reply(400, {"error": "ref is missing"})
        if token not in self.trigger_tokens[project["id"]]:
            raise _Reply(404, {"message": "404 Not Found"})
        if ref not in self.branches[project["id"]]:
            raise _Reply(400, {"message": {"base": ["Reference not found"]}})
        variables = data.get("variables") or {}
        if not isinstance(variables, dict):
            raise _Reply(400, {"error": "variables is invalid"})
        pipeline = self.add_pipeline(project["id"], ref=ref, status="created", source="trigger")
        self.pipeline_variables[pipeline["id"]] = [
            {"key": str(k), "value": str(v)} for k, v in variables.items()
        ]
        raise _Reply(201, self._pipeline_json(pipeline))

    def _cancel_pipeline(self, pipeline: dict[str, Any]) -> Any:
        for job in self.jobs.values():
            if job["pipeline"]["id"] == pipeline["id"] and job["status"] in _CANCELABLE:
                job["status"] = "canceled"
        if pipeline["status"] in _CANCELABLE:
            pipeline["status"] = "canceled"
        raise _Reply(201, self._pipeline_json(pipeline))

    def _retry_pipeline(self, pipeline: dict[str, Any]) -> Any:
        for job in list(self.jobs.values()):
            same = job["pipeline"]["id"] == pipeline["id"]
            if same and not job["retried"] and job["status"] in ("failed", "canceled"):
                self._retried(job)
        pipeline["status"] = "pending"
        pipeline["finished_at"] = None
        raise _Reply(201, self._pipeline_json(pipeline))

    def _cancel_job(self, job: dict[str, Any]) -> Any:
        if job["status"] in _CANCELABLE:
            job["status"] = "canceled"
        raise _Reply(201, self._job_json(job))

    def _retry_job(self, job: dict[str, Any]) -> Any:
        if job["status"] not in _RETRYABLE or job["retried"]:
            raise _Reply(403, {"message": "403 Forbidden  - Job is not retryable"})
        raise _Reply(201, self._job_json(self._retried(job)))

    def _retried(self, job: dict[str, Any]) -> dict[str, Any]:
        job["retried"] = True
        new = self.add_job(job["pipeline"]["id"], job["name"], job["stage"], status="pending")
        new["started_at"] = new["finished_at"] = None
        self.pipelines[job["pipeline"]["id"]]["status"] = "pending"
        return new


def encoded(path: str) -> str:
    """A project path URL-encoded as GitLab's API wants it in `:id`."""
    return quote(path, safe="")
