"""The local runner with real processes: statuses, incremental traces, cancel, placeholders filled
without a shell, state shared across runner instances and processes, vanished processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mlops_tui.config import RetrainSettings, locations
from mlops_tui.domain import Pipeline
from mlops_tui.errors import BackendError, NotFound, UsageError
from mlops_tui.sources.local.runner import LocalRunner
from tests.helpers import eventually

DEADLINE_SECONDS = 30
TRACKING_URI = "sqlite:////nowhere/mlflow.db"
SLEEPER = "import time\nwhile True: time.sleep(0.05)"


def python(code: str, *args: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code), *args]


def make_runner(command: list[str], state_dir: Path | None = None, **kwargs: object) -> LocalRunner:
    return LocalRunner(
        RetrainSettings(kind="local", command=command),
        environment="dev",
        tracking_uri=TRACKING_URI,
        state_dir=state_dir,
        **kwargs,  # type: ignore[arg-type]
    )


async def finished(runner: LocalRunner, pipeline_id: str) -> Pipeline:
    """The pipeline once done (a bounded poll on its state)."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not (pipeline := await runner.get_pipeline(pipeline_id)).done:
        if time.monotonic() > deadline:
            pytest.fail(f"pipeline {pipeline_id} still {pipeline.status} after {DEADLINE_SECONDS} s")
        await asyncio.sleep(0.02)
    return pipeline


async def whole_trace(runner: LocalRunner, job_id: str) -> str:
    text, offset = "", 0
    while True:
        chunk = await runner.read_trace(job_id, offset)
        text += chunk.text
        offset = chunk.next_offset
        if chunk.complete:
            return text


def running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie nobody reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


@pytest.fixture
async def runners() -> AsyncIterator[list[LocalRunner]]:
    """Runners a test makes, closed (their processes stopped) at the end."""
    made: list[LocalRunner] = []
    yield made
    for runner in made:
        await runner.aclose()


async def test_success_and_an_incremental_trace(tmp_path: Path, runners: list[LocalRunner]) -> None:
    go = tmp_path / "go"
    runner = make_runner(
        python(
            """
            import pathlib, sys, time
            print("first line", flush=True)
            deadline = time.monotonic() + 30
            while not pathlib.Path(sys.argv[1]).exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            print("second line")
            print("héllo ✓", file=sys.stderr)
            """,
            str(go),
        )
    )
    runners.append(runner)
    pipeline = await runner.start({"model": "churn"})
    assert (pipeline.id, pipeline.source, pipeline.status, pipeline.trigger) == (
        "L1",
        "local",
        "running",
        "local",
    )
    assert pipeline.model == "churn" and pipeline.user
    assert pipeline.created is not None and pipeline.created.utcoffset() is not None
    [job] = await runner.list_jobs(pipeline.id)
    assert (job.id, job.name, job.stage, job.status) == ("L1-1", "train", "train", "running")

    deadline = time.monotonic() + DEADLINE_SECONDS
    while "first line" not in (first := await runner.read_trace(job.id, 0)).text:
        assert time.monotonic() < deadline, "the first line never reached the log"
        await asyncio.sleep(0.02)
    assert first.text == "first line\n" and first.next_offset == len(b"first line\n")
    assert not first.complete

    go.touch()
    done = await finished(runner, pipeline.id)
    assert done.status == "success" and done.finished is not None and done.finished >= done.started
    rest = await runner.read_trace(job.id, first.next_offset)
    assert rest.complete
    assert "first line" not in rest.text
    assert rest.text.startswith("second line\nhéllo ✓\n")
    assert rest.text.rstrip().endswith("mlops-tui: success: exited with code 0")
    # The default state directory, read to its end.
    assert rest.next_offset == (locations.state_dir() / "runs" / "L1.log").stat().st_size
    end = await runner.read_trace(job.id, rest.next_offset)
    assert (end.text, end.next_offset, end.complete) == ("", rest.next_offset, True)
    assert (await runner.get_job(job.id)).status == "success"


async def test_a_failing_command_fails(tmp_path: Path, runners: list[LocalRunner]) -> None:
    runner = make_runner(python("import sys; print('bad data'); sys.exit(3)"), tmp_path / "runs")
    runners.append(runner)
    pipeline = await runner.start({"model": "fraud"})
    assert (await finished(runner, pipeline.id)).status == "failed"
    trace = await whole_trace(runner, pipeline.id + "-1")
    assert trace.startswith("bad data\n")
    assert trace.rstrip().endswith("mlops-tui: failed: exited with code 3")


async def test_cancel_stops_the_whole_process_group(tmp_path: Path, runners: list[LocalRunner]) -> None:
    runner = make_runner(
        python(
            """
            import subprocess, sys, time
            child = subprocess.Popen([sys.executable, "-c", "import time\\nwhile True: time.sleep(0.05)"])
            print(child.pid, flush=True)
            while True:
                time.sleep(0.05)
            """
        ),
        tmp_path / "runs",
        grace_seconds=2.0,
    )
    runners.append(runner)
    pipeline = await runner.start({"model": "churn"})
    job_id = pipeline.id + "-1"
    chunks: list[str] = []

    async def child_pid_logged() -> bool:
        chunks.append((await runner.read_trace(job_id)).text)
        return chunks[-1].endswith("\n")

    deadline = time.monotonic() + DEADLINE_SECONDS
    while not await child_pid_logged():
        assert time.monotonic() < deadline, "the child's pid never reached the log"
        await asyncio.sleep(0.02)
    child_pid = int(chunks[-1])
    state = json.loads((tmp_path / "runs" / f"{pipeline.id}.json").read_text())
    leader = state["pid"]
    assert running(leader) and running(child_pid)

    canceled = await runner.cancel_pipeline(pipeline.id)
    assert canceled.status == "canceled" and canceled.finished is not None
    assert not running(leader) and not running(child_pid)
    assert (await runner.get_job(job_id)).status == "canceled"
    trace = await whole_trace(runner, job_id)
    assert trace.rstrip().endswith("mlops-tui: canceled: canceled by the operator")
    # Canceling again changes nothing.
    assert (await runner.cancel_job(job_id)).status == "canceled"


async def test_placeholders_are_filled_without_a_shell(tmp_path: Path, runners: list[LocalRunner]) -> None:
    planted = tmp_path / "planted"
    runner = make_runner(
        python(
            "import json, sys; print(json.dumps(sys.argv[1:]))",
            f"{{model}}; touch {planted}",
            "--env={env}",
            "{tracking_uri}",
            "{unknown} $HOME `id`",
        ),
        tmp_path / "runs",
    )
    runners.append(runner)
    model = f"churn$(touch {planted})"
    pipeline = await runner.start({"model": model})
    assert (await finished(runner, pipeline.id)).status == "success"
    trace = await whole_trace(runner, pipeline.id + "-1")
    assert json.loads(trace.splitlines()[0]) == [
        f"churn$(touch {planted}); touch {planted}",
        "--env=dev",
        TRACKING_URI,
        "{unknown} $HOME `id`",
    ]
    assert not planted.exists()


async def test_variables_reach_the_process_environment(tmp_path: Path, runners: list[LocalRunner]) -> None:
    code = "import os; print(*(os.environ[k] for k in ('EPOCHS', 'MLFLOW_TRACKING_URI', 'MLOPS_TUI_ENV')))"
    runner = make_runner(python(code), tmp_path / "runs")
    runners.append(runner)
    pipeline = await runner.start({"model": "churn", "EPOCHS": "7"})
    await finished(runner, pipeline.id)
    assert (await whole_trace(runner, pipeline.id + "-1")).startswith(f"7 {TRACKING_URI} dev\n")


async def test_pipelines_persist_for_another_runner(tmp_path: Path, runners: list[LocalRunner]) -> None:
    state_dir = tmp_path / "runs"
    first = make_runner(python("import sys; sys.exit(int(sys.argv[1]))", "{model}"), state_dir)
    runners.append(first)
    ok = await first.start({"model": "0"})
    bad = await first.start({"model": "5"})
    await finished(first, ok.id)
    await finished(first, bad.id)

    second = make_runner(["unused"], state_dir)
    runners.append(second)
    listed = await second.list_pipelines()
    assert [(p.id, p.status, p.model) for p in listed] == [("L2", "failed", "5"), ("L1", "success", "0")]
    assert [p.id for p in await second.list_pipelines(status="success")] == ["L1"]
    assert [p.id for p in await second.list_pipelines(ref="main", limit=1)] == ["L2"]
    assert (await second.get_job("L2-1")).status == "failed"
    assert (await whole_trace(second, "L2-1")).rstrip().endswith("exited with code 5")
    third = await first.start({"model": "0"})
    assert third.id == "L3"  # ids keep counting across instances
    with pytest.raises(NotFound):
        await second.get_pipeline("L99")
    with pytest.raises(NotFound):
        await second.read_trace("../L1-1")
    with pytest.raises(UsageError):
        await second.list_pipelines(status="exploded")


async def test_a_process_killed_behind_the_runners_back_is_reported_failed(
    tmp_path: Path, runners: list[LocalRunner]
) -> None:
    state_dir = tmp_path / "runs"
    # Another mlops-tui process starts the pipeline, then dies without waiting for it.
    starter = textwrap.dedent(
        f"""
        import asyncio, json, os, sys
        from pathlib import Path
        from mlops_tui.config import RetrainSettings
        from mlops_tui.sources.local.runner import LocalRunner

        async def main():
            runner = LocalRunner(
                RetrainSettings(kind="local", command=[sys.executable, "-c", {SLEEPER!r}]),
                environment="dev",
                tracking_uri="sqlite:///x.db",
                state_dir=Path({str(state_dir)!r}),
            )
            pipeline = await runner.start({{"model": "churn"}})
            state = json.loads((Path({str(state_dir)!r}) / (pipeline.id + ".json")).read_text())
            print(json.dumps({{"id": pipeline.id, "pid": state["pid"]}}), flush=True)
            os._exit(0)

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", starter], capture_output=True, text=True, timeout=60, check=True
    )
    started = json.loads(done.stdout)
    pid = started["pid"]
    runner = make_runner(["unused"], state_dir)
    runners.append(runner)
    assert (await runner.get_pipeline(started["id"])).status == "running"  # still alive, orphaned

    os.killpg(pid, signal.SIGKILL)

    async def alive() -> bool:
        return running(pid)

    await eventually(alive, lambda alive: not alive, f"process {pid} to die", DEADLINE_SECONDS)
    [pipeline] = await runner.list_pipelines()
    assert pipeline.status == "failed" and pipeline.finished is not None
    trace = await whole_trace(runner, started["id"] + "-1")
    assert f"process {pid} ended without a recorded exit status" in trace
    state = json.loads((state_dir / f"{started['id']}.json").read_text())
    assert state["status"] == "failed" and "killed" in state["message"]


async def test_start_errors(tmp_path: Path, runners: list[LocalRunner]) -> None:
    runner = make_runner([str(tmp_path / "no-such-program"), "{model}"], tmp_path / "runs")
    runners.append(runner)
    with pytest.raises(UsageError):
        await runner.start({})
    with pytest.raises(BackendError, match="cannot start"):
        await runner.start({"model": "churn"})
    assert await runner.list_pipelines() == []
    with pytest.raises(UsageError):
        await make_runner([], tmp_path / "runs").start({"model": "churn"})
    assert not runner.can_retry
    with pytest.raises(UsageError):
        await runner.retry_pipeline("L1")
