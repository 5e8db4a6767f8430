"""No way past the policy in the TUI: every key and palette command, enumerated from the code."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from textual.app import App
from textual.binding import Binding
from textual.dom import DOMNode
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import DataTable, Input

import mlops_tui.tui
from mlops_tui.config import (
    LOCAL_RULES,
    EnvironmentSettings,
    GitlabSettings,
    MlflowSettings,
    RetrainSettings,
    Settings,
    VertexSettings,
)
from mlops_tui.domain import Change, PlanArguments
from mlops_tui.domain.matchers import parse_matchers
from mlops_tui.ops.journal import Journal
from mlops_tui.tui import MlopsApp
from mlops_tui.tui.bindings import WRITE_ACTIONS
from mlops_tui.tui.screens.alerts import AlertScreen, SilencesScreen, TriageScreen
from mlops_tui.tui.screens.approvals import ApprovalsScreen
from mlops_tui.tui.screens.details import ModelScreen, PipelineScreen
from mlops_tui.tui.screens.dialogs import ConfirmDialog, PromoteDialog, SilenceDialog, TrafficDialog
from mlops_tui.tui.writes import WriteActions
from tests.conftest import DEMO_NOW
from tests.fakes.gitlab_server import TOKEN, FakeGitlab
from tests.fakes.vertex_server import FakeVertex, seed_churn
from tests.helpers.tui import SIZE, click, demo_app, loaded, pane, shown, until

NEVER_PRESSED = {"quit"}
AIRFLOW_ONLY = {"retry_all", "pause_dag", "unpause_dag"}
"""Write keys only an Airflow run answers: asked for the name in a protected environment and
greyed out in a read-only one against a real Airflow, in tests/test_tui_airflow.py."""


def tui_bindings() -> list[tuple[type[DOMNode], Binding]]:
    """Every binding declared by a class of the TUI package."""
    found = []
    for info in pkgutil.walk_packages(mlops_tui.tui.__path__, "mlops_tui.tui."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, DOMNode) and cls.__module__ == module.__name__:
                for binding in cls.__dict__.get("BINDINGS", []):
                    if isinstance(binding, Binding):
                        found.append((cls, binding))
    return found


def registry_state(store: MlflowSettings) -> dict[str, object]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=store.tracking_uri)
    return {
        m.name: (
            dict(m.aliases),
            sorted((v.version, v.current_stage) for v in client.search_model_versions(f"name='{m.name}'")),
            dict(m.tags),
        )
        for m in (client.get_registered_model(r.name) for r in client.search_registered_models())
    }


async def back_to(pilot, screen: Screen[object], widget: DataTable[object]) -> None:  # type: ignore[no-untyped-def]
    """Close whatever a key opened, and focus `widget` again (unless the key closed `screen`)."""
    app = pilot.app
    for _ in range(10):
        if screen not in app.screen_stack:
            return
        if app.screen is screen and not isinstance(app.focused, Input):
            break
        await pilot.press("escape")
        await pilot.pause()
    widget.focus()
    await pilot.pause()


async def press_everything(pilot, app: MlopsApp, where: str) -> set[str]:  # type: ignore[no-untyped-def]
    """Press every key `where` (`open_sweep`) answers, one at a time, each from `where` again: a
    key that closed the screen (escape) has it opened again for the next one."""
    screen, widget = await open_sweep(pilot, app, where)
    pressed = set()
    for key, active in list(screen.active_bindings.items()):
        if active.binding.action in NEVER_PRESSED:
            continue
        if screen not in app.screen_stack:
            screen, widget = await open_sweep(pilot, app, where)
        await pilot.press(key)
        await pilot.pause()
        pressed.add(active.binding.action)
        await back_to(pilot, screen, widget)
    return pressed


@pytest.fixture
def gitlab() -> Iterator[FakeGitlab]:
    """A GitLab with a failed pipeline (1) to retry and a running one (2) to cancel."""
    with FakeGitlab() as server:
        project = server.add_project("ml/models")
        server.add_pipeline(project["id"], status="failed", pipeline_id=1)
        server.add_pipeline(project["id"], status="running", pipeline_id=2)
        server.add_job(1, "train", "train", status="failed")
        server.add_job(2, "train", "train", status="running")
        yield server


@pytest.fixture
def vertex() -> Iterator[FakeVertex]:
    """A Vertex AI whose churn-endpoint serves two deployed models."""
    with FakeVertex("acme-ml", "us-central1") as server:
        seed_churn(server)
        # No model monitoring: the Alerts pane holds the local rules' alerts only.
        server.monitoring_jobs.clear()
        yield server


@pytest.fixture(autouse=True)
def gitlab_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)


def environment(
    store: MlflowSettings, gitlab: FakeGitlab, vertex: FakeVertex, **policy: bool
) -> EnvironmentSettings:
    """An environment with every kind of write action: registry, GitLab pipelines, retraining,
    Vertex AI endpoints."""
    return EnvironmentSettings(
        mlflow=store,
        gitlab=GitlabSettings(url=gitlab.url, project="ml/models", token_env="GITLAB_TOKEN"),
        retrain=RetrainSettings(kind="gitlab", variables={"MODEL_NAME": "{model}"}),
        rules=list(LOCAL_RULES),
        vertex=VertexSettings(
            project="acme-ml",
            location="us-central1",
            endpoints=["churn-endpoint"],
            api_endpoint=vertex.url,
            credentials="anonymous",
        ),
        **policy,
    )


async def existing_silence(app: MlopsApp) -> None:
    """A silence made behind the TUI's back (not through it), so that expiring has a target."""
    await app.hub.alert_source("rules").create_silence(
        parse_matchers(['alertname="Elsewhere"']),
        starts_at=DEMO_NOW,
        ends_at=DEMO_NOW + timedelta(hours=1),
        created_by="someone",
        comment="made outside the TUI",
    )


OPENERS: dict[type[Screen[object]], tuple[str, ...]] = {
    TriageScreen: ("enter",),
    AlertScreen: ("enter", "i"),
    SilencesScreen: ("S",),
}
"""The keys that open each screen of the alerts from the Alerts pane."""


async def open_with(pilot: Pilot[None], keys: tuple[str, ...]) -> None:
    """Press `keys`, each opening a screen: the next key goes to the screen the one before opened."""
    for key in keys:
        before = pilot.app.screen
        await pilot.press(key)
        await until(pilot, lambda: pilot.app.screen is not before)  # noqa: B023


def someones_request(journal: Path, environment: str) -> None:
    """A promotion of churn v4 that another operator asked for and nobody decided yet."""
    seeded = Journal(journal)
    change = Change("promote", environment, "churn@champion", "churn", "v3", "v4")
    arguments = PlanArguments("promote", "churn", "4", alias="champion")
    seeded.request(change, "someone", arguments, needed=1, expires=DEMO_NOW + timedelta(days=1))
    seeded.close()


async def open_approvals(pilot: Pilot[None]) -> ApprovalsScreen:
    await pilot.press("A")
    screen = await shown(pilot, ApprovalsScreen)
    await until(pilot, lambda: screen.query_one("#approvals", DataTable).row_count == 1)
    screen.query_one("#approvals", DataTable).focus()
    return screen


def loaded_screen(screen: Screen[object]) -> bool:
    if isinstance(screen, TriageScreen):
        return screen.triage is not None
    return not isinstance(screen, SilencesScreen) or bool(screen.silences)


def gitlab_writes(gitlab: FakeGitlab) -> list[str]:
    return [r.path for r in gitlab.requests if r.method != "GET"]


def every_pane_loaded(app: MlopsApp) -> Callable[[], bool]:
    """Runs, models, the 4 pipelines and the 2 deployed models shown."""
    return lambda: (
        loaded(app)()
        and pane(app, "pipelines").table.row_count == 4
        and pane(app, "endpoints").table.row_count == 2
    )


async def test_the_write_actions_are_known_from_the_code() -> None:
    write_bindings = {(cls.__name__, b.action) for cls, b in tui_bindings() if b.action in WRITE_ACTIONS}
    assert {"ModelsPane", "ModelScreen"} <= {name for name, _ in write_bindings}
    assert {action for _, action in write_bindings} == WRITE_ACTIONS


def app_write_methods() -> set[str]:
    """The app's write actions that end in a write: those that call `_write` (plan, confirm, perform)
    or approve a request (`ops.approvals.approve`, whose last approval writes)."""
    ends_in_a_write = re.compile(r"self\._write\(|\bawait approve\(")
    return {
        name
        for name, member in inspect.getmembers(WriteActions, inspect.isfunction)
        if name != "_write" and ends_in_a_write.search(inspect.getsource(inspect.unwrap(member)))
    }


def write_requests(writers: set[str]) -> set[str]:
    """The messages whose handler in the app starts one of `writers`."""
    starts = re.compile(r"self\.writes\.(" + "|".join(sorted(writers)) + r")\(")
    return {
        message.__name__
        for _, member in inspect.getmembers(MlopsApp, inspect.isfunction)
        if starts.search(inspect.getsource(member))
        for message, _ in getattr(member, "_textual_on", [])
    }


async def test_every_binding_that_writes_is_a_write_action() -> None:
    """Generated from the code: a binding whose action asks for one of the app's write actions must
    be in WRITE_ACTIONS, so the read-only and protected tests below press it."""
    writers = app_write_methods()
    assert {"promote", "rollback", "retrain", "change_pipeline", "silence"} <= writers
    requests = write_requests(writers)
    assert {"PromoteRequested", "RollbackRequested", "ChangeRequested", "SilenceRequested"} <= requests
    calls = re.compile(r"\.(" + "|".join(sorted(requests)) + r")\(")
    reaching = set()
    for cls, binding in tui_bindings():
        method = getattr(cls, f"action_{binding.action.split('(')[0]}", None)
        if method is not None and calls.search(inspect.getsource(method)):
            reaching.add(binding.action)
    assert reaching == WRITE_ACTIONS


PANES = ("runs", "models", "pipelines", "alerts", "endpoints")
ALERT_SCREENS = {"triage": TriageScreen, "alert": AlertScreen, "silences": SilencesScreen}


async def open_sweep(pilot, app: MlopsApp, where: str) -> tuple[Screen[object], DataTable[object]]:  # type: ignore[no-untyped-def]
    """Open `where` from the dashboard (a pane's name, `triage`, `alert`, `silences`, `model` or
    `approvals`) with its table focused; returns the screen and that table."""
    while len(app.screen_stack) > 1:
        app.pop_screen()
        await pilot.pause()
    if where in PANES:
        widget = pane(app, where).table
    elif where in ALERT_SCREENS:
        opened = ALERT_SCREENS[where]
        pane(app, "alerts").table.focus()
        await open_with(pilot, OPENERS[opened])
        await until(pilot, lambda: isinstance(app.screen, opened) and loaded_screen(app.screen))
        widget = app.screen.query(DataTable).last()
    elif where == "model":
        pane(app, "models").table.focus()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ModelScreen) and bool(app.screen.versions))
        widget = app.screen.query_one(DataTable)
    else:
        pane(app, "models").table.focus()
        widget = (await open_approvals(pilot)).query_one(DataTable)
    widget.focus()
    await pilot.pause()
    return app.screen, widget


SWEEPS: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "dashboard": (
        PANES,
        frozenset(WRITE_ACTIONS - {"approve", "expire"}),
    ),
    "screens": (
        ("triage", "alert", "silences", "model", "approvals"),
        frozenset({"approve", "expire", "promote", "retrain", "rollback", "silence"}),
    ),
}
"""Where each part of the read-only sweep presses every key, and the write actions bound there."""


def test_the_read_only_sweep_presses_every_write_action() -> None:
    assert frozenset().union(*(writes for _, writes in SWEEPS.values())) == WRITE_ACTIONS


@dataclass(frozen=True)
class ReadOnly:
    """The app on a read-only environment, and what its backends held before."""

    app: MlopsApp
    store: MlflowSettings
    registry: dict[str, object]
    journal: Path


@pytest.fixture
def read_only(demo_store: MlflowSettings, tmp_path: Path, gitlab: FakeGitlab, vertex: FakeVertex) -> ReadOnly:
    """The demo store, GitLab and Vertex in a read-only environment, with another operator's
    approval request pending."""
    journal = tmp_path / "journal.db"
    registry = registry_state(demo_store)
    someones_request(journal, "dev")
    settings = Settings(
        {"dev": environment(demo_store, gitlab, vertex, read_only=True)}, "dev", journal=journal
    )
    return ReadOnly(demo_app(settings), demo_store, registry, journal)


@pytest.mark.e2e
@pytest.mark.parametrize("part", SWEEPS)
async def test_read_only_every_key_writes_nothing(
    part: str, read_only: ReadOnly, gitlab: FakeGitlab, vertex: FakeVertex
) -> None:
    app = read_only.app
    places, writes = SWEEPS[part]
    pressed: set[str] = set()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, every_pane_loaded(app))
        await until(pilot, lambda: pane(app, "alerts").table.row_count == 2)
        await existing_silence(app)
        for where in places:
            pressed |= await press_everything(pilot, app, where)
        await until(pilot, lambda: not any(w.group == "write" and w.is_running for w in app.workers))
    assert pressed & WRITE_ACTIONS == writes  # the write keys were really tried, there
    assert_nothing_written(read_only, gitlab, vertex)


@pytest.mark.e2e
async def test_read_only_every_palette_command_writes_nothing(
    read_only: ReadOnly, gitlab: FakeGitlab, vertex: FakeVertex
) -> None:
    app = read_only.app
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, every_pane_loaded(app))
        dashboard = app.screen
        textual_own = {c.title for c in App.get_system_commands(app, dashboard)}
        commands = [c for c in app.get_system_commands(dashboard) if c.title not in textual_own]
        assert {"Refresh", "Pause", "Open model churn", "History of churn"} <= {c.title for c in commands}
        assert not any(c.title.startswith(("Promote ", "Roll back ", "Retrain ")) for c in commands)
        # One "Open run ..." stands for all of them: opening a run writes nothing either way.
        opened_runs = [c for c in commands if c.title.startswith("Open run ")]
        commands = [c for c in commands if c not in opened_runs[1:]]
        for command in commands:
            result = command.callback()
            if inspect.isawaitable(result):
                await result
            await pilot.pause()
            await back_to(pilot, dashboard, pane(app, "models").table)
        await until(pilot, lambda: not any(w.group == "write" and w.is_running for w in app.workers))
    assert_nothing_written(read_only, gitlab, vertex)


def assert_nothing_written(read_only: ReadOnly, gitlab: FakeGitlab, vertex: FakeVertex) -> None:
    assert registry_state(read_only.store) == read_only.registry
    assert gitlab_writes(gitlab) == []
    assert vertex.writes() == []
    assert Journal(read_only.journal).entries() == []
    assert [r.decisions for r in Journal(read_only.journal).approval_requests()] == [()]


async def test_protected_every_write_binding_asks_for_the_name(
    demo_store: MlflowSettings, tmp_path: Path, gitlab: FakeGitlab, vertex: FakeVertex
) -> None:
    journal = tmp_path / "journal.db"
    # Traffic that moved before, so that a traffic rollback has somewhere to go.
    seeded = Journal(journal)
    moved = Change("traffic", "prd", "endpoint churn-endpoint (1001)", "churn-endpoint", "11=50 12=50", "x")
    seeded.outcome(seeded.intent(moved, "someone"), "ok")
    history = seeded.entries()
    seeded.close()
    someones_request(journal, "prd")
    settings = Settings(
        {"prd": environment(demo_store, gitlab, vertex, protected=True)}, "prd", journal=journal
    )
    app = demo_app(settings)
    rows = {"cancel": "2", "retry": "1"}  # the pipeline each pipeline action acts on
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, every_pane_loaded(app))
        await until(pilot, lambda: pane(app, "alerts").table.row_count == 2)
        await existing_silence(app)
        # A champion with history, so that rollback has somewhere to go.
        await app.hub.tracking.set_model_tag(
            "churn", "mlops_tui.history.alias.champion", '[{"version": "2"}]'
        )
        tried = set()
        for cls, binding in tui_bindings():
            if binding.action not in WRITE_ACTIONS or binding.action in AIRFLOW_ONLY:
                continue
            if cls.__name__ == "ModelScreen":
                pane(app, "models").table.focus()
                await pilot.press("enter")
                await until(pilot, lambda: isinstance(app.screen, ModelScreen) and bool(app.screen.versions))
            elif cls.__name__ in ("AlertsPane", "TriageScreen", "AlertScreen", "SilencesScreen"):
                pane(app, "alerts").table.focus()
                if cls in OPENERS:
                    await open_with(pilot, OPENERS[cls])
                    await until(pilot, lambda: isinstance(app.screen, cls) and loaded_screen(app.screen))  # noqa: B023
            elif cls.__name__ in ("PipelinesPane", "PipelineScreen"):
                table = pane(app, "pipelines").table
                table.move_cursor(row=table.get_row_index(rows[binding.action]))
                table.focus()
                if cls.__name__ == "PipelineScreen":  # the pipeline's job
                    await pilot.press("enter")
                    await until(
                        pilot,
                        lambda: (
                            isinstance(app.screen, PipelineScreen)
                            and app.screen.query_one("#jobs", DataTable).row_count == 1
                        ),
                    )
                    app.screen.query_one("#jobs", DataTable).focus()
            elif cls.__name__ == "EndpointsPane":
                pane(app, "endpoints").table.focus()
            elif cls.__name__ == "ApprovalsScreen":
                await open_approvals(pilot)
            else:
                pane(app, "models").table.focus()
            await pilot.pause()
            await pilot.press(binding.key.split(",")[0])
            await until(
                pilot,
                lambda: (
                    isinstance(app.screen, PromoteDialog | SilenceDialog | ConfirmDialog | TrafficDialog)
                    and app.screen.is_mounted
                ),
            )
            if isinstance(app.screen, SilenceDialog):
                app.screen.query_one("#silence-comment", Input).value = "policy test"
            if isinstance(app.screen, PromoteDialog | SilenceDialog):
                await click(pilot, "#plan")
                await shown(pilot, ConfirmDialog)
            if isinstance(app.screen, TrafficDialog):
                app.screen.query_one("#percent-11", Input).value = "50"
                app.screen.query_one("#percent-12", Input).value = "50"
                await pilot.press("enter")
                await shown(pilot, ConfirmDialog)
            assert app.screen.query_one("#confirm-typed", Input), (cls.__name__, binding.action)
            tried.add(binding.action)
            await pilot.press("escape")
            await until(pilot, lambda: not any(w.group == "write" and w.is_running for w in app.workers))
            while len(app.screen_stack) > 1:
                app.pop_screen()
                await pilot.pause()
        assert tried == WRITE_ACTIONS - AIRFLOW_ONLY
    assert Journal(journal).entries() == history
    assert [r.decisions for r in Journal(journal).approval_requests()] == [()]
    assert gitlab_writes(gitlab) == []
    assert vertex.writes() == []
