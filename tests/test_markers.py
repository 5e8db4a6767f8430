"""Deploy markers: a Grafana annotation and a Pushgateway series after every promotion, rollback and
traffic change, and what happens when one fails.

The Pushgateway is real (Debian's `prometheus-pushgateway`), and what mlops-tui pushes is read back
through a real Prometheus scraping it, as a dashboard reads it; both run once for the session.
Grafana cannot run here: `tests/fakes/grafana_server.py` follows Grafana's documentation of the
annotations API, and mlops-tui's real client talks to it. Writes go through the installed command
against `writable_server` (a real `mlflow server`).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mlops_tui.config import (
    LOCAL_RULES,
    EnvironmentSettings,
    GrafanaMarkerSettings,
    MarkerSettings,
    MlflowSettings,
    PushgatewayMarkerSettings,
    Settings,
    load_settings,
)
from mlops_tui.domain import Change, DeployMarker
from mlops_tui.errors import BackendError, BackendUnreachable, ConfigError, ExitCode
from mlops_tui.ops.journal import MARKER_ACTION, Journal
from mlops_tui.ops.markers import MARKED_ACTIONS, Markers
from mlops_tui.sources.grafana import GrafanaAnnotations, annotation_tags
from mlops_tui.sources.pushgateway import METRIC, Pushgateway, exposition, grouping_path
from mlops_tui.tui.screens.dialogs import ConfirmDialog, PromoteDialog
from tests import test_e2e_tmux
from tests.fakes.grafana_server import EDITOR_TOKEN, VIEWER_TOKEN, FakeGrafana
from tests.fakes.vertex_server import FakeVertex, seed_churn
from tests.helpers import CliResult, Registry, closed_port, mlops_tui_command, run_cli, write_config
from tests.helpers.postgres import PASSWORD_ENV
from tests.helpers.pushgateway import MarkerStack, running_marker_stack
from tests.helpers.tui import SIZE, click, demo_app, idle, loaded, notified, pane, shown, until
from tests.test_e2e_tmux import Terminal, quit_app, written

OPERATOR = "ci-bot"
tmux = test_e2e_tmux.terminal
"""The end-to-end tests' fixture `terminal`, here `tmux`: a tmux session of the installed command."""
TOKEN_ENV = "GRAFANA_TOKEN"
SECRET = "glsa_a-secret-that-must-never-be-shown"
"""A token the fake refuses: a message or the journal quoting it would leak it."""
MARKER = DeployMarker(
    environment="prd",
    action="promote",
    target="churn@champion",
    model="churn",
    version="v4",
    previous="v3",
    operator="alice",
    time=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
)


@pytest.fixture(scope="session")
def marker_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MarkerStack]:
    """A real Pushgateway and a real Prometheus scraping it, for the session."""
    with running_marker_stack(tmp_path_factory.mktemp("markers")) as stack:
        yield stack


@pytest.fixture
def job() -> str:
    """A Pushgateway job of this test's own: the session's Pushgateway holds every test's markers."""
    return f"mlops-tui-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    with FakeGrafana() as server:
        yield server


def grafana_settings(url: str, **keys: Any) -> GrafanaMarkerSettings:
    return GrafanaMarkerSettings(url=url, **{"token_env": TOKEN_ENV, **keys})


def config(tmp_path: Path, uri: str, markers: dict[str, Any], **dev: Any) -> Path:
    """A config whose `dev` environment is on `uri` and has the `markers` table."""
    environment = {"mlflow": {"tracking_uri": uri}, "markers": markers, **dev}
    return write_config(tmp_path / "mlops-tui.toml", {"dev": environment}, operator=OPERATOR)


def ok(result: CliResult) -> CliResult:
    assert result.code == ExitCode.OK, result
    return result


def between(value: float, start: float, end: float) -> bool:
    return start - 1 <= value <= end + 1


# -- configuration ---------------------------------------------------------------------------------


def test_the_markers_table_is_read_and_checked(tmp_path: Path) -> None:
    path = config(
        tmp_path,
        "sqlite:///mlflow.db",
        {
            "grafana": {
                "url": "https://grafana.example.com",
                "token_env": TOKEN_ENV,
                "dashboard_uid": "serving",
            },
            "pushgateway": {"url": "http://pushgateway:9091"},
        },
    )
    markers = load_settings(path).environments["dev"].markers
    assert markers == MarkerSettings(
        grafana=GrafanaMarkerSettings(
            url="https://grafana.example.com", token_env=TOKEN_ENV, dashboard_uid="serving"
        ),
        pushgateway=PushgatewayMarkerSettings(url="http://pushgateway:9091"),
    )
    assert Markers(markers).destinations == ("grafana", "pushgateway")

    checked = ok(run_cli("config", "check", "--json", "--config", path)).json()
    assert checked["environments"]["dev"]["markers"]["grafana"]["token_env"] == TOKEN_ENV
    assert checked["environments"]["dev"]["markers"]["pushgateway"]["job"] == "mlops-tui"
    text = ok(run_cli("config", "check", "--config", path)).stdout
    assert "[environments.dev.markers.grafana]" in text and "[environments.dev.markers.pushgateway]" in text

    empty = config(tmp_path, "sqlite:///mlflow.db", {})
    with pytest.raises(ConfigError, match=r"key environments\.dev\.markers: names no destination"):
        load_settings(empty)
    inline = config(tmp_path, "sqlite:///mlflow.db", {"grafana": {"url": "http://g", "token": SECRET}})
    with pytest.raises(ConfigError, match="secrets are never written in the config file"):
        load_settings(inline)


def test_only_changes_of_what_serves_are_marked(tmp_path: Path, grafana: FakeGrafana) -> None:
    import asyncio

    markers = Markers(MarkerSettings(grafana=grafana_settings(grafana.url)))
    journal = Journal(tmp_path / "journal.sqlite3")
    assert MARKED_ACTIONS == {"promote", "rollback", "traffic", "traffic-rollback", "undeploy"}
    for action in ("retrain", "silence", "expire", "retry", "cancel"):
        change = Change(action, "dev", "churn", "churn", None, "gitlab:12")
        assert asyncio.run(markers.post(change, operator=OPERATOR, journal=journal)) == ()
    assert grafana.requests == [] and journal.entries() == []
    journal.close()


# -- Grafana, through the real client --------------------------------------------------------------


async def test_an_annotation_is_posted_as_grafana_documents_it(
    grafana: FakeGrafana, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, EDITOR_TOKEN)
    sink = GrafanaAnnotations(
        grafana_settings(grafana.url, dashboard_uid="serving", panel_id=2, tags=["team:ml"])
    )
    try:
        where = await sink.post(MARKER)
    finally:
        await sink.aclose()
    assert where == f"annotation 1 on {grafana.url}"
    (request,) = grafana.requests
    assert (request.method, request.path) == ("POST", "/api/annotations")
    assert request.headers["authorization"] == f"Bearer {EDITOR_TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.body) == {
        "time": int(MARKER.time.timestamp() * 1000),
        "tags": ["mlops-tui", "prd", "churn", "v4", "promote", "team:ml"],
        "text": "alice: promote churn@champion in prd: v3 -> v4",
        "dashboardUID": "serving",
        "panelId": 2,
    }
    assert annotation_tags(MARKER, ["prd"]) == ["mlops-tui", "prd", "churn", "v4", "promote"]


async def test_basic_auth_and_an_organization_annotation(
    grafana: FakeGrafana, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAFANA_USER", "admin")
    monkeypatch.setenv("GRAFANA_PASSWORD", "admin-password")
    settings = GrafanaMarkerSettings(
        url=grafana.url, username_env="GRAFANA_USER", password_env="GRAFANA_PASSWORD"
    )
    sink = GrafanaAnnotations(settings)
    try:
        assert await sink.post(MARKER) == f"annotation 1 on {grafana.url}"
    finally:
        await sink.aclose()
    assert grafana.requests[0].headers["authorization"].startswith("Basic ")
    body = json.loads(grafana.requests[0].body)
    assert "dashboardUID" not in body and "panelId" not in body


@pytest.mark.parametrize(
    ("token", "keys", "fail_with", "kind", "words"),
    [
        (
            SECRET,
            {},
            None,
            BackendError,
            "refused the credentials (HTTP 401); check the token in $GRAFANA_TOKEN",
        ),
        (
            VIEWER_TOKEN,
            {},
            None,
            BackendError,
            "denied the annotation (HTTP 403: You'll need additional permissions to perform this action. "
            "Permissions needed: annotations:create): the service account needs the Editor role",
        ),
        (
            EDITOR_TOKEN,
            {"dashboard_uid": "no-such"},
            None,
            BackendError,
            "refused the annotation (HTTP 400: Invalid dashboard UID in annotation request)",
        ),
        (EDITOR_TOKEN, {}, 500, BackendError, "refused the annotation (HTTP 500: Failed to save annotation)"),
    ],
    ids=["401", "403", "400", "500"],
)
async def test_what_grafana_refuses_is_said_in_its_words(
    grafana: FakeGrafana,
    monkeypatch: pytest.MonkeyPatch,
    token: str,
    keys: dict[str, Any],
    fail_with: int | None,
    kind: type[BackendError],
    words: str,
) -> None:
    monkeypatch.setenv(TOKEN_ENV, token)
    grafana.fail_with = fail_with
    sink = GrafanaAnnotations(grafana_settings(grafana.url, **keys))
    try:
        with pytest.raises(kind) as raised:
            await sink.post(MARKER)
    finally:
        await sink.aclose()
    assert raised.value.message.startswith(f"grafana: {grafana.url} ")
    assert words in raised.value.message
    assert token not in raised.value.message
    assert grafana.annotations == []


async def test_an_unreachable_grafana(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, EDITOR_TOKEN)
    sink = GrafanaAnnotations(grafana_settings(f"http://127.0.0.1:{closed_port()}"))
    try:
        with pytest.raises(BackendUnreachable, match=r"^grafana: cannot reach http://127\.0\.0\.1:\d+: "):
            await sink.post(MARKER)
    finally:
        await sink.aclose()


# -- the Pushgateway, read back through Prometheus -------------------------------------------------


def test_the_marker_series_in_the_text_format() -> None:
    quoted = DeployMarker(
        "prd", "traffic", 'endpoint "a" (1)', 'ep "a"\\', "11=90 12=10", None, "bo\nb", MARKER.time
    )
    assert exposition(quoted).splitlines()[-1] == (
        f'{METRIC}{{model="ep \\"a\\"\\\\",version="11=90 12=10",previous="",action="traffic",'
        f'operator="bo\\nb"}} {MARKER.time.timestamp():.3f}'
    )
    assert grouping_path("mlops-tui", {"env": "prd", "target": "a/b"}) == (
        "metrics/job@base64/bWxvcHMtdHVp/env@base64/cHJk/target@base64/YS9i"
    )


async def test_a_pushed_marker_is_read_back_through_prometheus(marker_stack: MarkerStack, job: str) -> None:
    sink = Pushgateway(PushgatewayMarkerSettings(url=marker_stack.pushgateway, job=job))
    try:
        assert await sink.post(MARKER) == f"{METRIC} on {marker_stack.pushgateway} (job {job})"
        (series,) = marker_stack.wait_for(f'{METRIC}{{job="{job}"}}')
        assert series["metric"] == {
            "__name__": METRIC,
            "job": job,
            "env": "prd",
            "target": "churn@champion",
            "model": "churn",
            "version": "v4",
            "previous": "v3",
            "action": "promote",
            "operator": "alice",
        }
        assert float(series["value"][1]) == MARKER.time.timestamp()

        # The next change of the slot replaces its marker: one series per environment and target.
        later = DeployMarker(
            "prd", "rollback", "churn@champion", "churn", "v3", "v4", "bob", datetime.now(UTC)
        )
        await sink.post(later)
        (series,) = marker_stack.wait_for(f'{METRIC}{{job="{job}",action="rollback"}}')
        assert (series["metric"]["version"], series["metric"]["operator"]) == ("v3", "bob")
        assert [s["metric"]["action"] for s in marker_stack.wait_for(f'{METRIC}{{job="{job}"}}')] == [
            "rollback"
        ]
    finally:
        await sink.aclose()


async def test_an_unreachable_pushgateway() -> None:
    sink = Pushgateway(PushgatewayMarkerSettings(url=f"http://127.0.0.1:{closed_port()}"))
    try:
        with pytest.raises(BackendUnreachable, match=r"^pushgateway: cannot reach http://127\.0\.0\.1:\d+: "):
            await sink.post(MARKER)
    finally:
        await sink.aclose()


# -- the write flow, through the installed command -------------------------------------------------


def test_a_promotion_and_its_rollback_are_marked(
    tmp_path: Path, writable_server: str, grafana: FakeGrafana, marker_stack: MarkerStack, job: str
) -> None:
    path = config(
        tmp_path,
        writable_server,
        {
            "grafana": {"url": grafana.url, "token_env": TOKEN_ENV, "dashboard_uid": "serving"},
            "pushgateway": {"url": marker_stack.pushgateway, "job": job},
        },
    )
    env = {TOKEN_ENV: EDITOR_TOKEN}
    start = time.time()
    done = ok(run_cli("models", "promote", "churn", "4", "--yes", "--json", "--config", path, env=env))
    end = time.time()
    assert done.stderr == ""
    data = done.json()
    assert (data["result"], data["before"], data["after"]) == ("ok", "v3", "v4")
    assert data["markers"] == [
        {"destination": "grafana", "ok": True, "detail": f"annotation 1 on {grafana.url}"},
        {
            "destination": "pushgateway",
            "ok": True,
            "detail": f"{METRIC} on {marker_stack.pushgateway} (job {job})",
        },
    ]
    (annotation,) = grafana.annotations
    assert annotation["tags"] == ["mlops-tui", "dev", "churn", "v4", "promote"]
    assert annotation["text"] == f"{OPERATOR}: promote churn@champion in dev: v3 -> v4"
    assert annotation["dashboardUID"] == "serving"
    assert between(annotation["time"] / 1000, start, end)
    (series,) = marker_stack.wait_for(f'{METRIC}{{job="{job}"}}')
    assert series["metric"]["version"] == "v4" and series["metric"]["operator"] == OPERATOR
    assert between(float(series["value"][1]), start, end)

    text = ok(run_cli("models", "rollback", "churn", "--yes", "--config", path, env=env))
    assert text.stdout == "done: rollback churn@champion in dev: v4 -> v3\n" and text.stderr == ""
    assert grafana.annotations[-1]["tags"] == ["mlops-tui", "dev", "churn", "v3", "rollback"]
    (series,) = marker_stack.wait_for(f'{METRIC}{{job="{job}",action="rollback"}}')
    assert (series["metric"]["version"], series["metric"]["previous"]) == ("v3", "v4")

    history = ok(run_cli("history", "--json", "--config", path)).json()["entries"]
    assert [e["action"] for e in history] == ["rollback", "promote"]  # nothing failed, nothing more


def test_a_failing_marker_leaves_the_write_made_and_journaled(
    tmp_path: Path, writable_server: str, grafana: FakeGrafana
) -> None:
    pushgateway = f"http://127.0.0.1:{closed_port()}"
    path = config(
        tmp_path,
        writable_server,
        {"grafana": {"url": grafana.url, "token_env": TOKEN_ENV}, "pushgateway": {"url": pushgateway}},
    )
    result = run_cli(
        "models", "promote", "churn", "4", "--yes", "--json", "--config", path, env={TOKEN_ENV: SECRET}
    )
    assert result.code == ExitCode.OK, result
    data = result.json()
    assert data["result"] == "ok" and data["after"] == "v4"
    grafana_failure = (
        f"{grafana.url} refused the credentials (HTTP 401); check the token in ${TOKEN_ENV} (token_env)"
    )
    pushgateway_failure = data["markers"][1]["detail"]  # the words of the connection's failure
    assert pushgateway_failure.startswith(f"cannot reach {pushgateway}: ")
    assert data["markers"] == [
        {"destination": "grafana", "ok": False, "detail": grafana_failure},
        {"destination": "pushgateway", "ok": False, "detail": pushgateway_failure},
    ]
    assert result.stderr.splitlines() == [
        f"mlops-tui: warning: deploy marker failed: grafana: {grafana_failure}; pushgateway: "
        f"{pushgateway_failure} (journaled; the change is made)"
    ]
    assert Registry(writable_server).aliases("churn")["champion"] == "4"

    entries = ok(run_cli("history", "--json", "--config", path)).json()["entries"]
    marker, promotion = entries
    assert (promotion["action"], promotion["result"], promotion["after"]) == ("promote", "ok", "v4")
    assert {
        k: marker[k] for k in ("operator", "environment", "action", "target", "before", "after", "result")
    } == {
        "operator": OPERATOR,
        "environment": "dev",
        "action": MARKER_ACTION,
        "target": "churn@champion",
        "before": "v3",
        "after": "v4",
        "result": "failed",
    }
    assert marker["message"] == (
        f"deploy marker failed: grafana: {grafana_failure}; pushgateway: {pushgateway_failure}"
    )
    table = ok(run_cli("history", "--config", path)).stdout
    assert "marker" in table and "deploy marker failed" in table

    # A failed marker is no change of the slot: the rollback returns to v3 all the same.
    back = ok(
        run_cli("models", "rollback", "churn", "--yes", "--config", path, env={TOKEN_ENV: EDITOR_TOKEN})
    )
    assert back.stdout.startswith("done: rollback churn@champion in dev: v4 -> v3")
    assert grafana.annotations[-1]["tags"] == ["mlops-tui", "dev", "churn", "v3", "rollback"]

    journal_bytes = (tmp_path / "xdg_state_home" / "mlops-tui" / "journal.sqlite3").read_bytes()
    for output in (result.stdout, result.stderr, table, back.stdout, back.stderr):
        assert SECRET not in output
    assert SECRET.encode() not in journal_bytes


def test_a_token_that_cannot_be_had_fails_the_marker_not_the_write(
    tmp_path: Path, writable_server: str, grafana: FakeGrafana
) -> None:
    path = config(tmp_path, writable_server, {"grafana": {"url": grafana.url, "token_env": TOKEN_ENV}})
    result = ok(run_cli("models", "promote", "churn", "4", "--yes", "--config", path))
    assert result.stdout == "done: promote churn@champion in dev: v3 -> v4\n"
    assert result.stderr.splitlines() == [
        f"mlops-tui: warning: deploy marker failed: grafana: environment variable {TOKEN_ENV} is not set "
        "(journaled; the change is made)"
    ]
    assert Registry(writable_server).aliases("churn")["champion"] == "4"
    assert grafana.requests == []


def test_a_traffic_change_is_marked(
    tmp_path: Path, grafana: FakeGrafana, marker_stack: MarkerStack, job: str
) -> None:
    with FakeVertex("acme-ml", "us-central1") as vertex:
        seed_churn(vertex)
        vertex_table = {
            "project": "acme-ml",
            "location": "us-central1",
            "endpoints": ["churn-endpoint"],
            "api_endpoint": vertex.url,
            "credentials": "anonymous",
        }
        path = config(
            tmp_path,
            "sqlite:///mlflow.db",
            {
                "grafana": {"url": grafana.url, "token_env": TOKEN_ENV},
                "pushgateway": {"url": marker_stack.pushgateway, "job": job},
            },
            vertex=vertex_table,
        )
        done = ok(
            run_cli(
                "endpoints",
                "traffic",
                "churn-endpoint",
                "--split",
                "11=50",
                "--split",
                "12=50",
                "--yes",
                "--json",
                "--config",
                path,
                env={TOKEN_ENV: EDITOR_TOKEN},
            )
        )
    assert [m["ok"] for m in done.json()["markers"]] == [True, True]
    (annotation,) = grafana.annotations
    assert annotation["tags"] == ["mlops-tui", "dev", "churn-endpoint", "11=50 12=50", "traffic"]
    assert (
        annotation["text"]
        == f"{OPERATOR}: traffic endpoint churn-endpoint (1001) in dev: 11=90 12=10 -> 11=50 12=50"
    )
    (series,) = marker_stack.wait_for(f'{METRIC}{{job="{job}"}}')
    assert series["metric"]["target"] == "endpoint churn-endpoint (1001)"
    assert (series["metric"]["version"], series["metric"]["previous"]) == ("11=50 12=50", "11=90 12=10")


def test_a_write_an_approval_makes_is_marked(
    tmp_path: Path, writable_server: str, shared_journal_url: str, grafana: FakeGrafana
) -> None:
    tables = {"mlflow": {"tracking_uri": writable_server}, "approvals": 1}
    tables["markers"] = {"grafana": {"url": grafana.url, "token_env": TOKEN_ENV}}
    paths = {
        name: write_config(
            tmp_path / name / "mlops-tui.toml",
            {"dev": tables},
            journal=shared_journal_url,
            journal_password_env=PASSWORD_ENV,
            operator=name,
        )
        for name in ("ana", "ben")
    }
    requested = ok(run_cli("--config", paths["ana"], "models", "promote", "churn", "4", "--yes", "--json"))
    assert requested.json()["result"] == "requested" and "markers" not in requested.json()
    assert grafana.requests == []  # a request changes nothing: nothing to mark

    # ben's Grafana token is not his to have: the approval's write is made, its marker journaled.
    approved = run_cli(
        "--config", paths["ben"], "approvals", "approve", str(requested.json()["request"]), "--yes", "--json"
    )
    assert approved.code == ExitCode.OK, approved
    assert approved.json()["status"] == "performed"
    (failed,) = approved.json()["markers"]
    assert failed == {
        "destination": "grafana",
        "ok": False,
        "detail": f"environment variable {TOKEN_ENV} is not set",
    }
    assert len(approved.stderr.splitlines()) == 1 and "deploy marker failed" in approved.stderr
    assert Registry(writable_server).aliases("churn")["champion"] == "4"
    marker, promotion, *_ = ok(run_cli("--config", paths["ana"], "history", "--json")).json()["entries"]
    assert (marker["action"], marker["operator"], marker["result"]) == (MARKER_ACTION, "ben", "failed")
    assert (promotion["action"], promotion["result"]) == ("promote", "ok")


def test_markers_test_posts_to_every_destination(
    tmp_path: Path, grafana: FakeGrafana, marker_stack: MarkerStack, job: str
) -> None:
    path = config(
        tmp_path,
        "sqlite:///mlflow.db",
        {
            "grafana": {"url": grafana.url, "token_env": TOKEN_ENV},
            "pushgateway": {"url": marker_stack.pushgateway, "job": job},
        },
    )
    done = ok(run_cli("markers", "test", "--json", "--config", path, env={TOKEN_ENV: EDITOR_TOKEN}))
    assert done.json() == {
        "environment": "dev",
        "markers": [
            {"destination": "grafana", "ok": True, "detail": f"annotation 1 on {grafana.url}"},
            {
                "destination": "pushgateway",
                "ok": True,
                "detail": f"{METRIC} on {marker_stack.pushgateway} (job {job})",
            },
        ],
    }
    assert grafana.annotations[0]["tags"] == ["mlops-tui", "dev", "test"]
    (series,) = marker_stack.wait_for(f'{METRIC}{{job="{job}"}}')
    assert (series["metric"]["action"], series["metric"]["model"]) == ("test", "mlops-tui")

    grafana.fail_with = 500
    failed = run_cli("markers", "test", "--config", path, env={TOKEN_ENV: EDITOR_TOKEN})
    assert failed.code == ExitCode.FAILED, failed
    assert "grafana" in failed.stdout and "failed" in failed.stdout and "HTTP 500" in failed.stdout
    assert not (tmp_path / "xdg_state_home" / "mlops-tui" / "journal.sqlite3").exists()  # nothing journaled

    bare = write_config(tmp_path / "bare.toml", {"dev": {"mlflow": {"tracking_uri": "sqlite:///mlflow.db"}}})
    unset = run_cli("markers", "test", "--config", bare)
    assert unset.code == ExitCode.USAGE and "dev has no deploy markers" in unset.stderr, unset


# -- the TUI ---------------------------------------------------------------------------------------


async def test_the_tui_says_when_a_marker_fails(
    demo_store: MlflowSettings, tmp_path: Path, grafana: FakeGrafana, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, EDITOR_TOKEN)
    grafana.fail_with = 500
    markers = MarkerSettings(grafana=grafana_settings(grafana.url))
    journal_path = tmp_path / "journal.db"
    settings = Settings(
        {"dev": EnvironmentSettings(mlflow=demo_store, markers=markers)}, "dev", journal=journal_path
    )
    app = demo_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, loaded(app))
        pane(app, "models").table.focus()  # churn, the first model
        await pilot.press("p")
        await shown(pilot, PromoteDialog)
        await click(pilot, "#plan")  # v4 to champion
        await shown(pilot, ConfirmDialog)
        await click(pilot, "#confirm")
        await until(pilot, lambda: notified(app, "deploy marker failed: grafana:") and idle(app))
        (warning,) = [n for n in app._notifications if "deploy marker failed" in n.message]
        assert (warning.title, warning.severity) == ("Deploy marker failed", "warning")
        assert warning.message == (
            f"deploy marker failed: grafana: {grafana.url} refused the annotation (HTTP 500: Failed to save "
            "annotation). promote churn@champion in dev: v3 -> v4 is made and journaled."
        )
        assert notified(app, "Done: promote churn@champion in dev: v3 -> v4")
        assert (await app.hub.tracking.get_model("churn")).aliases["champion"] == "4"
        journal = Journal(journal_path)
        assert [(e.action, e.result) for e in journal.entries()] == [
            (MARKER_ACTION, "failed"),
            ("promote", "ok"),
        ]

        grafana.fail_with = None
        app.clear_notifications()
        await pilot.press("b")  # roll back: this marker is posted
        await shown(pilot, ConfirmDialog)
        await click(pilot, "#confirm")
        await until(pilot, lambda: len(grafana.annotations) == 1 and idle(app))
        assert grafana.annotations[0]["tags"] == ["mlops-tui", "dev", "churn", "v3", "rollback"]
        assert not notified(app, "deploy marker failed")
        assert [e.action for e in journal.entries()] == ["rollback", MARKER_ACTION, "promote"]
        journal.close()


@pytest.mark.e2e
@pytest.mark.parametrize("size", [(80, 24), (60, 20)], ids=["80x24", "60x20"])
def test_a_failed_marker_over_tmux_without_colour(
    tmp_path: Path,
    demo_store: MlflowSettings,
    grafana: FakeGrafana,
    tmux: Callable[..., Terminal],
    size: tuple[int, int],
) -> None:
    """On call over SSH in a small terminal: a rollback from triage is made, and the marker Grafana
    refused is said in a notification that fits, without colour."""
    grafana.fail_with = 500
    config = write_config(
        tmp_path / "mlops-tui.toml",
        {
            "prd": {
                "protected": True,
                "mlflow": written(demo_store),
                "rules": [written(rule) for rule in LOCAL_RULES],
                "markers": {"grafana": {"url": grafana.url, "token_env": TOKEN_ENV}},
            }
        },
        operator="oncall",
        journal=str(tmp_path / "journal.sqlite3"),
    )
    term = tmux(
        [*mlops_tui_command(), "--config", str(config)],
        size,
        {"NO_COLOR": "1", "TERM": "screen", TOKEN_ENV: EDITOR_TOKEN},
    )
    term.wait_for(lambda s: "ChampionAucLow" in s, "the alert in the Alerts pane")
    term.keys("a")
    term.wait_for(lambda s: "Silence" in s.splitlines()[-1], "the Alerts pane focused")
    term.keys("Enter")
    term.wait_for(lambda s: "serving v3" in s, "the triage screen")
    term.keys("b")
    term.wait_for(lambda s: "type churn" in s, "the typed confirmation")
    term.type("churn")
    term.keys("Enter")
    screen = term.wait_for(lambda s: "Deploy marker failed" in s, "the marker's failure said")
    assert "deploy marker failed" in screen and EDITOR_TOKEN not in screen
    assert Registry(demo_store.tracking_uri).aliases("churn")["champion"] == "2"
    journal = Journal(tmp_path / "journal.sqlite3")
    assert [(e.action, e.result) for e in journal.entries()] == [
        (MARKER_ACTION, "failed"),
        ("rollback", "ok"),
    ]
    journal.close()
    quit_app(term)
