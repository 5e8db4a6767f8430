"""One history everyone agrees on: what a rollback returns to is computed once (rollback_target),
triage's "previous" is exactly that, an empty history tag is authoritative, changes made outside
mlops-tui are journaled as `external`, and rollback never moves forward whoever runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from textual.widgets import DataTable

from mlops_tui.config import MlflowSettings
from mlops_tui.hub import Hub
from mlops_tui.ops.journal import Journal
from mlops_tui.tui.screens.alerts import TriageScreen
from mlops_tui.views.triage import gather_triage
from tests.helpers import Registry, mlops_tui_command, write_config
from tests.helpers.tui import SIZE, demo_app, until
from tests.test_triage import critical, settings_for, triage_screen

HISTORY_TAG = "mlops_tui.history.alias.champion"


async def test_triage_without_history_says_so_and_greys_out_rollback(
    demo_store: MlflowSettings, tmp_path: Path
) -> None:
    Registry(demo_store.tracking_uri).client.delete_registered_model_tag("churn", HISTORY_TAG)
    settings = settings_for(demo_store, None, tmp_path / "j.db")
    triage = await gather_triage(Hub(settings), Journal(tmp_path / "j.db"), await critical(Hub(settings)))
    assert triage.serving is not None and triage.serving.version.version == "3"
    assert triage.previous is None  # not "v2, the version before": rollback would refuse
    assert triage.no_rollback == "no history in the audit journal: nothing to roll back to"

    app = demo_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.query_one("#alerts").table.row_count == 2)  # type: ignore[attr-defined]
        await pilot.press("a", "enter")
        await until(pilot, lambda: triage_screen(app))
        screen = app.screen
        assert isinstance(screen, TriageScreen)
        columns = [str(c.label) for c in screen.query_one("#triage-versions", DataTable).columns.values()]
        assert columns[2] == "no history in the audit journal: nothing to roll back to"
        assert screen.check_action("rollback", ()) is None  # greyed out


async def test_triage_previous_is_what_rollback_returns_to(
    demo_store: MlflowSettings, tmp_path: Path
) -> None:
    """The demo's tag says the champion was v2 before v3; after an outside move to v4 the
    journal (with history) and the tag agree with triage."""
    from mlops_tui.ops.registry import plan_rollback

    settings = settings_for(demo_store, None, tmp_path / "j.db")
    hub = Hub(settings)
    journal = Journal(tmp_path / "j.db")
    triage = await gather_triage(hub, journal, await critical(hub))
    planned = await plan_rollback(hub, journal, "churn", operator="priya")
    assert triage.previous is not None
    assert f"v{triage.previous.version.version}" == planned.change.after == "v2"
    await hub.aclose()


def cli(config: Path, state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*mlops_tui_command(), "--config", str(config), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "XDG_STATE_HOME": str(state)},
        timeout=120,
        check=False,
    )


@pytest.fixture
def two_laptops(tmp_path: Path, writable_server: str) -> dict[str, tuple[Path, Path]]:
    """ana and ben, each with a config and a journal of their own, on one MLflow server."""
    Registry(writable_server).client.delete_registered_model_tag("churn", HISTORY_TAG)
    laptops = {}
    for name in ("ana", "ben"):
        config = write_config(
            tmp_path / name / "mlops-tui.toml",
            {"dev": {"mlflow": {"tracking_uri": writable_server}}},
            operator=name,
        )
        laptops[name] = (config, tmp_path / name / "state")
    return laptops


def test_a_rollback_never_re_applies_a_move_another_operator_undid(
    two_laptops: dict[str, tuple[Path, Path]], writable_server: str
) -> None:
    """The issue's sequence: ana promotes v3 -> v4 -> v2; ben rolls back twice (v2 -> v4 -> v3),
    emptying the tag. ana's own journal still holds her two moves; her rollback must not take
    the champion forward to v4."""
    registry = Registry(writable_server)
    ana, ben = two_laptops["ana"], two_laptops["ben"]
    for version in ("4", "2"):
        assert cli(*ana, "models", "promote", "churn", version, "--yes").returncode == 0
    for expected in ("4", "3"):
        assert cli(*ben, "models", "rollback", "churn", "--yes").returncode == 0
        assert registry.aliases("churn")["champion"] == expected
    assert json.loads(registry.model_tags("churn")[HISTORY_TAG]) == []
    refused = cli(*ana, "models", "rollback", "churn", "--yes")
    assert refused.returncode == 4, refused
    assert "none in the registry tag" in refused.stderr
    assert registry.aliases("churn")["champion"] == "3"
    # ana's journal noticed, on that read, that the slot moved without her: journaled as external.
    history = json.loads(cli(*ana, "history", "--json").stdout)["entries"]
    assert [(e["action"], e["before"], e["after"], e["result"]) for e in history] == [
        ("external", "v2", "v3", "external"),
        ("promote", "v4", "v2", "ok"),
        ("promote", "v3", "v4", "ok"),
    ]


def test_an_outside_change_is_journaled_and_rolled_back_to(tmp_path: Path, writable_server: str) -> None:
    """A notebook moves the champion behind mlops-tui's back: the next read journals it, and a
    rollback undoes it (the journal decides: it is shared by whoever uses this file)."""
    registry = Registry(writable_server)
    config = write_config(
        tmp_path / "mlops-tui.toml", {"dev": {"mlflow": {"tracking_uri": writable_server}}}, operator="ana"
    )
    state = tmp_path / "state"
    assert cli(config, state, "models", "promote", "churn", "4", "--yes").returncode == 0
    registry.client.set_registered_model_alias("churn", "champion", "1")  # the notebook
    assert cli(config, state, "models", "promote", "churn", "2", "--yes").returncode == 0
    history = json.loads(cli(config, state, "history", "--json").stdout)["entries"]
    assert [(e["operator"], e["action"], e["before"], e["after"]) for e in history] == [
        ("ana", "promote", "v1", "v2"),
        ("(outside this journal)", "external", "v4", "v1"),
        ("ana", "promote", "v3", "v4"),
    ]
