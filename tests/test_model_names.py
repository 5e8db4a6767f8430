"""One model-name mapping: `registered_model = "prod.{name}"` applies to every read and write of an
environment, environments sharing a server each see only their own models, and the mapped name is
accepted as well, never doubled.

Against the real `writable_server`: `dev` names models as they are, `prd` as `prod.{name}`, on the
same server, which holds the demo's `churn`, `fraud`, `demand` and a `prod.churn` made for the test.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mlops_tui.config import load_settings
from mlops_tui.config.naming import ModelNames
from mlops_tui.hub import Hub
from mlops_tui.views.fleet import read_fleet
from tests.helpers import Registry, run_cli, write_config


def test_mapping_never_doubles_and_knows_its_neighbours() -> None:
    prd = ModelNames("prod.{name}", others=("{name}",))
    dev = ModelNames("{name}", others=("prod.{name}",))
    assert prd.registered("churn") == prd.registered("prod.churn") == "prod.churn"
    assert prd.model("prod.churn") == "churn"
    assert dev.registered("churn") == "churn"
    assert prd.owns("prod.churn") and not prd.owns("churn")
    assert dev.owns("churn") and not dev.owns("prod.churn")
    assert not prd.owns("prod.")  # the template alone names no model
    assert prd.server_filter("") == "name LIKE 'prod.%'"
    assert dev.server_filter("name ILIKE '%c%'") == "name ILIKE '%c%'"


@pytest.fixture
def shared(tmp_path: Path, writable_server: str) -> Path:
    """A config with dev and prd on one server; prd's churn is `prod.churn`, champion v1."""
    registry = Registry(writable_server)
    run_id = registry.version("churn", "1").run_id
    registry.client.create_registered_model("prod.churn")
    for _ in range(2):
        registry.client.create_model_version("prod.churn", "models:/churn/1", run_id=run_id)
    registry.client.set_registered_model_alias("prod.churn", "champion", "1")
    return write_config(
        tmp_path / "mlops-tui.toml",
        {
            "dev": {"mlflow": {"tracking_uri": writable_server}},
            "prd": {"mlflow": {"tracking_uri": writable_server, "registered_model": "prod.{name}"}},
        },
        default_env="dev",
        operator="ana",
    )


def test_each_environment_lists_and_shows_its_own_models(shared: Path) -> None:
    def names(env: str) -> set[str]:
        result = run_cli("--env", env, "models", "list", "--json", "--config", shared)
        assert result.code == 0, result
        return {m["name"] for m in result.json()["models"]}

    assert names("prd") == {"prod.churn"}
    assert names("dev") == {"churn", "fraud", "demand"}
    for name in ("churn", "prod.churn"):
        shown = run_cli("--env", "prd", "models", "show", name, "--json", "--config", shared)
        assert shown.code == 0, shown
        assert shown.json()["model"]["name"] == "prod.churn"
        assert {v["version"] for v in shown.json()["versions"]} == {"1", "2"}


def test_status_reports_each_environment_its_own_serving_versions(shared: Path) -> None:
    result = run_cli("status", "--all", "--json", "--config", shared)
    serving = {e["environment"]: e["serving"]["versions"] for e in result.json()["environments"]}
    assert serving["prd"] == {"churn": "v1"}
    assert set(serving["dev"]) == {"churn", "fraud", "demand"}


def test_the_fleet_lines_up_each_environment_on_its_own_model(shared: Path) -> None:
    settings = load_settings(str(shared))

    async def read() -> dict[str, dict[str, str | None]]:
        hubs = {name: Hub(settings, name) for name in ("dev", "prd")}
        try:
            fleet = await read_fleet(hubs)
        finally:
            for hub in hubs.values():
                await hub.aclose()
        return {row.model: {env: s.version for env, s in row.serving.items()} for row in fleet.rows}

    rows = asyncio.run(read())
    assert set(rows) == {"churn", "fraud", "demand"}  # no row for `prod.churn`
    assert rows["churn"]["prd"] == "v1"
    assert rows["fraud"].get("prd") is None  # dev's fraud is not prd's


@pytest.mark.parametrize("name", ["churn", "prod.churn"])
def test_promote_rollback_and_history_act_on_the_mapped_model(
    name: str, shared: Path, writable_server: str
) -> None:
    registry = Registry(writable_server)
    dev_before = registry.aliases("churn")
    promoted = run_cli("--env", "prd", "models", "promote", name, "2", "--yes", "--json", "--config", shared)
    assert promoted.code == 0, promoted
    assert promoted.json()["target"] == "prod.churn@champion"
    assert registry.aliases("prod.churn")["champion"] == "2"
    assert registry.aliases("churn") == dev_before
    history = run_cli("--env", "prd", "history", "--model", name, "--json", "--config", shared)
    assert [(e["target"], e["before"], e["after"]) for e in history.json()["entries"]] == [
        ("prod.churn@champion", "v1", "v2")
    ]
    rolled = run_cli("--env", "prd", "models", "rollback", name, "--yes", "--json", "--config", shared)
    assert rolled.code == 0, rolled
    assert (rolled.json()["before"], rolled.json()["after"]) == ("v2", "v1")
    assert registry.aliases("prod.churn")["champion"] == "1"
