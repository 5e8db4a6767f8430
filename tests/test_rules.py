"""Local alert rules evaluated on a real MLflow store (the demo's), and their silences.

On the demo data churn's champion (v3) has val_auc 0.8782 and fraud's champion (v2) drift_psi
0.1372, so the built-in `local` rules fire for those two and for nothing else.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mlops_tui.config import LOCAL_RULES, AlertRule, EnvironmentSettings, MlflowSettings, Settings
from mlops_tui.domain import SourceState
from mlops_tui.domain.matchers import parse_matchers
from mlops_tui.errors import InvalidQuery, NotFound, UsageError
from mlops_tui.hub import Hub
from mlops_tui.sources.rules import RulesSource, SilenceStore
from tests.conftest import DEMO_NOW
from tests.helpers import closed_port


def hub_for(
    store: MlflowSettings,
    rules: list[AlertRule] | tuple[AlertRule, ...] = LOCAL_RULES,
    models: tuple[str, ...] = (),
) -> Hub:
    env = EnvironmentSettings(mlflow=store, rules=list(rules), models=list(models))
    return Hub(Settings({"local": env}, "local"), clock=lambda: DEMO_NOW)


async def test_the_local_rules_fire_on_the_demo_champions(demo_store: MlflowSettings) -> None:
    hub = hub_for(demo_store)
    alerts = (await hub.alerts()).items
    assert [(a.name, a.severity, hub.alert_model(a), a.labels["version"]) for a in alerts] == [
        ("ChampionAucLow", "critical", "churn", "3"),
        ("FeatureDrift", "warning", "fraud", "2"),
    ]
    low = alerts[0]
    assert low.summary == "churn v3 serves with val_auc 0.8782, below 0.88"
    assert low.runbook_url == "https://runbooks.example.com/models/auc-low"
    assert (low.source, low.state, low.starts_at) == ("rules", "active", DEMO_NOW)
    assert low.labels["environment"] == "local"
    assert hub.statuses["rules"].state == SourceState.OK


async def test_an_alert_clears_when_a_better_version_serves(demo_store: MlflowSettings) -> None:
    hub = hub_for(demo_store, LOCAL_RULES[:1])
    assert [a.name for a in (await hub.alerts()).items] == ["ChampionAucLow"]
    await hub.tracking.set_alias("churn", "champion", "4")  # val_auc 0.9089
    assert (await hub.alerts()).items == []


async def test_rules_on_stages_and_on_every_model(demo_store: MlflowSettings) -> None:
    rule = AlertRule(name="RmseHigh", metric="val_rmse", op=">=", threshold=20, version="Production")
    alerts = (await hub_for(demo_store, [rule]).alerts()).items
    # demand is the only model with val_rmse; its Production version is v2 (21.35).
    assert [(a.labels["model"], a.labels["version"], a.annotations["value"]) for a in alerts] == [
        ("demand", "2", "21.35")
    ]


async def test_an_environment_without_alert_sources_says_so(demo_store: MlflowSettings) -> None:
    with pytest.raises(UsageError, match=r"no \[alertmanager\] table and no \[\[rules\]\]"):
        await hub_for(demo_store, []).alerts()


async def test_models_of_interest_limit_the_rules(demo_store: MlflowSettings) -> None:
    drift = AlertRule(name="Drift", metric="drift_psi", op=">", threshold=0.1)
    hub = hub_for(demo_store, [drift], models=("churn",))
    assert [a.labels["model"] for a in (await hub.alerts()).items] == ["churn"]
    missing = hub_for(demo_store, [drift], models=("churn", "gone"))
    assert [a.labels["model"] for a in (await missing.alerts()).items] == ["churn"]


async def test_silence_mutes_matching_alerts_until_expired(demo_store: MlflowSettings) -> None:
    hub = hub_for(demo_store)
    source = hub.alert_source("rules")
    silence_id = await source.create_silence(
        parse_matchers(['alertname="ChampionAucLow"']),
        starts_at=DEMO_NOW,
        ends_at=DEMO_NOW + timedelta(hours=2),
        created_by="priya",
        comment="retraining under way",
    )
    alerts = {a.name: a for a in (await hub.alerts()).items}
    assert alerts["ChampionAucLow"].silenced_by == (silence_id,)
    assert alerts["ChampionAucLow"].state == "silenced"
    assert alerts["FeatureDrift"].state == "active"
    assert [a.name for a in (await hub.alerts(muted=False)).items] == ["FeatureDrift"]
    [silence] = (await hub.silences()).items
    assert (silence.id, silence.state, silence.created_by, silence.comment) == (
        silence_id,
        "active",
        "priya",
        "retraining under way",
    )
    assert [str(m) for m in silence.matchers] == ['alertname="ChampionAucLow"']

    await source.expire_silence(silence_id)
    assert (await hub.silence(silence_id))[1].state == "expired"
    assert all(a.state == "active" for a in (await hub.alerts()).items)
    with pytest.raises(NotFound):
        await hub.silence("no-such-silence")


@pytest.mark.parametrize(
    ("matchers", "hours", "comment", "message"),
    [
        ([], 2, "why", "at least one matcher"),
        (['alertname=~".*"'], 2, "why", "must not match the empty string"),
        (['alertname="X"'], -1, "why", "end after it starts"),
        (['alertname="X"'], 2, "  ", "needs a comment"),
    ],
)
async def test_invalid_silences_are_refused_with_a_reason(
    demo_store: MlflowSettings, matchers: list[str], hours: int, comment: str, message: str
) -> None:
    source = hub_for(demo_store).alert_source("rules")
    with pytest.raises(InvalidQuery, match=message):
        await source.create_silence(
            parse_matchers(matchers),
            starts_at=DEMO_NOW,
            ends_at=DEMO_NOW + timedelta(hours=hours),
            created_by="priya",
            comment=comment,
        )


async def test_firing_start_and_silences_survive_a_restart(
    demo_store: MlflowSettings, tmp_path: Path
) -> None:
    first = hub_for(demo_store)
    await first.alerts()
    later = Hub(first.settings, clock=lambda: DEMO_NOW + timedelta(minutes=30))
    alerts = (await later.alerts()).items
    assert {a.starts_at for a in alerts} == {DEMO_NOW}  # the time each first fired, not now


def test_an_unreadable_state_file_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "alerts" / "local.json"
    path.parent.mkdir()
    path.write_text("{not json")
    store = SilenceStore(path, "rules", clock=lambda: DEMO_NOW)
    assert store.silences() == []
    assert path.with_suffix(".unreadable").read_text() == "{not json"
    store.create(
        parse_matchers(['a="b"']),
        starts_at=DEMO_NOW,
        ends_at=DEMO_NOW + timedelta(hours=1),
        created_by="x",
        comment="y",
    )
    assert len(json.loads(path.read_text())["silences"]) == 1


async def test_an_unreachable_registry_marks_the_rules_down() -> None:
    store = MlflowSettings(tracking_uri=f"http://127.0.0.1:{closed_port()}", timeout_seconds=2)
    hub = hub_for(store)
    with pytest.raises(Exception) as raised:
        await hub.alerts()
    assert hub.statuses["rules"].state == SourceState.DOWN
    assert "127.0.0.1" in str(raised.value)
    await hub.aclose()


async def test_rules_on_one_version_read_its_run_once_a_refresh(
    demo_store: MlflowSettings, tmp_path: Path
) -> None:
    """Both built-in rules watch churn's champion: one read of its version and run serves both."""
    tracking = hub_for(demo_store).tracking
    reads: Counter[str] = Counter()

    class CountingTracking:
        def __getattr__(self, name: str) -> Any:
            method = getattr(tracking, name)

            async def counted(*args: Any, **kwargs: Any) -> Any:
                reads[name] += 1
                return await method(*args, **kwargs)

            return counted

    source = RulesSource(
        LOCAL_RULES,
        environment="local",
        models=[],
        tracking=lambda: CountingTracking(),  # type: ignore[arg-type,return-value]
        registered_name=str,
        model_name=str,
        serving="champion",
        store=SilenceStore(tmp_path / "silences.json", "rules", clock=lambda: DEMO_NOW),
    )
    alerts = await source.list_alerts()
    assert sorted((a.name, a.labels["model"]) for a in alerts) == [
        ("ChampionAucLow", "churn"),
        ("FeatureDrift", "fraud"),
    ]
    # churn v3 (two rules) and fraud v2 (one): two versions, two runs (each `producing_run` one read).
    assert (reads["get_version"], reads["get_run"] + reads["producing_run"]) == (2, 2)
