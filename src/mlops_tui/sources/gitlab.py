"""GitLab CI/CD pipelines, jobs, job logs and pipeline triggers, over the REST API v4.

`GitlabSource` drives python-gitlab, which is synchronous: every call runs in a worker thread, so a
slow or dead GitLab never blocks the event loop. python-gitlab itself is imported, and its client
built, in that thread on first use: headless commands that never touch GitLab do not pay for it.

Rate limits: python-gitlab retries a 429 by itself, sleeping whatever `Retry-After` says (an hour
if the server says so) up to ten times. That is switched off on every call; this module retries a
429 itself as every source does (`sources.transport`: a few times, only while the wait fits in the
call's timeout budget), and otherwise fails at once with "rate limited, retry after N s".

Job logs: GitLab documents `GET /projects/:id/jobs/:job_id/trace` with no way to read part of the
log (no parameters besides the ids, no `Range` support: gitlab-org/gitlab#30391 and #216738 ask
for it). `read_trace` still sends `Range: bytes=OFFSET-`, so a server or proxy that honours it
answers 206 with only the new bytes; when the answer is a plain 200 with the whole log, as GitLab
gives, the bytes before the offset are streamed past and dropped, never held in memory.
"""

from __future__ import annotations

import asyncio
import codecs
import re
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from msgspec.structs import replace

from mlops_tui.config import GitlabSettings, resolve_secret
from mlops_tui.domain import FINISHED_STATUSES, PIPELINE_STATUSES, Job, Pipeline, TraceChunk
from mlops_tui.errors import BackendError, BackendUnreachable, MlopsError, NotFound
from mlops_tui.sources.base import PipelineSource
from mlops_tui.sources.transport import BlockingApi, RateLimited

__all__ = ["GitlabSource"]

SOURCE = "gitlab"
_MAX_PER_PAGE = 100
"""GitLab's upper bound for `per_page`."""
_NO_BUILTIN_RETRY: dict[str, Any] = {"obey_rate_limit": False, "retry_transient_errors": False}
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
_T = TypeVar("_T")


class GitlabSource(PipelineSource):
    """One GitLab project's pipelines, through python-gitlab in worker threads."""

    name: ClassVar[str] = "gitlab"

    def __init__(
        self,
        settings: GitlabSettings,
        *,
        ref: str = "main",
        trigger_token: str | None = None,
        per_page: int = _MAX_PER_PAGE,
    ) -> None:
        """Args:
        settings: the project, its URL, the token's source and the timeout.
        ref: the ref `start()` runs a pipeline on when none is given.
        trigger_token: a pipeline trigger token; when given, `start()` uses the trigger API.
        per_page: page size of listings (GitLab caps it at 100).
        """
        self._settings = settings
        self._url = settings.url.rstrip("/")
        self._project = settings.project
        self._ref = ref
        self._trigger_token = trigger_token
        self._per_page = max(1, min(per_page, _MAX_PER_PAGE))
        self._timeout = settings.timeout_seconds
        self._api = BlockingApi(SOURCE, self._url, self._timeout)
        self._gl: Any = None
        self._lock = threading.Lock()
        self._retry_after = threading.local()
        self._model_in_name = _name_pattern(settings.pipeline_name)

    # -- plumbing ---------------------------------------------------------------------------------

    def _client(self) -> Any:
        with self._lock:
            if self._gl is None:
                # Deferred: python-gitlab (and requests) cost ~0.2 s to import, paid in a worker
                # thread by the first GitLab call, never by commands that skip GitLab.
                import gitlab

                token = resolve_secret(self._settings.token_env, self._settings.token_command)
                gl = gitlab.Gitlab(self._url, private_token=token, timeout=self._timeout)
                gl.session.hooks["response"].append(self._note_retry_after)
                self._gl = gl
            return self._gl

    def _note_retry_after(self, response: Any, *args: Any, **kwargs: Any) -> None:
        # python-gitlab's errors drop the response headers; keep the 429's Retry-After here.
        if response.status_code == 429:
            self._retry_after.value = response.headers.get("Retry-After")

    async def _run(self, what: str, call: Callable[[Any], _T]) -> _T:
        """`call(gl)` in a worker thread, as every blocking SDK's call runs (`BlockingApi`)."""
        return await self._api.run(lambda: self._attempt(what, call))

    def _attempt(self, what: str, call: Callable[[Any], _T]) -> _T:
        """`call(gl)`, with python-gitlab's errors turned into the error tree (a 429 into
        `RateLimited`, which `BlockingApi` retries)."""
        from gitlab.exceptions import GitlabError

        try:
            return call(self._client())
        except GitlabError as exc:
            if exc.response_code == 429:
                raise RateLimited(getattr(self._retry_after, "value", None)) from None
            raise self._error(exc, what) from None

    def _error(self, exc: Any, what: str) -> MlopsError:
        from gitlab.exceptions import GitlabParsingError

        if isinstance(exc, GitlabParsingError):
            return BackendError(SOURCE, f"malformed response to the {what} request: not JSON")
        code: int | None = exc.response_code
        message = _message(exc.error_message)
        if code == 401:
            return BackendError(SOURCE, f"GitLab rejected {self._token_origin()} (401)")
        if code == 403:
            return BackendError(SOURCE, f"permission denied on project {self._project} (403): {message}")
        if code == 404:
            if "project" in message.lower() or what == "project":
                return NotFound(SOURCE, f"project {self._project} not found on {self._url}")
            return NotFound(SOURCE, f"{what} not found in project {self._project}")
        if code in (502, 503, 504):
            return BackendUnreachable(SOURCE, f"{self._url} is unavailable (HTTP {code})")
        if code is None:
            return BackendError(SOURCE, f"{what}: {message}")
        return BackendError(SOURCE, f"{what}: {message} (HTTP {code})")

    def _token_origin(self) -> str:
        if self._settings.token_env:
            return f"the token in ${self._settings.token_env}"
        if self._settings.token_command:
            return f"the token printed by {self._settings.token_command[0]!r}"
        return "the request: no token is configured (set token_env)"

    def _project_api(self, gl: Any) -> Any:
        # lazy=True: no request; python-gitlab URL-encodes a path such as `ml/churn-model`.
        return gl.projects.get(self._project, lazy=True)

    def _pipeline(self, raw: Mapping[str, Any]) -> Pipeline:
        user = raw.get("user")
        return Pipeline(
            id=str(raw["id"]),
            source=SOURCE,
            status=_status(raw.get("status")),
            ref=str(raw.get("ref") or ""),
            sha=raw.get("sha"),
            trigger=str(raw.get("source") or ""),
            user=user.get("username") if isinstance(user, Mapping) else None,
            created=_time(raw.get("created_at")),
            started=_time(raw.get("started_at")),
            finished=_time(raw.get("finished_at")),
            web_url=raw.get("web_url"),
            model=self._model_of(raw.get("name")),
        )

    def _model_of(self, pipeline_name: object) -> str | None:
        """The model a pipeline's `workflow:name` names, by `pipeline_name`; else unknown (its
        variables would say, at one more request per pipeline)."""
        if self._model_in_name is None or not isinstance(pipeline_name, str):
            return None
        named = self._model_in_name.fullmatch(pipeline_name)
        return named["model"] if named else None

    @staticmethod
    def _job(raw: Mapping[str, Any], pipeline_id: str | None = None) -> Job:
        pipeline = raw.get("pipeline")
        if pipeline_id is None and isinstance(pipeline, Mapping):
            pipeline_id = str(pipeline.get("id", ""))
        return Job(
            id=str(raw["id"]),
            pipeline_id=pipeline_id or "",
            name=str(raw.get("name") or ""),
            stage=str(raw.get("stage") or ""),
            status=_status(raw.get("status")),
            created=_time(raw.get("created_at")),
            started=_time(raw.get("started_at")),
            finished=_time(raw.get("finished_at")),
            web_url=raw.get("web_url"),
            source="gitlab",
        )

    # -- reads ------------------------------------------------------------------------------------

    async def list_pipelines(
        self, *, ref: str | None = None, status: str | None = None, limit: int = 50
    ) -> list[Pipeline]:
        """Recent pipelines, newest first (`order_by=id&sort=desc`), filtered by the server.

        Args:
            ref: only pipelines of this ref; without it, those of `settings.refs` when set
                (one listing per ref, merged), else every ref.
            status: only pipelines in this GitLab status.
            limit: at most this many; pages are followed through the `Link` header.

        Raises:
            NotFound: the project does not exist (or the token cannot see it).
            BackendUnreachable: GitLab cannot be reached or did not answer in time.
            BackendError: any other failure: bad token, permission, rate limit.
        """
        if limit <= 0:
            return []
        refs: list[str | None] = [ref] if ref else list(self._settings.refs) or [None]

        def call(gl: Any) -> list[dict[str, Any]]:
            project = self._project_api(gl)
            found: list[dict[str, Any]] = []
            for one_ref in refs:
                filters = {key: value for key, value in (("ref", one_ref), ("status", status)) if value}
                pages = project.pipelines.list(
                    iterator=True,
                    order_by="id",
                    sort="desc",
                    per_page=min(self._per_page, limit),
                    **filters,
                    **_NO_BUILTIN_RETRY,
                )
                for count, item in enumerate(pages, start=1):
                    found.append(item.asdict())
                    if count >= limit:
                        break
            return found

        rows = await self._run("pipelines", call)
        rows.sort(key=lambda row: int(row["id"]), reverse=True)
        return [self._pipeline(row) for row in rows[:limit]]

    async def get_pipeline(self, pipeline_id: str) -> Pipeline:
        """One pipeline, with its user and start and finish times.

        Raises:
            NotFound: no such pipeline, or no such project.
            BackendUnreachable, BackendError: as for `list_pipelines`.
        """
        number = _number(pipeline_id, "pipeline")

        def call(gl: Any) -> dict[str, Any]:
            result: dict[str, Any] = self._project_api(gl).pipelines.get(number, **_NO_BUILTIN_RETRY).asdict()
            return result

        return self._pipeline(await self._run(f"pipeline {pipeline_id}", call))

    async def list_jobs(self, pipeline_id: str) -> list[Job]:
        """The pipeline's jobs (latest attempts), in stage order, then in creation order.

        GitLab does not give a stage's position: stages are ordered by their first job's id,
        since GitLab creates a pipeline's jobs stage by stage.

        Raises:
            NotFound: no such pipeline, or no such project.
            BackendUnreachable, BackendError: as for `list_pipelines`.
        """
        number = _number(pipeline_id, "pipeline")

        def call(gl: Any) -> list[dict[str, Any]]:
            pipeline = self._project_api(gl).pipelines.get(number, lazy=True)
            jobs = pipeline.jobs.list(iterator=True, per_page=self._per_page, **_NO_BUILTIN_RETRY)
            return [job.asdict() for job in jobs]

        rows = await self._run(f"pipeline {pipeline_id}", call)
        first_of_stage: dict[str, int] = {}
        for row in rows:
            stage = str(row.get("stage") or "")
            first_of_stage[stage] = min(first_of_stage.get(stage, row["id"]), row["id"])
        rows.sort(key=lambda row: (first_of_stage[str(row.get("stage") or "")], row["id"]))
        return [self._job(row, str(pipeline_id)) for row in rows]

    async def get_job(self, job_id: str) -> Job:
        """One job.

        Raises:
            NotFound: no such job, or no such project.
            BackendUnreachable, BackendError: as for `list_pipelines`.
        """
        number = _number(job_id, "job")

        def call(gl: Any) -> dict[str, Any]:
            result: dict[str, Any] = self._project_api(gl).jobs.get(number, **_NO_BUILTIN_RETRY).asdict()
            return result

        return self._job(await self._run(f"job {job_id}", call))

    async def read_trace(self, job_id: str, offset: int = 0) -> TraceChunk:
        """The job's log from byte `offset` on.

        Asks with `Range: bytes=OFFSET-`. A 206 carries only the new bytes. GitLab's documented
        trace endpoint has no ranged read and answers 200 with the whole log: then the bytes
        before `offset` are skipped as they stream in. The job's status is read first, so when
        it is finished the log read after it is known to be whole (`complete`). A UTF-8
        character cut at the end is left for the next read.

        Args:
            job_id: the job.
            offset: `next_offset` of the previous chunk (0 for the start).

        Returns:
            The new text, the offset to ask for next, and whether the log is complete.

        Raises:
            NotFound: no such job, or no such project.
            BackendUnreachable, BackendError: as for `list_pipelines`.
        """
        number = _number(job_id, "job")
        offset = max(0, offset)

        def call(gl: Any) -> tuple[bool, bytes]:
            from gitlab.exceptions import GitlabError

            project = self._project_api(gl)
            status = project.jobs.get(number, **_NO_BUILTIN_RETRY).asdict().get("status")
            done = status in FINISHED_STATUSES
            headers = {"Range": f"bytes={offset}-"} if offset else None
            try:
                response = gl.http_get(
                    f"/projects/{project.encoded_id}/jobs/{number}/trace",
                    streamed=True,
                    raw=True,
                    extra_headers=headers,
                    **_NO_BUILTIN_RETRY,
                )
            except GitlabError as exc:
                if exc.response_code == 416:  # an honoured range starting at the end: nothing new
                    return done, b""
                raise
            with response:
                return done, _bytes_from(response, offset)

        done, data = await self._run(f"job {job_id}", call)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        text = decoder.decode(data, final=done)
        pending = len(decoder.getstate()[0])
        return TraceChunk(text=text, next_offset=offset + len(data) - pending, complete=done)

    # -- writes -----------------------------------------------------------------------------------

    async def start(
        self, variables: Mapping[str, str], *, ref: str | None = None, model: str | None = None
    ) -> Pipeline:
        """Start a pipeline on `ref` (default: the constructor's) with these CI/CD variables.

        With a trigger token: `POST /projects/:id/trigger/pipeline` with `token`, `ref` and
        `variables[KEY]` in the body. Without: `POST /projects/:id/pipeline` with `ref` and
        `variables: [{key, value}]`, as the token's user.

        Raises:
            BackendError: GitLab refused (unknown ref, bad trigger token, no permission, ...).
            NotFound, BackendUnreachable: as for `list_pipelines`.
        """
        target = ref or self._ref
        values = {str(key): str(value) for key, value in variables.items()}
        trigger_token = self._trigger_token

        def call(gl: Any) -> dict[str, Any]:
            project = self._project_api(gl)
            if trigger_token:
                result: dict[str, Any] = gl.http_post(
                    f"/projects/{project.encoded_id}/trigger/pipeline",
                    post_data={"token": trigger_token, "ref": target, "variables": values},
                    **_NO_BUILTIN_RETRY,
                )
                return result
            payload = {
                "ref": target,
                "variables": [{"key": key, "value": value} for key, value in values.items()],
            }
            created: dict[str, Any] = project.pipelines.create(payload, **_NO_BUILTIN_RETRY).asdict()
            return created

        started = self._pipeline(await self._run(f"pipeline on {target}", call))
        return replace(started, model=started.model or model)

    async def cancel_pipeline(self, pipeline_id: str) -> Pipeline:
        """Cancel a pipeline's running and pending jobs; returns the pipeline afterwards.

        Raises: NotFound, BackendUnreachable, BackendError (as for `list_pipelines`).
        """
        return await self._pipeline_action(pipeline_id, "cancel")

    async def retry_pipeline(self, pipeline_id: str) -> Pipeline:
        """Retry a pipeline's failed and canceled jobs; returns the pipeline afterwards.

        Raises: NotFound, BackendUnreachable, BackendError (as for `list_pipelines`).
        """
        return await self._pipeline_action(pipeline_id, "retry")

    async def cancel_job(self, job_id: str) -> Job:
        """Cancel one job; returns it afterwards.

        Raises: NotFound, BackendUnreachable, BackendError (as for `list_pipelines`).
        """
        return await self._job_action(job_id, "cancel")

    async def retry_job(self, job_id: str) -> Job:
        """Retry one job; returns the new job GitLab creates for the retry (a new id).

        Raises: NotFound, BackendUnreachable, BackendError (as for `list_pipelines`).
        """
        return await self._job_action(job_id, "retry")

    async def _pipeline_action(self, pipeline_id: str, action: str) -> Pipeline:
        number = _number(pipeline_id, "pipeline")

        def call(gl: Any) -> dict[str, Any]:
            project = self._project_api(gl)
            result: dict[str, Any] = gl.http_post(
                f"/projects/{project.encoded_id}/pipelines/{number}/{action}", **_NO_BUILTIN_RETRY
            )
            return result

        return self._pipeline(await self._run(f"pipeline {pipeline_id}", call))

    async def _job_action(self, job_id: str, action: str) -> Job:
        number = _number(job_id, "job")

        def call(gl: Any) -> dict[str, Any]:
            project = self._project_api(gl)
            result: dict[str, Any] = gl.http_post(
                f"/projects/{project.encoded_id}/jobs/{number}/{action}", **_NO_BUILTIN_RETRY
            )
            return result

        return self._job(await self._run(f"job {job_id}", call))

    async def aclose(self) -> None:
        """Close the HTTP session, if one was opened."""
        if self._gl is not None:
            await asyncio.to_thread(self._gl.session.close)


def _bytes_from(response: Any, offset: int) -> bytes:
    """The body from byte `offset` on, whether the server honoured the range (206) or not (200)."""
    if response.status_code == 206:
        match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        start = int(match.group(1)) if match else offset
        body: bytes = response.content
        return body[max(0, offset - start) :]
    kept: list[bytes] = []
    position = 0
    for block in response.iter_content(chunk_size=64 * 1024):
        if position + len(block) > offset:
            kept.append(block[max(0, offset - position) :])
        position += len(block)
    return b"".join(kept)


def _number(value: str, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise NotFound(SOURCE, f"{what} {value!r} not found: GitLab {what} ids are numbers") from None


def _status(value: Any) -> str:
    status = str(value or "created")
    # GitLab's own names; newer servers add transient ones that read as running.
    if status in PIPELINE_STATUSES:
        return status
    return "running" if status == "waiting_for_callback" else status


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _message(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, Mapping):
        return "; ".join(f"{key}: {_message(item)}" for key, item in value.items())
    if isinstance(value, list):
        return ", ".join(_message(item) for item in value)
    return str(value)


def _name_pattern(pipeline_name: str | None) -> re.Pattern[str] | None:
    """`retrain {model}` as a regex capturing the model."""
    if pipeline_name is None:
        return None
    before, _, after = pipeline_name.partition("{model}")
    return re.compile(f"{re.escape(before)}(?P<model>.+?){re.escape(after)}")
