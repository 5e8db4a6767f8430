"""The audit journal: every write action's intent before it acts, and its outcome after.

SQLite in WAL mode with synchronous writes (SQLite must not live on a network share); several
processes on one host share one file correctly. Rows are only appended: an outcome is a row pointing
at its intent. An intent whose process died before the outcome is found at the next start and
closed as `unknown`.

Whoever shares a journal shares its write lock (`slot_lock`): a second SQLite database beside the
journal, `FILE.lock`, whose write lock (`BEGIN IMMEDIATE`) a write holds from its re-read to its
outcome. SQLite locks a whole database, so writes sharing a journal are serialized all together,
not only per slot; writes are rare and short, so nobody waits long. The operating system releases
the lock of a process that dies.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterable
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from msgspec import structs

from mlops_tui.config import Settings, locations, resolve_secret
from mlops_tui.domain import ApprovalDecision, ApprovalRequest, AuditEntry, Change, PlanArguments
from mlops_tui.errors import JournalError
from mlops_tui.ops import migrations
from mlops_tui.ops.migrations import SCHEMA_VERSION
from mlops_tui.sources.local.processes import pid_alive

if TYPE_CHECKING:
    import sqlalchemy as sa

__all__ = [
    "CHANGES",
    "EXTERNAL_OPERATOR",
    "Journal",
    "SlotLock",
    "open_journal",
    "state_to_roll_back_to",
    "LOCK_WAIT_SECONDS",
    "MARKER_ACTION",
    "upgraded",
]

LOCK_WAIT_SECONDS = 60.0
"""How long a write waits for another write of the same journal to finish before giving up."""
CHANGES = ("ok", "overwritten", "external")
"""Outcomes after which the target holds what the entry's `after` (or message) says."""
MARKER_ACTION = "marker"
"""The action of an entry recording that a change's deploy markers failed (`ops.markers`)."""
EXTERNAL_OPERATOR = "(outside this journal)"
"""Who an `external` entry names: the change was found, not made, here."""


_STORAGE_ERRORS = ("SQLITE_IOERR", "SQLITE_FULL", "SQLITE_READONLY", "SQLITE_CANTOPEN")


def default_journal_path() -> Path:
    return locations.state_dir() / "journal.sqlite3"


def open_journal(settings: Settings) -> Journal:
    """The journal the settings name: a shared database (`journal_url`), else the SQLite file.

    Raises:
        ConfigError: the database's password cannot be had.
    """
    if settings.journal_url is None:
        return Journal(settings.journal)
    # SQLAlchemy and psycopg cost ~0.2 s to import: only a shared journal pays for them.
    from mlops_tui.ops.shared_journal import SharedJournal

    password = resolve_secret(settings.journal_password_env, settings.journal_password_command)
    return SharedJournal(settings.journal_url, password=password)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


_COLUMNS = "time, operator, environment, action, target, subject, before, after, result, message, host, pid"
_INTENT = (
    f"INSERT INTO journal ({_COLUMNS}) VALUES (:time, :operator, :environment, :action, :target,"
    " :subject, :before, :after, 'pending', :message, :host, :pid)"
)
_OUTCOME = (
    f"INSERT INTO journal (intent_id, {_COLUMNS})"
    " SELECT id, :time, operator, environment, action, target, subject, before,"
    " COALESCE(:after, after), :result, :message, :host, :pid FROM journal WHERE id = :intent"
)
_OPEN_INTENTS = (
    "SELECT i.id, i.host, i.pid FROM journal i WHERE i.intent_id IS NULL"
    " AND NOT EXISTS (SELECT 1 FROM journal o WHERE o.intent_id = i.id)"
)
_ENTRIES = (
    "SELECT i.id, i.time, i.operator, i.environment, i.action, i.target, i.before,"
    " COALESCE(o.after, i.after), COALESCE(o.result, 'pending'),"
    " COALESCE(NULLIF(o.message, ''), i.message), o.time"
    " FROM journal i LEFT JOIN journal o ON o.intent_id = i.id"
    " WHERE i.intent_id IS NULL"
)


_REQUEST = (
    "INSERT INTO approval_request (time, operator, environment, action, target, subject, before, after,"
    " message, plan, needed, expires) VALUES (:time, :operator, :environment, :action, :target, :subject,"
    " :before, :after, :message, :plan, :needed, :expires)"
)
_DECISION = (
    "INSERT INTO approval_decision (request_id, time, operator, decision, reason)"
    " VALUES (:request, :time, :operator, :decision, :reason)"
)
_REQUESTS = (
    "SELECT id, time, operator, environment, action, target, subject, before, after, message, plan,"
    " needed, expires FROM approval_request WHERE 1 = 1"
)
_DECISIONS = "SELECT request_id, time, operator, decision, reason FROM approval_decision"


def newer_schema(where: str, found: int | str) -> JournalError:
    return JournalError(
        f"the audit journal {where} has schema version {found}, newer than this mlops-tui knows "
        f"({SCHEMA_VERSION}): upgrade mlops-tui; nothing was read or written"
    )


def upgraded(db: sa.Connection, found: int, where: str) -> bool:
    """Bring the journal at `db`, whose schema number is `found`, to this code's schema (in the
    caller's transaction). Returns: whether it was older (the caller then records the number).

    Raises:
        JournalError: the journal is newer than this code; nothing was changed.
    """
    if found > SCHEMA_VERSION:
        raise newer_schema(where, found)
    if found == SCHEMA_VERSION:
        return False
    unknown = migrations.upgrade(db, found=found)
    if unknown is not None:
        raise newer_schema(where, unknown)
    return True


class Journal:
    """Append-only record of write actions: a SQLite file (this class), or a shared SQL database
    (`open_journal` with a URL). Subclasses provide the storage; the SQL text is shared."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_journal_path()
        self._db: sqlite3.Connection | None = None

    @property
    def where(self) -> str:
        """The journal as messages name it (never with a password)."""
        return str(self.path)

    @property
    def shared(self) -> bool:
        """Whether operators on other hosts can share this journal (a database server)."""
        return False

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            except (OSError, sqlite3.Error) as exc:
                raise self._failure("open", exc) from None
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")
                found = db.execute("PRAGMA user_version").fetchone()[0]
                if found > SCHEMA_VERSION:
                    raise newer_schema(self.where, found)
                if found < SCHEMA_VERSION:
                    self._migrate()
            except sqlite3.Error as exc:
                db.close()
                raise self._failure("open", exc) from None
            except JournalError:
                db.close()
                raise
            self._db = db
        return self._db

    def _migrate(self) -> None:
        """Bring the file's schema to this code's with alembic, under the journal's lock, so that
        processes meeting an old journal together migrate it once.

        Raises:
            JournalError: the migration failed, or the journal is newer than this code.
        """
        # SQLAlchemy and alembic are loaded only when a journal is created or upgraded.
        import sqlalchemy as sa

        lock = self._lock()
        lock.acquire()
        engine = sa.create_engine(f"sqlite:///{self.path}")
        try:
            with engine.begin() as db:
                found = int(db.exec_driver_sql("PRAGMA user_version").scalar_one())
                if upgraded(db, found, self.where):
                    db.exec_driver_sql(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sa.exc.SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise JournalError(f"cannot upgrade the audit journal {self.path}: {reason}") from None
        finally:
            engine.dispose()
            lock.release()

    def _lock(self) -> SlotLock:
        return SqliteLock(self.path.with_name(self.path.name + ".lock"))

    def _failure(self, doing: str, exc: OSError | sqlite3.Error) -> JournalError:
        message = f"cannot {doing} the audit journal {self.path}: {exc}"
        error = getattr(exc, "sqlite_errorname", "")
        if error in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
            # A damaged file is left exactly as it is, for `sqlite3 FILE .recover`.
            message += "; the file is left untouched: move it aside to start a new journal"
        elif isinstance(exc, OSError) or error.startswith(_STORAGE_ERRORS):
            message += "; check that its disk has space and its directory is writable"
        return JournalError(message)

    def _write(self, sql: str, params: dict[str, object]) -> int:
        """Run one INSERT in a transaction of its own. Returns: the new row's id."""
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            cursor = db.execute(sql, params)
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                with suppress(sqlite3.Error):  # a full disk may refuse the rollback too
                    db.execute("ROLLBACK")
            raise self._failure("write", exc) from None
        return int(cursor.lastrowid or 0)

    def _rows(self, sql: str, params: dict[str, object]) -> list[tuple[object, ...]]:
        try:
            return list(self._connect().execute(sql, params).fetchall())
        except sqlite3.Error as exc:
            raise self._failure("read", exc) from None

    def _no_limit(self) -> int | None:
        return -1  # SQLite: LIMIT -1 is no limit

    def intent(self, change: Change, operator: str) -> int:
        """Record that `operator` is about to make `change`. Returns: the intent's id.

        Raises:
            JournalError: not recorded; the caller must not act.
        """
        return self._write(
            _INTENT,
            {
                "time": _now(),
                "operator": operator,
                "environment": change.environment,
                "action": change.action,
                "target": change.target,
                "subject": change.subject,
                "before": change.before,
                "after": change.after,
                "message": "; ".join(change.details),
                **_origin(),
            },
        )

    def outcome(self, intent_id: int, result: str, message: str = "", after: str | None = None) -> None:
        """Record how the action of `intent_id` ended: `ok`, `overwritten`, `failed`, `refused`
        or `unknown`."""
        self._write(
            _OUTCOME,
            {
                "time": _now(),
                "after": after,
                "result": result,
                "message": message,
                "intent": intent_id,
                **_origin(),
            },
        )

    def refused(self, change: Change, operator: str, message: str) -> None:
        """Record an action that was decided but refused (another operator moved first), with
        what was asked: its `before` and `after` as planned."""
        intent_id = self.intent(change, operator)
        self.outcome(intent_id, "refused", message)

    def marker_failed(self, change: Change, operator: str, message: str) -> None:
        """Record that the deploy markers of `change`, which `operator` made, failed: an entry of
        action `marker` and result `failed`, with the change's target, `before` and `after`, and
        `message` saying which destination failed and why. The change itself stays `ok`.

        Raises:
            JournalError: not recorded.
        """
        marked = structs.replace(change, action=MARKER_ACTION, details=())
        intent_id = self.intent(marked, operator)
        self.outcome(intent_id, "failed", message)

    def slot_lock(self, environment: str, target: str) -> SlotLock:
        """The lock every write to `target` sharing this journal holds from its re-read to its
        outcome. SQLite: one lock for the whole journal.

        Raises:
            JournalError: the journal itself cannot be opened.
        """
        self._connect()  # a journal that cannot be opened says so, before its lock is tried
        return self._lock()

    def last_change(self, environment: str, target: str) -> AuditEntry | None:
        """The newest entry that left `target` as its `after` says (ok, overwritten, external)."""
        for entry in self.entries(environment=environment, target=target, limit=-1):
            if entry.result in CHANGES:
                return entry
        return None

    def note_external(self, environment: str, target: str, subject: str, now: str | None) -> None:
        """Journal as `external` a change made outside this journal (the MLflow UI, a notebook, a
        CI script, a teammate on another journal): `target` holds `now`, not what the journal's
        last outcome for it left."""
        last = self.last_change(environment, target)
        if last is None or last.after == now:
            return
        found = now or "(unset)"
        change = Change("external", environment, target, subject, last.after, found)
        intent = self.intent(change, EXTERNAL_OPERATOR)
        self.outcome(intent, "external", f"found {found} where the journal last left {last.after}")

    def dangling(self) -> list[AuditEntry]:
        """Intents of processes on this host that ended before recording an outcome."""
        rows = self._rows(_OPEN_INTENTS, {})
        host = socket.gethostname()
        dead = [row[0] for row in rows if row[1] == host and not pid_alive(int(str(row[2])))]
        return [e for e in self.entries(limit=-1) if e.id in dead]

    def entries(
        self,
        *,
        environment: str | None = None,
        subject: str | None = None,
        target: str | None = None,
        limit: int = 200,
    ) -> list[AuditEntry]:
        """Write actions, newest first, each intent joined with its outcome; `limit=-1`: all."""
        query = _ENTRIES
        params: dict[str, object] = {}
        for column, value in (("environment", environment), ("subject", subject), ("target", target)):
            if value is not None:
                query += f" AND i.{column} = :{column}"
                params[column] = value
        query += " ORDER BY i.id DESC LIMIT :limit"
        params["limit"] = limit if limit >= 0 else self._no_limit()
        return [
            AuditEntry(
                id=int(str(row[0])),
                time=_time(row[1]),
                operator=str(row[2]),
                environment=str(row[3]),
                action=str(row[4]),
                target=str(row[5]),
                before=_text(row[6]),
                after=_text(row[7]),
                result=str(row[8]),
                message=_text(row[9]) or "",
                finished=_time(row[10]) if row[10] else None,
            )
            for row in self._rows(query, params)
        ]

    def request(
        self, change: Change, operator: str, arguments: PlanArguments, *, needed: int, expires: datetime
    ) -> int:
        """Record that `operator` asks for `change`, which `needed` other operators must approve
        before `expires`. Returns: the request's id.

        Raises:
            JournalError: not recorded.
        """
        return self._write(
            _REQUEST,
            {
                "time": _now(),
                "operator": operator,
                "environment": change.environment,
                "action": change.action,
                "target": change.target,
                "subject": change.subject,
                "before": change.before,
                "after": change.after,
                "message": "; ".join(change.details),
                "plan": json.dumps(structs.asdict(arguments), sort_keys=True),
                "needed": needed,
                "expires": expires.astimezone(UTC).isoformat(timespec="milliseconds"),
            },
        )

    def decide(self, request_id: int, operator: str, decision: str, reason: str = "") -> None:
        """Record `operator`'s `decision` (one of APPROVAL_DECISIONS) on a request.

        Raises:
            JournalError: not recorded.
        """
        self._write(
            _DECISION,
            {
                "request": request_id,
                "time": _now(),
                "operator": operator,
                "decision": decision,
                "reason": reason,
            },
        )

    def approval_requests(
        self, *, environment: str | None = None, request_id: int | None = None, limit: int = 200
    ) -> list[ApprovalRequest]:
        """Approval requests with their decisions, newest first; `limit=-1`: all."""
        query, params = _REQUESTS, dict[str, object]()
        if environment is not None:
            query += " AND environment = :environment"
            params["environment"] = environment
        if request_id is not None:
            query += " AND id = :id"
            params["id"] = request_id
        query += " ORDER BY id DESC LIMIT :limit"
        params["limit"] = limit if limit >= 0 else self._no_limit()
        rows = self._rows(query, params)
        if not rows:
            return []
        ids = [int(str(row[0])) for row in rows]
        decided: dict[int, list[ApprovalDecision]] = {}
        lowest = min(ids)
        for d in self._rows(_DECISIONS + " WHERE request_id >= :lowest ORDER BY id", {"lowest": lowest}):
            decided.setdefault(int(str(d[0])), []).append(
                ApprovalDecision(_time(d[1]), str(d[2]), str(d[3]), _text(d[4]) or "")
            )
        return [
            ApprovalRequest(
                id=int(str(row[0])),
                time=_time(row[1]),
                requester=str(row[2]),
                environment=str(row[3]),
                action=str(row[4]),
                target=str(row[5]),
                subject=str(row[6]),
                before=_text(row[7]),
                after=_text(row[8]),
                message=_text(row[9]) or "",
                arguments=PlanArguments(**json.loads(str(row[10]))),
                needed=int(str(row[11])),
                expires=_time(row[12]),
                decisions=tuple(decided.get(int(str(row[0])), ())),
            )
            for row in rows
        ]

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def _origin() -> dict[str, object]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _time(value: object) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def state_to_roll_back_to(entries_oldest_first: Iterable[AuditEntry], rollback: str) -> str | None:
    """Replay completed changes of one target, each `rollback` undoing the change before it: the
    state the next rollback returns to (repeated rollbacks walk back, never forward)."""
    stack: list[str] = []
    for entry in entries_oldest_first:
        if entry.result not in ("ok", "external"):
            continue
        if entry.action == rollback:
            if stack:
                stack.pop()
        elif entry.before:
            stack.append(entry.before)
    return stack[-1] if stack else None


class SlotLock(ABC):
    """A lock one write holds from its re-read to its outcome. `acquire` blocks (up to
    LOCK_WAIT_SECONDS): call it in a thread from async code."""

    @abstractmethod
    def acquire(self) -> None:
        """Raises: JournalError, when the lock cannot be had."""

    @abstractmethod
    def release(self) -> None:
        """Let the next write go; never raises."""


class SqliteLock(SlotLock):
    """The write lock of a SQLite database beside the journal, held while one write runs."""

    def __init__(self, path: Path, wait: float = LOCK_WAIT_SECONDS) -> None:
        self.path = path
        self.wait = wait
        self._db: sqlite3.Connection | None = None

    def acquire(self) -> None:
        """Raises: JournalError, when the lock cannot be had (another write holds it too long)."""
        try:
            db = sqlite3.connect(self.path, timeout=self.wait, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open the journal's lock {self.path}: {exc}") from None
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            db.close()
            busy = getattr(exc, "sqlite_errorname", "") == "SQLITE_BUSY"
            reason = f"another write held it for over {self.wait:.0f} s" if busy else str(exc)
            raise JournalError(f"cannot take the journal's write lock {self.path}: {reason}") from None
        self._db = db

    def release(self) -> None:
        if self._db is not None:
            with suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            self._db.close()
            self._db = None
