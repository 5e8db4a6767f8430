"""The journal contract, on both kinds: a SQLite file and a real PostgreSQL (Debian's, a throwaway
cluster per session). Plus what only a shared journal meets: a URL with a password, a schema newer
than the code, the database stopped mid-session and back, and a lock holder killed.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from mlops_tui.config import EnvironmentSettings, MlflowSettings, Settings, load_settings
from mlops_tui.domain import Change
from mlops_tui.errors import ConfigError, ExitCode, JournalError
from mlops_tui.ops.journal import Journal, open_journal
from mlops_tui.ops.migrations import SCHEMA_VERSION
from mlops_tui.ops.shared_journal import SharedJournal
from tests.helpers import CliResult, Registry, run_cli, write_config
from tests.helpers.postgres import PASSWORD, PASSWORD_ENV, Postgres

CHANGE = Change("promote", "dev", "churn@champion", "churn", "v3", "v4")


def settings_for(tmp_path: Path, journal: str, **top: object) -> object:
    path = write_config(
        tmp_path / "mlops-tui.toml",
        {"dev": {"mlflow": {"tracking_uri": "http://127.0.0.1:1"}}},
        journal=journal,
        **top,
    )
    return load_settings(str(path))


@pytest.fixture(params=["sqlite", "postgresql"])
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Journal]:
    if request.param == "sqlite":
        location = str(tmp_path / "journal.sqlite3")
        settings = settings_for(tmp_path, location)
    else:
        url = request.getfixturevalue("shared_journal_url")
        settings = settings_for(tmp_path, url, journal_password_env=PASSWORD_ENV)
    opened = open_journal(settings)  # type: ignore[arg-type]
    assert opened.shared == (request.param == "postgresql")
    yield opened
    opened.close()


def test_intents_outcomes_and_entries(journal: Journal) -> None:
    first = journal.intent(CHANGE, "ana")
    journal.outcome(first, "ok")
    journal.refused(Change("promote", "dev", "churn@champion", "churn", "v3", "v2"), "ben", "moved")
    other = journal.intent(Change("rollback", "prd", "prod.churn@champion", "churn", "v2", "v1"), "ana")
    (refused, done) = journal.entries(environment="dev")
    assert (done.operator, done.result, done.before, done.after) == ("ana", "ok", "v3", "v4")
    assert done.finished is not None and done.finished >= done.time
    assert (refused.operator, refused.result, refused.after, refused.message) == (
        "ben",
        "refused",
        "v2",
        "moved",
    )
    assert [e.id for e in journal.entries(limit=-1)] == [other, refused.id, first]
    assert [e.result for e in journal.entries(subject="churn", limit=1)] == ["pending"]
    last = journal.last_change("dev", "churn@champion")
    assert last is not None and (last.operator, last.after) == ("ana", "v4")
    assert journal.last_change("qa", "churn@champion") is None


def test_the_slot_lock_lets_one_holder_in_at_a_time(journal: Journal) -> None:
    first = journal.slot_lock("dev", "churn@champion")
    first.acquire()
    second = journal.slot_lock("dev", "churn@champion")
    taken = threading.Event()

    def take() -> None:
        second.acquire()
        taken.set()

    waiter = threading.Thread(target=take)
    waiter.start()
    assert not taken.wait(0.5)  # waits while the first holds it
    first.release()
    assert taken.wait(30)
    waiter.join()
    second.release()


def test_a_url_with_a_password_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="key journal: a URL with a password in it") as refused:
        settings_for(tmp_path, f"postgresql+psycopg://mlops:{PASSWORD}@127.0.0.1/mlops")
    assert PASSWORD not in str(refused.value)
    with pytest.raises(ConfigError, match="postgresql\\+psycopg://USER@HOST/DB"):
        settings_for(tmp_path, "mysql://mlops@127.0.0.1/mlops")


def test_a_schema_newer_than_the_code_is_refused(journal: Journal) -> None:
    journal.intent(CHANGE, "ana")
    newer = SCHEMA_VERSION + 1
    if isinstance(journal, SharedJournal):
        import sqlalchemy as sa

        engine = sa.create_engine(journal.url)
        with engine.begin() as db:
            db.execute(sa.text("INSERT INTO journal_schema VALUES (:v)"), {"v": newer})
        engine.dispose()
        journal.close()
        again: Journal = SharedJournal(journal.url.render_as_string(hide_password=False))
    else:
        with closing(sqlite3.connect(journal.path)) as db:
            db.execute(f"PRAGMA user_version = {newer}")
        journal.close()
        again = Journal(journal.path)
    with pytest.raises(
        JournalError, match=f"schema version {newer}, newer than this mlops-tui knows"
    ) as refused:
        again.entries()
    assert PASSWORD not in refused.value.message
    again.close()


HOLD_THE_LOCK = """
import sys
from mlops_tui.ops.shared_journal import SharedJournal
journal = SharedJournal(sys.argv[1], password=sys.argv[2])
journal.slot_lock("dev", "churn@champion").acquire()
print("held", flush=True)
sys.stdin.read()
"""


def test_a_lock_holder_killed_lets_the_next_writer_in(shared_journal_url: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_LOCK, shared_journal_url, PASSWORD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        journal = SharedJournal(shared_journal_url, password=PASSWORD)
        lock = journal.slot_lock("dev", "churn@champion")
        lock.wait = 1.0
        with pytest.raises(JournalError, match="cannot take the slot's lock"):
            lock.acquire()  # held, and the holder is alive
        holder.kill()
        holder.wait(timeout=30)
        lock.wait = 30.0
        lock.acquire()  # the server ended the dead holder's session, and its lock with it
        lock.release()
        journal.close()
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_the_database_stopped_mid_session_refuses_writes_until_it_returns(
    shared_journal_url: str, postgres_server: Postgres, tmp_path: Path, writable_server: str
) -> None:
    config = write_config(
        tmp_path / "mlops-tui.toml",
        {"dev": {"mlflow": {"tracking_uri": writable_server}}},
        journal=shared_journal_url,
        journal_password_env=PASSWORD_ENV,
        operator="ana",
    )
    registry = Registry(writable_server)
    journal = SharedJournal(shared_journal_url, password=PASSWORD)
    journal.outcome(journal.intent(CHANGE, "ana"), "ok")  # a session in use when the server stops
    assert ok(run_cli("models", "promote", "churn", "4", "--yes", "--config", config))
    postgres_server.stop()
    try:
        refused = run_cli("models", "promote", "churn", "2", "--yes", "--config", config)
        assert refused.code == ExitCode.FAILED, refused
        assert "not performed" in refused.stderr and len(refused.stderr.splitlines()) == 1, refused
        assert PASSWORD not in refused.stderr
        assert registry.aliases("churn")["champion"] == "4"
        assert ok(run_cli("models", "list", "--json", "--config", config))  # reads keep working
        with pytest.raises(JournalError, match="cannot write the shared audit journal"):
            journal.intent(CHANGE, "ana")
    finally:
        postgres_server.start()
    journal.outcome(journal.intent(CHANGE, "ana"), "ok")  # the same journal object recovers
    journal.close()
    assert ok(run_cli("models", "promote", "churn", "2", "--yes", "--config", config))
    history = run_cli("history", "--json", "--config", config).json()["entries"]
    assert [(e["after"], e["result"]) for e in history][:2] == [("v2", "ok"), ("v4", "ok")]


def ok(result: CliResult) -> bool:
    assert result.code == ExitCode.OK, result
    return True


async def test_the_header_names_the_operator_of_a_shared_journal(
    shared_journal_url: str, demo_store: MlflowSettings
) -> None:
    from mlops_tui.tui.header import EnvBar
    from tests.helpers.tui import SIZE, demo_app, until

    settings = Settings(
        {"local": EnvironmentSettings(mlflow=demo_store)},
        "local",
        operator="ana@example.com",
        journal_url=shared_journal_url,
        journal_password_env=PASSWORD_ENV,
    )
    app = demo_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        bar = app.query_one(EnvBar)
        await until(pilot, lambda: "as ana@example.com" in str(bar.render()))


LEGACY_JOURNAL = """CREATE TABLE journal (
    id {key},
    intent_id {reference} REFERENCES journal(id),
    time TEXT NOT NULL,
    operator TEXT NOT NULL,
    environment TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    subject TEXT NOT NULL DEFAULT '',
    before TEXT,
    after TEXT,
    result TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    host TEXT NOT NULL DEFAULT '',
    pid INTEGER NOT NULL DEFAULT 0
)"""
LEGACY_ROW = (
    "INSERT INTO journal (time, operator, environment, action, target, subject, before, after, result)"
    " VALUES ('2026-12-01T10:00:00.000+00:00', 'ana', 'dev', 'promote', 'churn@champion', 'churn', 'v2',"
    " 'v3', 'pending')"
)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_journal_from_before_alembic_is_upgraded_in_place(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Schema 1 (no alembic revision) gains the approval tables; its rows stay; alembic records
    the head revision; a second open changes nothing."""
    from mlops_tui.ops.migrations import HEAD

    if kind == "sqlite":
        path = tmp_path / "journal.sqlite3"
        with closing(sqlite3.connect(path)) as db:
            db.execute(LEGACY_JOURNAL.format(key="INTEGER PRIMARY KEY AUTOINCREMENT", reference="INTEGER"))
            db.execute(LEGACY_ROW)
            db.execute("PRAGMA user_version = 1")
            db.commit()
        journal: Journal = Journal(path)
    else:
        import sqlalchemy as sa

        url = request.getfixturevalue("shared_journal_url")
        engine = sa.create_engine(make_url_with_password(url))
        with engine.begin() as db:
            db.execute(sa.text(LEGACY_JOURNAL.format(key="BIGSERIAL PRIMARY KEY", reference="BIGINT")))
            db.execute(sa.text(LEGACY_ROW))
            db.execute(sa.text("CREATE TABLE journal_schema (version INTEGER NOT NULL)"))
            db.execute(sa.text("INSERT INTO journal_schema VALUES (1)"))
        engine.dispose()
        journal = SharedJournal(url, password=PASSWORD)
    (old,) = journal.entries()
    assert (old.operator, old.before, old.after) == ("ana", "v2", "v3")
    assert journal.approval_requests() == []  # the new tables exist
    journal.close()
    if kind == "sqlite":
        with closing(sqlite3.connect(path)) as db:
            assert db.execute("SELECT version_num FROM alembic_version").fetchone() == (HEAD,)
            assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    else:
        import sqlalchemy as sa

        engine = sa.create_engine(make_url_with_password(url))
        with engine.connect() as db:
            assert db.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == HEAD
        engine.dispose()
    again = Journal(path) if kind == "sqlite" else SharedJournal(url, password=PASSWORD)
    assert [e.id for e in again.entries()] == [old.id]
    again.close()


def make_url_with_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(password=PASSWORD).render_as_string(hide_password=False)
