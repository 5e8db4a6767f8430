"""Write actions in process: promote, roll back, cross-environment copies, the one policy, the journal.

Every registry test runs over both transports: `sqlite` (a per-test copy of the demo store, written
through MlflowClient in a thread) and `server` (a real `mlflow server` of its own, its registry put
back to the demo's before each test). What the registry holds afterwards is read back through
MLflow's own client, not through the code under test.

The demo registry: churn champion=v3 challenger=v4; fraud champion=v2; demand (legacy stages)
v1 Archived, v2 Production, v3 Staging.
"""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mlops_tui.config import EnvironmentSettings, MlflowSettings, Settings
from mlops_tui.domain import Change, MetricComparison
from mlops_tui.errors import Conflict, JournalError, MlopsError, NotFound, Refused, UsageError
from mlops_tui.hub import Hub
from mlops_tui.ops.journal import Journal
from mlops_tui.ops.policy import Approval, Policy, WriteAction, perform
from mlops_tui.ops.registry import (
    HISTORY_LIMIT,
    SlotMove,
    plan_cross_env_promotion,
    plan_promotion,
    plan_rollback,
    recover_interrupted,
)
from tests.helpers import Registry, closed_port, run_cli, write_config

OPERATOR = "alice"
NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
NOW_TAG = "2026-11-27T09:30:00Z"
CHAMPION_HISTORY = "mlops_tui.history.alias.champion"
PRODUCTION_HISTORY = "mlops_tui.history.stage.Production"
MARKER_SECONDS = 120
"""Upper bound for the killed subprocess to reach its write (it imports and plans first)."""


# -- fixtures and helpers -------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "server"])
def tracking_uri(request: pytest.FixtureRequest) -> str:
    """A demo registry this test may change: a sqlite store, or a real server; with no history of
    promotions (the demo seeds one for churn's champion), so each test writes its own."""
    if request.param == "sqlite":
        store: MlflowSettings = request.getfixturevalue("demo_store")
        return without_history(store.tracking_uri)
    url: str = request.getfixturevalue("writable_server")
    return without_history(url)


@pytest.fixture
def sqlite_uri(demo_store: MlflowSettings) -> str:
    return without_history(demo_store.tracking_uri)


def without_history(uri: str) -> str:
    Registry(uri).client.delete_registered_model_tag("churn", CHAMPION_HISTORY)
    return uri


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    opened = Journal(tmp_path / "journal.sqlite3")
    try:
        yield opened
    finally:
        opened.close()


def env(uri: str, *, protected: bool = False, read_only: bool = False, **mlflow: Any) -> EnvironmentSettings:
    return EnvironmentSettings(
        protected=protected,
        read_only=read_only,
        mlflow=MlflowSettings(tracking_uri=uri, **mlflow),
    )


def settings(**environments: EnvironmentSettings) -> Settings:
    return Settings(environments=environments, default_env=next(iter(environments)))


@asynccontextmanager
async def open_hub(config: Settings, name: str | None = None) -> AsyncIterator[Hub]:
    hub = Hub(config, name, clock=lambda: NOW)
    try:
        yield hub
    finally:
        await hub.aclose()


@asynccontextmanager
async def dev_hub(uri: str, **mlflow: Any) -> AsyncIterator[Hub]:
    async with open_hub(settings(dev=env(uri, **mlflow))) as hub:
        yield hub


async def approve(
    action: WriteAction, hub: Hub, journal: Journal, *, operator: str = OPERATOR, typed: str | None = None
) -> Change:
    return await perform(
        action,
        policy=hub.policy,
        approval=Approval(approved=True, typed=typed),
        journal=journal,
        operator=operator,
    )


def journal_rows(journal: Journal) -> list[dict[str, Any]]:
    """The journal table as stored, oldest row first."""
    with closing(sqlite3.connect(journal.path)) as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM journal ORDER BY id")]


def dangling_intent(journal_path: Path, change: Change, operator: str = "ghost") -> None:
    """Record an intent from a process that then exits without recording the outcome."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from mlops_tui.domain import Change\n"
        "from mlops_tui.ops.journal import Journal\n"
        "journal = Journal(Path(sys.argv[1]))\n"
        "journal.intent(Change(*sys.argv[3:9]), sys.argv[2])\n"
        "journal.close()\n"
    )
    fields = (change.action, change.environment, change.target, change.subject, change.before or "")
    done = subprocess.run(
        [sys.executable, "-c", script, str(journal_path), operator, *fields, change.after],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


# -- promote within an environment ----------------------------------------------------------------


async def test_promote_moves_the_alias_and_records_everything(tracking_uri: str, journal: Journal) -> None:
    registry = Registry(tracking_uri)
    async with dev_hub(tracking_uri) as hub:
        action = await plan_promotion(hub, "churn", "4", operator=OPERATOR)
        assert action.change == Change(
            action="promote",
            environment="dev",
            target="churn@champion",
            subject="churn",
            before="v3",
            after="v4",
            metrics=(  # no key_metrics configured: the three most common of both runs
                MetricComparison("drift_psi", 0.1275, 0.1289),
                MetricComparison("train_loss", 0.1566, 0.1585),
                MetricComparison("val_auc", 0.9089, 0.8782),
            ),
        )
        assert journal.entries() == []  # planning writes nothing
        assert registry.aliases("churn") == {"champion": "3", "challenger": "4"}

        done = await approve(action, hub, journal)

    assert done == action.change
    assert registry.aliases("churn") == {"champion": "4", "challenger": "4"}
    history = json.loads(registry.model_tags("churn")[CHAMPION_HISTORY])
    assert history == [{"version": "3", "by": OPERATOR, "at": NOW_TAG}]
    tags = registry.version("churn", "4").tags
    assert tags["mlops_tui.promoted_by"] == OPERATOR
    assert tags["mlops_tui.promoted_at"] == NOW_TAG
    assert tags["mlops_tui.promoted_to"] == "promote to champion in dev"
    assert tags["validation_status"] == "passed"  # the version's own tags stay
    assert not any(k.startswith("mlops_tui.") for k in registry.version("churn", "3").tags)

    intent, outcome = journal_rows(journal)
    assert intent["intent_id"] is None and intent["result"] == "pending"
    assert outcome["intent_id"] == intent["id"] and outcome["result"] == "ok"
    for row in (intent, outcome):
        assert (row["operator"], row["environment"], row["action"], row["target"], row["subject"]) == (
            OPERATOR,
            "dev",
            "promote",
            "churn@champion",
            "churn",
        )
        assert (row["before"], row["after"]) == ("v3", "v4")
    (entry,) = journal.entries()
    assert (entry.result, entry.before, entry.after, entry.operator) == ("ok", "v3", "v4", OPERATOR)
    assert entry.finished is not None and entry.finished >= entry.time


async def test_promote_another_alias_and_an_unknown_version(sqlite_uri: str, journal: Journal) -> None:
    registry = Registry(sqlite_uri)
    async with dev_hub(sqlite_uri) as hub:
        action = await plan_promotion(hub, "fraud", "v3", alias="challenger", operator=OPERATOR)
        assert (action.change.target, action.change.before, action.change.after) == (
            "fraud@challenger",
            None,
            "v3",
        )
        await approve(action, hub, journal)
        with pytest.raises(NotFound):
            await plan_promotion(hub, "fraud", "9", operator=OPERATOR)
        with pytest.raises(NotFound):
            await plan_promotion(hub, "nope", "1", operator=OPERATOR)
        with pytest.raises(UsageError, match="not both"):
            await plan_promotion(hub, "fraud", "1", alias="champion", stage="Production", operator=OPERATOR)
    assert registry.aliases("fraud") == {"champion": "2", "challenger": "3"}
    # An alias that pointed nowhere leaves nothing to go back to.
    assert registry.history("fraud", "mlops_tui.history.alias.challenger") == []


async def test_history_tag_keeps_the_last_twenty(sqlite_uri: str, journal: Journal) -> None:
    registry = Registry(sqlite_uri)
    old = [{"version": "1", "by": "x", "at": f"2026-01-{day:02d}T00:00:00Z"} for day in range(1, 21)]
    registry.client.set_registered_model_tag("churn", CHAMPION_HISTORY, json.dumps(old))
    async with dev_hub(sqlite_uri) as hub:
        await approve(await plan_promotion(hub, "churn", "4", operator=OPERATOR), hub, journal)
    history = json.loads(registry.model_tags("churn")[CHAMPION_HISTORY])
    assert len(history) == HISTORY_LIMIT == 20
    assert history[0] == old[1] and history[-1] == {"version": "3", "by": OPERATOR, "at": NOW_TAG}


# -- roll back ------------------------------------------------------------------------------------


async def test_rollback_after_a_promotion(tracking_uri: str, journal: Journal) -> None:
    registry = Registry(tracking_uri)
    async with dev_hub(tracking_uri) as hub:
        await approve(await plan_promotion(hub, "churn", "4", operator=OPERATOR), hub, journal)
        assert registry.history("churn") == ["3"]

        rollback = await plan_rollback(hub, journal, "churn", operator="bob")
        assert (rollback.change.action, rollback.change.target) == ("rollback", "churn@champion")
        assert (rollback.change.before, rollback.change.after) == ("v4", "v3")
        assert rollback.change.details == ("source of history: registry tag",)
        await approve(rollback, hub, journal, operator="bob")

    assert registry.aliases("churn") == {"champion": "3", "challenger": "4"}
    assert registry.history("churn") == []  # popped
    assert registry.version("churn", "3").tags["mlops_tui.promoted_to"] == "rollback to champion in dev"
    latest, first = journal.entries()
    assert (latest.action, latest.operator, latest.result, latest.before, latest.after) == (
        "rollback",
        "bob",
        "ok",
        "v4",
        "v3",
    )
    assert (first.action, first.result) == ("promote", "ok")


async def test_rollback_without_history_is_refused(tracking_uri: str, journal: Journal) -> None:
    registry = Registry(tracking_uri)
    before = registry.snapshot()
    async with dev_hub(tracking_uri) as hub:
        with pytest.raises(Refused, match="no history for fraud@champion in dev") as refused:
            await plan_rollback(hub, journal, "fraud", operator=OPERATOR)
    assert refused.value.exit_code == 4
    assert registry.snapshot() == before
    assert journal.entries() == []  # refused while planning: nothing to record


async def test_rollback_after_rollback_never_moves_forward(sqlite_uri: str, journal: Journal) -> None:
    """promote v3 -> v4, roll back to v3: a second rollback has nothing older to go to. It must
    not put the version just rolled back from (v4) back in service."""
    registry = Registry(sqlite_uri)
    async with dev_hub(sqlite_uri) as hub:
        await approve(await plan_promotion(hub, "churn", "4", operator=OPERATOR), hub, journal)
        await approve(await plan_rollback(hub, journal, "churn", operator=OPERATOR), hub, journal)
        assert registry.aliases("churn")["champion"] == "3"
        try:
            again = await plan_rollback(hub, journal, "churn", operator=OPERATOR)
        except Refused:
            pass
        else:
            assert again.change.after != "v4", f"a rollback would move forward: {again.change.summary()}"
    assert registry.aliases("churn")["champion"] == "3"


async def test_rollback_falls_back_to_the_journal_without_a_tag(tracking_uri: str, journal: Journal) -> None:
    registry = Registry(tracking_uri)
    async with dev_hub(tracking_uri) as hub:
        await approve(await plan_promotion(hub, "churn", "4", operator=OPERATOR), hub, journal)
        registry.client.delete_registered_model_tag("churn", CHAMPION_HISTORY)

        rollback = await plan_rollback(hub, journal, "churn", operator=OPERATOR)
        assert (rollback.change.before, rollback.change.after) == ("v4", "v3")
        assert rollback.change.details == ("source of history: audit journal",)
        await approve(rollback, hub, journal)
    assert registry.aliases("churn")["champion"] == "3"


async def test_an_empty_history_tag_is_authoritative(tracking_uri: str, journal: Journal) -> None:
    """Another operator undid the move already (the tag is `[]`): this operator's journal still
    remembers it, and must not put it back."""
    registry = Registry(tracking_uri)
    async with dev_hub(tracking_uri) as hub:
        await approve(await plan_promotion(hub, "churn", "4", operator=OPERATOR), hub, journal)
        registry.client.set_registered_model_tag("churn", CHAMPION_HISTORY, "[]")
        with pytest.raises(
            Refused, match=r"no history for churn@champion in dev \(none in the registry tag\)"
        ):
            await plan_rollback(hub, journal, "churn", operator=OPERATOR)
    assert registry.aliases("churn")["champion"] == "4"


async def test_journal_fallback_ignores_other_environments_and_failures(
    sqlite_uri: str, journal: Journal
) -> None:
    # champion is v3 here; journal entries that ended at v3 elsewhere or without success say nothing.
    for environment, result in (("qa", "ok"), ("dev", "failed"), ("dev", "refused")):
        intent = journal.intent(Change("promote", environment, "churn@champion", "churn", "v1", "v3"), "x")
        journal.outcome(intent, result)
    async with dev_hub(sqlite_uri) as hub:
        with pytest.raises(Refused, match="no history"):
            await plan_rollback(hub, journal, "churn", operator=OPERATOR)


# -- stage mode -----------------------------------------------------------------------------------


async def test_stage_mode_promote_and_rollback(tracking_uri: str, journal: Journal) -> None:
    registry = Registry(tracking_uri)
    assert registry.stages("demand") == {"1": "Archived", "2": "Production", "3": "Staging"}
    async with dev_hub(tracking_uri, promotion="stage") as hub:
        action = await plan_promotion(hub, "demand", "3", archive_existing=True, operator=OPERATOR)
        assert (action.change.target, action.change.before, action.change.after) == (
            "demand:Production",
            "v2",
            "v3",
        )
        assert action.change.details == ("archive the versions already in the stage",)
        await approve(action, hub, journal)
        assert registry.stages("demand") == {"1": "Archived", "2": "Archived", "3": "Production"}
        assert registry.history("demand", PRODUCTION_HISTORY) == ["2"]
        assert registry.version("demand", "3").tags["mlops_tui.promoted_to"] == (
            "promote to Production in dev"
        )

        rollback = await plan_rollback(hub, journal, "demand", operator=OPERATOR)
        assert (rollback.change.target, rollback.change.before, rollback.change.after) == (
            "demand:Production",
            "v3",
            "v2",
        )
        await approve(rollback, hub, journal)
    assert registry.stages("demand") == {"1": "Archived", "2": "Production", "3": "Archived"}
    assert registry.history("demand", PRODUCTION_HISTORY) == []
    assert [(e.action, e.target, e.result) for e in journal.entries()] == [
        ("rollback", "demand:Production", "ok"),
        ("promote", "demand:Production", "ok"),
    ]


async def test_stage_promotion_of_an_older_version_takes_or_writes_nothing(
    sqlite_uri: str, journal: Journal
) -> None:
    """demand v2 is in Production; promoting v1 there without archiving: either v1 is then what
    the registry reports in Production, or the action is refused before it writes anything. A
    write that lands and is then reported (and journaled) as failed is neither."""
    registry = Registry(sqlite_uri)
    before = registry.snapshot()
    async with dev_hub(sqlite_uri, promotion="stage") as hub:
        try:
            action = await plan_promotion(hub, "demand", "1", operator=OPERATOR)
            assert (action.change.before, action.change.after) == ("v2", "v1")
            await approve(action, hub, journal)
        except MlopsError as exc:
            assert registry.snapshot() == before, f"refused with {exc}, but the registry was changed"
            assert journal.entries() == []
        else:
            assert [e.result for e in journal.entries()] == ["ok"]
            assert await action.current() == "v1"


async def test_stage_by_name_in_an_alias_environment(sqlite_uri: str, journal: Journal) -> None:
    registry = Registry(sqlite_uri)
    async with dev_hub(sqlite_uri) as hub:
        action = await plan_promotion(hub, "demand", "3", stage="production", operator=OPERATOR)
        assert action.change.target == "demand:Production"
        await approve(action, hub, journal)
        with pytest.raises(UsageError, match="unknown stage 'Prod'"):
            await plan_promotion(hub, "demand", "3", stage="Prod", operator=OPERATOR)
    # Without archive_existing the old version stays in the stage alongside.
    assert registry.stages("demand") == {"1": "Archived", "2": "Production", "3": "Production"}


# -- across environments --------------------------------------------------------------------------


async def test_cross_environment_promotion_on_one_server(tracking_uri: str, journal: Journal) -> None:
    registry = Registry(tracking_uri)
    source = registry.version("churn", "4")
    config = settings(
        dev=env(tracking_uri), prd=env(tracking_uri, protected=True, registered_model="prod.{name}")
    )
    async with open_hub(config, "dev") as dev, open_hub(config, "prd") as prd:
        action = await plan_cross_env_promotion(dev, prd, "churn", "4", alias=None, operator=OPERATOR)
        change = action.change
        assert (change.environment, change.target, change.subject, change.before) == (
            "prd",
            "prod.churn@challenger",
            "churn",
            None,
        )
        with pytest.raises(Refused, match="protected"):
            await approve(action, prd, journal)
        await approve(action, prd, journal, typed="churn")

    assert registry.aliases("prod.churn") == {"challenger": "1"}
    model = registry.client.get_registered_model("prod.churn")
    assert model.description == "Churn model served to the churn service."
    copy = registry.version("prod.churn", "1")
    assert copy.run_id == source.run_id
    assert copy.description == "Version 4 of churn."
    assert copy.tags["validation_status"] == "passed" and copy.tags["trained_by"] == "gitlab-ci"
    assert copy.tags["mlops_tui.source"] == "dev/churn/4"
    assert copy.tags["mlops_tui.source_run_id"] == source.run_id
    assert copy.tags["mlops_tui.source_uri"] == source.source
    assert copy.tags["mlops_tui.promoted_to"] == "promote to challenger in prd"
    # The source environment is untouched.
    assert registry.aliases("churn") == {"champion": "3", "challenger": "4"}
    (entry,) = journal.entries()
    assert (entry.environment, entry.target, entry.result) == ("prd", "prod.churn@challenger", "ok")
    assert journal.entries(environment="dev") == []


async def test_cross_environment_promotion_needs_two_registered_models(sqlite_uri: str) -> None:
    config = settings(dev=env(sqlite_uri), qa=env(sqlite_uri))
    async with open_hub(config, "dev") as dev, open_hub(config, "qa") as qa:
        with pytest.raises(UsageError, match="share the registered model 'churn'"):
            await plan_cross_env_promotion(dev, qa, "churn", "4", alias=None, operator=OPERATOR)


async def test_cross_environment_promotion_reads_the_source_environments_model(
    sqlite_uri: str, journal: Journal
) -> None:
    """dev, qa and prd share one server, each with its own registered model. Promoting qa's
    churn v1 to prd copies qa.churn v1 (itself a copy of dev's churn v4), not dev's churn v1."""
    registry = Registry(sqlite_uri)
    champion_run = registry.version("churn", "4").run_id
    config = settings(
        dev=env(sqlite_uri),
        qa=env(sqlite_uri, registered_model="qa.{name}"),
        prd=env(sqlite_uri, registered_model="prod.{name}"),
    )
    async with open_hub(config, "dev") as dev, open_hub(config, "qa") as qa, open_hub(config, "prd") as prd:
        await approve(
            await plan_cross_env_promotion(dev, qa, "churn", "4", alias=None, operator="x"), qa, journal
        )
        assert registry.version("qa.churn", "1").run_id == champion_run
        to_prd = await plan_cross_env_promotion(qa, prd, "churn", "1", alias=None, operator=OPERATOR)
        await approve(to_prd, prd, journal)
    copy = registry.version("prod.churn", "1")
    assert copy.tags["mlops_tui.source"] == "qa/churn/1"
    assert copy.run_id == champion_run, "prd got dev's churn v1, not qa's churn v1"


async def test_cross_environment_promotion_records_the_created_version(
    sqlite_uri: str, journal: Journal
) -> None:
    """The journal says which version the copy became, as it does for every other promotion; a
    rollback of the target alias can then fall back to it."""
    registry = Registry(sqlite_uri)
    config = settings(dev=env(sqlite_uri), prd=env(sqlite_uri, registered_model="prod.{name}"))
    async with open_hub(config, "dev") as dev, open_hub(config, "prd") as prd:
        for version in ("3", "4"):
            action = await plan_cross_env_promotion(dev, prd, "churn", version, alias=None, operator=OPERATOR)
            await approve(action, prd, journal)
        assert registry.aliases("prod.churn") == {"challenger": "2"}
        assert [(e.before, e.after) for e in journal.entries()] == [("v1", "v2"), (None, "v1")]

        registry.client.delete_registered_model_tag("prod.churn", "mlops_tui.history.alias.challenger")
        rollback = await plan_rollback(prd, journal, "churn", alias="challenger", operator=OPERATOR)
        assert (rollback.change.before, rollback.change.after) == ("v2", "v1")


@pytest.fixture
def other_store(tmp_path: Path, demo_store_template: Path) -> str:
    """A second, separate sqlite store (its own copy of the demo) standing for another server."""
    directory = tmp_path / "other-store"
    directory.mkdir()
    shutil.copyfile(demo_store_template / "mlflow.db", directory / "mlflow.db")
    return f"sqlite:///{directory / 'mlflow.db'}"


@pytest.mark.parametrize("source_kind", ["sqlite", "server"])
async def test_cross_server_promotion_registers_from_the_artifacts(
    request: pytest.FixtureRequest, other_store: str, journal: Journal, source_kind: str
) -> None:
    """Two different tracking servers: the target registers a new version from the source
    version's artifact URI (the demo's artifacts are on a path both can read)."""
    source_uri = (
        request.getfixturevalue("demo_store").tracking_uri
        if source_kind == "sqlite"
        else request.getfixturevalue("writable_server")
    )
    source, target = Registry(source_uri), Registry(other_store)
    original = source.version("churn", "4")
    config = settings(dev=env(source_uri), prd=env(other_store, registered_model="prod.{name}"))
    async with open_hub(config, "dev") as dev, open_hub(config, "prd") as prd:
        action = await plan_cross_env_promotion(dev, prd, "churn", "4", alias=None, operator=OPERATOR)
        assert action.change.target == "prod.churn@challenger"
        await approve(action, prd, journal)

    assert target.aliases("prod.churn") == {"challenger": "1"}
    assert target.client.get_registered_model("prod.churn").description == (
        "Churn model served to the churn service."
    )
    copy = target.version("prod.churn", "1")
    assert copy.source == original.source and original.source.startswith("file://")
    assert not copy.run_id  # the run lives on the other server
    assert copy.description == "Version 4 of churn."
    assert copy.tags["validation_status"] == "passed"
    assert copy.tags["mlops_tui.source"] == "dev/churn/4"
    assert copy.tags["mlops_tui.source_run_id"] == original.run_id
    assert copy.tags["mlops_tui.source_uri"] == original.source
    assert "prod.churn" not in source.snapshot()
    (entry,) = journal.entries(environment="prd")
    assert (entry.target, entry.result) == ("prod.churn@challenger", "ok")


async def test_cross_server_promotion_the_target_server_refuses(
    demo_store: MlflowSettings, writable_server: str, journal: Journal
) -> None:
    """A real MLflow server accepts a local artifact path as a version's source only together with
    a run of its own holding it; a copy from another server has none. The promotion is refused
    before anything is written, the journal says so, and the target registry is left as it was."""
    target = Registry(writable_server)
    before = target.snapshot()
    config = settings(
        dev=env(demo_store.tracking_uri), prd=env(writable_server, registered_model="prod.{name}")
    )
    async with open_hub(config, "dev") as dev, open_hub(config, "prd") as prd:
        action = await plan_cross_env_promotion(dev, prd, "churn", "4", alias=None, operator=OPERATOR)
        with pytest.raises(MlopsError, match="cannot register"):
            await approve(action, prd, journal)
    (entry,) = journal.entries()
    assert (entry.environment, entry.result) == ("prd", "failed")
    assert "artifact store both servers read" in entry.message
    assert target.snapshot() == before, "a failed copy left an empty registered model behind"


async def test_cross_environment_promotion_with_an_explicit_alias(sqlite_uri: str, journal: Journal) -> None:
    registry = Registry(sqlite_uri)
    config = settings(
        dev=env(sqlite_uri), prd=env(sqlite_uri, registered_model="{name}-prd", incoming_alias="incoming")
    )
    async with open_hub(config, "dev") as dev, open_hub(config, "prd") as prd:
        default = await plan_cross_env_promotion(dev, prd, "churn", "3", alias=None, operator=OPERATOR)
        assert default.change.target == "churn-prd@incoming"
        action = await plan_cross_env_promotion(dev, prd, "churn", "3", alias="champion", operator=OPERATOR)
        await approve(action, prd, journal)
    assert registry.aliases("churn-prd") == {"champion": "1"}


# -- concurrency ----------------------------------------------------------------------------------


async def test_two_operators_racing(tracking_uri: str, tmp_path: Path) -> None:
    registry = Registry(tracking_uri)
    shared = Journal(tmp_path / "shared.sqlite3")
    config = settings(dev=env(tracking_uri))
    try:
        async with open_hub(config) as alice_hub, open_hub(config) as bob_hub:
            alice = await plan_promotion(alice_hub, "churn", "4", operator="alice")
            bob = await plan_promotion(bob_hub, "churn", "2", operator="bob")
            assert alice.change.before == bob.change.before == "v3"

            await approve(alice, alice_hub, shared, operator="alice")
            with pytest.raises(
                Conflict, match=r"changed meanwhile: churn@champion is now v4 \(by alice at .*Z\), not v3"
            ) as conflict:
                await approve(bob, bob_hub, shared, operator="bob")
        assert conflict.value.exit_code == 4
        assert registry.aliases("churn")["champion"] == "4"
        assert registry.history("churn") == ["3"]  # bob wrote nothing
        assert "mlops_tui.promoted_by" not in registry.version("churn", "2").tags

        refused, done = shared.entries()
        assert (done.operator, done.result, done.before, done.after) == ("alice", "ok", "v3", "v4")
        # The refusal records what bob asked (v3 -> v2), not the state it found.
        assert (refused.operator, refused.result, refused.before, refused.after) == (
            "bob",
            "refused",
            "v3",
            "v2",
        )
        assert "changed meanwhile" in refused.message
    finally:
        shared.close()


async def test_verification_failure_is_recorded(sqlite_uri: str, journal: Journal) -> None:
    """A write that did not take, as the re-read after it shows, is journaled as failed, not ok."""

    class WritesNothing(WriteAction):
        def __init__(self, inner: SlotMove) -> None:
            self.inner, self.change = inner, inner.change

        async def current(self) -> str | None:
            return await self.inner.current()

        async def apply(self) -> None:
            pass

    async with dev_hub(sqlite_uri) as hub:
        move = await plan_promotion(hub, "churn", "4", operator=OPERATOR)
        with pytest.raises(MlopsError, match="written but not verified: churn@champion is v3, expected v4"):
            await approve(WritesNothing(move), hub, journal)
    (entry,) = journal.entries()
    assert entry.result == "failed" and entry.message.startswith("verification:")


# -- the policy, through perform() ----------------------------------------------------------------


class Recorded(WriteAction):
    """A real write action, and which of its steps perform() reached."""

    def __init__(self, inner: WriteAction) -> None:
        self.inner, self.change = inner, inner.change
        self.calls: list[str] = []

    async def current(self) -> str | None:
        self.calls.append("current")
        return await self.inner.current()

    async def apply(self) -> None:
        self.calls.append("apply")
        await self.inner.apply()


async def perform_as(
    action: WriteAction, policy: Policy, journal: Journal, *, approved: bool = True, typed: str | None = None
) -> Change:
    return await perform(
        action,
        policy=policy,
        approval=Approval(approved=approved, typed=typed),
        journal=journal,
        operator=OPERATOR,
    )


async def test_read_only_refuses_before_anything(sqlite_uri: str, journal: Journal) -> None:
    registry = Registry(sqlite_uri)
    before = registry.snapshot()
    async with dev_hub(sqlite_uri) as hub:
        action = Recorded(await plan_promotion(hub, "churn", "4", operator=OPERATOR))
        for typed in (None, "churn"):
            with pytest.raises(Refused, match="dev is read-only: promote refused, nothing changed"):
                await perform_as(action, Policy("dev", protected=True, read_only=True), journal, typed=typed)
    assert action.calls == []
    assert registry.snapshot() == before
    assert journal.entries() == []


async def test_not_approved_refuses(sqlite_uri: str, journal: Journal) -> None:
    registry = Registry(sqlite_uri)
    before = registry.snapshot()
    async with dev_hub(sqlite_uri) as hub:
        action = Recorded(await plan_promotion(hub, "churn", "4", operator=OPERATOR))
        with pytest.raises(Refused, match="not approved: promote churn@champion in dev: v3 -> v4"):
            await perform_as(action, Policy("dev"), journal, approved=False, typed="churn")
    assert action.calls == [] and registry.snapshot() == before and journal.entries() == []


async def test_protected_needs_the_typed_model_name(sqlite_uri: str, journal: Journal) -> None:
    registry = Registry(sqlite_uri)
    before = registry.snapshot()
    protected = Policy("dev", protected=True)
    async with dev_hub(sqlite_uri) as hub:
        action = Recorded(await plan_promotion(hub, "churn", "4", operator=OPERATOR))
        for typed in (None, "", "Churn", "churn@champion", "v4"):
            with pytest.raises(Refused, match="dev is protected: confirm by typing the model name 'churn'"):
                await perform_as(action, protected, journal, typed=typed)
        assert action.calls == [] and registry.snapshot() == before and journal.entries() == []

        await perform_as(action, protected, journal, typed="churn")
    assert action.calls == ["current", "apply", "current"]
    assert registry.aliases("churn")["champion"] == "4"
    assert [e.result for e in journal.entries()] == ["ok"]


def test_the_hub_policy_follows_the_settings(sqlite_uri: str) -> None:
    config = settings(
        dev=env(sqlite_uri), prd=env(sqlite_uri, protected=True), audit=env(sqlite_uri, read_only=True)
    )
    assert Hub(config, "dev").policy == Policy("dev")
    assert Hub(config, "prd").policy == Policy("prd", protected=True)
    assert Hub(config, "audit").policy == Policy("audit", read_only=True)
    everywhere = Settings(environments=config.environments, default_env="dev", read_only=True)
    assert all(Hub(everywhere, name).policy.read_only for name in ("dev", "prd", "audit"))


# -- a process killed mid-write -------------------------------------------------------------------

KILLED_SCRIPT = '''
"""Promote churn v4 through perform(); stop for good right after the write, before the outcome."""
import asyncio
import sys
from pathlib import Path

from mlops_tui.config import EnvironmentSettings, MlflowSettings, Settings
from mlops_tui.hub import Hub
from mlops_tui.ops.journal import Journal
from mlops_tui.ops.policy import Approval, WriteAction, perform
from mlops_tui.ops.registry import plan_promotion

uri, journal_path, marker = sys.argv[1:4]


class StopsAfterWriting(WriteAction):
    def __init__(self, move):
        self.move, self.change = move, move.change

    async def current(self):
        return await self.move.current()

    async def apply(self):
        await self.move.apply()
        Path(marker).write_text("written")
        await asyncio.Event().wait()


async def main():
    config = Settings(
        environments={"dev": EnvironmentSettings(mlflow=MlflowSettings(tracking_uri=uri))},
        default_env="dev",
    )
    hub = Hub(config)
    move = await plan_promotion(hub, "churn", "4", operator="killed")
    await perform(
        StopsAfterWriting(move),
        policy=hub.policy,
        approval=Approval(approved=True),
        journal=Journal(Path(journal_path)),
        operator="killed",
    )


asyncio.run(main())
'''


def wait_for_file(path: Path, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + MARKER_SECONDS
    while not path.exists():
        if time.monotonic() > deadline:
            pytest.fail(f"{path.name} did not appear within {MARKER_SECONDS} s")
        try:
            # Doubles as the pause between two looks: returns early only if the process ended.
            code = process.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            continue
        _, stderr = process.communicate()
        pytest.fail(f"the subprocess exited with {code} before writing:\n{stderr}")


def test_a_killed_write_is_closed_as_unknown(writable_server: str, tmp_path: Path) -> None:
    script = tmp_path / "killed.py"
    script.write_text(KILLED_SCRIPT)
    journal_path, marker = tmp_path / "journal.sqlite3", tmp_path / "written"
    process = subprocess.Popen(
        [sys.executable, str(script), writable_server, str(journal_path), str(marker)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_file(marker, process)
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate()
    assert process.returncode == -signal.SIGKILL

    journal = Journal(journal_path)
    try:
        (entry,) = journal.entries()
        assert (entry.result, entry.operator, entry.before, entry.after) == ("pending", "killed", "v3", "v4")
        assert [row["pid"] for row in journal_rows(journal)] == [process.pid]
    finally:
        journal.close()
    assert Registry(writable_server).aliases("churn")["champion"] == "4"  # the write got through

    config = write_config(
        tmp_path / "c.toml",
        {"dev": {"mlflow": {"tracking_uri": writable_server}}},
        journal=str(journal_path),
    )
    result = run_cli("history", "--json", "--config", config)
    assert result.code == 0, result
    (listed,) = result.json()["entries"]
    assert (listed["result"], listed["target"], listed["operator"]) == ("unknown", "churn@champion", "killed")
    assert "the process ended before recording the outcome" in listed["message"]
    assert "re-read: churn@champion is v4" in listed["message"]
    assert listed["finished"] is not None

    # Closed once: the next look finds nothing left to close.
    assert run_cli("history", "--json", "--config", config).json() == result.json()


async def test_recover_interrupted_without_a_registry_to_read(tmp_path: Path, journal: Journal) -> None:
    change = Change("promote", "dev", "churn@champion", "churn", "v3", "v4")
    dangling_intent(journal.path, change)
    dangling_intent(journal.path, Change("promote", "qa", "churn@champion", "churn", "v3", "v4"))
    config = settings(dev=env(f"http://127.0.0.1:{closed_port()}"))
    async with open_hub(config) as hub:
        assert await recover_interrupted(hub, journal) == 2
        assert await recover_interrupted(hub, journal) == 0
    qa, dev = journal.entries()
    assert dev.result == qa.result == "unknown"
    assert "; could not re-read: mlflow: cannot reach" in dev.message
    assert qa.message == "the process ended before recording the outcome"  # another environment


async def test_recover_interrupted_leaves_live_processes_alone(sqlite_uri: str, journal: Journal) -> None:
    journal.intent(Change("promote", "dev", "churn@champion", "churn", "v3", "v4"), OPERATOR)
    async with dev_hub(sqlite_uri) as hub:
        assert await recover_interrupted(hub, journal) == 0
    assert [e.result for e in journal.entries()] == ["pending"]


async def test_recover_interrupted_finds_old_intents(sqlite_uri: str, journal: Journal) -> None:
    """An intent left dangling is closed however many actions were journaled after it."""
    dangling_intent(journal.path, Change("promote", "dev", "churn@champion", "churn", "v3", "v4"))
    for _ in range(200):
        intent = journal.intent(Change("promote", "dev", "fraud@champion", "fraud", "v2", "v2"), OPERATOR)
        journal.outcome(intent, "ok")
    async with dev_hub(sqlite_uri) as hub:
        assert await recover_interrupted(hub, journal) == 1
    (ghost,) = journal.entries(target="churn@champion")
    assert ghost.result == "unknown" and "re-read: churn@champion is v3" in ghost.message


# -- the journal ----------------------------------------------------------------------------------


def test_journal_is_in_wal_mode(journal: Journal) -> None:
    journal.intent(Change("promote", "dev", "churn@champion", "churn", "v3", "v4"), OPERATOR)
    with closing(sqlite3.connect(journal.path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_journal_at_the_default_path(tmp_path: Path) -> None:
    journal = Journal()
    try:
        journal.intent(Change("promote", "dev", "churn@champion", "churn", "v3", "v4"), OPERATOR)
    finally:
        journal.close()
    assert journal.path == tmp_path / "xdg_state_home" / "mlops-tui" / "journal.sqlite3"
    assert journal.path.is_file()


def test_journal_entries_filter(journal: Journal) -> None:
    made = [
        ("dev", "churn", "churn@champion", "ok"),
        ("dev", "fraud", "fraud@champion", "failed"),
        ("prd", "churn", "prod.churn@challenger", "ok"),
        ("prd", "churn", "prod.churn@champion", "refused"),
        ("dev", "churn", "churn@challenger", None),
    ]
    for environment, subject, target, result in made:
        intent = journal.intent(Change("promote", environment, target, subject, "v1", "v2", ("why",)), "op")
        if result:
            journal.outcome(intent, result, f"{result}!")

    def targets(**filters: Any) -> list[str]:
        return [e.target for e in journal.entries(**filters)]

    assert targets() == [t for _, _, t, _ in reversed(made)]  # newest first
    assert targets(environment="prd") == ["prod.churn@champion", "prod.churn@challenger"]
    assert targets(subject="fraud") == ["fraud@champion"]
    assert targets(environment="dev", subject="churn") == ["churn@challenger", "churn@champion"]
    assert targets(environment="prd", target="prod.churn@champion") == ["prod.churn@champion"]
    assert targets(target="churn@champion", environment="prd") == []
    assert targets(limit=2) == ["churn@challenger", "prod.churn@champion"]

    by_target = {e.target: e for e in journal.entries()}
    assert [by_target[t].result for _, _, t, _ in made] == ["ok", "failed", "ok", "refused", "pending"]
    assert by_target["fraud@champion"].message == "failed!"
    assert by_target["churn@challenger"].message == "why"  # the intent's details, until an outcome
    assert by_target["churn@challenger"].finished is None


def test_refused_entries_record_what_was_asked(journal: Journal) -> None:
    journal.refused(Change("promote", "dev", "churn@champion", "churn", "v3", "v4"), "bob", "moved")
    (entry,) = journal.entries()
    assert (entry.result, entry.before, entry.after, entry.message) == ("refused", "v3", "v4", "moved")


async def test_unwritable_journal_stops_the_action(sqlite_uri: str, tmp_path: Path) -> None:
    # A path below a regular file cannot be created, even by root (CI runs as root).
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    journal = Journal(blocker / "journal.sqlite3")
    registry = Registry(sqlite_uri)
    before = registry.snapshot()
    async with dev_hub(sqlite_uri) as hub:
        action = Recorded(await plan_promotion(hub, "churn", "4", operator=OPERATOR))
        with pytest.raises(JournalError, match="cannot open the audit journal") as failed:
            await approve(action, hub, journal)
    assert failed.value.exit_code == 1
    assert "apply" not in action.calls
    assert registry.snapshot() == before
    assert blocker.read_text() == "not a directory\n"


def test_the_hub_policy_says_which_actions_need_approvals(sqlite_uri: str) -> None:
    prd = EnvironmentSettings(
        protected=True,
        mlflow=MlflowSettings(tracking_uri=sqlite_uri),
        approvals=2,
        rollback_approvals=1,
        approval_expiry_hours=2.0,
    )
    config = settings(prd=prd)
    policy = Hub(config, "prd").policy
    assert dict(policy.approvals) == {"promote": 2, "rollback": 1}
    assert policy.approval_expiry == timedelta(hours=2)
    assert policy.approvals_needed(Change("promote", "prd", "churn@champion", "churn", "v1", "v2")) == 2
    assert policy.approvals_needed(Change("traffic", "prd", "endpoint e", "e", "a", "b")) == 0
