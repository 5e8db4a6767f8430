"""A model's serving metrics in one environment, lined up with the changes of its serving slot.

For a model: each named series over a window (from the environment's metrics source), every change
of the slot that serves it (the journal's promotions, rollbacks and external changes; the
registry's alias/stage history and new versions; traffic shifts and deployments where an endpoint
serves it), and the before/after summary of each series over equal windows around the last change:
`latency_p95 82 ms in the hour before v4, 240 ms since: +193 %`.

Each part is read on its own: a source that fails leaves its part empty and says why in `problems`
(a series that fails, in `failures`), and the rest is still shown. Shared by the headless
`metrics` command, `status` and the TUI.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TypeVar

from mlops_tui.config import MetricsSettings, SeriesSettings
from mlops_tui.domain import (
    BeforeAfter,
    Endpoint,
    MetricSubject,
    ModelVersion,
    RegisteredModel,
    Series,
    SeriesPoint,
    SlotChange,
    Threshold,
)
from mlops_tui.errors import MlopsError, UsageError
from mlops_tui.hub import Hub
from mlops_tui.ops.endpoints import ENDPOINT_ACTIONS, target_of
from mlops_tui.ops.journal import CHANGES, EXTERNAL_OPERATOR, Journal
from mlops_tui.ops.registry import Slot, serving_slot, slot_for
from mlops_tui.sources.registry import Role
from mlops_tui.text import humanize
from mlops_tui.text.rfc3339 import parse_rfc3339

__all__ = [
    "BEFORE_AFTER_WINDOW",
    "HEADLINE_WINDOW",
    "Headline",
    "ModelMetrics",
    "SeriesBreach",
    "before_after_line",
    "breaches",
    "compare_around",
    "gather_metrics",
    "headline_batch",
    "headline_settings",
    "headlines",
    "metrics_around",
    "value_text",
]

T = TypeVar("T")
BEFORE_AFTER_WINDOW = timedelta(hours=1)
"""The longest window either side of a change the before/after summary compares."""
SAMPLES_PER_WINDOW = 60
"""How finely each before/after window is sampled."""
HEADLINE_WINDOW = timedelta(hours=24)
"""How far back a headline series (the Models pane's sparkline, the fleet's value) reaches."""
HEADLINE_POINTS = 24
"""How many points a headline series holds at most (one per `HEADLINE_WINDOW / HEADLINE_POINTS`)."""


@dataclass(frozen=True)
class ModelMetrics:
    """What `gather_metrics` found about one model."""

    model: str
    environment: str
    start: datetime
    end: datetime
    step: timedelta
    version: str | None = None
    """The version the serving slot holds (`4`), where one does."""
    slot: str | None = None
    """The slot as write actions name it (`churn@champion`)."""
    series: list[Series] = field(default_factory=list)
    changes: list[SlotChange] = field(default_factory=list)
    """Every change of the slot, oldest first (also those before `start`)."""
    before_after: list[BeforeAfter] = field(default_factory=list)
    failures: dict[str, MlopsError] = field(default_factory=dict)
    """Series that could not be read, by name."""
    problems: list[str] = field(default_factory=list)
    """Other parts that could not be read (the registry, endpoints), one line each."""

    @property
    def last_change(self) -> SlotChange | None:
        """The newest change of who serves (registrations of new versions left out)."""
        return next((c for c in reversed(self.changes) if c.action != "register"), None)


def metrics_settings(hub: Hub) -> MetricsSettings:
    """The environment's [metrics] table. Raises: UsageError: it has none."""
    if hub.env.metrics is None:
        raise UsageError(f"environment {hub.env_name!r} has no [metrics] table")
    return hub.env.metrics


def threshold_of(settings: SeriesSettings) -> Threshold:
    """The thresholds a series' settings declare."""
    return Threshold(worse=settings.worse, warn=settings.warn, critical=settings.critical)


async def series_batch(
    hub: Hub,
    name: str,
    subjects: Sequence[MetricSubject],
    start: datetime,
    end: datetime,
    step: timedelta,
) -> dict[str, Series | MlopsError]:
    """Series `name` of each of `subjects` from `start` to `end` every `step`, by model: one query
    for them all where the source and template allow (`MetricsSource.series_range_many`). A model
    whose series cannot be read gets its error instead.

    Raises:
        UsageError: no [metrics] table, or no series `name`.
    """
    configured = metrics_settings(hub).all_series()
    if name not in configured:
        raise UsageError(f"no series {name!r}; configured: {', '.join(configured)}")
    settings = configured[name]
    if not subjects:
        return {}
    answers = await hub.series_points_many(settings.query, subjects, start, end, step)
    return {
        subject.model: answer
        if isinstance(answer, MlopsError)
        else Series(name, settings.unit, tuple(answer), threshold_of(settings))
        for subject, answer in zip(subjects, answers, strict=True)
    }


async def headline_batch(
    hub: Hub, subjects: Sequence[MetricSubject], start: datetime, end: datetime, step: timedelta
) -> dict[str, Series | MlopsError]:
    """The headline series (`metrics.headline`) of each of `subjects`, by model, in one query where
    the source and template allow: the refresh of every model's headline at once (the Models pane,
    the fleet). See `series_batch`.

    Raises:
        UsageError: the environment has no [metrics] table.
    """
    return await series_batch(hub, metrics_settings(hub).headline, subjects, start, end, step)


Headline = Series | MlopsError
"""A model's headline series, or why it could not be read."""


def headline_settings(hub: Hub) -> tuple[str, SeriesSettings]:
    """The name and settings of the environment's headline series (`metrics.headline`).

    Raises:
        UsageError: no [metrics] table, or its headline names no configured series.
    """
    settings = metrics_settings(hub)
    configured = settings.all_series()
    if settings.headline not in configured:
        raise UsageError(
            f"metrics.headline {settings.headline!r} is no series; configured: {', '.join(configured)}"
        )
    return settings.headline, configured[settings.headline]


async def headlines(
    hub: Hub,
    models: Mapping[str, str | None] | Sequence[str],
    *,
    now: datetime,
    window: timedelta = HEADLINE_WINDOW,
) -> dict[str, Headline]:
    """The headline series of each of `models` over the `window` up to `now`: the one entry point
    every view showing headlines goes through (the Models pane, the fleet, the promote dialog).

    `models`: model names, or model name -> the version serving it (`4`; None: unknown), which
    templates using `{version}` need. A model whose series cannot be read gets the error instead,
    the others their series.

    Raises:
        UsageError: no [metrics] table, or its headline names no configured series.
    """
    headline_settings(hub)  # its headline names a configured series
    versions = dict(models) if isinstance(models, Mapping) else dict.fromkeys(models)
    subjects = [MetricSubject(model, hub.env_name, version) for model, version in versions.items()]
    # One query for all the models where the source and the template allow.
    return await headline_batch(hub, subjects, now - window, now, window / HEADLINE_POINTS)


async def gather_metrics(
    hub: Hub,
    journal: Journal,
    model: str,
    *,
    since: timedelta = timedelta(hours=6),
    step: timedelta | None = None,
    names: Sequence[str] = (),
    window: timedelta = BEFORE_AFTER_WINDOW,
) -> ModelMetrics:
    """Read `model`'s series over the last `since` (every `step`, default the table's
    `step_seconds`; only `names` when given), its slot's changes and the before/after summary.

    Raises:
        UsageError: no [metrics] table, or `names` holds a series that is not configured.
    """
    settings = metrics_settings(hub)
    configured = settings.all_series()
    unknown = [n for n in names if n not in configured]
    if unknown:
        raise UsageError(f"no series {unknown[0]!r}; configured: {', '.join(configured)}")
    chosen = {n: configured[n] for n in (names or configured)}
    end = hub.clock()
    start = end - since
    step = step or timedelta(seconds=settings.step_seconds)
    problems: list[str] = []

    async def part(what: str, call: Callable[[], Awaitable[T]], default: T) -> T:
        try:
            return await call()
        except MlopsError as exc:
            problems.append(f"{what}: {exc.message}")
            return default

    registered = hub.registered_name(model)
    found = None
    if hub.backends_for(Role.TRACKING):
        found = await part("registry", lambda: hub.model(registered), None)
    endpoints: list[Endpoint] = []
    if hub.backends_for(Role.SERVING):
        endpoints = await part("endpoints", hub.endpoints, [])
    version: str | None = None
    if found is not None:
        registered_model, versions = found
        slot = serving_slot(hub, registered_model)
        held = slot.read(registered_model)
        version = held.removeprefix("v") if held else None
        changes = slot_changes(journal, hub.env_name, registered, registered_model, versions, slot)
    else:
        # No registry to read: the journal still knows what was done to the default slot.
        slot = slot_for(hub, None, None)
        changes = journaled_changes(journal, hub.env_name, slot.target(registered))
    changes = sorted(
        [*changes, *_serving_changes(journal, hub.env_name, model, registered, endpoints)], key=_at
    )
    subject = MetricSubject(model, hub.env_name, version, _deployed_model_id(endpoints, registered, version))
    series, failures = await _read_series(hub, chosen, subject, start, end, step)
    result = ModelMetrics(
        model,
        hub.env_name,
        start,
        end,
        step,
        version,
        slot.target(registered),
        series,
        changes,
        failures=failures,
        problems=problems,
    )
    last = result.last_change
    if last is None:
        return result
    summaries, more = await compare_around(hub, chosen, subject, last, end, window)
    failures.update({k: v for k, v in more.items() if k not in failures})
    return replace(result, before_after=summaries)


AROUND_MARGIN = timedelta(hours=1)
"""How much of the series `metrics_around` shows before the alert or the last change, at least (a
third of the time since, where that is more)."""
AROUND_MOST = timedelta(days=7)


async def metrics_around(
    hub: Hub, journal: Journal, model: str, at: datetime | None, *, least: timedelta = timedelta(hours=6)
) -> ModelMetrics:
    """`model`'s metrics around a moment (an alert's start, None: unknown) and the slot's last change
    before it: the series from a while before the earlier of the two (`AROUND_MARGIN`; at least
    `least`, at most a week in all) up to now, so that a chart of them shows both.

    Raises: as `gather_metrics`.
    """
    now = hub.clock()

    def since(moment: datetime | None) -> timedelta:
        if moment is None:
            return least
        since = now - moment
        return min(max(since + max(AROUND_MARGIN, since / 3), least), AROUND_MOST)

    found = await gather_metrics(hub, journal, model, since=since(at))
    last = found.last_change
    if last is not None and last.at < found.start and since(last.at) > found.end - found.start:
        # The change came before the alert: read again from before it, so that both are in view.
        found = await gather_metrics(hub, journal, model, since=since(last.at))
    return found


async def _read_series(
    hub: Hub,
    chosen: dict[str, SeriesSettings],
    subject: MetricSubject,
    start: datetime,
    end: datetime,
    step: timedelta,
) -> tuple[list[Series], dict[str, MlopsError]]:
    answers = await asyncio.gather(
        *(hub.series_points(s.query, subject, start, end, step) for s in chosen.values()),
        return_exceptions=True,
    )
    series: list[Series] = []
    failures: dict[str, MlopsError] = {}
    for (name, settings), answer in zip(chosen.items(), answers, strict=True):
        if isinstance(answer, MlopsError):
            failures[name] = answer
        elif isinstance(answer, BaseException):
            raise answer
        else:
            series.append(Series(name, settings.unit, tuple(answer), threshold_of(settings)))
    return series, failures


async def compare_around(
    hub: Hub,
    chosen: dict[str, SeriesSettings],
    subject: MetricSubject,
    change: SlotChange,
    end: datetime,
    window: timedelta,
) -> tuple[list[BeforeAfter], dict[str, MlopsError]]:
    """Each series' mean over equal windows either side of `change`: at most `window`, and no
    longer than the time since it."""
    width = min(window, end - change.at)
    if width <= timedelta(0):
        return [], {}
    step = max(width / SAMPLES_PER_WINDOW, timedelta(seconds=1))
    answers = await asyncio.gather(
        *(
            hub.series_points(s.query, subject, change.at - width, change.at + width, step)
            for s in chosen.values()
        ),
        return_exceptions=True,
    )
    summaries: list[BeforeAfter] = []
    failures: dict[str, MlopsError] = {}
    for (name, settings), answer in zip(chosen.items(), answers, strict=True):
        if isinstance(answer, MlopsError):
            failures[name] = answer
            continue
        if isinstance(answer, BaseException):
            raise answer
        summaries.append(summarize(name, settings, answer, change, width))
    return summaries, failures


def summarize(
    name: str, settings: SeriesSettings, points: Sequence[SeriesPoint], change: SlotChange, width: timedelta
) -> BeforeAfter:
    """The before/after of one series' `points` around `change`, over windows of `width`."""
    before = [p.value for p in points if change.at - width <= p.time < change.at]
    after = [p.value for p in points if change.at <= p.time <= change.at + width]
    return BeforeAfter(
        series=name,
        unit=settings.unit,
        window=width,
        change=change,
        before=sum(before) / len(before) if before else None,
        after=sum(after) / len(after) if after else None,
        threshold=threshold_of(settings),
    )


def journaled_changes(journal: Journal, env: str, target: str) -> list[SlotChange]:
    """The changes of `target` (`churn@champion`) the journal recorded, newest first."""
    return [
        SlotChange(
            at=entry.finished or entry.time,
            before=entry.before,
            after=entry.after,
            action=entry.action,
            operator="" if entry.operator == EXTERNAL_OPERATOR else entry.operator,
            origin="journal",
        )
        for entry in journal.entries(environment=env, target=target, limit=-1)
        if entry.result in CHANGES
    ]


def slot_changes(
    journal: Journal,
    env: str,
    registered: str,
    registered_model: RegisteredModel,
    versions: Sequence[ModelVersion],
    slot: Slot,
) -> list[SlotChange]:
    """The changes of `slot` of `registered` the journal and the registry know of, oldest first.

    The registry's history tag (what mlops-tui wrote on each move) and the journal overlap: a move
    both record is kept once, as the journal says it.
    """
    journaled = journaled_changes(journal, env, slot.target(registered))
    held = slot.read(registered_model)
    history = slot.history(registered_model)
    recorded: list[SlotChange] = []
    for index, moved in enumerate(history):
        try:
            at = parse_rfc3339(moved.get("at", ""))
        except ValueError:
            at = None
        if at is None:
            continue
        after = f"v{history[index + 1]['version']}" if index + 1 < len(history) else held
        recorded.append(
            SlotChange(at, f"v{moved['version']}", after, "promote", moved.get("by", ""), "registry")
        )
    known = {(c.before, c.after) for c in journaled}
    registered_versions = [
        SlotChange(v.created, None, f"v{v.version}", "register", "", "registry")
        for v in versions
        if v.created
    ]
    return sorted(
        [*journaled, *(c for c in recorded if (c.before, c.after) not in known), *registered_versions],
        key=_at,
    )


def _serving_changes(
    journal: Journal, env: str, model: str, registered: str, endpoints: Sequence[Endpoint]
) -> list[SlotChange]:
    """On the endpoints serving `model`: the traffic shifts, traffic rollbacks and undeploys the
    journal recorded, and each deployment of the model."""
    serving = [e for e in endpoints if any(d.mlflow_model in (model, registered) for d in e.deployed_models)]
    shifts = [
        SlotChange(e.finished or e.time, e.before, e.after, e.action, e.operator, "serving")
        for endpoint in serving
        for e in journal.entries(environment=env, target=target_of(endpoint), limit=-1)
        if e.action in ENDPOINT_ACTIONS and e.result in CHANGES
    ]
    deployed = [
        SlotChange(d.created, None, f"{endpoint.display_name}/{d.id}", "deploy", "", "serving")
        for endpoint in serving
        for d in endpoint.deployed_models
        if d.created and d.mlflow_model in (model, registered)
    ]
    return [*shifts, *deployed]


def _deployed_model_id(endpoints: Sequence[Endpoint], registered: str, version: str | None) -> str | None:
    """The deployed model serving `version` with the most traffic, where an endpoint serves it."""
    candidates = [
        (endpoint.traffic_split.get(d.id, 0), d.id)
        for endpoint in endpoints
        for d in endpoint.deployed_models
        if d.mlflow_model == registered and (version is None or d.mlflow_version == version)
    ]
    return max(candidates)[1] if candidates else None


def value_text(value: float | None, unit: str) -> str:
    """`240 ms`, `1.2 %`, `0.13`; `-` for no value."""
    if value is None:
        return "-"
    text = f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return f"{text} {unit}" if unit else text


def before_after_line(summary: BeforeAfter) -> str:
    """`latency_p95 82 ms in the hour before v4, 240 ms since: +193 %`."""
    target = summary.change.after or "the change"
    span = "the hour" if summary.window == timedelta(hours=1) else humanize.duration(summary.window)
    line = (
        f"{summary.series} {value_text(summary.before, summary.unit)} in {span} before {target}, "
        f"{value_text(summary.after, summary.unit)} since"
    )
    if summary.ratio is not None:
        line += f": {summary.ratio * 100:+.0f} %"
    return line + (" (worse)" if summary.worse else "")


def _at(change: SlotChange) -> datetime:
    return change.at


@dataclass(frozen=True)
class SeriesBreach:
    """A model's series whose current value is past a threshold."""

    model: str
    series: str
    unit: str
    value: float
    level: str
    """`warn` or `critical`."""
    bound: float


async def breaches(hub: Hub, models: Sequence[str]) -> list[SeriesBreach]:
    """The current value of each series with thresholds, for each of `models`, past its warn or
    critical bound. A series that cannot be read is left out (its source's status says why).

    Raises:
        UsageError: the environment has no [metrics] table.
    """
    settings = metrics_settings(hub)
    bounded = {n: s for n, s in settings.all_series().items() if s.warn is not None or s.critical is not None}
    subjects = [MetricSubject(m, hub.env_name) for m in models]
    if not subjects:
        return []
    # One read per series for every model at once (one query each where the source can batch).
    per_series = await asyncio.gather(
        *(hub.series_latest_many(s.query, subjects) for s in bounded.values()), return_exceptions=True
    )
    found: list[SeriesBreach] = []
    for (name, series), values in zip(bounded.items(), per_series, strict=True):
        if isinstance(values, BaseException):
            if not isinstance(values, MlopsError):
                raise values
            continue
        found += _breached(models, name, series, values)
    # As before batching: by model, then by series in the order configured.
    order = {n: i for i, n in enumerate(bounded)}
    rank = {m: i for i, m in enumerate(models)}
    return sorted(found, key=lambda b: (rank[b.model], order[b.series]))


def _breached(
    models: Sequence[str], name: str, series: SeriesSettings, values: Sequence[float | None | MlopsError]
) -> list[SeriesBreach]:
    found: list[SeriesBreach] = []
    for model, value in zip(models, values, strict=True):
        if isinstance(value, MlopsError):
            continue
        level = threshold_of(series).level(value)
        if value is None or level == "ok":
            continue
        bound = series.critical if level == "critical" else series.warn
        assert bound is not None
        found.append(SeriesBreach(model, name, series.unit, value, level, bound))
    return found
