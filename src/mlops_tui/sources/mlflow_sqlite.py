"""The fast read path of an MLflow SQLite store: MLflow's schema read with the standard library.

Opening a SQLite store through `MlflowClient` costs about two seconds (importing MLflow, then its
store's schema check) before the first answer: every headless command on the embedded `local`
environment paid it, and the TUI before its first page. The same answers are one SQL query each.

`SqliteReadTransport` answers the reads mlflow-tui makes without a filter (runs, experiments,
registered models, versions by model or run, metric histories) with REST-shaped JSON, as
`HttpTransport` does, so `MlflowSource` converts all three paths' answers alike. It is used only
while the store's alembic revision is one of `KNOWN_SCHEMAS`, the revisions the MLflow source's
contract suite runs against (all three paths agreeing on every answer); everything else goes to
`StoreTransport`, that is `MlflowClient`: writes always, reads with a filter, a store of another
revision or not created yet, and whatever the fast path does not find (so a miss gets MLflow's own
error). The connection is read-only: this path never writes or creates anything.

A pane polls the same reads every few seconds while nothing changes. The connection stays open, and
an answer is kept until SQLite's `PRAGMA data_version` says another connection committed: an idle
dashboard then reads a number, not the store (a file's mtime would miss two commits in one tick).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlops_tui.config import MlflowSettings
from mlops_tui.errors import BackendUnreachable
from mlops_tui.sources.mlflow import SOURCE, HttpMethod, Json, StoreTransport, Transport

__all__ = ["KNOWN_SCHEMAS", "SqliteReadTransport", "sqlite_path"]

KNOWN_SCHEMAS = frozenset({"dc11669786a5"})
"""Alembic revisions of MLflow's schema this path reads: MLflow 3.17's. A test fails when the
installed MLflow's head is not here, so that an upgrade re-runs the contract suite first."""

WORKSPACE = "default"
"""MLflow's workspace of a store that does not use workspaces."""
_DELETED_STAGE = "Deleted_Internal"


class _Fallback(Exception):
    """This read is for `MlflowClient`: a filter, or nothing found."""


def sqlite_path(tracking_uri: str) -> Path | None:
    """The file of a `sqlite:///PATH` URI; None for another URI or an in-memory store."""
    prefix = "sqlite:///"
    if not tracking_uri.startswith(prefix) or "?" in tracking_uri:
        return None
    path = tracking_uri[len(prefix) :]
    return Path(path) if path and path != ":memory:" else None


class SqliteReadTransport(Transport):
    """Reads of an MLflow SQLite store in SQL, the rest through `StoreTransport`."""

    KEPT_ANSWERS = 64
    """Answers kept while the store is unchanged: a dashboard's polls, and a few pages."""

    def __init__(self, settings: MlflowSettings, path: Path, fallback: StoreTransport | None = None):
        self._settings = settings
        self._path = path
        self.fallback = fallback or StoreTransport(settings)
        # One connection, used by one worker thread at a time.
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._file: tuple[int, int] | None = None
        self._version: int | None = None
        self._answers: OrderedDict[tuple[str, str], Json] = OrderedDict()

    async def call(self, verb: HttpMethod, endpoint: str, payload: Json) -> Json:
        read = _READS.get((verb, endpoint))
        if read is not None:
            try:
                return await asyncio.wait_for(
                    asyncio.to_thread(self._answer, endpoint, read, payload), self._settings.timeout_seconds
                )
            except _Fallback:
                pass
            except TimeoutError:
                raise BackendUnreachable(SOURCE, "the store did not answer in time") from None
        return await self.fallback.call(verb, endpoint, payload)

    def _answer(self, endpoint: str, read: Callable[[sqlite3.Connection, Json], Json], payload: Json) -> Json:
        """The answer to a read: the one kept if the store has not changed since, else read now.

        Answers are shared between callers, who only read them (as they do HTTP answers)."""
        key = (endpoint, json.dumps(payload, sort_keys=True))
        with self._lock:
            connection = self._open()
            try:
                connection.execute("BEGIN")  # one snapshot for the version and the read
                try:
                    (version,) = connection.execute("PRAGMA data_version").fetchone()
                    if version != self._version:
                        self._version = version
                        self._answers.clear()
                    answer = self._answers.get(key)
                    if answer is None:
                        answer = read(connection, payload)
                    self._keep(key, answer)
                    return answer
                finally:
                    connection.rollback()
            except sqlite3.Error as exc:
                self._close()
                raise BackendUnreachable(SOURCE, f"cannot read the store {self._path}: {exc}") from None

    def _keep(self, key: tuple[str, str], answer: Json) -> None:
        self._answers[key] = answer
        self._answers.move_to_end(key)
        while len(self._answers) > self.KEPT_ANSWERS:
            self._answers.popitem(last=False)

    def _open(self) -> sqlite3.Connection:
        """The connection to the store's file, opened again if the file was replaced; `_Fallback`
        while there is no store or its schema is not one this path reads."""
        try:
            stat = os.stat(self._path)
        except OSError:
            self._close()
            raise _Fallback from None
        file = (stat.st_dev, stat.st_ino)
        if self._connection is not None and file == self._file:
            return self._connection
        self._close()
        try:
            connection = sqlite3.connect(
                f"{self._path.resolve().as_uri()}?mode=ro",
                uri=True,
                timeout=5,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error:
            raise _Fallback from None
        connection.row_factory = sqlite3.Row
        try:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.Error:
            row = None
        if row is None or row[0] not in KNOWN_SCHEMAS:
            connection.close()
            raise _Fallback
        self._connection, self._file = connection, file
        return connection

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection, self._file, self._version = None, None, None
        self._answers.clear()

    async def aclose(self) -> None:
        with self._lock:
            self._close()
        await self.fallback.aclose()


# -- paging, as MLflow's SQL store does it --------------------------------------------------------


def _offset(payload: Json) -> int:
    token = payload.get("page_token")
    if not token:
        return 0
    try:
        return int(json.loads(base64.b64decode(token))["offset"])
    except (ValueError, KeyError, TypeError):
        raise _Fallback from None  # MLflow says what is wrong with it


def _token(offset: int) -> str:
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def _run_page_token(offset: int, count: int, limit: int) -> str | None:
    # A full page of runs has a token even when nothing follows, as in MLflow's SQL store.
    return _token(offset + limit) if count == limit else None


def _page(rows: list[sqlite3.Row], offset: int, limit: int) -> tuple[list[sqlite3.Row], str | None]:
    """A page of rows asked for with `LIMIT limit + 1`, and the token of the next one if there is
    one, as MLflow's SQL store pages experiments, models and versions."""
    return rows[:limit], _token(offset + limit) if len(rows) > limit else None


def _unfiltered(payload: Json) -> None:
    if payload.get("filter"):
        raise _Fallback


def _placeholders(values: list[Any]) -> str:
    return ", ".join("?" * len(values))


def _pairs_of(connection: sqlite3.Connection, sql: str, ids: list[Any]) -> dict[Any, list[Json]]:
    """`{id: [{"key", "value"}, ...]}` for rows `(id, key, value)`."""
    found: dict[Any, list[Json]] = {}
    for owner, key, value in connection.execute(sql, ids):
        found.setdefault(owner, []).append({"key": key, "value": value})
    return found


# -- experiments ----------------------------------------------------------------------------------


def _experiments(connection: sqlite3.Connection, where: str, args: list[Any], tail: str = "") -> list[Json]:
    rows = connection.execute(
        "SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time"
        f" FROM experiments WHERE workspace = ? AND {where} {tail}",
        [WORKSPACE, *args],
    ).fetchall()
    ids = [row["experiment_id"] for row in rows]
    tags = _pairs_of(
        connection,
        "SELECT experiment_id, key, value FROM experiment_tags"
        f" WHERE experiment_id IN ({_placeholders(ids)})",
        ids,
    )
    return [
        {
            "experiment_id": str(row["experiment_id"]),
            "name": row["name"],
            "artifact_location": row["artifact_location"],
            "lifecycle_stage": row["lifecycle_stage"],
            "creation_time": row["creation_time"],
            "last_update_time": row["last_update_time"],
            "tags": tags.get(row["experiment_id"], []),
        }
        for row in rows
    ]


def _search_experiments(connection: sqlite3.Connection, payload: Json) -> Json:
    _unfiltered(payload)
    offset, limit = _offset(payload), int(payload["max_results"])
    found = _experiments(
        connection,
        "lifecycle_stage = 'active'",
        [limit + 1, offset],
        "ORDER BY creation_time DESC, experiment_id ASC LIMIT ? OFFSET ?",
    )
    token = _token(offset + limit) if len(found) > limit else None
    return {"experiments": found[:limit], "next_page_token": token}


def _experiment_by_name(connection: sqlite3.Connection, payload: Json) -> Json:
    found = _experiments(connection, "name = ?", [payload["experiment_name"]])
    if not found:
        raise _Fallback
    return {"experiment": found[0]}


# -- runs -----------------------------------------------------------------------------------------

_RUN_COLUMNS = (
    "run_uuid, name, experiment_id, user_id, status, start_time, end_time, artifact_uri, lifecycle_stage"
)


def _runs(connection: sqlite3.Connection, rows: list[sqlite3.Row]) -> list[Json]:
    ids = [row["run_uuid"] for row in rows]
    marks = _placeholders(ids)
    params = _pairs_of(
        connection, f"SELECT run_uuid, key, value FROM params WHERE run_uuid IN ({marks})", ids
    )
    tags = _pairs_of(connection, f"SELECT run_uuid, key, value FROM tags WHERE run_uuid IN ({marks})", ids)
    metrics: dict[str, list[Json]] = {}
    for metric in connection.execute(
        "SELECT run_uuid, key, value, timestamp, step, is_nan FROM latest_metrics"
        f" WHERE run_uuid IN ({marks})",
        ids,
    ):
        metrics.setdefault(metric["run_uuid"], []).append(_metric(metric))
    return [
        {
            "info": {
                "run_id": row["run_uuid"],
                "run_uuid": row["run_uuid"],
                "run_name": row["name"],
                "experiment_id": str(row["experiment_id"]),
                "user_id": row["user_id"],
                "status": row["status"],
                "start_time": row["start_time"],
                "end_time": row["end_time"],
                "artifact_uri": row["artifact_uri"],
                "lifecycle_stage": row["lifecycle_stage"],
            },
            "data": {
                "metrics": metrics.get(row["run_uuid"], []),
                "params": params.get(row["run_uuid"], []),
                "tags": tags.get(row["run_uuid"], []),
            },
        }
        for row in rows
    ]


def _metric(row: sqlite3.Row) -> Json:
    # MLflow keeps NaN as a flag beside a 0 (SQL has no NaN).
    value = float("nan") if row["is_nan"] else float(row["value"])
    return {"key": row["key"], "value": value, "timestamp": row["timestamp"], "step": row["step"]}


def _search_runs(connection: sqlite3.Connection, payload: Json) -> Json:
    _unfiltered(payload)
    if payload.get("order_by") not in (None, ["attributes.start_time DESC"]):
        raise _Fallback
    if payload.get("run_view_type", "ACTIVE_ONLY") != "ACTIVE_ONLY":
        raise _Fallback
    experiments = [int(e) for e in payload["experiment_ids"]]
    offset, limit = _offset(payload), int(payload["max_results"])
    rows = connection.execute(
        f"SELECT {_RUN_COLUMNS} FROM runs WHERE lifecycle_stage = 'active'"
        f" AND experiment_id IN ({_placeholders(experiments)})"
        " ORDER BY start_time DESC, run_uuid ASC LIMIT ? OFFSET ?",
        [*experiments, limit, offset],
    ).fetchall()
    return {"runs": _runs(connection, rows), "next_page_token": _run_page_token(offset, len(rows), limit)}


def _get_run(connection: sqlite3.Connection, payload: Json) -> Json:
    rows = connection.execute(
        f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_uuid = ?", [payload["run_id"]]
    ).fetchall()
    if not rows:
        raise _Fallback
    return {"run": _runs(connection, rows)[0]}


def _metric_history(connection: sqlite3.Connection, payload: Json) -> Json:
    if connection.execute("SELECT 1 FROM runs WHERE run_uuid = ?", [payload["run_id"]]).fetchone() is None:
        raise _Fallback
    rows = connection.execute(
        "SELECT key, value, timestamp, step, is_nan FROM metrics WHERE run_uuid = ? AND key = ?"
        " ORDER BY timestamp, step, value",
        [payload["run_id"], payload["metric_key"]],
    ).fetchall()
    return {"metrics": [_metric(row) for row in rows]}


# -- the registry ---------------------------------------------------------------------------------

_VERSION_COLUMNS = (
    "name, version, creation_time, last_updated_time, description, user_id, current_stage, source,"
    " run_id, status, status_message, run_link"
)


def _versions(connection: sqlite3.Connection, rows: list[sqlite3.Row]) -> list[Json]:
    keys = sorted({(row["name"], row["version"]) for row in rows})
    tags: dict[tuple[str, int], list[Json]] = {}
    names = sorted({name for name, _ in keys})
    for tag in connection.execute(
        f"SELECT name, version, key, value FROM model_version_tags WHERE workspace = ?"
        f" AND name IN ({_placeholders(names)})",
        [WORKSPACE, *names],
    ):
        tags.setdefault((tag["name"], tag["version"]), []).append({"key": tag["key"], "value": tag["value"]})
    return [
        {
            "name": row["name"],
            "version": str(row["version"]),
            "creation_timestamp": row["creation_time"],
            "last_updated_timestamp": row["last_updated_time"],
            "description": row["description"],
            "user_id": row["user_id"],
            "current_stage": row["current_stage"],
            "source": row["source"],
            "run_id": row["run_id"],
            "status": row["status"],
            "status_message": row["status_message"],
            "run_link": row["run_link"],
            "tags": tags.get((row["name"], row["version"]), []),
        }
        for row in rows
    ]


def _models(connection: sqlite3.Connection, rows: list[sqlite3.Row]) -> list[Json]:
    names = [row["name"] for row in rows]
    marks = _placeholders(names)
    tags = _pairs_of(
        connection,
        f"SELECT name, key, value FROM registered_model_tags WHERE workspace = ? AND name IN ({marks})",
        [WORKSPACE, *names],
    )
    aliases: dict[str, list[Json]] = {}
    for alias in connection.execute(
        "SELECT name, alias, version FROM registered_model_aliases"
        f" WHERE workspace = ? AND name IN ({marks})",
        [WORKSPACE, *names],
    ):
        aliases.setdefault(alias["name"], []).append(
            {"alias": alias["alias"], "version": str(alias["version"])}
        )
    # The latest version in each stage, as MLflow's registered model lists them.
    latest = connection.execute(
        f"SELECT {_VERSION_COLUMNS} FROM model_versions AS v WHERE workspace = ? AND name IN ({marks})"
        " AND current_stage != ? AND version = (SELECT MAX(version) FROM model_versions"
        " WHERE workspace = v.workspace AND name = v.name AND current_stage = v.current_stage)"
        " ORDER BY name, version",
        [WORKSPACE, *names, _DELETED_STAGE],
    ).fetchall()
    latest_of: dict[str, list[Json]] = {}
    for version in _versions(connection, latest):
        latest_of.setdefault(version["name"], []).append(version)
    return [
        {
            "name": row["name"],
            "creation_timestamp": row["creation_time"],
            "last_updated_timestamp": row["last_updated_time"],
            "description": row["description"],
            "latest_versions": latest_of.get(row["name"], []),
            "tags": tags.get(row["name"], []),
            "aliases": aliases.get(row["name"], []),
        }
        for row in rows
    ]


_MODEL_COLUMNS = "name, creation_time, last_updated_time, description"


def _search_models(connection: sqlite3.Connection, payload: Json) -> Json:
    _unfiltered(payload)
    if payload.get("order_by") not in (None, ["name ASC"]):
        raise _Fallback
    offset, limit = _offset(payload), int(payload["max_results"])
    rows, token = _page(
        connection.execute(
            f"SELECT {_MODEL_COLUMNS} FROM registered_models WHERE workspace = ?"
            " ORDER BY name ASC LIMIT ? OFFSET ?",
            [WORKSPACE, limit + 1, offset],
        ).fetchall(),
        offset,
        limit,
    )
    return {"registered_models": _models(connection, rows), "next_page_token": token}


def _get_model(connection: sqlite3.Connection, payload: Json) -> Json:
    rows = connection.execute(
        f"SELECT {_MODEL_COLUMNS} FROM registered_models WHERE workspace = ? AND name = ?",
        [WORKSPACE, payload["name"]],
    ).fetchall()
    if not rows:
        raise _Fallback
    return {"registered_model": _models(connection, rows)[0]}


def _get_version(connection: sqlite3.Connection, payload: Json) -> Json:
    try:
        number = int(payload["version"])
    except ValueError:
        raise _Fallback from None
    rows = connection.execute(
        f"SELECT {_VERSION_COLUMNS} FROM model_versions WHERE workspace = ? AND name = ? AND version = ?"
        " AND current_stage != ?",
        [WORKSPACE, payload["name"], number, _DELETED_STAGE],
    ).fetchall()
    if not rows:
        raise _Fallback
    return {"model_version": _versions(connection, rows)[0]}


# `name='churn'` or `run_id='abc'`, as the hub asks for versions; a quote inside escaped as `\'`.
_VERSION_FILTER = re.compile(r"\s*(name|run_id)\s*=\s*'((?:[^'\\]|\\.)*)'\s*")


def _search_versions(connection: sqlite3.Connection, payload: Json) -> Json:
    matched = _VERSION_FILTER.fullmatch(payload.get("filter") or "")
    if matched is None or payload.get("order_by"):
        raise _Fallback
    column, value = matched.group(1), re.sub(r"\\(.)", r"\1", matched.group(2))
    offset, limit = _offset(payload), int(payload["max_results"])
    rows, token = _page(
        connection.execute(
            f"SELECT {_VERSION_COLUMNS} FROM model_versions WHERE workspace = ? AND {column} = ?"
            " AND current_stage != ?"
            " ORDER BY last_updated_time DESC, name ASC, version DESC LIMIT ? OFFSET ?",
            [WORKSPACE, value, _DELETED_STAGE, limit + 1, offset],
        ).fetchall(),
        offset,
        limit,
    )
    return {"model_versions": _versions(connection, rows), "next_page_token": token}


_READS: dict[tuple[HttpMethod, str], Callable[[sqlite3.Connection, Json], Json]] = {
    ("GET", "experiments/search"): _search_experiments,
    ("GET", "experiments/get-by-name"): _experiment_by_name,
    ("POST", "runs/search"): _search_runs,
    ("GET", "runs/get"): _get_run,
    ("GET", "metrics/get-history"): _metric_history,
    ("GET", "registered-models/search"): _search_models,
    ("GET", "registered-models/get"): _get_model,
    ("GET", "model-versions/get"): _get_version,
    ("GET", "model-versions/search"): _search_versions,
}
