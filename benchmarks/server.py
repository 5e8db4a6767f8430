"""A real `mlflow server` subprocess on 127.0.0.1, started and stopped by the suite."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from common import VENV_BIN, BenchmarkError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float) -> float:
    """Poll `url`/health until it answers 200; return the seconds it took.

    Raises:
        BenchmarkError: the server exited or did not become healthy within `timeout`.
    """
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if process.poll() is not None:
            raise BenchmarkError(f"mlflow server exited with {process.returncode} while starting")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - start
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise BenchmarkError(f"mlflow server at {url} not healthy after {timeout:.0f} s")


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Terminate a process group started with `start_new_session`, then kill it if it lingers."""
    if process.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def mlflow_server(
    db: Path, artifacts: Path, log: Path, env: Mapping[str, str], timeout: float = 90.0
) -> Iterator[str]:
    """Run `mlflow server` on the sqlite store `db`; yield its URL; stop it (and its workers)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [
        str(VENV_BIN / "mlflow"),
        "server",
        "--backend-store-uri",
        f"sqlite:///{db}",
        "--default-artifact-root",
        artifacts.as_uri(),
        "--workers",
        "1",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    server_env = {**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, env=server_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_healthy(url, process, timeout)
            yield url
        finally:
            stop(process)


def request_seconds(url: str, endpoint: str, payload: dict[str, object], timeout: float = 60.0) -> float:
    """Seconds of one POST to the REST API on a fresh connection, until the whole body is read.

    The floor of any client reading the same data: the server's own time and the transfer.
    """
    import httpx

    with httpx.Client(timeout=timeout) as client:
        start = time.perf_counter()
        response = client.post(f"{url}/api/2.0/mlflow/{endpoint}", json=payload)
        response.read()
        elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise BenchmarkError(f"{endpoint} answered HTTP {response.status_code}")
    return elapsed
