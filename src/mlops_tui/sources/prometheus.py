"""Serving metrics from a Prometheus HTTP API: Prometheus, Thanos, Mimir, VictoriaMetrics, and Google
Cloud Managed Service for Prometheus (Cloud Monitoring's PromQL endpoint, with an access token of
Application Default Credentials).

Each named series is a PromQL template; `{model}`, `{version}`, `{env}` and `{deployed_model_id}`
are filled in as escaped label values, `{models}` as a regex alternation of escaped model names.
Ranges come from `/api/v1/query_range`, current values from `/api/v1/query`. A `{models}` template
is read for many models in one query (a few, for very many), its answer split by the model's label
(`model_label`); other templates, or subjects differing in another placeholder the template names,
are read one model at a time. A query Prometheus refuses (HTTP 400 `bad_data`, 422 `execution`) is an
InvalidQuery in Prometheus's own words (`{"status": "error", "errorType": ..., "error": ...}`).
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from mlops_tui.config import SERIES_PLACEHOLDERS, MetricsSettings
from mlops_tui.domain import MetricSubject, SeriesPoint
from mlops_tui.errors import BackendError, InvalidQuery, MlopsError
from mlops_tui.sources.base import MetricsSource
from mlops_tui.sources.http import HttpApi, decode, excerpt

if TYPE_CHECKING:
    import httpx

__all__ = ["PrometheusSource", "batchable", "fill_template", "fill_models"]

T = TypeVar("T")

SOURCE = "prometheus"
MAX_POINTS = 11_000
"""Prometheus refuses a range of more points than this per series: a longer range gets a wider step."""
MODELS_PER_QUERY = 2_000
"""Characters of `{models}` alternation in one query at most; more models take several queries
(a URL of the query stays well under the 8 KB many proxies allow)."""
_PLACEHOLDER = re.compile(r"\{(" + "|".join(SERIES_PLACEHOLDERS) + r")\}")
_MODELS = "models"


def fill_template(template: str, subject: MetricSubject) -> str:
    """`template` with its placeholders replaced by `subject`'s values, escaped for a PromQL string
    literal (`{model="{model}"}` stays a label matcher; `{models}` is the one model's name as a
    regex)."""
    return fill_models(template, [subject])


def fill_models(template: str, subjects: Sequence[MetricSubject]) -> str:
    """`template` filled in for all of `subjects` at once: `{models}` as the alternation of their
    model names, each escaped as a regex (`churn|fraud\\.v2`); the other placeholders from the
    first subject (see `batchable`). Every value is escaped for a PromQL string literal."""
    values = subjects[0].placeholders()
    values[_MODELS] = "|".join(dict.fromkeys(re.escape(s.model) for s in subjects))
    return _PLACEHOLDER.sub(lambda m: _escape(values[m[1]]), template)


def batchable(template: str, subjects: Sequence[MetricSubject]) -> bool:
    """Whether one query of `template` answers for all of `subjects`: it names `{models}`, and the
    subjects agree on every other placeholder it names (`{env}`, `{version}`...)."""
    named = set(_PLACEHOLDER.findall(template))
    if _MODELS not in named:
        return False
    others = sorted(named - {_MODELS})
    return len({tuple(s.placeholders()[p] for p in others) for s in subjects}) <= 1


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class PrometheusSource(MetricsSource):
    """A Prometheus HTTP API over httpx, on the event loop."""

    name: ClassVar[str] = SOURCE

    def __init__(
        self, settings: MetricsSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        """Raises: ConfigError when a named secret cannot be resolved."""
        self._model_label = settings.model_label
        auth = None
        hint = None
        if settings.auth == "google":
            from mlops_tui.sources.google_token import GoogleAuth

            auth = GoogleAuth(SOURCE)
            hint = (
                "check the Google application default credentials (`gcloud auth application-default login`)"
            )
        self._api = HttpApi(
            SOURCE,
            settings.url,
            None if auth is not None else settings,
            timeout=settings.timeout_seconds,
            base_path="/api/v1",
            auth=auth,
            hint=hint,
            transport=transport,
        )

    @property
    def url(self) -> str:
        """The API's base URL, without credentials."""
        return self._api.url

    async def query(self, promql: str, at: datetime | None = None) -> list[tuple[dict[str, str], float]]:
        """An instant query: each series' labels and value (a scalar answer has no labels).

        Raises: InvalidQuery (Prometheus's words), BackendError, BackendUnreachable.
        """
        params = [("query", promql)]
        if at is not None:
            params.append(("time", _seconds(at)))
        data = await self._get("query", params)
        return decode(SOURCE, "an instant query", data, _instant)

    async def query_range(
        self, promql: str, start: datetime, end: datetime, step: timedelta
    ) -> list[tuple[dict[str, str], list[SeriesPoint]]]:
        """A range query: each series' labels and points, oldest first, non-finite values left out.

        Raises: InvalidQuery (Prometheus's words), BackendError, BackendUnreachable.
        """
        seconds = max(step.total_seconds(), (end - start).total_seconds() / MAX_POINTS, 0.001)
        params = [
            ("query", promql),
            ("start", _seconds(start)),
            ("end", _seconds(end)),
            ("step", f"{seconds:g}"),
        ]
        data = await self._get("query_range", params)
        return decode(SOURCE, "a range query", data, _matrix)

    async def series_range(
        self, query: str, subject: MetricSubject, start: datetime, end: datetime, step: timedelta
    ) -> list[SeriesPoint]:
        """The points of the filled-in template; a template answering several series is refused,
        since a named series is one line."""
        promql = fill_template(query, subject)
        found = await self.query_range(promql, start, end, step)
        return _one(promql, [points for _, points in found]) or []

    async def latest(self, query: str, subject: MetricSubject, at: datetime) -> float | None:
        promql = fill_template(query, subject)
        found = await self.query(promql, at)
        value = _one(promql, [value for _, value in found])
        return value if value is not None and math.isfinite(value) else None

    async def series_range_many(
        self,
        query: str,
        subjects: Sequence[MetricSubject],
        start: datetime,
        end: datetime,
        step: timedelta,
    ) -> list[list[SeriesPoint] | MlopsError]:
        """One range query of a `{models}` template for every subject (see `batchable`), its
        series split by the model's label; one query per subject otherwise."""
        if len(subjects) < 2 or not batchable(query, subjects):
            return await super().series_range_many(query, subjects, start, end, step)
        answers = await self._batched(
            query, subjects, lambda promql: self.query_range(promql, start, end, step)
        )
        return [[] if answer is None else answer for answer in answers]

    async def latest_many(
        self, query: str, subjects: Sequence[MetricSubject], at: datetime
    ) -> list[float | None | MlopsError]:
        """One instant query of a `{models}` template for every subject, as `series_range_many`."""
        if len(subjects) < 2 or not batchable(query, subjects):
            return await super().latest_many(query, subjects, at)
        answers = await self._batched(query, subjects, lambda promql: self.query(promql, at))
        return [None if isinstance(a, float) and not math.isfinite(a) else a for a in answers]

    async def _batched(
        self,
        template: str,
        subjects: Sequence[MetricSubject],
        ask: Callable[[str], Awaitable[list[tuple[dict[str, str], T]]]],
    ) -> list[T | None | MlopsError]:
        """Each subject's one series of `template`, asked for groups of models at once: None for
        none, an InvalidQuery for several; a group's failure is each of its subjects'."""
        groups = _groups(subjects)
        asked = await asyncio.gather(
            *(ask(fill_models(template, group)) for group in groups), return_exceptions=True
        )
        by_model: dict[str, T | None | MlopsError] = {}
        for group, answer in zip(groups, asked, strict=True):
            if isinstance(answer, BaseException) and not isinstance(answer, MlopsError):
                raise answer
            promql = fill_models(template, group)
            for subject in group:
                if isinstance(answer, MlopsError):
                    by_model[subject.model] = answer
                    continue
                try:
                    by_model[subject.model] = _one(promql, self._of(promql, answer, subject.model))
                except InvalidQuery as exc:
                    by_model[subject.model] = exc
        return [by_model[subject.model] for subject in subjects]

    def _of(self, promql: str, answer: list[tuple[dict[str, str], T]], model: str) -> list[T]:
        """The answers of `model` among those of a batched query, by the model's label.

        Raises: InvalidQuery: a series without the label (the template aggregates it away).
        """
        label = self._model_label
        if any(label not in labels for labels, _ in answer):
            raise InvalidQuery(
                SOURCE,
                f"{promql} returns a series without the label {label!r}, so it cannot be read for "
                f"several models at once: keep the label (sum by ({label}) (...)), or set "
                "metrics.model_label",
            )
        return [value for labels, value in answer if labels[label] == model]

    async def aclose(self) -> None:
        await self._api.aclose()

    async def _get(self, path: str, params: Sequence[tuple[str, str]]) -> Any:
        response = await self._api.send("GET", path, params=params)
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_success:
            if isinstance(body, Mapping) and body.get("status") == "success":
                return body.get("data")
            raise BackendError(
                SOURCE,
                f"malformed answer to /api/v1/{path}: not a Prometheus API answer ({excerpt(response.text)})",
            )
        said = _said(body) or excerpt(response.text) or response.reason_phrase
        if response.status_code in (400, 422):
            raise InvalidQuery(SOURCE, said)
        if response.status_code == 404:
            raise BackendError(
                SOURCE, f"no Prometheus HTTP API at {self._api.url} (HTTP 404 for /api/v1/{path}); check url"
            )
        raise BackendError(SOURCE, f"HTTP {response.status_code} from /api/v1/{path}: {said}")


def _said(body: Any) -> str | None:
    """Prometheus's own words in an error answer: `bad_data: parse error: ...`."""
    if not isinstance(body, Mapping) or not isinstance(body.get("error"), str):
        return None
    kind = body.get("errorType")
    return f"{kind}: {body['error']}" if isinstance(kind, str) and kind else str(body["error"])


def _seconds(moment: datetime) -> str:
    return f"{moment.timestamp():.3f}"


def _time(raw: Any) -> datetime:
    return datetime.fromtimestamp(float(raw), UTC)


def _instant(data: Mapping[str, Any]) -> list[tuple[dict[str, str], float]]:
    kind, result = data["resultType"], data["result"]
    if kind in ("scalar", "string"):
        return [({}, float(result[1]))]
    if kind != "vector":
        raise ValueError(f"an instant query answered a {kind}")
    return [(_labels(item["metric"]), float(item["value"][1])) for item in result]


def _matrix(data: Mapping[str, Any]) -> list[tuple[dict[str, str], list[SeriesPoint]]]:
    if data["resultType"] != "matrix":
        raise ValueError(f"a range query answered a {data['resultType']}")
    return [
        (
            _labels(item["metric"]),
            [
                SeriesPoint(_time(at), value)
                for at, raw in item["values"]
                if math.isfinite(value := float(raw))
            ],
        )
        for item in data["result"]
    ]


def _labels(raw: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in raw.items()}


def _one(promql: str, answers: list[Any]) -> Any:
    """The one series' answer, or None for none."""
    if len(answers) > 1:
        raise InvalidQuery(
            SOURCE,
            f"{promql} returns {len(answers)} series; a named series must return one: aggregate it "
            "(sum(...), max(...))",
        )
    return answers[0] if answers else None


def _groups(subjects: Sequence[MetricSubject]) -> list[list[MetricSubject]]:
    """`subjects`, one per model, in groups whose `{models}` alternation stays within
    `MODELS_PER_QUERY` characters."""
    groups: list[list[MetricSubject]] = [[]]
    size = 0
    for subject in {s.model: s for s in subjects}.values():
        length = len(re.escape(subject.model)) + 1
        if groups[-1] and size + length > MODELS_PER_QUERY:
            groups.append([])
            size = 0
        groups[-1].append(subject)
        size += length
    return groups
