"""Real servers as subprocesses for the tests: started in their own process group, awaited until they
answer (polling with a deadline), stopped with their children."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

__all__ = ["log_tail", "loopback_client", "running_service", "stop_process_group"]


@contextmanager
def running_service(
    what: str,
    command: Sequence[str],
    *,
    ready_url: str,
    directory: Path,
    seconds: float,
    env: Mapping[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` in `directory`, its output in `directory/server.log`, until `ready_url`
    answers 200 (failing the test after `seconds`, or at once if the process exits); stop its
    whole process group on exit."""
    log_path = directory / "server.log"
    with log_path.open("wb") as log:
        # Own session: some servers run children (`mlflow server` runs uvicorn); the whole group
        # is stopped below.
        process = subprocess.Popen(
            list(command),
            cwd=directory,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_until_ready(what, ready_url, process, log_path, seconds)
            yield process
        finally:
            stop_process_group(process)


def _wait_until_ready(
    what: str, url: str, process: subprocess.Popen[bytes], log_path: Path, seconds: float
) -> None:
    with loopback_client(timeout=2) as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                if client.get(url).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            try:
                # Doubles as the pause between two polls: returns early only if the server died.
                code = process.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                continue
            pytest.fail(f"{what} exited with {code}:\n{log_tail(log_path)}", pytrace=False)
    pytest.fail(f"{what} did not answer {url} within {seconds:g} s:\n{log_tail(log_path)}", pytrace=False)


def loopback_client(timeout: float = 10) -> httpx.Client:
    """An httpx client for the plain-http servers on 127.0.0.1 that tests start."""
    # trust_env=False: a session fixture may start before the tests' proxy variables are scrubbed.
    # verify=False: plain http only, and loading the CA bundle costs ~0.2 s a client.
    return httpx.Client(timeout=timeout, trust_env=False, verify=False)


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process's group, SIGKILL if it lingers."""
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def log_tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
