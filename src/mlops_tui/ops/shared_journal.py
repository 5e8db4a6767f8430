"""The audit journal on a database a team shares (PostgreSQL through SQLAlchemy and psycopg).

The same rows as the SQLite journal, the same SQL text. The schema is created and upgraded on first
use by the alembic revisions of `ops.migrations`, under an advisory lock so that processes starting
together migrate once; its number is kept in `journal_schema`, and a database with a newer one is
refused with a clear error. The
lock of a slot is a session-level advisory lock on a connection of its own, keyed by the slot:
PostgreSQL releases it when the holder's session ends, a killed process included.
"""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from mlops_tui.errors import JournalError
from mlops_tui.ops.journal import (
    LOCK_WAIT_SECONDS,
    Journal,
    SlotLock,
    upgraded,
)
from mlops_tui.ops.migrations import SCHEMA_VERSION

__all__ = ["SharedJournal"]

_SCHEMA_LOCK = 0x6D6C6F7073  # an advisory lock key: first uses by several processes create it once
CONNECT_SECONDS = 5


class SharedJournal(Journal):
    """The journal in a PostgreSQL database; `url` holds no password (`password` does)."""

    def __init__(self, url: str, *, password: str | None = None) -> None:
        self.url: URL = make_url(url).set(password=password)
        self._engine: sa.Engine | None = None
        self._ready = False

    @property
    def where(self) -> str:
        return self.url.render_as_string(hide_password=True)

    @property
    def shared(self) -> bool:
        return True

    def _connect_engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = sa.create_engine(
                self.url, connect_args={"connect_timeout": CONNECT_SECONDS}, pool_pre_ping=True
            )
        if not self._ready:
            try:
                with self._engine.begin() as db:
                    db.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
                    db.execute(
                        sa.text("CREATE TABLE IF NOT EXISTS journal_schema (version INTEGER NOT NULL)")
                    )
                    found = db.execute(sa.text("SELECT max(version) FROM journal_schema")).scalar() or 0
                    if upgraded(db, found, self.where):
                        db.execute(sa.text("INSERT INTO journal_schema VALUES (:v)"), {"v": SCHEMA_VERSION})
            except sa.exc.SQLAlchemyError as exc:
                raise self._problem("open", exc) from None
            self._ready = True
        return self._engine

    def _problem(self, doing: str, exc: sa.exc.SQLAlchemyError) -> JournalError:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return JournalError(f"cannot {doing} the shared audit journal {self.where}: {reason}")

    def _write(self, sql: str, params: dict[str, object]) -> int:
        engine = self._connect_engine()
        try:
            with engine.begin() as db:
                return int(db.execute(sa.text(sql + " RETURNING id"), params).scalar_one())
        except sa.exc.SQLAlchemyError as exc:
            raise self._problem("write", exc) from None

    def _rows(self, sql: str, params: dict[str, object]) -> list[tuple[object, ...]]:
        engine = self._connect_engine()
        try:
            with engine.connect() as db:
                return [tuple(row) for row in db.execute(sa.text(sql), params)]
        except sa.exc.SQLAlchemyError as exc:
            raise self._problem("read", exc) from None

    def _no_limit(self) -> int | None:
        return None  # PostgreSQL: LIMIT NULL is no limit

    def slot_lock(self, environment: str, target: str) -> SlotLock:
        return AdvisoryLock(self._connect_engine(), f"{environment}\0{target}", self.where)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


class AdvisoryLock(SlotLock):
    """A session-level advisory lock of PostgreSQL, on a connection held while the write runs."""

    def __init__(self, engine: sa.Engine, slot: str, where: str, wait: float = LOCK_WAIT_SECONDS) -> None:
        self.engine = engine
        self.key = int.from_bytes(hashlib.sha256(slot.encode()).digest()[:8], "big", signed=True)
        self.where = where
        self.wait = wait
        self._db: Any = None

    def acquire(self) -> None:
        try:
            db = self.engine.connect()
        except sa.exc.SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise JournalError(f"cannot reach the shared audit journal {self.where}: {reason}") from None
        try:
            db.execute(sa.text(f"SET lock_timeout = '{int(self.wait * 1000)}ms'"))
            db.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": self.key})
            db.commit()
        except sa.exc.SQLAlchemyError as exc:
            db.close()
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise JournalError(f"cannot take the slot's lock in {self.where}: {reason}") from None
        self._db = db

    def release(self) -> None:
        if self._db is None:
            return
        try:
            self._db.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            self._db.commit()
        except sa.exc.SQLAlchemyError:
            # The session is gone (the server restarted): so is its lock.
            self._db.invalidate()
        finally:
            self._db.close()
            self._db = None
