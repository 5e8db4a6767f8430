"""The other backends of the suite, run for real on 127.0.0.1: the GitLab v4 fake of the tests as a
process, Prometheus Alertmanager, and a TCP proxy that makes any of them slow."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from common import SCRIPTS, BenchmarkError
from server import free_port, stop

GITLAB_PROJECT = "ml/churn-model"
GITLAB_TOKEN_ENV = "BENCH_GITLAB_TOKEN"
ALERTMANAGER = Path("/usr/bin/prometheus-alertmanager")


@dataclass(frozen=True)
class Gitlab:
    url: str
    newest_pipeline: int


@contextmanager
def gitlab_server(pipelines: int, log: Path, env: Mapping[str, str]) -> Iterator[Gitlab]:
    """The GitLab fake (tests/fakes/gitlab_server.py) in a process of its own, seeded with
    `pipelines` pipelines of project `GITLAB_PROJECT`."""
    with log.open("wb") as errors:
        process = subprocess.Popen(
            [sys.executable, str(SCRIPTS / "gitlab_server.py"), str(pipelines)],
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=errors,
            start_new_session=True,
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            if not line:
                raise BenchmarkError(f"the GitLab fake exited {process.wait()}: see {log}")
            answer = json.loads(line)
            yield Gitlab(answer["url"], int(answer["newest_pipeline"]))
        finally:
            stop(process)


def gitlab_token() -> str:
    """The token the GitLab fake accepts (given to mlops-tui through `GITLAB_TOKEN_ENV`)."""
    sys.path.insert(0, str(SCRIPTS.parents[1]))
    from tests.fakes.gitlab_server import TOKEN

    return TOKEN


def alertmanager_available() -> bool:
    return ALERTMANAGER.is_file()


@contextmanager
def alertmanager(root: Path, log: Path) -> Iterator[str]:
    """A real Alertmanager (Debian's `prometheus-alertmanager`) on 127.0.0.1; yields its URL."""
    root.mkdir(parents=True, exist_ok=True)
    config = root / "alertmanager.yml"
    config.write_text("route:\n  receiver: none\nreceivers:\n  - name: none\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [
        str(ALERTMANAGER),
        f"--config.file={config}",
        f"--storage.path={root / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 30
            while True:
                if process.poll() is not None:
                    raise BenchmarkError(f"alertmanager exited {process.returncode}: see {log}")
                with suppress(urllib.error.URLError, ConnectionError, TimeoutError):
                    with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
                        if response.status == 200:
                            break
                if time.monotonic() > deadline:
                    raise BenchmarkError(f"alertmanager at {url} not ready after 30 s")
                time.sleep(0.1)
            yield url
        finally:
            stop(process)


def post_alerts(url: str, alerts: list[dict[str, object]]) -> None:
    """Fire alerts as Prometheus does: POST /api/v2/alerts."""
    request = urllib.request.Request(
        f"{url}/api/v2/alerts",
        data=json.dumps(alerts).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status != 200:
            raise BenchmarkError(f"alertmanager refused the alerts: HTTP {response.status}")


class DelayProxy:
    """A TCP proxy on 127.0.0.1 that holds every chunk a client sends for `delay` seconds before
    passing it on: the backend behind it answers every request `delay` seconds late."""

    def __init__(self, upstream: str, delay: float) -> None:
        host, _, port = upstream.removeprefix("http://").partition(":")
        self.upstream = (host, int(port.rstrip("/")))
        self.delay = delay
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> DelayProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise BenchmarkError("the delaying proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.port))
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            self._loop.close()

    async def _handle(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        try:
            upstream_in, upstream_out = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_out.close()
            return

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter, delay: float) -> None:
            with suppress(OSError):
                while data := await source.read(65536):
                    if delay:
                        await asyncio.sleep(delay)
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(client_in, upstream_out, self.delay), pipe(upstream_in, client_out, 0.0))
