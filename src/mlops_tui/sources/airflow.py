"""Apache Airflow DAG runs as pipelines, their task instances as jobs, over the REST API: v2
(Airflow 3), the stable v1 (Airflow 2), or Cloud Composer's (either, behind Google's OAuth).

Ids carry their source and name what Airflow names: a DAG run `airflow:DAG/RUN_ID`, a task
instance `airflow:DAG/RUN_ID/TASK` (a mapped one `TASK[MAP_INDEX]`), one try of its log
`...TASK#TRY`. Airflow's DAG, task and run ids cannot hold `/`, `[` or `#` (its
`allowed_run_id_pattern`), so the parts split without quoting.

Authentication (`AirflowSettings.auth`): a bearer token named by `token_env`/`token_command`; a
user and password, sent as a JWT from `POST /auth/token` on Airflow 3 and as basic auth on
Airflow 2; or, for Cloud Composer, an access token of Google's Application Default Credentials.

Statuses: a DAG run's and a task instance's state map onto GitLab's names, which the panes
colour: `queued` is pending, `up_for_retry` pending, `upstream_failed` skipped, `deferred` and
`up_for_reschedule` running, `removed` canceled. Cancelling a run marks it failed, which is how
Airflow stops one: for Airflow a cancelled run reads `failed` (`canceled_statuses`).

Logs: Airflow 3 answers structured events (`content`) and a `continuation_token` for what comes
next while the task runs; the token of the last read is kept, so following a running task's log
asks only for new lines. Airflow 2 answers the log as text.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar
from urllib.parse import quote

from msgspec import structs

from mlops_tui.config import AirflowSettings, resolve_secret
from mlops_tui.domain import Job, Pipeline, TraceChunk
from mlops_tui.errors import BackendError, NotFound, Refused, UsageError
from mlops_tui.sources.base import PipelineSource
from mlops_tui.sources.google_token import GoogleToken
from mlops_tui.sources.http import HttpApi, Method, decode, excerpt
from mlops_tui.text.rfc3339 import parse_rfc3339

# isort: split
# After sources.http, which keeps httpx's command-line client from loading (see there).
import httpx

if TYPE_CHECKING:
    from collections.abc import Generator

__all__ = [
    "UNPAUSE_KEY",
    "AirflowSource",
    "lineage_filter",
    "parse_id",
    "pipeline_from_tags",
]

SOURCE = "airflow"
PREFIX = f"{SOURCE}:"
ApiVersion = Literal["v2", "v1"]
_T = TypeVar("_T")
_KEPT_LOG_TOKENS = 64
"""Continuation tokens kept: one per log being followed."""
_PAGE = 100
"""Task instances asked per page (the API's default maximum)."""
_RUN_STATES = {"queued": "pending", "running": "running", "success": "success", "failed": "failed"}
_TASK_STATES = {
    None: "created",
    "none": "created",
    "scheduled": "scheduled",
    "queued": "pending",
    "running": "running",
    "restarting": "running",
    "deferred": "running",
    "up_for_reschedule": "running",
    "up_for_retry": "pending",
    "success": "success",
    "failed": "failed",
    "upstream_failed": "skipped",
    "skipped": "skipped",
    "removed": "canceled",
}
_STATES_OF = {"pending": ["queued"], "running": ["running"], "success": ["success"], "failed": ["failed"]}
"""A pipeline status filter as Airflow's DAG run states."""
_TASK_DONE = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
_ID = re.compile(
    r"^(?P<dag>[^/]+)/(?P<run>[^/]+)(?:/(?P<task>[^/\[#]+)(?:\[(?P<map>\d+)\])?(?:#(?P<try>\d+))?)?$"
)
_DAG_ID = re.compile(r"^[A-Za-z0-9_.-]+$")
UNPAUSE_KEY = "U"
"""The TUI's default key of `unpause_dag`, which a paused DAG's refusal names (a test holds the
two together; the sources do not import the TUI)."""
_LINEAGE_DAG = "airflow.dag_id"
_LINEAGE_RUN = "airflow.dag_run_id"


@dataclass(frozen=True)
class AirflowRef:
    """What an Airflow id names: a DAG run, or one of its task instances (and one try of it)."""

    dag_id: str
    run_id: str
    task_id: str | None = None
    map_index: int = -1
    try_number: int | None = None

    @property
    def pipeline_id(self) -> str:
        return f"{self.dag_id}/{self.run_id}"

    @property
    def job_id(self) -> str:
        mapped = f"[{self.map_index}]" if self.map_index >= 0 else ""
        return f"{self.pipeline_id}/{self.task_id}{mapped}"


def parse_id(text: str, *, job: bool | None = None) -> AirflowRef:
    """An Airflow id (`DAG/RUN`, `DAG/RUN/TASK[MAP]#TRY`, each also qualified: `airflow:DAG/RUN`) as
    its parts.

    Args:
        job: True: the id must name a task instance; False: a DAG run; None: either.

    Raises:
        UsageError: not an Airflow id of that kind.
    """
    match = _ID.match(text.removeprefix(PREFIX))
    if match is None or (job is True and not match["task"]) or (job is False and match["task"]):
        shape = {
            True: "airflow:DAG/RUN_ID/TASK",
            False: "airflow:DAG/RUN_ID",
            None: "airflow:DAG/RUN_ID[/TASK]",
        }
        raise UsageError(f"{text!r} is not an Airflow id: {shape[job]}")
    return AirflowRef(
        dag_id=match["dag"],
        run_id=match["run"],
        task_id=match["task"],
        map_index=int(match["map"]) if match["map"] else -1,
        try_number=int(match["try"]) if match["try"] else None,
    )


def pipeline_from_tags(tags: Mapping[str, str]) -> str | None:
    """The DAG run an MLflow run's lineage tags (`airflow.dag_id`, `airflow.dag_run_id`) name."""
    dag, run = tags.get(_LINEAGE_DAG), tags.get(_LINEAGE_RUN)
    return f"{dag}/{run}" if dag and run else None


def lineage_filter(pipeline_id: str) -> str:
    """The MLflow runs filter finding the runs a DAG run produced."""
    ref = parse_id(pipeline_id, job=False)
    return (
        f"tags.`{_LINEAGE_DAG}` = '{_quote(ref.dag_id)}' and tags.`{_LINEAGE_RUN}` = '{_quote(ref.run_id)}'"
    )


class _Auth(httpx.Auth):
    """Signs each request as the settings say. A user and password depend on the API version
    (v2: a JWT asked for them, v1: basic auth), so they are not sent before it is known."""

    def __init__(self, settings: AirflowSettings, root: str) -> None:
        self.version: ApiVersion | None = None
        self._root = root
        self._google = GoogleToken(SOURCE) if settings.auth == "google" else None
        self._token = resolve_secret(settings.token_env, settings.token_command)
        self._username = settings.username
        self._password = (
            resolve_secret(settings.password_env, settings.password_command) if settings.username else None
        )
        self._jwt: str | None = None

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self._google is not None:
            request.headers["Authorization"] = f"Bearer {await self._google.token()}"
        elif self._token:
            request.headers["Authorization"] = f"Bearer {self._token}"
        elif self._username is not None and self._password is not None and self.version == "v1":
            basic = base64.b64encode(f"{self._username}:{self._password}".encode()).decode()
            request.headers["Authorization"] = f"Basic {basic}"
        elif self._username is not None and self._password is not None and self.version == "v2":
            fresh = self._jwt is None
            if fresh:
                answer = yield self._token_request(request)
                if not await self._take_jwt(answer):
                    return  # the client answers the token endpoint's refusal
            request.headers["Authorization"] = f"Bearer {self._jwt}"
            response = yield request
            if response.status_code != 401 or fresh:
                return
            # The JWT expired (Airflow's default lifetime is a day): ask for a new one, once.
            answer = yield self._token_request(request)
            if await self._take_jwt(answer):
                request.headers["Authorization"] = f"Bearer {self._jwt}"
                yield request
            return
        yield request

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("the Airflow source is async only")

    def _token_request(self, request: httpx.Request) -> httpx.Request:
        # The request's extensions carry the client's timeout: without them this one has none.
        return httpx.Request(
            "POST",
            f"{self._root}/auth/token",
            json={"username": self._username, "password": self._password},
            extensions=request.extensions,
        )

    async def _take_jwt(self, answer: httpx.Response) -> bool:
        await answer.aread()
        if not answer.is_success:
            self._jwt = None
            return False
        try:
            self._jwt = str(answer.json()["access_token"])
        except (ValueError, KeyError, TypeError):
            raise BackendError(SOURCE, "malformed answer to POST /auth/token: no access_token") from None
        return True


class AirflowSource(PipelineSource):
    """One Airflow deployment's DAG runs of interest, over httpx on the event loop."""

    name: ClassVar[str] = SOURCE
    can_pause: ClassVar[bool] = True
    can_rerun: ClassVar[bool] = True
    canceled_statuses: ClassVar[frozenset[str]] = frozenset({"failed"})

    def __init__(
        self,
        settings: AirflowSettings,
        *,
        dag_template: str = "",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """Args:
        settings: the deployment, its DAGs of interest, credentials and timeout.
        dag_template: the DAG `start()` triggers, `{model}` filled in (`retrain_{model}`).

        Raises: ConfigError for a named secret that cannot be resolved.
        """
        self._settings = settings
        root = settings.url.rstrip("/")
        self._auth = _Auth(settings, root)
        self._api = HttpApi(
            SOURCE,
            root,
            None,
            timeout=settings.timeout_seconds,
            transport=transport,
            auth=self._auth,
            hint=_hint(settings),
            refusals=(401,),
        )
        self._dag_template = dag_template
        self._model_in_dag = _dag_pattern(dag_template)
        self._version: ApiVersion | None = None if settings.api_version == "auto" else settings.api_version
        self._auth.version = self._version
        self._detecting = asyncio.Lock()
        self._log_tokens: dict[tuple[str, int], tuple[int, str]] = {}
        """For each task try whose log is followed: the offset the last read ended at and the
        continuation token of what comes after it."""

    # -- plumbing ---------------------------------------------------------------------------------

    async def api_version(self) -> ApiVersion:
        """The REST API the server speaks: as configured, else asked once (`/api/v2/version`, then
        `/api/v1/version`: both are public).

        Raises:
            BackendError: neither answers; BackendUnreachable: the server cannot be reached.
        """
        async with self._detecting:
            if self._version is None:
                versions: tuple[ApiVersion, ...] = ("v2", "v1")
                for version in versions:
                    response = await self._api.send("GET", f"api/{version}/version")
                    if response.is_success:
                        self._version = self._auth.version = version
                        break
                    if response.status_code != 404:
                        raise BackendError(
                            SOURCE,
                            f"HTTP {response.status_code} from api/{version}/version: {_detail(response)}",
                        )
                else:
                    raise BackendError(
                        SOURCE,
                        f"no Airflow REST API at {self._api.url} (api/v2/version and api/v1/version "
                        "answered 404); check url",
                    )
        assert self._version is not None
        return self._version

    async def _call(
        self,
        method: Method,
        path: str,
        *,
        what: str,
        doing: str,
        permission: str,
        params: Sequence[tuple[str, str]] = (),
        body: Any = None,
    ) -> Any:
        """The decoded JSON answer to `METHOD api/VERSION/path`, or the error it means.

        `what` names what a 404 did not find; `doing` and `permission` word a 403.
        """
        version = await self.api_version()
        response = await self._api.send(method, f"api/{version}/{path}", params=params, json=body)
        self._check(response, what=what, doing=doing, permission=permission, path=path)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise BackendError(
                SOURCE, f"malformed answer to {method} {path}: not JSON ({excerpt(response.text)})"
            ) from None

    def _check(self, response: httpx.Response, *, what: str, doing: str, permission: str, path: str) -> None:
        if response.is_success:
            return
        status = response.status_code
        if status == 403:
            who = f"user {self._settings.username!r}" if self._settings.username else "these credentials"
            raise BackendError(
                SOURCE,
                f"{who} may not {doing} (HTTP 403): that needs the permission {permission}; ask an Airflow "
                "admin for a role that grants it",
            )
        if status == 404:
            raise NotFound(SOURCE, f"{what} not found on {self._api.url}")
        raise BackendError(SOURCE, f"HTTP {status} from {path}: {_detail(response)}")

    # -- reads ------------------------------------------------------------------------------------

    async def dag_ids(self) -> list[str] | None:
        """The DAGs of interest: `dags`, else those tagged `dag_tags`; None: every DAG."""
        if self._settings.dags:
            return list(self._settings.dags)
        if not self._settings.dag_tags:
            return None
        params = [("tags", tag) for tag in self._settings.dag_tags]
        params += [("tags_match_mode", "any"), ("limit", str(_PAGE))]
        answer = await self._call(
            "GET", "dags", params=params, what="DAGs", doing="list DAGs", permission="can read on DAGs"
        )
        return _decoded("DAGs", answer, lambda raw: [str(dag["dag_id"]) for dag in raw["dags"]])

    async def list_pipelines(
        self, *, ref: str | None = None, status: str | None = None, limit: int = 50
    ) -> list[Pipeline]:
        """Recent DAG runs of the DAGs of interest (of DAG `ref` when given), newest first, in one
        request (`POST /dags/~/dagRuns/list`).

        Args:
            ref: a DAG id.
            status: a pipeline status (`pending`, `running`, `success`, `failed`).
            limit: at most this many (and at most `page_size`).

        Raises:
            BackendUnreachable: Airflow cannot be reached or did not answer in time.
            BackendError: any other failure: credentials, permission, rate limit.
        """
        dags = [ref] if ref else await self.dag_ids()
        if limit <= 0 or dags == []:
            return []
        version = await self.api_version()
        body: dict[str, Any] = {
            "page_limit": min(limit, self._settings.page_size),
            "order_by": "-run_after" if version == "v2" else "-execution_date",
        }
        if dags is not None:
            body["dag_ids"] = dags
        if status is not None:
            states = _STATES_OF.get(status)
            if states is None:
                return []
            body["states"] = states
        answer = await self._call(
            "POST",
            "dags/~/dagRuns/list",
            body=body,
            what="DAG runs",
            doing="list DAG runs",
            permission="can read on DAG Runs",
        )
        return _decoded("DAG runs", answer, lambda raw: [self._pipeline(run) for run in raw["dag_runs"]])

    async def get_pipeline(self, pipeline_id: str) -> Pipeline:
        """One DAG run. Raises: NotFound, UsageError (not an Airflow run id)."""
        ref = parse_id(pipeline_id, job=False)
        answer = await self._call(
            "GET",
            _run_path(ref),
            what=f"DAG run {ref.run_id} of {ref.dag_id}",
            doing=f"read runs of DAG {ref.dag_id}",
            permission="can read on DAG Runs",
        )
        return _decoded("DAG run", answer, self._pipeline)

    async def list_jobs(self, pipeline_id: str) -> list[Job]:
        """The run's task instances (latest tries), by start time then task id; those not yet
        started last. Raises: NotFound."""
        ref = parse_id(pipeline_id, job=False)
        found: list[Job] = []
        while True:
            answer = await self._call(
                "GET",
                f"{_run_path(ref)}/taskInstances",
                params=[("limit", str(_PAGE)), ("offset", str(len(found)))],
                what=f"DAG run {ref.run_id} of {ref.dag_id}",
                doing=f"read task instances of DAG {ref.dag_id}",
                permission="can read on Task Instances",
            )
            page = _decoded(
                "task instances", answer, lambda raw: [self._job(ti) for ti in raw["task_instances"]]
            )
            total = _decoded("task instances", answer, lambda raw: int(raw.get("total_entries") or 0))
            found.extend(page)
            if not page or len(found) >= total:
                break
        return sorted(
            found, key=lambda j: (j.started is None, j.started.timestamp() if j.started else 0, j.id)
        )

    async def get_job(self, job_id: str) -> Job:
        """One task instance (its latest try). Raises: NotFound."""
        ref = parse_id(job_id, job=True)
        answer = await self._call(
            "GET",
            _task_path(ref),
            what=f"task {ref.task_id} of DAG run {ref.run_id}",
            doing=f"read task instances of DAG {ref.dag_id}",
            permission="can read on Task Instances",
        )
        return _decoded("task instance", answer, self._job)

    async def read_trace(self, job_id: str, offset: int = 0) -> TraceChunk:
        """A task's log from byte `offset` of its text on: its latest try, or the try the id
        names (`...TASK#2`).

        The task's state is read first, so when it has ended the log read after it is whole
        (`complete`). On v2, a read continuing where the previous one ended sends that read's
        continuation token and receives only the new lines; any other offset reads the log from
        its start and skips what comes before the offset.

        Raises:
            NotFound: no such task instance or try.
        """
        ref = parse_id(job_id, job=True)
        offset = max(0, offset)
        task = await self.get_job(replace(ref, try_number=None).job_id)
        latest = task.attempt or 1
        try_number = ref.try_number or latest
        if try_number > latest:
            raise NotFound(SOURCE, f"task {ref.task_id} of DAG run {ref.run_id} has no try {try_number}")
        done = try_number < latest or task.done
        if try_number == latest and task.started is None and not done:
            return TraceChunk(text="", next_offset=offset, complete=False)  # waiting to start: no log yet
        key = (replace(ref, try_number=None).job_id, try_number)
        kept = self._log_tokens.pop(key, None)
        token = kept[1] if kept is not None and kept[0] == offset else None
        text, next_token = await self._read_log(ref, try_number, token)
        data = text.encode()
        if token is None:
            data = data[offset:]
        end = offset + len(data)
        if next_token is not None and not done:
            self._log_tokens[key] = (end, next_token)
            while len(self._log_tokens) > _KEPT_LOG_TOKENS:  # follows given up on: the oldest go
                del self._log_tokens[next(iter(self._log_tokens))]
        return TraceChunk(text=data.decode("utf-8", "replace"), next_offset=end, complete=done)

    async def _read_log(self, ref: AirflowRef, try_number: int, token: str | None) -> tuple[str, str | None]:
        """The log text (from `token` on, or whole) and the token of what follows, if any."""
        version = await self.api_version()
        path = f"api/{version}/{_task_path(ref, logs=True)}/logs/{try_number}"
        params = [("map_index", str(ref.map_index))]
        if token is not None:
            params.append(("token", token))
        if version == "v1":
            response = await self._api.send("GET", path, params=params, headers={"Accept": "text/plain"})
        else:
            response = await self._api.send("GET", path, params=params)
        self._check(
            response,
            what=f"log of task {ref.task_id} try {try_number}",
            doing=f"read task logs of DAG {ref.dag_id}",
            permission="can read on Task Logs",
            path=path,
        )
        if version == "v1":
            return response.text, None
        try:
            answer = response.json()
        except ValueError:
            raise BackendError(SOURCE, f"malformed answer to GET {path}: not JSON") from None
        return _decoded(
            "task log",
            answer,
            lambda raw: (_log_text(raw["content"]), raw.get("continuation_token")),
        )

    def try_id(self, job_id: str, try_number: int) -> str | None:
        """`DAG/RUN/TASK#TRY`: the log of that try of the task instance."""
        ref = parse_id(job_id, job=True)
        return f"{ref.job_id}#{try_number}"

    def pausable(self, item_id: str) -> str:
        """The DAG of `item_id`: `airflow:DAG`, or one of its runs or task instances."""
        bare = item_id.removeprefix(PREFIX)
        if _DAG_ID.match(bare):
            return bare
        return parse_id(bare).dag_id

    async def is_paused(self, dag_id: str) -> bool:
        """Whether the DAG is paused. Raises: NotFound."""
        answer = await self._call(
            "GET",
            f"dags/{_q(dag_id)}",
            what=f"DAG {dag_id}",
            doing=f"read DAG {dag_id}",
            permission="can read on DAGs",
        )
        return _decoded("DAG", answer, lambda raw: bool(raw["is_paused"]))

    # -- writes -----------------------------------------------------------------------------------

    def dag_for(self, model: str | None) -> str:
        """The DAG that retrains `model` (`dag_template`, `{model}` filled in).

        Raises: UsageError: no DAG template (retrain is not `kind = "airflow"`)."""
        if not self._dag_template:
            raise UsageError('no DAG to trigger: set [retrain] kind = "airflow" and dag = "retrain_{model}"')
        return self._dag_template.replace("{model}", model or "")

    async def refuse_start(self, model: str | None) -> None:
        """Refuse to trigger a paused DAG: its run would wait, queued, until someone unpauses it.

        Raises: Refused: the DAG is paused. NotFound: no such DAG.
        """
        dag = self.dag_for(model)
        if await self.is_paused(dag):
            raise Refused(
                f"DAG {dag} is paused in Airflow: a run triggered now would stay queued until it is "
                f"unpaused; unpause it first: `mlops-tui pipelines unpause {PREFIX}{dag}`, or the key "
                f"{UNPAUSE_KEY} on one of its runs in the Pipelines pane"
            )

    async def start(
        self, variables: Mapping[str, str], *, ref: str | None = None, model: str | None = None
    ) -> Pipeline:
        """Trigger a run of the model's DAG with `variables` as its `conf` (`ref` is not used:
        the DAG decides what code runs).

        Raises:
            NotFound: no such DAG. BackendError: Airflow refused (a DAG with import errors, a
            conf its params reject, no permission).
        """
        dag = self.dag_for(model)
        body: dict[str, Any] = {"conf": dict(variables)}
        if await self.api_version() == "v2":
            body["logical_date"] = None  # required by v2; null: no data interval, any number of runs
        answer = await self._call(
            "POST",
            f"dags/{_q(dag)}/dagRuns",
            body=body,
            what=f"DAG {dag}",
            doing=f"trigger DAG {dag}",
            permission=f"can create on DAG Runs (of DAG {dag})",
        )
        started = _decoded("DAG run", answer, self._pipeline)
        return structs.replace(started, model=started.model or model)

    async def cancel_pipeline(self, pipeline_id: str) -> Pipeline:
        """Mark the run failed: its running tasks are stopped, nothing more is scheduled."""
        ref = parse_id(pipeline_id, job=False)
        answer = await self._call(
            "PATCH",
            _run_path(ref),
            params=[("update_mask", "state")],
            body={"state": "failed"},
            what=f"DAG run {ref.run_id} of {ref.dag_id}",
            doing=f"change runs of DAG {ref.dag_id}",
            permission=f"can edit on DAG Runs (of DAG {ref.dag_id})",
        )
        return _decoded("DAG run", answer, self._pipeline)

    async def retry_pipeline(self, pipeline_id: str) -> Pipeline:
        """Clear the run's failed tasks (and upstream-failed ones): Airflow runs them again as
        their next try, and the run is running again."""
        return await self.clear_run(pipeline_id, only_failed=True)

    async def rerun_pipeline(self, pipeline_id: str) -> Pipeline:
        """Clear every task of the run: Airflow runs the whole run again, each task as its next try."""
        return await self.clear_run(pipeline_id, only_failed=False)

    async def clear_run(self, pipeline_id: str, *, only_failed: bool) -> Pipeline:
        """Clear the run's failed tasks, or (`only_failed=False`) every task: the whole run again."""
        ref = parse_id(pipeline_id, job=False)
        await self._clear(ref, {"only_failed": only_failed})
        return await self.get_pipeline(pipeline_id)

    async def cancel_job(self, job_id: str) -> Job:
        """Mark one task instance failed."""
        ref = parse_id(job_id, job=True)
        body: dict[str, Any] = {"new_state": "failed"}
        if await self.api_version() == "v1":
            body["dry_run"] = False
        await self._call(
            "PATCH",
            _task_path(ref),
            body=body,
            what=f"task {ref.task_id} of DAG run {ref.run_id}",
            doing=f"change task instances of DAG {ref.dag_id}",
            permission=f"can edit on Task Instances (of DAG {ref.dag_id})",
        )
        return await self.get_job(job_id)

    async def retry_job(self, job_id: str) -> Job:
        """Clear one task instance: it runs again as its next try, under the same id."""
        ref = parse_id(job_id, job=True)
        task: Any = [ref.task_id, ref.map_index] if ref.map_index >= 0 else ref.task_id
        await self._clear(ref, {"only_failed": False, "task_ids": [task]})
        return await self.get_job(job_id)

    async def _clear(self, ref: AirflowRef, options: dict[str, Any]) -> None:
        body = {"dry_run": False, "dag_run_id": ref.run_id, "reset_dag_runs": True, **options}
        await self._call(
            "POST",
            f"dags/{_q(ref.dag_id)}/clearTaskInstances",
            body=body,
            what=f"DAG run {ref.run_id} of {ref.dag_id}",
            doing=f"clear task instances of DAG {ref.dag_id}",
            permission=f"can edit on Task Instances (of DAG {ref.dag_id})",
        )

    async def set_paused(self, dag_id: str, paused: bool) -> bool:
        """Pause or unpause a DAG; returns whether it is paused afterwards. Raises: NotFound."""
        answer = await self._call(
            "PATCH",
            f"dags/{_q(dag_id)}",
            params=[("update_mask", "is_paused")],
            body={"is_paused": paused},
            what=f"DAG {dag_id}",
            doing=f"pause or unpause DAG {dag_id}",
            permission=f"can edit on DAGs (of DAG {dag_id})",
        )
        return _decoded("DAG", answer, lambda raw: bool(raw["is_paused"]))

    async def aclose(self) -> None:
        await self._api.aclose()

    # -- conversions ------------------------------------------------------------------------------

    def _pipeline(self, raw: Mapping[str, Any]) -> Pipeline:
        dag, run = str(raw["dag_id"]), str(raw["dag_run_id"])
        conf = raw.get("conf") or {}
        model = conf.get("model") if isinstance(conf.get("model"), str) else None
        if model is None and self._model_in_dag is not None and (named := self._model_in_dag.fullmatch(dag)):
            model = named["model"]
        return Pipeline(
            id=f"{dag}/{run}",
            source=SOURCE,
            status=_RUN_STATES.get(str(raw.get("state")), str(raw.get("state") or "created")),
            ref=dag,
            trigger=str(raw.get("run_type") or ""),
            user=raw.get("triggering_user_name"),
            created=_time(raw.get("queued_at")) or _time(raw.get("run_after") or raw.get("execution_date")),
            started=_time(raw.get("start_date")),
            finished=_time(raw.get("end_date")),
            web_url=self._web_url(dag, run),
            model=model,
            parameters=tuple(sorted((str(k), _text(v)) for k, v in conf.items())),
        )

    def _job(self, raw: Mapping[str, Any]) -> Job:
        ref = AirflowRef(
            dag_id=str(raw["dag_id"]),
            run_id=str(raw["dag_run_id"]),
            task_id=str(raw["task_id"]),
            map_index=int(raw.get("map_index", -1)),
        )
        state = raw.get("state")
        group, _, _ = str(raw["task_id"]).rpartition(".")
        name = str(raw.get("task_display_name") or raw["task_id"])
        return Job(
            id=ref.job_id,
            pipeline_id=ref.pipeline_id,
            name=f"{name}[{ref.map_index}]" if ref.map_index >= 0 else name,
            stage=group,
            status=_TASK_STATES.get(state, str(state)),
            created=_time(raw.get("queued_when")),
            started=_time(raw.get("start_date")),
            finished=_time(raw.get("end_date")) if state in _TASK_DONE else None,
            web_url=self._web_url(ref.dag_id, ref.run_id, ref.task_id),
            attempt=int(raw.get("try_number") or 0) or None,
        )

    def _web_url(self, dag: str, run: str, task: str | None = None) -> str:
        root = self._api.url
        if self._version == "v1":
            return f"{root}/dags/{_q(dag)}/grid?dag_run_id={_q(run)}" + (
                f"&task_id={_q(task)}" if task else ""
            )
        return f"{root}/dags/{_q(dag)}/runs/{_q(run)}" + (f"/tasks/{_q(task)}" if task else "")


def _hint(settings: AirflowSettings) -> str:
    """What to check when Airflow refuses the credentials (401)."""
    if settings.auth == "google":
        return "check the Google application default credentials (`gcloud auth application-default login`)"
    if settings.token_env:
        return f"check the token in ${settings.token_env} (token_env)"
    if settings.token_command:
        return f"check the token printed by {settings.token_command[0]!r} (token_command)"
    if settings.username and settings.password_env:
        return f"check the password of user {settings.username!r} in ${settings.password_env} (password_env)"
    if settings.username and settings.password_command:
        return (
            f"check the password of user {settings.username!r} printed by "
            f"{settings.password_command[0]!r} (password_command)"
        )
    return "no credentials are configured: set username and password_env, or token_env"


def _q(part: str) -> str:
    return quote(part, safe="")


def _run_path(ref: AirflowRef) -> str:
    return f"dags/{_q(ref.dag_id)}/dagRuns/{_q(ref.run_id)}"


def _task_path(ref: AirflowRef, *, logs: bool = False) -> str:
    """A task instance's path; a mapped one's ends with its map index, except for logs, which
    take it as a parameter."""
    path = f"{_run_path(ref)}/taskInstances/{_q(ref.task_id or '')}"
    return f"{path}/{ref.map_index}" if ref.map_index >= 0 and not logs else path


def _dag_pattern(template: str) -> re.Pattern[str] | None:
    """`retrain_{model}` as a regex capturing the model; None when the DAG does not name it."""
    if template.count("{model}") != 1:
        return None
    before, _, after = template.partition("{model}")
    return re.compile(f"{re.escape(before)}(?P<model>.+?){re.escape(after)}")


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return parse_rfc3339(str(value))
    except ValueError:
        return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


_LOG_KEYS = frozenset(
    # Shown as the line's own parts, or the same on every line of a task's log.
    {"timestamp", "event", "level", "logger", "filename", "lineno", "ti_id", "try_number", "task_id"}
    | {"map_index", "dag_id", "run_id", "sources"}
)


_SOURCES_GROUP = "::group::Log message source details"
_END_GROUP = "::endgroup::"


def _log_text(events: Sequence[Any]) -> str:
    """The log's events as lines, without the group Airflow heads each answer with, which says
    where it read the log from: a file, or the worker while the task runs. The text of a log is
    then the same whenever it is read, which ranged reads rely on."""
    lines: list[str] = []
    skipping = False
    for event in events:
        text = event.get("event") if isinstance(event, Mapping) else None
        if text == _SOURCES_GROUP:
            skipping = True
        elif skipping:
            skipping = text != _END_GROUP
        else:
            lines.append(_log_line(event))
    return "".join(lines)


def _log_line(event: Any) -> str:
    """One structured log event as a line: time, level, message, then its other fields."""
    if isinstance(event, str):
        return event if event.endswith("\n") else event + "\n"
    if not isinstance(event, Mapping):
        return f"{event}\n"
    parts = [str(event.get(key)) for key in ("timestamp",) if event.get(key)]
    if event.get("level"):
        parts.append(str(event["level"]).upper())
    parts.append(str(event.get("event", "")))
    extras = " ".join(f"{key}={value}" for key, value in event.items() if key not in _LOG_KEYS)
    return " ".join(filter(None, (*parts, extras))) + "\n"


def _detail(response: httpx.Response) -> str:
    """Airflow's words for an error: FastAPI's `detail` (v2) or the problem's `detail`/`title` (v1)."""
    try:
        body = response.json()
    except ValueError:
        return excerpt(response.text) or response.reason_phrase
    if isinstance(body, Mapping):
        detail = body.get("detail") or body.get("title")
        if isinstance(detail, str):
            return excerpt(detail)
        if isinstance(detail, list):
            return excerpt(
                "; ".join(str(d.get("msg", d)) if isinstance(d, Mapping) else str(d) for d in detail)
            )
    return excerpt(response.text)


def _quote(value: str) -> str:
    return value.replace("'", "\\'")


def _decoded(what: str, answer: Any, convert: Callable[[Any], _T]) -> _T:
    return decode(SOURCE, what, answer, convert)
