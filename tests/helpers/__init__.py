"""Shared test helpers: demo constants, config files, the console script, and tiny local servers.

Everything here is test scaffolding around real components. The servers below stand in only for
failures a real MLflow server cannot be made to produce on demand (a 500, a 401, a server that
never answers) and for recording the request headers the client sends. `tests.helpers.tcp_proxy`
puts a switchable proxy in front of the real server, to cut it off and bring it back.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, TypeVar

from tests.fakes.loopback import LoopbackServer

__all__ = [
    "DEMO_EXPERIMENTS",
    "DEMO_NOW",
    "DEMO_RUNS",
    "DEMO_RUNS_PER_EXPERIMENT",
    "CliResult",
    "FakeHttpServer",
    "CI_VARIABLES",
    "RecordedRequest",
    "Registry",
    "as_a_user",
    "closed_port",
    "eventually",
    "free_port",
    "json_reply",
    "mlflow_telemetry_file",
    "mlops_tui_command",
    "run_cli",
    "silent_server",
    "toml_document",
    "write_config",
]

_T = TypeVar("_T")

DEMO_NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
"""The `now` the session's demo store is seeded with: every run time derives from it."""

DEMO_RUNS_PER_EXPERIMENT = {"churn-training": 18, "fraud-detection": 14, "demand-forecast": 12}
DEMO_EXPERIMENTS = tuple(DEMO_RUNS_PER_EXPERIMENT)
DEMO_RUNS = sum(DEMO_RUNS_PER_EXPERIMENT.values())


# -- ports ----------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def closed_port() -> int:
    """A port on 127.0.0.1 where connecting is refused (bound once, then released)."""
    return free_port()


@contextmanager
def silent_server() -> Iterator[int]:
    """A listening socket that never accepts: the kernel completes the TCP handshake, the request
    is sent, and no answer ever comes. Yields the port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


# -- waiting for a condition ---------------------------------------------------------------------


async def eventually(
    probe: Callable[[], Awaitable[_T]], accept: Callable[[_T], bool], what: str, seconds: float = 30
) -> _T:
    """Await `probe()` until `accept` takes its result, which is returned; fail after `seconds`
    with the last result, for what a backend applies asynchronously (a silence muting an alert)."""
    deadline = time.monotonic() + seconds
    while not accept(result := await probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:g} s waiting for {what}; last: {result!r}")
        await asyncio.sleep(0.05)
    return result


# -- config files ---------------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # A JSON string is a valid TOML basic string for the characters tests use.
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):  # an inline table, as in a list of tables (`rules = [{...}]`)
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {value!r} as TOML")


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def toml_document(data: Mapping[str, Any]) -> str:
    """A TOML document for nested dicts of strings, numbers, booleans and lists."""
    lines: list[str] = []

    def table(prefix: str, node: Mapping[str, Any]) -> None:
        scalars = {k: v for k, v in node.items() if not isinstance(v, Mapping)}
        tables = {k: v for k, v in node.items() if isinstance(v, Mapping)}
        if prefix and (scalars or not tables):
            lines.append(f"\n[{prefix}]")
        lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in scalars.items())
        for key, value in tables.items():
            table(f"{prefix}.{_toml_key(key)}" if prefix else _toml_key(key), value)

    table("", data)
    return "\n".join(lines).lstrip("\n") + "\n"


def write_config(path: Path, environments: Mapping[str, Any], **top: Any) -> Path:
    """Write a config file with `environments` (name -> table) and top-level keys `top`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(toml_document({**top, "environments": environments}), encoding="utf-8")
    return path


# -- the console script ---------------------------------------------------------------------------

# MLflow turns its telemetry off by itself under CI or pytest (`mlflow.telemetry.utils`): the
# processes of these tests run without those variables, as a user's would.
CI_VARIABLES = (
    "PYTEST_CURRENT_TEST",
    "GITHUB_ACTIONS",
    "CI",
    "CIRCLECI",
    "GITLAB_CI",
    "JENKINS_URL",
    "TRAVIS",
    "TF_BUILD",
    "BITBUCKET_BUILD_NUMBER",
    "CODEBUILD_BUILD_ARN",
    "BUILDKITE",
    "TEAMCITY_VERSION",
    "CLOUD_RUN_EXECUTION",
    "RUNBOT_HOST_URL",
    "RUNBOT_BUILD_NAME",
    "RUNBOT_WORKER_ID",
    "MLFLOW_DISABLE_TELEMETRY",
    "DO_NOT_TRACK",
    "MLFLOW_CONFIGURE_LOGGING",
)


def as_a_user() -> dict[str, str]:
    """The test's environment without the variables that make MLflow behave as under CI."""
    return {k: v for k, v in os.environ.items() if k not in CI_VARIABLES}


def mlflow_telemetry_file() -> Path:
    """Where MLflow 3 writes its installation id (under the test's XDG config home)."""
    return Path(os.environ["XDG_CONFIG_HOME"]) / "mlflow" / "telemetry.json"


def mlops_tui_command() -> list[str]:
    """The installed `mlops-tui` console script of the interpreter running the tests."""
    script = Path(sys.executable).with_name("mlops-tui")
    return [str(script)] if script.exists() else [sys.executable, "-m", "mlops_tui"]


@dataclass(frozen=True)
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def run_cli(
    *args: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    timeout: float = 180,
) -> CliResult:
    """Run `mlops-tui ARGS` in a subprocess with the test's (isolated) environment plus `env`.

    Whatever the outcome, a Python traceback on stderr fails the test: every failure of a
    headless command must end in a one-line message and an exit code.
    """
    done = subprocess.run(
        [*mlops_tui_command(), *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return CliResult(done.returncode, done.stdout, done.stderr)


# -- the registry, read through MLflow's own client -----------------------------------------------


class Registry:
    """What the registry holds, read through MLflow's own client."""

    def __init__(self, uri: str) -> None:
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=uri, registry_uri=uri)

    def aliases(self, model: str) -> dict[str, str]:
        return {a: str(v) for a, v in self.client.get_registered_model(model).aliases.items()}

    def model_tags(self, model: str) -> dict[str, str]:
        return dict(self.client.get_registered_model(model).tags)

    def history(self, model: str, tag: str = "mlops_tui.history.alias.champion") -> list[str]:
        """The versions a history tag holds, oldest first."""
        return [entry["version"] for entry in json.loads(self.model_tags(model)[tag])]

    def version(self, model: str, version: str) -> Any:
        return self.client.get_model_version(model, version)

    def stages(self, model: str) -> dict[str, str]:
        """Version -> stage."""
        found = self.client.search_model_versions(f"name='{model}'")
        return {str(v.version): v.current_stage for v in found}

    def snapshot(self) -> dict[str, Any]:
        """Every registered model: aliases, tags, and each version's stage and tags."""
        return {
            m.name: (
                dict(m.aliases),
                dict(m.tags),
                sorted(
                    (str(v.version), v.current_stage, sorted(v.tags.items()))
                    for v in self.client.search_model_versions(f"name='{m.name}'")
                ),
            )
            for m in self.client.search_registered_models(max_results=1000)
        }


# -- a local HTTP server that records requests ----------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Reply = tuple[int, str, bytes]
"""Status, content type, body."""


def json_reply(status: int, data: Any) -> Reply:
    return status, "application/json", json.dumps(data).encode()


@dataclass
class FakeHttpServer(LoopbackServer):
    """`http.server` on 127.0.0.1 in a thread: records every request, answers with `reply`."""

    reply: Callable[[RecordedRequest], Reply]
    requests: list[RecordedRequest] = field(default_factory=list)

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        request = RecordedRequest(
            handler.command,
            handler.path,
            {k.lower(): v for k, v in handler.headers.items()},
            handler.rfile.read(length) if length else b"",
        )
        self.requests.append(request)
        status, content_type, body = self.reply(request)
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(body)
