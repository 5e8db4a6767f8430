"""MLflow tracking and model registry.

One adapter, `MlflowSource`, written once against the shapes of MLflow's REST API, over one of two
transports chosen by the tracking URI:

- `HttpTransport` (http, https): the REST API over httpx, on the event loop. No MLflow import at
  all, which keeps headless reads well under a second.
- `StoreTransport` (sqlite, postgresql, mysql, ...): the same calls answered by `MlflowClient` on a
  SQL store, in a worker thread, converted to the REST shapes through MLflow's own protobufs.
- `SqliteReadTransport` (sqlite files, in `mlflow_sqlite`): the reads in SQL, without importing
  MLflow, and the rest through `StoreTransport`.
"""

from __future__ import annotations

import asyncio
import threading
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from mlops_tui.config import MlflowSettings
from mlops_tui.domain import Experiment, MetricPoint, ModelVersion, Page, RegisteredModel, Run
from mlops_tui.errors import (
    AlreadyExists,
    BackendError,
    BackendUnreachable,
    InvalidQuery,
    MlopsError,
    NotFound,
)
from mlops_tui.sources.base import TrackingSource

if TYPE_CHECKING:
    import httpx

__all__ = [
    "HttpTransport",
    "MlflowSource",
    "StoreTransport",
    "Transport",
    "open_mlflow",
    "quiet_mlflow",
    "Json",
    "SOURCE",
    "HttpMethod",
]

SOURCE = "mlflow"
Json = dict[str, Any]
HttpMethod = Literal["GET", "POST", "PATCH", "DELETE"]


def _error_for(code: str, message: str) -> MlopsError:
    if code == "RESOURCE_DOES_NOT_EXIST":
        return NotFound(SOURCE, message)
    if code == "RESOURCE_ALREADY_EXISTS":
        return AlreadyExists(SOURCE, message)
    if code in ("INVALID_PARAMETER_VALUE", "BAD_REQUEST"):
        return InvalidQuery(SOURCE, message)
    return BackendError(SOURCE, message)


class Transport(ABC):
    """Answers MLflow REST calls (`runs/search`, ...) with the REST API's JSON."""

    @abstractmethod
    async def call(self, verb: HttpMethod, endpoint: str, payload: Json) -> Json:
        """Raises: NotFound, InvalidQuery, BackendUnreachable, BackendError."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        pass


class HttpTransport(Transport):
    """The MLflow REST API (`/api/2.0/mlflow/...`) over httpx."""

    def __init__(self, settings: MlflowSettings, *, transport: httpx.AsyncBaseTransport | None = None):
        # Here, not at the top: a store read through SQL (the embedded default) never loads httpx,
        # 25 ms of the TUI's start and of every headless command.
        from mlops_tui.sources.http import HttpApi

        self._api = HttpApi(
            SOURCE,
            settings.tracking_uri,
            settings,
            base_path="/api/2.0/mlflow",
            timeout=settings.timeout_seconds,
            # The MLflow server writes headers and body separately; on a kept-alive connection the
            # client's delayed ACK then costs ~40 ms a request. A fresh connection costs ~15 ms.
            keepalive=False,
            transport=transport,
        )

    async def call(self, verb: HttpMethod, endpoint: str, payload: Json) -> Json:
        if verb == "GET":
            response = await self._api.send("GET", endpoint, params=_query_params(payload))
        else:
            response = await self._api.send(verb, endpoint, json=payload)
        try:
            body = response.json() if response.content else {}
        except ValueError:
            body = None
        if response.is_success:
            if not isinstance(body, dict):
                raise BackendError(SOURCE, f"malformed response from {response.request.url.path}")
            return body
        if isinstance(body, dict) and "error_code" in body:
            raise _error_for(str(body["error_code"]), str(body.get("message", "")))
        raise BackendError(SOURCE, f"HTTP {response.status_code} from {response.request.url.path}")

    async def aclose(self) -> None:
        await self._api.aclose()


def _query_params(payload: Json) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = []
    for key, value in payload.items():
        for item in value if isinstance(value, list) else [value]:
            if item is not None:
                params.append((key, str(item).lower() if isinstance(item, bool) else str(item)))
    return params


class StoreTransport(Transport):
    """REST calls answered by `MlflowClient` on a SQL store, one worker thread at a time."""

    def __init__(self, settings: MlflowSettings):
        self._settings = settings
        self._client: Any = None
        self._lock = threading.Lock()

    def _mlflow(self) -> Any:
        with self._lock:
            if self._client is None:
                # Deferred: importing MLflow costs one to three seconds, paid in a worker thread
                # the first time this environment's store is read, never by commands that skip it.
                from mlflow.tracking import MlflowClient

                quiet_mlflow()
                self._client = MlflowClient(tracking_uri=self._settings.tracking_uri)
            return self._client

    async def call(self, verb: HttpMethod, endpoint: str, payload: Json) -> Json:
        handler = _STORE_HANDLERS.get((verb, endpoint))
        if handler is None:
            raise BackendError(SOURCE, f"{verb} {endpoint} is not supported on a SQL store")
        # Importing MLflow and opening the store take seconds the first time; the request timeout
        # is for the request alone.
        client = self._client or await asyncio.to_thread(self._mlflow)
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(self._answer, client, handler, payload),
                self._settings.timeout_seconds,
            )
        except TimeoutError:
            raise BackendUnreachable(SOURCE, "the store did not answer in time") from None

    def _answer(self, client: Any, handler: Callable[[Any, Json], Json], payload: Json) -> Json:
        from mlflow.exceptions import MlflowException

        try:
            return handler(client, payload)
        except MlflowException as exc:
            raise _error_for(str(exc.error_code), exc.message) from None
        except Exception as exc:  # SQLAlchemy and driver errors: the store itself is unusable
            if type(exc).__module__.startswith("sqlalchemy"):
                raise BackendUnreachable(
                    SOURCE, f"cannot use the store {self._settings.tracking_uri}: {exc}"
                ) from None
            raise


def quiet_mlflow() -> None:
    """MLflow logs INFO lines to stderr when it opens a store: they would draw over the TUI and
    clutter the diagnostics of headless commands. Called after MLflow is imported, since importing
    it sets its own level and handler."""
    from mlops_tui.config.libraries import take_over_mlflow_logger

    take_over_mlflow_logger()
    # Stage mode is supported on purpose (see the README); MLflow's deprecation notice is noise here.
    warnings.filterwarnings("ignore", message=r".*Model registry stages will be removed")


def _proto(entity: Any) -> Json:
    from google.protobuf.json_format import MessageToDict

    result: Json = MessageToDict(entity.to_proto(), preserving_proto_field_name=True)
    return result


def _paged(key: str, paged: Any) -> Json:
    token = paged.token.decode() if isinstance(paged.token, bytes) else paged.token
    return {key: [_proto(item) for item in paged], "next_page_token": token}


def _done(_: Any) -> Json:
    return {}


def _view_type() -> Any:
    from mlflow.entities import ViewType

    return ViewType.ACTIVE_ONLY


def _get_experiment_by_name(client: Any, p: Json) -> Json:
    experiment = client.get_experiment_by_name(p["experiment_name"])
    if experiment is None:
        raise NotFound(SOURCE, f"Could not find experiment with name '{p['experiment_name']}'")
    return {"experiment": _proto(experiment)}


_STORE_HANDLERS: dict[tuple[HttpMethod, str], Callable[[Any, Json], Json]] = {
    ("GET", "experiments/search"): lambda c, p: _paged(
        "experiments",
        c.search_experiments(
            view_type=_view_type(), max_results=p["max_results"], page_token=p.get("page_token")
        ),
    ),
    ("GET", "experiments/get-by-name"): _get_experiment_by_name,
    ("POST", "runs/search"): lambda c, p: _paged(
        "runs",
        c.search_runs(
            p["experiment_ids"],
            filter_string=p.get("filter", ""),
            run_view_type=_view_type(),
            max_results=p["max_results"],
            order_by=p.get("order_by"),
            page_token=p.get("page_token"),
        ),
    ),
    ("GET", "runs/get"): lambda c, p: {"run": _proto(c.get_run(p["run_id"]))},
    ("GET", "metrics/get-history"): lambda c, p: {
        "metrics": [_proto(m) for m in c.get_metric_history(p["run_id"], p["metric_key"])]
    },
    ("GET", "registered-models/search"): lambda c, p: _paged(
        "registered_models",
        c.search_registered_models(
            filter_string=p.get("filter") or None,
            max_results=p["max_results"],
            order_by=p.get("order_by"),
            page_token=p.get("page_token"),
        ),
    ),
    ("GET", "registered-models/get"): lambda c, p: {
        "registered_model": _proto(c.get_registered_model(p["name"]))
    },
    ("GET", "model-versions/get"): lambda c, p: {
        "model_version": _proto(c.get_model_version(p["name"], p["version"]))
    },
    ("GET", "model-versions/get-download-uri"): lambda c, p: {
        "artifact_uri": c.get_model_version_download_uri(p["name"], p["version"])
    },
    ("POST", "registered-models/alias"): lambda c, p: _done(
        c.set_registered_model_alias(p["name"], p["alias"], p["version"])
    ),
    ("POST", "model-versions/transition-stage"): lambda c, p: _done(
        c.transition_model_version_stage(p["name"], p["version"], p["stage"], p["archive_existing_versions"])
    ),
    ("POST", "registered-models/set-tag"): lambda c, p: _done(
        c.set_registered_model_tag(p["name"], p["key"], p["value"])
    ),
    ("POST", "model-versions/set-tag"): lambda c, p: _done(
        c.set_model_version_tag(p["name"], p["version"], p["key"], p["value"])
    ),
    ("DELETE", "registered-models/delete"): lambda c, p: _done(c.delete_registered_model(p["name"])),
    ("POST", "registered-models/create"): lambda c, p: {
        "registered_model": _proto(
            c.create_registered_model(p["name"], description=p.get("description") or None)
        )
    },
    ("POST", "model-versions/create"): lambda c, p: {
        "model_version": _proto(
            c.create_model_version(
                p["name"],
                p["source"],
                run_id=p.get("run_id"),
                tags={t["key"]: t["value"] for t in p.get("tags", ())},
                description=p.get("description") or None,
            )
        )
    },
    ("GET", "model-versions/search"): lambda c, p: _paged(
        "model_versions",
        c.search_model_versions(
            filter_string=p.get("filter") or None,
            max_results=p["max_results"],
            order_by=p.get("order_by"),
            page_token=p.get("page_token"),
        ),
    ),
}


def _ms(value: Any) -> datetime | None:
    if value in (None, "", 0, "0"):
        return None
    return datetime.fromtimestamp(int(value) / 1000, UTC)


def _pairs(items: Sequence[Mapping[str, Any]] | None) -> dict[str, str]:
    return {str(i["key"]): str(i.get("value", "")) for i in items or ()}


def _run(raw: Json) -> Run:
    info, data = raw.get("info", {}), raw.get("data", {})
    tags = _pairs(data.get("tags"))
    return Run(
        id=info["run_id"],
        name=info.get("run_name") or tags.get("mlflow.runName", ""),
        experiment_id=str(info.get("experiment_id", "")),
        status=info.get("status", "UNKNOWN"),
        start_time=_ms(info.get("start_time")),
        end_time=_ms(info.get("end_time")),
        user=info.get("user_id") or tags.get("mlflow.user"),
        params=_pairs(data.get("params")),
        metrics={str(m["key"]): float(m.get("value", "nan")) for m in data.get("metrics") or ()},
        tags=tags,
        deleted=info.get("lifecycle_stage") == "deleted",
    )


def _version(raw: Json, aliases: Mapping[str, str] | None = None) -> ModelVersion:
    version = str(raw["version"])
    own = tuple(raw.get("aliases") or ())
    # MLflow's search_model_versions answers with empty aliases: take them from the model.
    merged = own or tuple(a for a, v in (aliases or {}).items() if v == version)
    return ModelVersion(
        name=raw["name"],
        version=version,
        # MLflow spells "in no stage" `None`, a string: the domain says it with an empty one.
        stage="" if raw.get("current_stage") in (None, "", "None") else str(raw["current_stage"]),
        aliases=tuple(sorted(merged)),
        run_id=raw.get("run_id") or None,
        source=raw.get("source"),
        status=raw.get("status", "READY"),
        created=_ms(raw.get("creation_timestamp")),
        updated=_ms(raw.get("last_updated_timestamp")),
        description=raw.get("description") or "",
        tags=_pairs(raw.get("tags")),
    )


def _model(raw: Json) -> RegisteredModel:
    aliases = {str(a["alias"]): str(a["version"]) for a in raw.get("aliases") or ()}
    return RegisteredModel(
        name=raw["name"],
        description=raw.get("description") or "",
        aliases=aliases,
        latest_versions=tuple(_version(v, aliases) for v in raw.get("latest_versions") or ()),
        tags=_pairs(raw.get("tags")),
        created=_ms(raw.get("creation_timestamp")),
        updated=_ms(raw.get("last_updated_timestamp")),
    )


class MlflowSource(TrackingSource):
    """MLflow tracking and registry over a `Transport`."""

    name = SOURCE

    def __init__(self, transport: Transport):
        self.transport = transport

    async def list_experiments(self, names: Sequence[str] = ()) -> list[Experiment]:
        if names:
            answers = await asyncio.gather(
                *(
                    self.transport.call("GET", "experiments/get-by-name", {"experiment_name": n})
                    for n in names
                )
            )
            raws = [a["experiment"] for a in answers]
        else:
            raws, token = [], None
            while True:
                page = await self.transport.call(
                    "GET", "experiments/search", {"max_results": 1000, "page_token": token}
                )
                raws += page.get("experiments", [])
                token = page.get("next_page_token") or None
                if token is None:
                    break
        return [
            Experiment(
                id=str(r["experiment_id"]),
                name=r["name"],
                lifecycle_stage=r.get("lifecycle_stage", "active"),
                tags=_pairs(r.get("tags")),
            )
            for r in raws
        ]

    async def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str = "",
        *,
        max_results: int = 100,
        page_token: str | None = None,
        order_by: str | None = None,
    ) -> Page[Run]:
        if not experiment_ids:
            return Page(())
        payload: Json = {
            "experiment_ids": list(experiment_ids),
            "filter": filter_string,
            "run_view_type": "ACTIVE_ONLY",
            "max_results": max_results,
            # Newest first breaks the ties of another order, as it does for a page of runs anyway.
            "order_by": [*([order_by] if order_by else []), "attributes.start_time DESC"],
        }
        if page_token:
            payload["page_token"] = page_token
        answer = await self.transport.call("POST", "runs/search", payload)
        return Page(tuple(_run(r) for r in answer.get("runs", ())), answer.get("next_page_token") or None)

    async def get_run(self, run_id: str) -> Run:
        answer = await self.transport.call("GET", "runs/get", {"run_id": run_id})
        return _run(answer["run"])

    async def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        answer = await self.transport.call(
            "GET", "metrics/get-history", {"run_id": run_id, "metric_key": key}
        )
        points = [
            MetricPoint(int(m.get("step", 0)), float(m["value"]), _ms(m.get("timestamp")))
            for m in answer.get("metrics", ())
        ]
        return sorted(points, key=lambda p: p.step)

    async def search_models(
        self, filter_string: str = "", *, max_results: int = 100, page_token: str | None = None
    ) -> Page[RegisteredModel]:
        answer = await self.transport.call(
            "GET",
            "registered-models/search",
            {
                "filter": filter_string or None,
                "max_results": max_results,
                "order_by": ["name ASC"],
                "page_token": page_token,
            },
        )
        return Page(
            tuple(_model(m) for m in answer.get("registered_models", ())),
            answer.get("next_page_token") or None,
        )

    async def get_model(self, name: str) -> RegisteredModel:
        answer = await self.transport.call("GET", "registered-models/get", {"name": name})
        return _model(answer["registered_model"])

    async def search_versions(self, filter_string: str) -> list[ModelVersion]:
        raws: list[Json] = []
        token = None
        while True:
            answer = await self.transport.call(
                "GET",
                "model-versions/search",
                {"filter": filter_string, "max_results": 1000, "page_token": token},
            )
            raws += answer.get("model_versions", [])
            token = answer.get("next_page_token") or None
            if token is None:
                break
        names = sorted({r["name"] for r in raws})
        models = await asyncio.gather(*(self.get_model(n) for n in names))
        aliases = {m.name: m.aliases for m in models}
        versions = [_version(r, aliases.get(r["name"])) for r in raws]
        return sorted(versions, key=lambda v: (v.name, -int(v.version)))

    async def get_version(self, name: str, version: str) -> ModelVersion:
        answer = await self.transport.call("GET", "model-versions/get", {"name": name, "version": version})
        raw = answer["model_version"]
        if raw.get("aliases"):
            return _version(raw)
        model = await self.get_model(name)
        return _version(raw, model.aliases)

    async def set_alias(self, name: str, alias: str, version: str) -> None:
        await self.transport.call(
            "POST", "registered-models/alias", {"name": name, "alias": alias, "version": version}
        )

    async def transition_stage(
        self, name: str, version: str, stage: str, *, archive_existing: bool = False
    ) -> None:
        await self.transport.call(
            "POST",
            "model-versions/transition-stage",
            {
                "name": name,
                "version": version,
                "stage": stage,
                "archive_existing_versions": archive_existing,
            },
        )

    async def set_model_tag(self, name: str, key: str, value: str) -> None:
        await self.transport.call(
            "POST", "registered-models/set-tag", {"name": name, "key": key, "value": value}
        )

    async def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        await self.transport.call(
            "POST",
            "model-versions/set-tag",
            {"name": name, "version": version, "key": key, "value": value},
        )

    async def ensure_model(self, name: str, *, description: str = "") -> bool:
        try:
            await self.transport.call(
                "POST", "registered-models/create", {"name": name, "description": description}
            )
        except AlreadyExists:
            return False
        return True

    async def delete_model(self, name: str) -> None:
        await self.transport.call("DELETE", "registered-models/delete", {"name": name})

    async def create_version(
        self,
        name: str,
        source: str,
        *,
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
        description: str = "",
    ) -> ModelVersion:
        payload: Json = {
            "name": name,
            "source": source,
            "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()],
            "description": description,
        }
        if run_id:
            payload["run_id"] = run_id
        answer = await self.transport.call("POST", "model-versions/create", payload)
        return _version(answer["model_version"])

    async def download_uri(self, name: str, version: str) -> str:
        answer = await self.transport.call(
            "GET", "model-versions/get-download-uri", {"name": name, "version": version}
        )
        return str(answer["artifact_uri"])

    async def aclose(self) -> None:
        await self.transport.aclose()


def open_mlflow(settings: MlflowSettings) -> MlflowSource:
    """The adapter for a tracking URI: REST for http(s); for a SQLite file, its reads in SQL and
    the rest through `MlflowClient`; `MlflowClient` for other SQL stores."""
    # Imported here: the SQLite read path builds on this module's transports.
    from mlops_tui.sources.mlflow_sqlite import SqliteReadTransport, sqlite_path

    scheme = settings.tracking_uri.split(":", 1)[0].lower()
    if scheme in ("http", "https"):
        return MlflowSource(HttpTransport(settings))
    if (path := sqlite_path(settings.tracking_uri)) is not None:
        return MlflowSource(SqliteReadTransport(settings, path))
    return MlflowSource(StoreTransport(settings))
