"""Promotion gates on the demo store: each gate kind passing and failing through the console
script, the override journaled with its reason, the plan's JSON, the config's errors, and the TUI's
confirmation showing the checks and asking a reason to override.

The demo's churn: champion v3 (val_auc 0.8782), v1 0.8704, v2 0.8969, v4 0.9089; every version
tagged `validation_status=passed`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Static

from mlops_tui.config import EnvironmentSettings, GateSettings, MlflowSettings, Settings, load_settings
from mlops_tui.errors import ConfigError, ExitCode
from mlops_tui.ops.journal import Journal
from mlops_tui.tui.screens.dialogs import ConfirmDialog, PromoteDialog
from tests.helpers import CliResult, Registry, closed_port, run_cli, write_config
from tests.helpers.tui import SIZE, click, demo_app, idle, loaded, notified, pane, shown, until

OPERATOR = "ana"
AUC_GATE = "val_auc >= current - 0.005"


def critical_rule(threshold: float) -> dict[str, Any]:
    """A local rule of severity critical on churn's champion: fires when val_auc < `threshold`."""
    return {
        "name": "ChurnAucCritical",
        "metric": "val_auc",
        "op": "<",
        "threshold": threshold,
        "models": ["churn"],
        "severity": "critical",
    }


def gated(tmp_path: Path, store: MlflowSettings, gates: dict[str, Any], **prd: Any) -> Path:
    """dev and prd on the demo's `churn`, qa on `qa.churn` (same server); prd has `gates`."""
    mlflow = {"tracking_uri": store.tracking_uri, "key_metrics": ["val_auc", "val_loss"]}
    return write_config(
        tmp_path / "mlops-tui.toml",
        {
            "dev": {"mlflow": mlflow},
            "qa": {"mlflow": {**mlflow, "registered_model": "qa.{name}"}},
            "prd": {"mlflow": mlflow, "gates": gates, **prd},
        },
        default_env="dev",
        operator=OPERATOR,
        journal=str(tmp_path / "journal.sqlite3"),
    )


def promote(config: Path, version: str, *extra: str, env: str = "prd") -> CliResult:
    return run_cli("--env", env, "models", "promote", "churn", version, "--config", config, *extra)


def refused_by_gates(result: CliResult, *fragments: str, env: str = "prd") -> str:
    """Exit 4 and one stderr line naming each failed check."""
    assert result.code == ExitCode.REFUSED, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"promotion gates of {env} failed" in lines[0], result.stderr
    for fragment in fragments:
        assert fragment in lines[0], result.stderr
    return lines[0]


def journal_of(tmp_path: Path) -> list[tuple[str, str | None, str | None, str, str]]:
    journal = Journal(tmp_path / "journal.sqlite3")
    try:
        return [(e.action, e.before, e.after, e.result, e.message) for e in journal.entries()]
    finally:
        journal.close()


def test_required_tags(tmp_path: Path, demo_store: MlflowSettings) -> None:
    registry = Registry(demo_store.tracking_uri)
    registry.client.set_model_version_tag("churn", "4", "validation_status", "failed")
    config = gated(tmp_path, demo_store, {"required_tags": {"validation_status": "passed", "owner": "ml"}})

    line = refused_by_gates(
        promote(config, "4", "--yes"),
        "tag validation_status = passed (is failed)",
        "tag owner = ml (missing)",
        "--override-gates",
    )
    assert "\n" not in line
    assert registry.aliases("churn")["champion"] == "3"
    assert journal_of(tmp_path) == []  # refused before anything was journaled or written

    registry.client.set_model_version_tag("churn", "2", "owner", "ml")
    done = promote(config, "2", "--yes")
    assert done.code == ExitCode.OK, done
    assert registry.aliases("churn")["champion"] == "2"


def test_metric_comparison_with_the_current_holder(tmp_path: Path, demo_store: MlflowSettings) -> None:
    registry = Registry(demo_store.tracking_uri)
    config = gated(tmp_path, demo_store, {"metrics": [AUC_GATE, "val_loss < 0.3"]})

    refused_by_gates(promote(config, "1", "--yes"), "val_auc >= current - 0.005 (0.8704 against v3's 0.8782)")
    assert registry.aliases("churn")["champion"] == "3"

    done = promote(config, "2", "--yes")  # 0.8969: better than v3's
    assert done.code == ExitCode.OK, done
    assert registry.aliases("churn")["champion"] == "2"


def test_promoted_in_qa_first(tmp_path: Path, demo_store: MlflowSettings) -> None:
    registry = Registry(demo_store.tracking_uri)
    config = gated(tmp_path, demo_store, {"promoted_in": "qa"})

    refused_by_gates(promote(config, "4", "--yes"), "v4 never held qa.churn@champion in qa")

    copied = promote(config, "4", "--to-env", "qa", "--alias", "champion", "--yes", env="dev")
    assert copied.code == ExitCode.OK, copied
    assert registry.aliases("qa.churn") == {"champion": "1"}

    plan = promote(config, "4", "--dry-run", "--json")
    assert plan.code == ExitCode.OK, plan
    assert plan.json()["checks"] == [
        {"gate": "promoted_in", "passed": True, "detail": "v1 held qa.churn@champion in qa"}
    ]
    refused_by_gates(promote(config, "2", "--yes"), "v2 never held qa.churn@champion in qa")
    done = promote(config, "4", "--yes")
    assert done.code == ExitCode.OK, done
    assert registry.aliases("churn")["champion"] == "4"


def test_a_copy_into_another_environment_passes_that_environments_gates(
    tmp_path: Path, demo_store: MlflowSettings
) -> None:
    registry = Registry(demo_store.tracking_uri)
    registry.client.set_model_version_tag("churn", "1", "validation_status", "failed")
    mlflow = {"tracking_uri": demo_store.tracking_uri, "key_metrics": ["val_auc"]}
    config = write_config(
        tmp_path / "mlops-tui.toml",
        {
            "dev": {"mlflow": mlflow},
            "qa": {
                "mlflow": {**mlflow, "registered_model": "qa.{name}"},
                "gates": {"required_tags": {"validation_status": "passed"}},
            },
        },
        default_env="dev",
        operator=OPERATOR,
    )
    refused_by_gates(
        promote(config, "1", "--to-env", "qa", "--yes", env="dev"),
        "tag validation_status = passed (is failed)",
        env="qa",
    )
    assert "qa.churn" not in registry.snapshot()  # nothing copied
    done = promote(config, "4", "--to-env", "qa", "--yes", env="dev")
    assert done.code == ExitCode.OK, done
    assert registry.aliases("qa.churn") == {"challenger": "1"}


def test_no_critical_alerts(tmp_path: Path, demo_store: MlflowSettings) -> None:
    registry = Registry(demo_store.tracking_uri)
    firing = gated(tmp_path, demo_store, {"no_critical_alerts": True}, rules=[critical_rule(2.0)])
    refused_by_gates(promote(firing, "4", "--yes"), "critical alerts firing on churn: ChurnAucCritical")
    assert registry.aliases("churn")["champion"] == "3"

    quiet = gated(tmp_path, demo_store, {"no_critical_alerts": True}, rules=[critical_rule(0.5)])
    done = promote(quiet, "4", "--yes")
    assert done.code == ExitCode.OK, done
    assert registry.aliases("churn")["champion"] == "4"


def test_a_gate_that_cannot_be_checked_fails(tmp_path: Path, demo_store: MlflowSettings) -> None:
    unreachable = {"url": f"http://127.0.0.1:{closed_port()}", "timeout_seconds": 2}
    config = gated(tmp_path, demo_store, {"no_critical_alerts": True}, alertmanager=unreachable)
    refused_by_gates(promote(config, "4", "--yes"), "no_critical_alerts: could not check:")
    assert Registry(demo_store.tracking_uri).aliases("churn")["champion"] == "3"


def test_override_is_journaled_with_its_reason(tmp_path: Path, demo_store: MlflowSettings) -> None:
    registry = Registry(demo_store.tracking_uri)
    config = gated(tmp_path, demo_store, {"metrics": [AUC_GATE]})

    no_reason = promote(config, "1", "--yes", "--override-gates")
    assert no_reason.code == ExitCode.USAGE and "--reason" in no_reason.stderr, no_reason
    stray = promote(config, "1", "--yes", "--reason", "why")
    assert stray.code == ExitCode.USAGE and "--override-gates" in stray.stderr, stray

    done = promote(config, "1", "--yes", "--override-gates", "--reason", "hotfix agreed with the lead")
    assert done.code == ExitCode.OK, done
    assert registry.aliases("churn")["champion"] == "1"
    [(action, before, after, result, message)] = journal_of(tmp_path)
    assert (action, before, after, result) == ("promote", "v3", "v1", "ok")
    assert f"gates overridden by {OPERATOR}: hotfix agreed with the lead" in message
    assert "val_auc >= current - 0.005 (0.8704 against v3's 0.8782)" in message

    history = run_cli("--env", "prd", "history", "--json", "--config", config)
    assert "hotfix agreed with the lead" in history.stdout, history


def test_dry_run_json_shows_metrics_checks_and_warnings(tmp_path: Path, demo_store: MlflowSettings) -> None:
    registry = Registry(demo_store.tracking_uri)
    before = registry.snapshot()
    config = gated(
        tmp_path, demo_store, {"required_tags": {"validation_status": "passed"}, "metrics": [AUC_GATE]}
    )

    plan = promote(config, "1", "--dry-run", "--json")
    refused_by_gates(plan, "val_auc >= current - 0.005")  # a dry run says the write would be refused
    assert json.loads(plan.stdout) == {
        "environment": "prd",
        "action": "promote",
        "target": "churn@champion",
        "before": "v3",
        "after": "v1",
        "details": [],
        "metrics": [
            {"metric": "val_auc", "value": 0.8704, "current": 0.8782, "regressed": True},
            {"metric": "val_loss", "value": 0.2038, "current": 0.2002, "regressed": True},
        ],
        "warnings": [
            "val_auc regresses: 0.8704 against v3's 0.8782",
            "val_loss regresses: 0.2038 against v3's 0.2002",
        ],
        "gates": "failed",
        "checks": [
            {"gate": "required_tags", "passed": True, "detail": "tag validation_status = passed (is passed)"},
            {
                "gate": "metrics",
                "passed": False,
                "detail": "val_auc >= current - 0.005 (0.8704 against v3's 0.8782)",
            },
        ],
        "result": "dry-run",
    }
    overridden = promote(config, "1", "--dry-run", "--override-gates", "--reason", "test")
    assert overridden.code == ExitCode.OK, overridden

    # No gates (dev): the plan still shows the metrics beside the champion's and warns.
    text = promote(config, "1", "--dry-run", env="dev")
    assert text.code == ExitCode.OK, text
    assert text.stdout.splitlines() == [
        "would promote churn@champion in dev: v3 -> v1",
        "  metric: val_auc 0.8704 (v3: 0.8782)",
        "  metric: val_loss 0.2038 (v3: 0.2002)",
        "  warning: val_auc regresses: 0.8704 against v3's 0.8782",
        "  warning: val_loss regresses: 0.2038 against v3's 0.2002",
    ]
    assert registry.snapshot() == before
    assert journal_of(tmp_path) == []


@pytest.mark.parametrize(
    ("gates", "key", "says"),
    [
        ({"metrics": ["val_auc => 0.8"]}, "environments.prd.gates.metrics[0]", "is not METRIC OP VALUE"),
        ({"promoted_in": "staging"}, "environments.prd.gates.promoted_in", "not another environment"),
        ({"promoted_in": "prd"}, "environments.prd.gates.promoted_in", "not another environment"),
        ({"no_critical_alerts": True}, "environments.prd.gates.no_critical_alerts", "needs an alert source"),
        ({"required": "x"}, "environments.prd.gates.required", "unknown key"),
    ],
)
def test_config_errors_name_file_line_and_key(
    tmp_path: Path, demo_store: MlflowSettings, gates: dict[str, Any], key: str, says: str
) -> None:
    config = gated(tmp_path, demo_store, gates)
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    leaf = key.rsplit(".", 1)[1].split("[")[0]
    line = next(
        n for n, text in enumerate(config.read_text().splitlines(), 1) if text.startswith(f"{leaf} =")
    )
    message = str(raised.value)
    assert message.startswith(f"{config}:{line}, key {key}: ") and says in message, message


async def test_tui_confirmation_shows_the_checks_and_asks_a_reason_to_override(
    demo_store: MlflowSettings, tmp_path: Path
) -> None:
    gates = GateSettings(required_tags={"validation_status": "approved"}, metrics=[AUC_GATE])
    journal = tmp_path / "journal.db"
    store = MlflowSettings(tracking_uri=demo_store.tracking_uri, key_metrics=["val_auc"])
    settings = Settings({"prd": EnvironmentSettings(mlflow=store, gates=gates)}, "prd", journal=journal)
    app = demo_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, loaded(app))
        pane(app, "models").table.focus()  # churn
        await pilot.press("p")
        await shown(pilot, PromoteDialog)
        await click(pilot, "#plan")  # v4 to champion
        dialog = await shown(pilot, ConfirmDialog)
        checks = str(dialog.query_one("#confirm-checks", Static).render())
        assert "val_auc 0.9089 (v3: 0.8782)" in checks
        assert "FAILED  tag validation_status = approved (is passed)" in checks
        assert "gate ok val_auc >= current - 0.005 (0.9089 against v3's 0.8782)" in checks

        await click(pilot, "#confirm")  # no reason given: the dialog stays
        await until(pilot, lambda: notified(app, "give a reason to override"))
        assert isinstance(app.screen, ConfirmDialog)
        assert Registry(demo_store.tracking_uri).aliases("churn")["champion"] == "3"

        reason = app.screen.query_one("#confirm-override", Input)
        reason.focus()
        await until(pilot, lambda: app.focused is reason)
        reason.value = "validated by hand"
        await pilot.press("enter")  # the reason submitted confirms, as the button does
        await until(pilot, lambda: not isinstance(app.screen, ConfirmDialog) and idle(app))
        assert Registry(demo_store.tracking_uri).aliases("churn")["champion"] == "4"
        [entry] = Journal(journal).entries()
        assert (entry.result, entry.after) == ("ok", "v4")
        assert "gates overridden by" in entry.message and "validated by hand" in entry.message


async def test_tui_confirmation_of_many_checks_scrolls_to_its_buttons_in_80x24(
    demo_store: MlflowSettings, tmp_path: Path
) -> None:
    gates = GateSettings(
        required_tags={"validation_status": "approved", "owner": "ml"}, metrics=[AUC_GATE, "val_loss < 0.1"]
    )
    journal = tmp_path / "journal.db"
    env = EnvironmentSettings(mlflow=demo_store, gates=gates, protected=True)
    app = demo_app(Settings({"prd": env}, "prd", journal=journal))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, loaded(app))
        pane(app, "models").table.focus()
        await pilot.press("p")
        promote_dialog = await shown(pilot, PromoteDialog)
        promote_dialog.query_one("#plan").press()
        dialog = await shown(pilot, ConfirmDialog)
        dialog.query_one("#confirm-override", Input).value = "hand-checked"
        dialog.query_one("#confirm-typed", Input).value = "churn"
        button = dialog.query_one("#confirm")
        button.focus()
        await until(
            pilot, lambda: app.focused is button and 0 <= button.region.y and button.region.bottom <= 24
        )
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmDialog) and idle(app))
        assert Registry(demo_store.tracking_uri).aliases("churn")["champion"] == "4"
        [entry] = Journal(journal).entries()
        assert "hand-checked" in entry.message
