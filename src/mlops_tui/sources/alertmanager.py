"""Alerts and silences from an Alertmanager API v2: Prometheus Alertmanager, or Grafana alerting,
Mimir and Cortex, which serve the same API under another path (`api_path`).

Alertmanager answers a request it rejects with its reason as a JSON string
(`"bad matcher format: env"`), as a JSON object with a `message` (request validation:
`{"code": 612, "message": "matchers in body should have at least 1 items"}`) or as plain text;
the reason is shown as Alertmanager words it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from mlops_tui.config import AlertmanagerSettings
from mlops_tui.domain import Alert, Silence
from mlops_tui.domain.matchers import Matcher, parse_matchers
from mlops_tui.errors import BackendError, ConfigError, InvalidQuery, NotFound
from mlops_tui.sources.base import AlertSource
from mlops_tui.sources.http import HttpApi, Method, decode, excerpt
from mlops_tui.text.rfc3339 import format_rfc3339, parse_rfc3339

if TYPE_CHECKING:
    import httpx

__all__ = ["AlertmanagerSource"]

SOURCE = "alertmanager"
_T = TypeVar("_T")
"""Characters of an error body kept in a message: enough for a reason, not for an HTML page."""


class AlertmanagerSource(AlertSource):
    """An Alertmanager API v2 over httpx, on the event loop."""

    name = SOURCE

    def __init__(
        self, settings: AlertmanagerSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        """Raises: ConfigError for a named secret that cannot be resolved or a filter that does not
        parse."""
        try:
            self._filters = tuple(parse_matchers(settings.filters))
        except InvalidQuery as exc:
            raise ConfigError(f"alertmanager filters: {exc.reason}") from None
        self._api = HttpApi(
            SOURCE,
            settings.url,
            settings,
            base_path=settings.api_path,
            timeout=settings.timeout_seconds,
            transport=transport,
        )
        self._api_url = self._api.url + settings.api_path.rstrip("/")

    async def list_alerts(self, matchers: Sequence[Matcher] = (), *, muted: bool = True) -> list[Alert]:
        """Firing alerts matching the configured `filters` and `matchers`, newest first; Alertmanager
        filters them."""
        params = [("filter", str(m)) for m in (*self._filters, *matchers)]
        params += [("active", "true"), ("silenced", _flag(muted)), ("inhibited", _flag(muted))]
        answer = await self._call("GET", "alerts", params=params)
        alerts = _each("alerts", answer, _alert)
        return sorted(
            alerts, key=lambda a: (a.starts_at is not None, a.starts_at, a.fingerprint), reverse=True
        )

    async def list_silences(self) -> list[Silence]:
        """Every silence, expired ones included (Alertmanager keeps them for its retention time),
        newest first. The configured `filters` scope alerts, not silences: a silence muting this
        environment's alerts need not name its labels."""
        answer = await self._call("GET", "silences")
        silences = _each("silences", answer, _silence)
        return sorted(silences, key=lambda s: (s.starts_at, s.id), reverse=True)

    async def get_silence(self, silence_id: str) -> Silence:
        answer = await self._call("GET", _silence_path(silence_id), silence_id=silence_id)
        return _decoded("silence", answer, _silence)

    async def create_silence(
        self,
        matchers: Sequence[Matcher],
        *,
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        comment: str,
    ) -> str:
        """Create a silence with exactly these matchers; Alertmanager validates it (at least one
        matcher, end after start) and its reason is the InvalidQuery's message."""
        silence = {
            "matchers": [m.to_api() for m in matchers],
            "startsAt": format_rfc3339(starts_at),
            "endsAt": format_rfc3339(ends_at),
            "createdBy": created_by,
            "comment": comment,
        }
        answer = await self._call("POST", "silences", body=silence)
        return _decoded("silences", answer, lambda raw: str(raw["silenceID"]))

    async def expire_silence(self, silence_id: str) -> None:
        await self._call("DELETE", _silence_path(silence_id), silence_id=silence_id)

    async def aclose(self) -> None:
        await self._api.aclose()

    async def _call(
        self,
        method: Method,
        path: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        body: Any = None,
        silence_id: str | None = None,
    ) -> Any:
        """The decoded JSON answer (None for an empty body), or the error Alertmanager's answer
        means. `silence_id`: the request is about that silence, so "not found" is about it."""
        response = await self._api.send(method, path, params=params, json=body)
        if response.is_success:
            if not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                raise BackendError(
                    SOURCE, f"malformed answer to {method} {path}: not JSON ({excerpt(response.text)})"
                ) from None
        status, reason = response.status_code, _said(response)
        if silence_id is not None:
            if status in (400, 422):
                # Not an id Alertmanager could hold (it wants a UUID); another source's, maybe.
                raise NotFound(SOURCE, f"no silence {silence_id!r}: {reason}")
            if status == 404 or "not found" in reason.lower():
                # Alertmanager 0.25 (Debian 12's) answers an unknown silence's DELETE with 500
                # "silence not found"; later versions with 404.
                raise NotFound(SOURCE, f"no silence {silence_id!r}")
        if status in (400, 422):
            raise InvalidQuery(SOURCE, reason)
        if status == 404:
            raise BackendError(
                SOURCE, f"no Alertmanager API v2 at {self._api_url} (HTTP 404 for {path}); check api_path"
            )
        raise BackendError(SOURCE, f"HTTP {status} from {path}: {reason}")


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _silence_path(silence_id: str) -> str:
    return f"silence/{quote(silence_id, safe='')}"


def _said(response: httpx.Response) -> str:
    """Alertmanager's own words for a rejected request: a JSON string, a JSON object's `message`, or
    the plain text of the body."""
    text = response.text.strip()
    try:
        body = response.json()
    except ValueError:
        return excerpt(text) or response.reason_phrase
    if isinstance(body, str):
        return body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return excerpt(text)


def _each(what: str, answer: Any, convert: Callable[[Any], _T]) -> list[_T]:
    """`convert` applied to each item of a JSON list."""
    if not isinstance(answer, list):
        # Alertmanager's removed API v1 answers {"status": ..., "data": [...]}.
        raise BackendError(
            SOURCE,
            f"malformed answer about {what}: a JSON list was expected, not {type(answer).__name__}; "
            "check that api_path is an Alertmanager API v2",
        )
    return _decoded(what, answer, lambda items: [convert(item) for item in items])


def _strings(raw: Mapping[str, Any] | None) -> dict[str, str]:
    return {str(key): str(value) for key, value in (raw or {}).items()}


def _time(value: Any) -> datetime | None:
    return parse_rfc3339(value) if value else None


def _required_time(value: Any) -> datetime:
    moment = _time(value)
    if moment is None:
        raise ValueError(f"no time in {value!r}")
    return moment


def _alert(raw: Mapping[str, Any]) -> Alert:
    status = raw.get("status") or {}
    return Alert(
        fingerprint=str(raw["fingerprint"]),
        labels=_strings(raw["labels"]),
        annotations=_strings(raw.get("annotations")),
        starts_at=_time(raw.get("startsAt")),
        ends_at=_time(raw.get("endsAt")),
        source=SOURCE,
        silenced_by=tuple(str(s) for s in status.get("silencedBy") or ()),
        inhibited_by=tuple(str(i) for i in status.get("inhibitedBy") or ()),
        generator_url=str(raw.get("generatorURL") or ""),
    )


def _silence(raw: Mapping[str, Any]) -> Silence:
    return Silence(
        id=str(raw["id"]),
        matchers=tuple(Matcher.from_api(m) for m in raw["matchers"]),
        starts_at=_required_time(raw["startsAt"]),
        ends_at=_required_time(raw["endsAt"]),
        created_by=str(raw.get("createdBy") or ""),
        comment=str(raw.get("comment") or ""),
        state=str((raw.get("status") or {}).get("state") or "active"),
        source=SOURCE,
    )


def _decoded(what: str, answer: Any, convert: Callable[[Any], _T]) -> _T:
    return decode(SOURCE, what, answer, convert)
