"""The local runner: retraining as a process on this machine, one pipeline with one `train` job.

`LocalRunner` runs the `command` of a `[retrain] kind = "local"` table as an argument list, never
through a shell, in its own session and process group, with stdout and stderr going to one log file.
Each pipeline is a small JSON file in the state directory (default `$XDG_STATE_HOME/mlops-tui/runs`),
replaced atomically on every change, so every mlops-tui process sees the same pipelines:

```
runs/
├── counter      the last pipeline number handed out (ids are L1, L2, ... per directory)
├── .lock        flock(2) serialising read-modify-write of the files below
├── L7.json      id, command, pid, status, times, exit code, explanation
└── L7.log       stdout and stderr of the command, then one closing line from the runner
```

The process that starts a pipeline waits for it and records its exit status (0: success, anything
else: failed). Other processes read the status from the file. A pipeline still `running` whose
process is gone without a recorded exit status (killed, or the process that started it died) is
reported `failed`, with the reason in the state file and at the end of its log.

A pipeline's process lives as long as the runner that started it: `aclose()` stops the pipelines
still running, as asyncio would otherwise kill them, unrecorded, when the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import getpass
import json
import os
import signal
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from mlops_tui.config import RetrainSettings, locations
from mlops_tui.domain import FINISHED_STATUSES, PIPELINE_STATUSES, Job, Pipeline, TraceChunk
from mlops_tui.errors import BackendError, NotFound, UsageError
from mlops_tui.sources.base import PipelineSource
from mlops_tui.sources.local.processes import group_alive, pid_alive, start_ticks

__all__ = ["LocalRunner"]

SOURCE = "local"
JOB_SUFFIX = "-1"
TRACE_CHUNK_BYTES = 1 << 20
"""Most bytes one `read_trace` returns; the caller asks again from `next_offset`."""
_POLL_SECONDS = 0.05


def fill_placeholders(command: Sequence[str], values: Mapping[str, str]) -> list[str]:
    """The command with `{name}` replaced by `values[name]` in each argument.

    Plain string replacement: no format syntax, so unknown placeholders and stray braces stay as
    they are, and a value never becomes more than the one argument it sits in.
    """
    filled = []
    for argument in command:
        for name, value in values.items():
            argument = argument.replace("{" + name + "}", value)
        filled.append(argument)
    return filled


class LocalRunner(PipelineSource):
    """Retraining pipelines run as local processes; see the module docstring."""

    name: ClassVar[str] = SOURCE
    can_retry: ClassVar[bool] = False

    def __init__(
        self,
        settings: RetrainSettings,
        *,
        environment: str,
        tracking_uri: str,
        state_dir: Path | None = None,
        grace_seconds: float = 5.0,
    ) -> None:
        """
        Args:
            settings: the environment's `[retrain]` table; `command` is what runs.
            environment: the environment's name, filled in for `{env}`.
            tracking_uri: the environment's MLflow tracking URI, filled in for `{tracking_uri}`
                and passed as `MLFLOW_TRACKING_URI`.
            state_dir: where pipelines and logs are kept (default `state_dir()/runs`).
            grace_seconds: how long a canceled process has after SIGTERM before SIGKILL.
        """
        self._settings = settings
        self._environment = environment
        self._tracking_uri = tracking_uri
        self._dir = state_dir if state_dir is not None else locations.state_dir() / "runs"
        self._grace = grace_seconds
        self._processes: dict[str, asyncio.subprocess.Process] = {}
        self._waiters: dict[str, asyncio.Task[None]] = {}

    # -- reads -------------------------------------------------------------------------------------

    async def list_pipelines(
        self, *, ref: str | None = None, status: str | None = None, limit: int = 50
    ) -> list[Pipeline]:
        """Pipelines of this state directory, newest first.

        Args:
            ref: ignored: local pipelines run on no git ref.
            status: only pipelines in this status (one of PIPELINE_STATUSES).
            limit: at most this many.

        Raises:
            UsageError: an unknown status.
        """
        if status is not None and status not in PIPELINE_STATUSES:
            raise UsageError(f"unknown pipeline status {status!r}")
        return await asyncio.to_thread(self._list, status, limit)

    async def get_pipeline(self, pipeline_id: str) -> Pipeline:
        """Raises: NotFound."""
        return _pipeline(await asyncio.to_thread(self._current, pipeline_id))

    async def list_jobs(self, pipeline_id: str) -> list[Job]:
        """The single `train` job. Raises: NotFound."""
        return [_job(await asyncio.to_thread(self._current, pipeline_id))]

    async def get_job(self, job_id: str) -> Job:
        """Raises: NotFound."""
        return _job(await asyncio.to_thread(self._current, _pipeline_of(job_id)))

    async def read_trace(self, job_id: str, offset: int = 0) -> TraceChunk:
        """The job's log from byte `offset`, at most TRACE_CHUNK_BYTES of it.

        `complete` is true once the process has finished and the returned text reaches the end of
        the log. A multi-byte character cut by the chunk end is left for the next read.

        Raises:
            NotFound: no such job.
            UsageError: a negative offset.
        """
        if offset < 0:
            raise UsageError("a trace offset cannot be negative")
        return await asyncio.to_thread(self._read_trace, _pipeline_of(job_id), offset)

    # -- writes ------------------------------------------------------------------------------------

    async def start(
        self, variables: Mapping[str, str], *, ref: str | None = None, model: str | None = None
    ) -> Pipeline:
        """Run the retrain command for `variables["model"]`.

        `{model}`, `{env}` and `{tracking_uri}` are filled into the arguments; every variable is
        also passed to the process as an environment variable, as GitLab CI does.

        Raises:
            UsageError: no `model` variable, no command configured, or a missing workdir.
            BackendError: the command could not be started (not found, not executable).
        """
        model = variables.get("model")
        if not model:
            raise UsageError("retraining needs the variable `model`")
        if not self._settings.command:
            raise UsageError("the [retrain] table of this environment has no `command`")
        command = fill_placeholders(
            self._settings.command,
            {"model": model, "env": self._environment, "tracking_uri": self._tracking_uri},
        )
        workdir = Path(self._settings.workdir).expanduser() if self._settings.workdir else None
        if workdir is not None and not workdir.is_dir():
            raise UsageError(f"the retrain workdir {workdir} is not a directory")
        pipeline_id, log_path = await asyncio.to_thread(self._reserve, model, command, workdir)
        env = {
            **os.environ,
            **variables,
            "MLFLOW_TRACKING_URI": self._tracking_uri,
            "MLOPS_TUI_ENV": self._environment,
            "MLOPS_TUI_PIPELINE_ID": pipeline_id,
            # Python trainers would otherwise buffer their output and the live log stay empty.
            "PYTHONUNBUFFERED": "1",
        }
        try:
            with log_path.open("ab") as log:
                process = await asyncio.create_subprocess_exec(
                    *command,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log,
                    stderr=asyncio.subprocess.STDOUT,
                    cwd=workdir,
                    env=env,
                    # Own session and process group: cancel signals the command and its children,
                    # and a Ctrl-C in the terminal of mlops-tui does not reach them.
                    start_new_session=True,
                )
        except OSError as exc:
            await asyncio.to_thread(self._forget, pipeline_id)
            raise BackendError(SOURCE, f"cannot start {command[0]!r}: {exc.strerror or exc}") from None
        self._processes[pipeline_id] = process
        state = await asyncio.to_thread(
            self._update,
            pipeline_id,
            lambda s: s.update(pid=process.pid, pid_start=start_ticks(process.pid), status="running"),
        )
        self._waiters[pipeline_id] = asyncio.create_task(
            self._wait(pipeline_id, process), name=f"local-runner-{pipeline_id}"
        )
        return _pipeline(state)

    async def cancel_pipeline(self, pipeline_id: str) -> Pipeline:
        """SIGTERM the pipeline's process group, SIGKILL it after the grace period.

        Returns the pipeline as it is afterwards: `canceled`, or as it was if it had finished.

        Raises:
            NotFound: no such pipeline.
        """
        state = await asyncio.to_thread(self._current, pipeline_id)
        if state["status"] in FINISHED_STATUSES:
            return _pipeline(state)
        await self._stop(pipeline_id, state, "canceled by the operator")
        return _pipeline(await asyncio.to_thread(self._current, pipeline_id))

    async def cancel_job(self, job_id: str) -> Job:
        """Cancel the job's pipeline (its only job). Raises: NotFound."""
        pipeline = await self.cancel_pipeline(_pipeline_of(job_id))
        return await self.get_job(pipeline.id + JOB_SUFFIX)

    async def aclose(self) -> None:
        """Stop the pipelines this runner started that still run, and record them canceled."""
        for pipeline_id, process in list(self._processes.items()):
            if process.returncode is None:
                state = await asyncio.to_thread(self._current, pipeline_id)
                await self._stop(pipeline_id, state, "stopped: the mlops-tui process that ran it exited")
        for task in self._waiters.values():
            task.cancel()
        await asyncio.gather(*self._waiters.values(), return_exceptions=True)
        self._waiters.clear()

    # -- processes ---------------------------------------------------------------------------------

    async def _wait(self, pipeline_id: str, process: asyncio.subprocess.Process) -> None:
        code = await process.wait()
        await asyncio.to_thread(self._record_exit, pipeline_id, code)

    async def _stop(self, pipeline_id: str, state: dict[str, Any], reason: str) -> None:
        # Recorded before signalling, so whichever process sees the exit records it as canceled.
        await asyncio.to_thread(self._update, pipeline_id, lambda s: s.update(cancel_reason=reason))
        pid = state.get("pid")
        if isinstance(pid, int):
            process = self._processes.get(pipeline_id)
            for sig, grace in ((signal.SIGTERM, self._grace), (signal.SIGKILL, self._grace)):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, sig)
                if await self._gone(pid, state.get("pid_start"), process, grace):
                    break
            if process is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(process.wait(), self._grace)
        await asyncio.to_thread(self._record_exit, pipeline_id, None)

    async def _gone(
        self, pgid: int, start: Any, process: asyncio.subprocess.Process | None, timeout: float
    ) -> bool:
        """Whether the process group has ended within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            leader_alive = process.returncode is None if process is not None else pid_alive(pgid, start)
            if not leader_alive and not group_alive(pgid):
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(_POLL_SECONDS)

    # -- the state directory (blocking; called in threads) -----------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._dir.mkdir(parents=True, exist_ok=True)
        with (self._dir / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _reserve(self, model: str, command: list[str], workdir: Path | None) -> tuple[str, Path]:
        with self._locked():
            counter = self._dir / "counter"
            try:
                last = int(counter.read_text())
            except (OSError, ValueError):
                last = max((_number(p.stem) for p in self._dir.glob("L*.json")), default=0)
            number = last + 1
            locations.write_atomic(counter, str(number))
            pipeline_id = f"L{number}"
            now = _iso(datetime.now(UTC))
            state = {
                "id": pipeline_id,
                "model": model,
                "environment": self._environment,
                "command": command,
                "workdir": str(workdir) if workdir else None,
                "user": _os_user(),
                "status": "created",
                "created": now,
                "started": now,
                "finished": None,
                "pid": None,
                "pid_start": None,
                "exit_code": None,
                "message": "",
            }
            locations.write_atomic(self._state_path(pipeline_id), json.dumps(state, indent=1))
            log_path = self._log_path(pipeline_id)
            log_path.touch()
            return pipeline_id, log_path

    def _forget(self, pipeline_id: str) -> None:
        with self._locked():
            self._state_path(pipeline_id).unlink(missing_ok=True)
            self._log_path(pipeline_id).unlink(missing_ok=True)

    def _update(self, pipeline_id: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        with self._locked():
            state = self._load(pipeline_id)
            change(state)
            locations.write_atomic(self._state_path(pipeline_id), json.dumps(state, indent=1))
            return state

    def _record_exit(self, pipeline_id: str, code: int | None) -> None:
        """Record the end of a pipeline's process: `code` is its exit status, None if unknown.

        The closing line goes to the log before the status to the state file, so that a reader
        who sees a finished status and reads to the end of the log has all of it.
        """
        with self._locked():
            state = self._load(pipeline_id)
            if state["status"] in FINISHED_STATUSES:
                return
            if state.get("cancel_reason"):
                status, message = "canceled", str(state["cancel_reason"])
            elif code is None:
                status, message = "failed", "the process ended without a recorded exit status"
            elif code == 0:
                status, message = "success", "exited with code 0"
            else:
                status, message = "failed", _describe_exit(code)
            if code is not None:
                state["exit_code"] = code
            self._close(pipeline_id, state, status, message)

    def _close(self, pipeline_id: str, state: dict[str, Any], status: str, message: str) -> None:
        with self._log_path(pipeline_id).open("a", encoding="utf-8") as log:
            log.write(f"\nmlops-tui: {status}: {message}\n")
        state.update(status=status, message=message, finished=_iso(datetime.now(UTC)))
        locations.write_atomic(self._state_path(pipeline_id), json.dumps(state, indent=1))

    def _current(self, pipeline_id: str) -> dict[str, Any]:
        """The pipeline's state, a vanished process found out and recorded as failed."""
        state = self._load(pipeline_id)
        if state["status"] in FINISHED_STATUSES or self._vanished(state) is None:
            return state
        with self._locked():
            state = self._load(pipeline_id)
            reason = self._vanished(state)
            if state["status"] not in FINISHED_STATUSES and reason is not None:
                self._close(pipeline_id, state, "failed", reason)
            return state

    def _vanished(self, state: dict[str, Any]) -> str | None:
        """Why a pipeline not known to be finished has no process left, or None if it has one."""
        pipeline_id = state["id"]
        process = self._processes.get(pipeline_id)
        if process is not None:
            # Ours: the waiter records the exit status as soon as it is known.
            return None
        pid = state.get("pid")
        if not isinstance(pid, int):
            created = _parse(state.get("created"))
            if created is not None and time.time() - created.timestamp() < 60:
                return None  # being started right now by another process
            return "the process was never started (its runner died while starting it)"
        if pid_alive(pid, state.get("pid_start")):
            return None
        return (
            f"process {pid} ended without a recorded exit status: it was killed, or the "
            "mlops-tui process that started it died"
        )

    def _load(self, pipeline_id: str) -> dict[str, Any]:
        try:
            state: dict[str, Any] = json.loads(self._state_path(pipeline_id).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NotFound(SOURCE, f"no local pipeline {pipeline_id!r}") from None
        except (OSError, ValueError) as exc:
            raise BackendError(SOURCE, f"cannot read pipeline {pipeline_id}: {exc}") from None
        return state

    def _list(self, status: str | None, limit: int) -> list[Pipeline]:
        if not self._dir.is_dir():
            return []
        ids = sorted((p.stem for p in self._dir.glob("L*.json") if _number(p.stem)), key=_number)
        pipelines: list[Pipeline] = []
        for pipeline_id in reversed(ids):
            if len(pipelines) >= limit:
                break
            try:
                pipeline = _pipeline(self._current(pipeline_id))
            except NotFound:
                continue  # removed while listing
            if status is None or pipeline.status == status:
                pipelines.append(pipeline)
        return pipelines

    def _read_trace(self, pipeline_id: str, offset: int) -> TraceChunk:
        finished = self._current(pipeline_id)["status"] in FINISHED_STATUSES
        try:
            with self._log_path(pipeline_id).open("rb") as log:
                log.seek(offset)
                data = log.read(TRACE_CHUNK_BYTES)
                at_end = not log.read(1)
        except FileNotFoundError:
            data, at_end = b"", True
        if not (finished and at_end):
            data = data[: _whole_characters(data)]
        return TraceChunk(
            text=data.decode("utf-8", errors="replace"),
            next_offset=offset + len(data),
            complete=finished and at_end,
        )

    def _state_path(self, pipeline_id: str) -> Path:
        return self._dir / f"{_checked(pipeline_id)}.json"

    def _log_path(self, pipeline_id: str) -> Path:
        return self._dir / f"{_checked(pipeline_id)}.log"


# -- helpers -------------------------------------------------------------------------------------------


def _pipeline(state: dict[str, Any]) -> Pipeline:
    return Pipeline(
        id=state["id"],
        source=SOURCE,
        status=state["status"],
        ref=SOURCE,
        trigger=SOURCE,
        user=state.get("user"),
        created=_parse(state.get("created")),
        started=_parse(state.get("started")),
        finished=_parse(state.get("finished")),
        model=state.get("model"),
    )


def _job(state: dict[str, Any]) -> Job:
    return Job(
        id=state["id"] + JOB_SUFFIX,
        pipeline_id=state["id"],
        name="train",
        stage="train",
        status=state["status"],
        created=_parse(state.get("created")),
        started=_parse(state.get("started")),
        finished=_parse(state.get("finished")),
        source=SOURCE,
    )


def _pipeline_of(job_id: str) -> str:
    if not job_id.endswith(JOB_SUFFIX):
        raise NotFound(SOURCE, f"no local job {job_id!r}")
    return job_id.removesuffix(JOB_SUFFIX)


def _number(pipeline_id: str) -> int:
    digits = pipeline_id[1:]
    return int(digits) if pipeline_id.startswith("L") and digits.isdigit() else 0


def _checked(pipeline_id: str) -> str:
    # Ids become file names: nothing but L<digits> may reach the file system.
    if not _number(pipeline_id):
        raise NotFound(SOURCE, f"no local pipeline {pipeline_id!r}")
    return pipeline_id


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _parse(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _os_user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name}"
    return f"exited with code {code}"


def _whole_characters(data: bytes) -> int:
    """Length of the longest prefix of `data` that does not end inside a UTF-8 sequence."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # not a continuation byte: a lead byte or ASCII
            needed = (
                2 if byte >> 5 == 0b110 else 3 if byte >> 4 == 0b1110 else 4 if byte >> 3 == 0b11110 else 1
            )
            return len(data) - back if needed > back else len(data)
    return len(data)
