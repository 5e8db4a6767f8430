"""The SQLite read path agrees with MlflowClient on every answer, and knows when not to answer.

The contract suite (tests/test_mlflow_source.py) runs over all three paths; here the direct path
and `MlflowClient` read the same store, made awkward on purpose (a deleted run, NaN and infinite
metrics, stages, tags, a model without versions, aliases moved), and every listing is compared,
page by page, while counting what the direct path left to MlflowClient.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from mlops_tui.config import MlflowSettings
from mlops_tui.errors import NotFound
from mlops_tui.sources.mlflow import HttpMethod, Json, MlflowSource, StoreTransport, Transport, open_mlflow
from mlops_tui.sources.mlflow_sqlite import KNOWN_SCHEMAS, SqliteReadTransport, sqlite_path
from tests.helpers import DEMO_EXPERIMENTS, write_config


class Counting(Transport):
    """A transport that passes calls on and remembers which."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.calls: list[str] = []

    async def call(self, verb: HttpMethod, endpoint: str, payload: Json) -> Json:
        self.calls.append(endpoint)
        return await self.inner.call(verb, endpoint, payload)

    async def aclose(self) -> None:
        await self.inner.aclose()


def awkward(store: MlflowSettings) -> dict[str, str]:
    """What the demo lacks: a deleted run, NaN and infinite metrics, a model with no versions,
    a model tag, an archived version and an alias moved."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=store.tracking_uri)
    experiment = client.get_experiment_by_name("fraud-detection")
    assert experiment is not None
    odd = client.create_run(experiment.experiment_id, run_name="odd-metrics", tags={"k": "v"})
    client.log_metric(odd.info.run_id, "nan_metric", float("nan"))
    client.log_metric(odd.info.run_id, "inf_metric", float("inf"))
    client.log_metric(odd.info.run_id, "neg_inf", float("-inf"))
    for step in (2, 0, 1):
        client.log_metric(odd.info.run_id, "steps", step * 0.5, step=step)
    client.set_terminated(odd.info.run_id)
    gone = client.create_run(experiment.experiment_id, run_name="deleted-run")
    client.delete_run(gone.info.run_id)
    client.create_registered_model("empty-model", description="no versions yet", tags={"team": "ml"})
    client.set_registered_model_tag("churn", "owner", "priya")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # stages are deprecated, and supported here
        client.transition_model_version_stage("demand", "1", "Archived")
    client.set_registered_model_alias("fraud", "champion", "1")
    return {"odd": odd.info.run_id, "gone": gone.info.run_id}


@pytest.fixture
async def both(
    demo_store: MlflowSettings,
) -> AsyncIterator[tuple[MlflowSource, MlflowSource, dict[str, str]]]:
    ids = awkward(demo_store)
    direct = open_mlflow(demo_store)
    assert isinstance(direct.transport, SqliteReadTransport)
    client = MlflowSource(StoreTransport(demo_store))
    try:
        yield direct, client, ids
    finally:
        await direct.aclose()
        await client.aclose()


def counted(source: MlflowSource) -> Counting:
    """Count what `source`'s SQLite path leaves to MlflowClient from now on."""
    assert isinstance(source.transport, SqliteReadTransport)
    fallback = Counting(source.transport.fallback)
    source.transport.fallback = fallback  # type: ignore[assignment]
    return fallback


def same(a: Any, b: Any) -> bool:
    """Equal, NaN included (NaN != NaN, but its repr is one)."""
    return repr(a) == repr(b)


async def test_the_direct_path_agrees_with_mlflow_client_on_every_answer(
    both: tuple[MlflowSource, MlflowSource, dict[str, str]],
) -> None:
    direct, client, ids = both
    fallback = counted(direct)

    experiments = await direct.list_experiments()
    assert same(experiments, await client.list_experiments())
    assert same(
        await direct.list_experiments(DEMO_EXPERIMENTS), await client.list_experiments(DEMO_EXPERIMENTS)
    )
    experiment_ids = [e.id for e in experiments]

    for size in (7, 1000):  # page by page, tokens included
        token: str | None = None
        while True:
            mine = await direct.search_runs(experiment_ids, max_results=size, page_token=token)
            theirs = await client.search_runs(experiment_ids, max_results=size, page_token=token)
            assert same(mine, theirs)
            token = mine.next_token
            if token is None:
                break
    runs = (await direct.search_runs(experiment_ids, max_results=1000)).items
    assert ids["gone"] not in {r.id for r in runs}  # deleted: not listed
    odd = next(r for r in runs if r.id == ids["odd"])
    assert odd.metrics["inf_metric"] > 1e300 and odd.metrics["nan_metric"] != odd.metrics["nan_metric"]

    for run_id in [ids["odd"], ids["gone"], *(r.id for r in runs[:5])]:
        assert same(await direct.get_run(run_id), await client.get_run(run_id))
        assert same(
            await direct.search_versions(f"run_id='{run_id}'"),
            await client.search_versions(f"run_id='{run_id}'"),
        )
    for key in ("steps", "nan_metric", "inf_metric", "missing"):
        assert same(
            await direct.metric_history(ids["odd"], key), await client.metric_history(ids["odd"], key)
        )

    for size in (2, 100):
        token = None
        while True:
            models = await direct.search_models(max_results=size, page_token=token)
            assert same(models, await client.search_models(max_results=size, page_token=token))
            token = models.next_token
            if token is None:
                break
    names = [m.name for m in (await direct.search_models(max_results=100)).items]
    assert {"churn", "demand", "fraud", "empty-model"} <= set(names)
    for name in names:
        assert same(await direct.get_model(name), await client.get_model(name))
        versions = await direct.search_versions(f"name='{name}'")
        assert same(versions, await client.search_versions(f"name='{name}'"))
        for version in versions:
            assert same(
                await direct.get_version(name, version.version),
                await client.get_version(name, version.version),
            )
    assert fallback.calls == []  # every one of those answered in SQL


async def test_what_the_direct_path_does_not_know_goes_to_mlflow_client(
    both: tuple[MlflowSource, MlflowSource, dict[str, str]],
) -> None:
    direct, client, _ = both
    fallback = counted(direct)
    ids = [e.id for e in await direct.list_experiments()]
    # A filter: MLflow's search syntax is MLflow's to evaluate.
    filtered = await direct.search_runs(ids, "metrics.val_auc > 0.9")
    assert same(filtered, await client.search_runs(ids, "metrics.val_auc > 0.9"))
    assert same(await direct.search_models("name LIKE 'ch%'"), await client.search_models("name LIKE 'ch%'"))
    # Nothing found: MLflow's own error.
    with pytest.raises(NotFound, match="no-such-run"):
        await direct.get_run("no-such-run")
    with pytest.raises(NotFound):
        await direct.get_model("no-such-model")
    # Writes.
    await direct.set_alias("churn", "staging", "2")
    assert (await direct.get_model("churn")).aliases["staging"] == "2"
    assert fallback.calls == [
        "runs/search",
        "registered-models/search",
        "runs/get",
        "registered-models/get",
        "registered-models/alias",
    ]


async def test_a_schema_it_was_not_tested_on_is_read_through_mlflow_client(
    demo_store: MlflowSettings,
) -> None:
    path = sqlite_path(demo_store.tracking_uri)
    assert path is not None
    with sqlite3.connect(path) as connection:
        (revision,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    # The installed MLflow made this store: its schema is one the contract suite runs against.
    assert revision in KNOWN_SCHEMAS
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'f00dfacecafe'")
    source = open_mlflow(demo_store)
    fallback = counted(source)
    try:
        with pytest.raises(Exception):  # noqa: B017 - whatever MLflow makes of a schema it does not know
            await source.search_models()
    finally:
        await source.aclose()
    assert fallback.calls == ["registered-models/search"]


def test_sqlite_paths() -> None:
    assert str(sqlite_path("sqlite:////tmp/x/mlflow.db")) == "/tmp/x/mlflow.db"
    assert str(sqlite_path("sqlite:///mlflow.db")) == "mlflow.db"
    assert sqlite_path("sqlite://") is None
    assert sqlite_path("sqlite:///:memory:") is None
    assert sqlite_path("postgresql://db/mlflow") is None


def test_headless_reads_on_a_sqlite_store_do_not_import_mlflow(
    demo_store: MlflowSettings, tmp_path: Path
) -> None:
    """What makes them fast: `models list`, `runs list`, `models show` and `status` on a SQLite
    store answer without importing MLflow (or SQLAlchemy), nor httpx, which no backend there needs."""
    code = """
import sys
from mlops_tui.cli import root
from mlops_tui.config import CONFIG_ENV_VAR
reads = (["models", "list", "--json"], ["runs", "list", "--json"], ["models", "show", "churn"], ["status"])
for args in reads:
    try:
        root.main(args=args, prog_name="mlops-tui", standalone_mode=False)
    except SystemExit:
        pass
print(sorted(m for m in sys.modules if m.split(".")[0] in ("mlflow", "sqlalchemy", "alembic", "httpx")))
"""
    config = write_config(
        tmp_path / "mlops-tui.toml", {"local": {"mlflow": {"tracking_uri": demo_store.tracking_uri}}}
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "MLOPS_TUI_CONFIG": str(config)},
        check=True,
        timeout=120,
    )
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout + done.stderr


async def test_an_unchanged_store_is_not_read_again_and_a_commit_from_elsewhere_is_seen(
    demo_store: MlflowSettings,
) -> None:
    """A dashboard polls the same reads every few seconds: while the store is unchanged, a poll
    asks SQLite for its `data_version` and reads nothing more. A commit by another process, even
    right after the previous read, is seen by the next one."""
    path = sqlite_path(demo_store.tracking_uri)
    assert path is not None
    source = open_mlflow(demo_store)
    transport = source.transport
    assert isinstance(transport, SqliteReadTransport)
    statements: list[str] = []
    try:
        first = await source.get_model("churn")
        assert transport._connection is not None
        transport._connection.set_trace_callback(statements.append)
        assert same(await source.get_model("churn"), first)
        assert not [s for s in statements if s.lstrip().upper().startswith("SELECT")], statements

        update = (
            "import sqlite3, sys\n"
            "with sqlite3.connect(sys.argv[1]) as c:\n"
            '    c.execute("UPDATE registered_models SET description = ?"\n'
            "              \" WHERE name = 'churn'\", sys.argv[2:])"
        )
        for description in ("first change", "second change"):  # two commits within one clock tick
            subprocess.run([sys.executable, "-c", update, str(path), description], check=True, timeout=60)
            statements.clear()
            assert (await source.get_model("churn")).description == description
            assert any(s.lstrip().upper().startswith("SELECT") for s in statements)
    finally:
        await source.aclose()


async def test_a_store_replaced_on_disk_is_read_from_its_new_file(
    demo_store: MlflowSettings, tmp_path: Path
) -> None:
    """`mlops-tui demo --reset` and a restored backup put a new file in the store's place: the
    connection kept open follows the path, not the old file."""
    path = sqlite_path(demo_store.tracking_uri)
    assert path is not None
    source = open_mlflow(demo_store)
    try:
        assert (await source.get_model("churn")).description != "restored"
        replacement = tmp_path / "replacement.db"
        with sqlite3.connect(path) as connection:
            connection.execute(f"VACUUM INTO '{replacement}'")
        with sqlite3.connect(replacement) as connection:
            connection.execute("UPDATE registered_models SET description = 'restored' WHERE name = 'churn'")
        os.replace(replacement, path)
        assert (await source.get_model("churn")).description == "restored"
        path.unlink()  # no store at all: MLflow's own answer, as before the store existed
        fallback = counted(source)
        with pytest.raises(NotFound):
            await source.get_model("churn")
        assert fallback.calls == ["registered-models/get"]
    finally:
        await source.aclose()
