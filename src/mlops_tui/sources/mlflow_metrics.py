"""Serving metrics a monitoring job logs to MLflow, for teams without Prometheus (and the demo).

The job logs one run per day and served version in an experiment (`monitoring` by default), tagged
`model` and `version`, each serving metric (`latency_p95_ms`, ...) logged with the time it
describes as its timestamp. A named series' query is the metric key; its points over a window are
those of every run of the model, read through the environment's tracking source.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from mlops_tui.config import MetricsSettings
from mlops_tui.domain import MetricSubject, Run, SeriesPoint
from mlops_tui.errors import MlopsError, NotFound
from mlops_tui.sources.base import MetricsSource, TrackingSource

__all__ = ["MlflowMetricsSource"]

SOURCE = "mlflow-metrics"
MODEL_TAG = "model"
"""The run tag naming the model a monitoring run measured."""
VERSION_TAG = "version"
"""The run tag naming the version it served."""
_RUNS_PER_READ = 1000


class MlflowMetricsSource(MetricsSource):
    """A monitoring job's runs in MLflow, read through the tracking source."""

    name: ClassVar[str] = SOURCE
    latest_window: ClassVar[timedelta] = timedelta(days=2)

    def __init__(
        self,
        settings: MetricsSettings,
        tracking: Callable[[], TrackingSource],
        *,
        owned: TrackingSource | None = None,
    ) -> None:
        """`tracking`: the tracking source the runs are read through, the environment's or, when
        the monitoring job logs elsewhere, one of its own it closes with itself (`owned`)."""
        self._experiment = settings.experiment
        self._tracking = tracking
        self._owned = owned
        self._experiment_id: str | None = None

    async def aclose(self) -> None:
        if self._owned is not None:
            await self._owned.aclose()

    async def series_range(
        self, query: str, subject: MetricSubject, start: datetime, end: datetime, step: timedelta
    ) -> list[SeriesPoint]:
        """Metric `query` of every monitoring run of the model, from `start` to `end`, averaged
        over each `step` where the job logged more often."""
        (points,) = await self._read(query, [subject], start, end, step)
        return points

    async def series_range_many(
        self,
        query: str,
        subjects: Sequence[MetricSubject],
        start: datetime,
        end: datetime,
        step: timedelta,
    ) -> list[list[SeriesPoint] | MlopsError]:
        """As `series_range` for each subject, the experiment's runs listed once for them all."""
        try:
            return list(await self._read(query, subjects, start, end, step))
        except MlopsError as exc:
            return [exc] * len(subjects)

    async def latest_many(
        self, query: str, subjects: Sequence[MetricSubject], at: datetime
    ) -> list[float | None | MlopsError]:
        """As `latest` for each subject, the experiment's runs listed once for them all."""
        ranges = await self.series_range_many(
            query, subjects, at - self.latest_window, at, timedelta(minutes=5)
        )
        return [
            answer if isinstance(answer, MlopsError) else answer[-1].value if answer else None
            for answer in ranges
        ]

    async def _read(
        self,
        query: str,
        subjects: Sequence[MetricSubject],
        start: datetime,
        end: datetime,
        step: timedelta,
    ) -> list[list[SeriesPoint]]:
        tracking = self._tracking()
        experiment = await self._experiment_of(tracking)
        # Runs cover a day: one started the day before `start` may still hold points inside it.
        since = start - timedelta(days=1)
        runs = [
            run
            for run in await self._runs(tracking, experiment)
            if run.start_time is not None and since <= run.start_time <= end
        ]
        return list(
            await asyncio.gather(
                *(
                    self._points(
                        tracking,
                        query,
                        [r for r in runs if r.tags.get(MODEL_TAG) == s.model],
                        start,
                        end,
                        step,
                    )
                    for s in subjects
                )
            )
        )

    async def _points(
        self,
        tracking: TrackingSource,
        query: str,
        runs: Sequence[Run],
        start: datetime,
        end: datetime,
        step: timedelta,
    ) -> list[SeriesPoint]:
        """Metric `query` of `runs` from `start` to `end`, bucketed by `step`."""
        histories = await asyncio.gather(*(tracking.metric_history(run.id, query) for run in runs))
        points = sorted(
            (
                SeriesPoint(point.timestamp, point.value)
                for history in histories
                for point in history
                if point.timestamp is not None and start <= point.timestamp <= end
            ),
            key=lambda p: p.time,
        )
        return bucketed(points, start, step)

    async def _runs(self, tracking: TrackingSource, experiment: str) -> list[Run]:
        """Every run of the experiment, newest first. Unfiltered, so that a SQLite store answers
        from its fast read path (a filter costs MLflow's import); tags are compared here."""
        runs: list[Run] = []
        token: str | None = None
        while True:
            page = await tracking.search_runs([experiment], max_results=_RUNS_PER_READ, page_token=token)
            runs += page.items
            token = page.next_token
            if token is None:
                return runs

    async def _experiment_of(self, tracking: TrackingSource) -> str:
        if self._experiment_id is None:
            try:
                (found,) = await tracking.list_experiments([self._experiment])
            except NotFound:
                raise NotFound(
                    SOURCE,
                    f"no experiment {self._experiment!r} of monitoring runs in the tracking server "
                    "(metrics.experiment)",
                ) from None
            self._experiment_id = found.id
        return self._experiment_id


def bucketed(points: list[SeriesPoint], start: datetime, step: timedelta) -> list[SeriesPoint]:
    """`points` (oldest first) with those falling in one `step` from `start` averaged into one,
    at the bucket's start; points further apart than `step` are kept as they are."""
    width = step.total_seconds()
    if width <= 0 or len(points) < 2:
        return points
    buckets: dict[int, list[float]] = {}
    for point in points:
        buckets.setdefault(int((point.time - start).total_seconds() // width), []).append(point.value)
    if len(buckets) == len(points):
        return points
    return [
        SeriesPoint((start + timedelta(seconds=index * width)).astimezone(UTC), sum(values) / len(values))
        for index, values in sorted(buckets.items())
    ]
