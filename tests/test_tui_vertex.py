"""Vertex AI in the TUI: the Endpoints pane over the fake Vertex AI v1 REST server (real aiplatform_v1
clients), traffic shift, rollback and undeploy through the confirmation modal and the one policy,
an outage shown in the pane, and no Endpoints pane where Vertex is not configured."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from mlops_tui.config import EnvironmentSettings, MlflowSettings, Settings, VertexSettings
from mlops_tui.ops.journal import Journal
from mlops_tui.tui.panes.base import ResourcePane
from mlops_tui.tui.screens.dialogs import ConfirmDialog, TrafficDialog
from tests.fakes.vertex_server import FakeVertex, seed_churn
from tests.helpers import closed_port
from tests.helpers.tui import (
    SIZE,
    demo_app,
    loaded,
    measured,
    notified,
    pane,
    rows,
    shown,
    status_line,
    until,
)


@pytest.fixture
def fake() -> Iterator[FakeVertex]:
    with FakeVertex("acme-ml", "us-central1") as server:
        seed_churn(server)
        # Finished pipelines only: a running one's duration grows with the wall clock.
        server.pipeline_jobs.pop("churn-retrain-20261126090000")
        yield server


def vertex(url: str) -> VertexSettings:
    return VertexSettings(
        project="acme-ml",
        location="us-central1",
        endpoints=["churn-endpoint"],
        api_endpoint=url,
        credentials="anonymous",
    )


def settings_for(store: MlflowSettings, url: str, tmp_path: Path, **policy: bool) -> Settings:
    env = EnvironmentSettings(mlflow=store, vertex=vertex(url), **policy)
    return Settings({"prd": env}, "prd", journal=tmp_path / "journal.db")


def endpoints_filled(app) -> Callable[[], bool]:  # type: ignore[no-untyped-def]
    return lambda: loaded(app)() and rows(app, "endpoints") == 2 and " row" in status_line(app, "endpoints")


def traffic(app) -> list[str]:  # type: ignore[no-untyped-def]
    table = pane(app, "endpoints").table
    return [str(table.get_row_at(i)[-1]).split()[-1] for i in range(table.row_count)]


async def confirm(pilot: Pilot[None], name: str) -> None:
    """Type the name in the protected confirmation and submit it; wait for the write to end."""
    app = pilot.app
    typed = app.screen.query_one("#confirm-typed", Input)
    typed.value = name
    typed.focus()
    await pilot.press("enter")
    await until(pilot, lambda: not isinstance(app.screen, ConfirmDialog))
    await until(pilot, lambda: not any(w.group == "write" and w.is_running for w in app.workers))


async def test_endpoints_pane_shows_deployed_models_and_the_split(
    demo_store: MlflowSettings, fake: FakeVertex, tmp_path: Path
) -> None:
    app = demo_app(settings_for(demo_store, fake.url, tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, endpoints_filled(app))
        table = pane(app, "endpoints").table
        first = [str(c) for c in table.get_row_at(0)]
        assert first[:4] == ["churn-endpoint", "11", "churn-model v1", "churn v3"]
        assert first[4] == "█████████░  90%"
        assert traffic(app) == ["90%", "10%"]
        # Vertex pipeline jobs sit in the Pipelines pane.
        await until(pilot, lambda: rows(app, "pipelines") == 1)
        assert "vertex churn-retrain-20261125090000" in str(pane(app, "pipelines").table.get_row_at(0)[0])


async def test_shift_roll_back_and_undeploy_through_the_policy(
    demo_store: MlflowSettings, fake: FakeVertex, tmp_path: Path
) -> None:
    app = demo_app(settings_for(demo_store, fake.url, tmp_path, protected=True))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, endpoints_filled(app))
        pane(app, "endpoints").table.focus()
        await pilot.press("s")
        await shown(pilot, TrafficDialog)
        app.screen.query_one("#percent-11", Input).value = "40"
        await pilot.pause()
        await pilot.press("enter")  # 40 + 10: refused in the dialog
        await until(pilot, lambda: notified(app, "The percents must be whole numbers that sum to 100"))
        assert isinstance(app.screen, TrafficDialog)
        app.screen.query_one("#percent-12", Input).value = "60"
        await pilot.press("enter")
        await shown(pilot, ConfirmDialog)
        assert isinstance(app.screen, ConfirmDialog)
        assert (
            app.screen.change.summary()
            == "traffic endpoint churn-endpoint (1001) in prd: 11=90 12=10 -> 11=40 12=60"
        )
        await confirm(pilot, "churn-endpoint")
        assert fake.endpoints["1001"]["trafficSplit"] == {"11": 40, "12": 60}
        await until(pilot, lambda: traffic(app) == ["40%", "60%"])
        assert fake.endpoints["1001"]["trafficSplit"] == {"11": 40, "12": 60}

        await pilot.press("b")
        await shown(pilot, ConfirmDialog)
        assert app.screen.change.after == "11=90 12=10"  # type: ignore[attr-defined]
        await confirm(pilot, "churn-endpoint")
        await until(pilot, lambda: traffic(app) == ["90%", "10%"])

        table = pane(app, "endpoints").table
        table.move_cursor(row=1)
        await pilot.press("u")
        await shown(pilot, ConfirmDialog)
        assert app.screen.change.after == "11=100"  # type: ignore[attr-defined]
        await confirm(pilot, "churn-endpoint")
        await until(pilot, lambda: rows(app, "endpoints") == 1 and traffic(app) == ["100%"])
    actions = [(e.action, e.result) for e in Journal(tmp_path / "journal.db").entries()]
    assert actions == [("undeploy", "ok"), ("traffic-rollback", "ok"), ("traffic", "ok")]


async def test_an_unreachable_vertex_shows_in_its_pane_only(
    demo_store: MlflowSettings, tmp_path: Path
) -> None:
    app = demo_app(settings_for(demo_store, f"http://127.0.0.1:{closed_port()}", tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loaded(app)() and "cannot reach" in status_line(app, "endpoints"))
        assert "connection refused · no data yet" in status_line(app, "endpoints")
        assert rows(app, "models") > 0
        await until(pilot, lambda: "vertex ● down" in str(app.query_one("#env-bar").render()))


async def test_no_endpoints_pane_without_vertex(demo_settings: Settings) -> None:
    app = demo_app(demo_settings)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, loaded(app))
        assert not app.query("#endpoints")
        assert [p.id for p in app.query(ResourcePane)] == ["runs", "models"]


@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=["120x36", "80x24"])
def test_vertex_dashboard_snapshot(
    snap_compare: Callable[..., bool],
    demo_store: MlflowSettings,
    fake: FakeVertex,
    tmp_path: Path,
    size: tuple[int, int],
) -> None:
    app = demo_app(settings_for(demo_store, fake.url, tmp_path))

    async def filled(pilot: Pilot[None]) -> None:
        await until(
            pilot,
            lambda: (
                loaded(app)()
                and endpoints_filled(app)()
                and rows(app, "pipelines") == 1
                and rows(app, "alerts") == 1
            ),
        )
        pane(app, "endpoints").table.focus()
        await measured(pilot)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=filled)
