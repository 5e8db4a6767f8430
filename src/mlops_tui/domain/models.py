"""The nouns of mlops-tui: frozen structs shared by every source, the hub and both front ends.

msgspec's `Struct`s, not dataclasses: a dataclass compiles its methods when its module is imported,
~1 ms a class, and every command and the TUI's first frame import these 30 (25 ms of 0.5 s).
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Generic, Literal, TypeVar

import msgspec
from msgspec import field

from mlops_tui.domain.matchers import Matcher

__all__ = [
    "ApprovalDecision",
    "ApprovalRequest",
    "PlanArguments",
    "FINISHED_STATUSES",
    "PIPELINE_STATUSES",
    "Alert",
    "AuditEntry",
    "BeforeAfter",
    "Change",
    "DeployMarker",
    "DeployedModel",
    "Endpoint",
    "Experiment",
    "GateCheck",
    "Job",
    "MarkerResult",
    "MetricComparison",
    "MetricSubject",
    "Pipeline",
    "TraceChunk",
    "MetricPoint",
    "ModelVersion",
    "MonitoringJob",
    "Page",
    "RegisteredModel",
    "Run",
    "SourceState",
    "Series",
    "SeriesPoint",
    "Silence",
    "SlotChange",
    "SourceStatus",
    "Threshold",
    "format_split",
    "label_fingerprint",
    "parse_split",
    "tags_in_order",
    "utcnow",
]

T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


BOOKKEEPING_TAG_PREFIX = "mlops_tui."
"""Tags mlops-tui writes for its own bookkeeping (`mlops_tui.promoted_at`, `mlops_tui.pipeline_id`)."""


def tags_in_order(tags: Mapping[str, str]) -> list[tuple[str, str]]:
    """Tags as listings show them: the team's by name, then mlops-tui's own bookkeeping, so that a
    promotion's `mlops_tui.*` tags never push `validation_status` or `trained_by` out of view."""
    return sorted(tags.items(), key=lambda item: (item[0].startswith(BOOKKEEPING_TAG_PREFIX), item[0]))


class Page(msgspec.Struct, Generic[T], frozen=True):
    """One page of a server-side paged listing; `next_token` is None on the last page."""

    items: Sequence[T]
    next_token: str | None = None
    problem: str | None = None
    """What failed in a listing several sources feed and the others answered."""


class Experiment(msgspec.Struct, frozen=True):
    id: str
    name: str
    lifecycle_stage: str = "active"
    tags: Mapping[str, str] = field(default_factory=dict)


class Run(msgspec.Struct, frozen=True):
    id: str
    name: str
    experiment_id: str
    status: str
    start_time: datetime | None
    end_time: datetime | None
    user: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    deleted: bool = False
    """In MLflow's trash (`lifecycle_stage` deleted): still readable by id until garbage-collected."""

    @property
    def duration(self) -> timedelta | None:
        if self.start_time is None or self.end_time is None:
            return None
        return self.end_time - self.start_time


class MetricPoint(msgspec.Struct, frozen=True):
    step: int
    value: float
    timestamp: datetime | None = None


class ModelVersion(msgspec.Struct, frozen=True):
    name: str
    version: str
    stage: str = ""
    """Legacy stage (`Staging`, `Production`, `Archived`); empty when in none (MLflow's `None`)."""
    aliases: tuple[str, ...] = ()
    run_id: str | None = None
    source: str | None = None
    status: str = "READY"
    created: datetime | None = None
    updated: datetime | None = None
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)


class RegisteredModel(msgspec.Struct, frozen=True):
    name: str
    description: str = ""
    aliases: Mapping[str, str] = field(default_factory=dict)
    """Alias -> version number."""
    latest_versions: tuple[ModelVersion, ...] = ()
    """The latest version in each stage, as the registry reports them."""
    tags: Mapping[str, str] = field(default_factory=dict)
    created: datetime | None = None
    updated: datetime | None = None

    @property
    def latest_version(self) -> str | None:
        versions = [int(v.version) for v in self.latest_versions]
        return str(max(versions)) if versions else None

    def stages(self) -> dict[str, str]:
        """Stage -> the latest version in it (versions in no stage left out)."""
        return {v.stage: v.version for v in self.latest_versions if v.stage}


class SourceState(enum.StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"
    UNKNOWN = "unknown"


class SourceStatus(msgspec.Struct, frozen=True):
    """Health of one backend as last seen: state, the last error, and when data was last good."""

    name: str
    state: SourceState = SourceState.UNKNOWN
    last_error: str | None = None
    last_success: datetime | None = None

    def age(self, now: datetime) -> timedelta | None:
        return None if self.last_success is None else now - self.last_success


class Change(msgspec.Struct, frozen=True):
    """What one write action is about to do, as the operator confirms it and the journal records it."""

    action: str
    """`promote`, `rollback`, ... (later `retrain`, `silence`, `traffic`)."""
    environment: str
    target: str
    """What changes: `churn@champion`, `churn:Production`, `prod.churn`."""
    subject: str
    """What a protected environment asks the operator to type: the model name."""
    before: str | None
    """The state the decision was made on (`v3`); re-read right before writing."""
    after: str
    """The state the action should leave (`v4`); re-read right after writing."""
    details: tuple[str, ...] = ()
    checks: tuple[GateCheck, ...] = ()
    """The environment's promotion gates, evaluated when the change was planned."""
    metrics: tuple[MetricComparison, ...] = ()
    """Key metrics of the version beside the current holder's (promotions)."""
    starts: bool = False
    """The action starts something new (a retraining pipeline): it has no state before, only what
    it starts."""

    @property
    def failed_checks(self) -> tuple[GateCheck, ...]:
        return tuple(c for c in self.checks if not c.passed)

    @property
    def warnings(self) -> tuple[str, ...]:
        """Regressions against the current holder, said whether or not a gate checks them."""
        return tuple(
            f"{m.metric} regresses: {m.value:g} against {self.before}'s {m.current:g}"
            for m in self.metrics
            if m.regressed and m.value is not None and m.current is not None
        )

    def change_text(self) -> str:
        """`v3 -> v4`, `(unset) -> v4`, or `starts a new local pipeline`."""
        if self.starts:
            return f"starts {self.after}"
        return f"{self.before or '(unset)'} -> {self.after}"

    def summary(self) -> str:
        return f"{self.action} {self.target} in {self.environment}: {self.change_text()}"


class GateCheck(msgspec.Struct, frozen=True):
    """One promotion gate's verdict on a planned change."""

    gate: str
    """`required_tags`, `metrics`, `promoted_in` or `no_critical_alerts`."""
    passed: bool
    detail: str
    """What was checked and found: `validation_status = passed (is failed)`."""


class MetricComparison(msgspec.Struct, frozen=True):
    """One key metric of a version beside the slot's current holder's."""

    metric: str
    value: float | None
    """The version's (its run's latest value); None: not logged."""
    current: float | None
    """The current holder's; None: no holder, or not logged."""
    regressed: bool = False
    """Worse than the current holder's, by the metric's direction."""


class AuditEntry(msgspec.Struct, frozen=True):
    """One write action as the journal holds it: the intent and, once known, its outcome."""

    id: int
    time: datetime
    operator: str
    environment: str
    action: str
    target: str
    before: str | None
    after: str | None
    result: str
    """`pending` (no outcome yet), `ok`, `failed`, `refused` or `unknown` (interrupted)."""
    message: str = ""
    finished: datetime | None = None


class PlanArguments(msgspec.Struct, frozen=True):
    """What a write was planned from, kept with an approval request so that the approver's
    mlops-tui plans it again on the state of the moment."""

    kind: Literal["promote", "copy", "rollback"]
    """`promote` within the environment, `copy` from `from_env` into it, `rollback`."""
    model: str
    version: str | None = None
    alias: str | None = None
    stage: str | None = None
    archive_existing: bool = False
    from_env: str | None = None
    override: str | None = None
    """Why the requester overrides failed promotion gates; None: they are not overridden."""


APPROVAL_DECISIONS = ("approved", "rejected", "performed", "failed", "stale")
"""What an operator may record on a request: approved (not yet enough approvals), rejected (the
requester withdrawing, or another operator refusing), performed (the last approval, and the write
made), failed (the write was tried and failed), stale (the target changed since the request)."""


class ApprovalDecision(msgspec.Struct, frozen=True):
    """One operator's decision on an approval request."""

    time: datetime
    operator: str
    decision: str
    """One of APPROVAL_DECISIONS."""
    reason: str = ""


class ApprovalRequest(msgspec.Struct, frozen=True):
    """A write that needs other operators' approval, as the shared journal holds it."""

    id: int
    time: datetime
    requester: str
    environment: str
    action: str
    target: str
    subject: str
    before: str | None
    after: str | None
    message: str
    arguments: PlanArguments
    needed: int
    """Approvals by operators other than the requester before the write is made."""
    expires: datetime
    decisions: tuple[ApprovalDecision, ...] = ()

    @property
    def approvers(self) -> tuple[str, ...]:
        """Operators who approved, in order, each once (the one who performed it included)."""
        seen: list[str] = []
        for d in self.decisions:
            if d.decision in ("approved", "performed") and d.operator not in seen:
                seen.append(d.operator)
        return tuple(seen)

    def status(self, now: datetime) -> str:
        """`pending`, `performed`, `failed`, `rejected`, `stale` or `expired`."""
        decided = {d.decision for d in self.decisions}
        for final in ("performed", "failed", "rejected", "stale"):
            if final in decided:
                return final
        return "expired" if now >= self.expires else "pending"

    def closing(self) -> ApprovalDecision | None:
        """The decision that closed the request, if one did."""
        return next((d for d in self.decisions if d.decision != "approved"), None)

    def change_text(self) -> str:
        return f"{self.before or '(unset)'} -> {self.after}"


PIPELINE_STATUSES = (
    "created",
    "waiting_for_resource",
    "preparing",
    "pending",
    "running",
    "canceling",
    "success",
    "failed",
    "canceled",
    "skipped",
    "manual",
    "scheduled",
)
"""Statuses as GitLab names them; other pipeline sources map theirs onto these."""
FINISHED_STATUSES = frozenset({"success", "failed", "canceled", "skipped"})


def _elapsed(started: datetime | None, finished: datetime | None) -> timedelta | None:
    """How long something ran, or has been running."""
    return None if started is None else (finished or utcnow()) - started


class _Timed:
    """What a pipeline and a job both tell from their status and times."""

    __slots__ = ()
    status: str
    started: datetime | None
    finished: datetime | None

    @property
    def duration(self) -> timedelta | None:
        """How long it ran, or has been running."""
        return _elapsed(self.started, self.finished)

    @property
    def done(self) -> bool:
        return self.status in FINISHED_STATUSES


class Pipeline(msgspec.Struct, _Timed, frozen=True):
    """A CI/CD pipeline run (GitLab), or a retraining run of another runner (local, Vertex)."""

    id: str
    source: str
    """The runner: `gitlab`, `local`, `vertex`."""
    status: str
    """One of PIPELINE_STATUSES."""
    ref: str = ""
    sha: str | None = None
    trigger: str = ""
    """What started it: GitLab's `source` (push, web, trigger, api, schedule, ...)."""
    user: str | None = None
    created: datetime | None = None
    started: datetime | None = None
    finished: datetime | None = None
    web_url: str | None = None
    model: str | None = None
    """The registered model a retraining pipeline trains, where known."""
    parameters: tuple[tuple[str, str], ...] = ()
    """What it was started with, where the runner says (an Airflow DAG run's `conf`), by key."""

    @property
    def qualified_id(self) -> str:
        """`source:id` (`gitlab:1234`), the form every pipeline command accepts."""
        return f"{self.source}:{self.id}"


class Job(msgspec.Struct, _Timed, frozen=True):
    id: str
    pipeline_id: str
    name: str
    stage: str
    status: str
    created: datetime | None = None
    started: datetime | None = None
    finished: datetime | None = None
    web_url: str | None = None
    attempt: int | None = None
    """Which try of the job this is, where a runner retries a job in place (Airflow's try
    number); None where each retry is a new job (GitLab)."""
    source: str = ""
    """The runner that made it, as its pipeline's `source`."""

    @property
    def qualified_id(self) -> str:
        """`source:id` (`gitlab:1234`), the form every pipeline command accepts; the bare id
        where the source is not known."""
        return f"{self.source}:{self.id}" if self.source else self.id


class TraceChunk(msgspec.Struct, frozen=True):
    """The part of a job's log from `offset` on: read incrementally, never the whole log each poll."""

    text: str
    """Raw log text (ANSI escapes and GitLab section markers included) from the requested offset."""
    next_offset: int
    """Byte offset to ask for next time."""
    complete: bool
    """The job has finished and nothing more will be appended."""


SEVERITIES = ("critical", "error", "warning", "info")
"""Alert severities, most severe first, as the `severity` label usually names them."""


def label_fingerprint(labels: Mapping[str, str]) -> str:
    """A stable identity for an alert's label set, for sources whose alerts carry none of their own
    (Alertmanager gives its own fingerprint): 16 hex digits of a hash of the sorted labels."""
    text = "\x00".join(f"{k}\x01{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Alert(msgspec.Struct, frozen=True):
    """A firing alert, from Alertmanager, a local rule or Vertex model monitoring."""

    fingerprint: str
    """Stable identity of the alert (Alertmanager's fingerprint; a hash of the labels elsewhere)."""
    labels: Mapping[str, str]
    annotations: Mapping[str, str] = field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    source: str = "alertmanager"
    """Where it comes from: `alertmanager`, `local` (a rule in the config) or `vertex`."""
    silenced_by: tuple[str, ...] = ()
    """Ids of the silences muting it."""
    inhibited_by: tuple[str, ...] = ()
    """Fingerprints of the alerts inhibiting it."""
    generator_url: str = ""

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "none")

    @property
    def severity_rank(self) -> int:
        """0 for the most severe; unknown severities after the known ones."""
        try:
            return SEVERITIES.index(self.severity.lower())
        except ValueError:
            return len(SEVERITIES)

    @property
    def state(self) -> str:
        """`active`, `silenced` or `inhibited`."""
        if self.silenced_by:
            return "silenced"
        if self.inhibited_by:
            return "inhibited"
        return "active"

    @property
    def summary(self) -> str:
        return self.annotations.get("summary", "")

    @property
    def description(self) -> str:
        return self.annotations.get("description", "")

    @property
    def runbook_url(self) -> str:
        return self.annotations.get("runbook_url", "") or self.annotations.get("runbook", "")


class Silence(msgspec.Struct, frozen=True):
    """A silence: alerts matching all its matchers are muted between `starts_at` and `ends_at`."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    state: str = "active"
    """`active`, `pending` (starts later) or `expired`."""
    source: str = "alertmanager"


class DeployedModel(msgspec.Struct, frozen=True):
    """A model deployed to a serving endpoint (Vertex AI), and the MLflow version it serves."""

    id: str
    """The deployed model's id on its endpoint (what the traffic split is keyed by)."""
    display_name: str
    model: str
    """The serving model's resource name, `projects/P/locations/L/models/M`."""
    model_version: str = ""
    """The serving model's version id."""
    model_display_name: str = ""
    mlflow_model: str | None = None
    """The MLflow registered model it serves, where the serving model's labels say so."""
    mlflow_version: str | None = None
    created: datetime | None = None


class Endpoint(msgspec.Struct, frozen=True):
    """A serving endpoint: its deployed models and how traffic is split between them."""

    id: str
    name: str
    """Resource name, `projects/P/locations/L/endpoints/E`."""
    display_name: str
    deployed_models: tuple[DeployedModel, ...] = ()
    traffic_split: Mapping[str, int] = field(default_factory=dict)
    """Deployed model id -> percent of the traffic; sums to 100 (or empty)."""
    created: datetime | None = None
    updated: datetime | None = None
    web_url: str | None = None

    def deployed(self, deployed_model_id: str) -> DeployedModel | None:
        return next((d for d in self.deployed_models if d.id == deployed_model_id), None)

    @property
    def split_text(self) -> str:
        return format_split(self.traffic_split)


def format_split(split: Mapping[str, int]) -> str:
    """A traffic split as the journal records it: `11=90 12=10`, ordered by id, zeros left out."""
    return " ".join(f"{key}={value}" for key, value in sorted(split.items()) if value)


def parse_split(text: str) -> dict[str, int]:
    """The inverse of `format_split`. Raises: ValueError on anything else."""
    split: dict[str, int] = {}
    for item in text.split():
        key, sep, value = item.partition("=")
        if not sep or not key or not value.isdigit():
            raise ValueError(f"not a traffic split: {text!r}")
        split[key] = int(value)
    return split


class MonitoringJob(msgspec.Struct, frozen=True):
    """A model deployment monitoring job (Vertex AI): skew and drift checks of an endpoint."""

    id: str
    name: str
    display_name: str
    endpoint: str
    """The monitored endpoint's resource name."""
    state: str
    """Vertex's JobState without its prefix, lower case: `running`, `paused`, `failed`, ..."""
    schedule_state: str = ""
    """`pending`, `offline` or `running`."""
    created: datetime | None = None
    updated: datetime | None = None
    next_run: datetime | None = None
    last_run: datetime | None = None
    last_error: str = ""
    """The error of the latest monitoring run (or of the job), if any."""
    deployed_model_ids: tuple[str, ...] = ()


class DeployMarker(msgspec.Struct, frozen=True):
    """One change of a serving slot as the team's dashboards are told of it (a Grafana annotation,
    a Pushgateway series): a promotion, a rollback or a traffic change, once made."""

    environment: str
    action: str
    """The change's action: `promote`, `rollback`, `traffic`, `traffic-rollback`, `undeploy`."""
    target: str
    """What changed: `churn@champion`, `churn:Production`, `endpoint churn-ep (123)`."""
    model: str
    """The model (an endpoint's changes: the endpoint's display name)."""
    version: str
    """What the target holds now: `v4` (an endpoint: its traffic split, `11=90 12=10`)."""
    previous: str | None
    """What it held before; None: nothing."""
    operator: str
    time: datetime

    @classmethod
    def of(cls, change: Change, operator: str, time: datetime) -> DeployMarker:
        """The marker of `change`, made by `operator` at `time`."""
        return cls(
            environment=change.environment,
            action=change.action,
            target=change.target,
            model=change.subject,
            version=change.after,
            previous=change.before,
            operator=operator,
            time=time,
        )

    def text(self) -> str:
        """`alice: promote churn@champion in prd: v3 -> v4`."""
        return (
            f"{self.operator}: {self.action} {self.target} in {self.environment}: "
            f"{self.previous or '(unset)'} -> {self.version}"
        )


class MarkerResult(msgspec.Struct, frozen=True):
    """How posting one deploy marker to one destination ended."""

    destination: str
    """`grafana` or `pushgateway`."""
    ok: bool
    detail: str
    """Where it went (`annotation 17 on https://grafana.example.com`), or why it failed."""


# -- serving metrics ------------------------------------------------------------------------------

Direction = Literal["up", "down"]
"""Which way a metric gets worse: `up` (latency, errors, drift) or `down` (requests, accuracy)."""
Level = Literal["ok", "warn", "critical"]
"""Where a value stands against its thresholds."""


class Threshold(msgspec.Struct, frozen=True):
    """When a series' value is bad: `warn` and `critical` bounds in the direction it gets worse."""

    worse: Direction = "up"
    warn: float | None = None
    critical: float | None = None

    def level(self, value: float | None) -> Level:
        """`critical`, `warn` or `ok` for `value` (None, no value: `ok`)."""
        if value is None:
            return "ok"
        for name, bound in (("critical", self.critical), ("warn", self.warn)):
            if bound is not None and (value >= bound if self.worse == "up" else value <= bound):
                return name  # type: ignore[return-value]
        return "ok"

    def is_worse(self, before: float, after: float) -> bool:
        """Whether going from `before` to `after` is a change for the worse."""
        return after > before if self.worse == "up" else after < before


class SeriesPoint(msgspec.Struct, frozen=True):
    """One sample of a series."""

    time: datetime
    value: float


class MetricSubject(msgspec.Struct, frozen=True):
    """What a series template is filled in for: a model in an environment, the version serving it,
    and, where an endpoint serves it, the deployed model's id there (Vertex AI)."""

    model: str
    environment: str
    version: str | None = None
    """The serving version's number (`4`), where one is known."""
    deployed_model_id: str | None = None

    def placeholders(self) -> dict[str, str]:
        """The values of the template placeholders `{model}`, `{version}`, `{env}` and
        `{deployed_model_id}` (empty where unknown)."""
        return {
            "model": self.model,
            "version": self.version or "",
            "env": self.environment,
            "deployed_model_id": self.deployed_model_id or "",
        }


class Series(msgspec.Struct, frozen=True):
    """A named serving metric of one model over a window (`latency_p95` in ms), oldest point first."""

    name: str
    unit: str
    points: tuple[SeriesPoint, ...]
    threshold: Threshold = Threshold()

    @property
    def latest(self) -> float | None:
        """The newest value, if any."""
        return self.points[-1].value if self.points else None

    @property
    def level(self) -> Level:
        """Where the newest value stands against the thresholds."""
        return self.threshold.level(self.latest)

    def between(self, start: datetime, end: datetime) -> tuple[SeriesPoint, ...]:
        """The points with `start <= time < end`."""
        return tuple(p for p in self.points if start <= p.time < end)


class SlotChange(msgspec.Struct, frozen=True):
    """A change of what a model's serving slot holds, from whichever record saw it: the journal
    (promotions, rollbacks, external changes mlops-tui noticed), the registry (alias/stage history,
    new versions) or the serving platform (a traffic split)."""

    at: datetime
    before: str | None
    """What the slot held (`v3`; a split `11=90 12=10` for traffic); None: nothing or unknown."""
    after: str | None
    action: str
    """`promote`, `rollback`, `external`, `traffic`, `register` (a new version), ..."""
    operator: str = ""
    origin: Literal["journal", "registry", "serving"] = "journal"
    """Which record it comes from."""


class BeforeAfter(msgspec.Struct, frozen=True):
    """One series over equal windows either side of a change: `latency_p95 82 ms in the hour before
    v4, 240 ms since: +193 %`."""

    series: str
    unit: str
    window: timedelta
    """The length of each window."""
    change: SlotChange
    before: float | None
    """The mean over the window before the change; None: no samples."""
    after: float | None
    """The mean since the change (at most `window` long)."""
    threshold: Threshold = Threshold()

    @property
    def ratio(self) -> float | None:
        """`after / before - 1` (0.5 is +50 %); None where either side is missing or `before` is 0."""
        if self.before is None or self.after is None or self.before == 0:
            return None
        return self.after / self.before - 1

    @property
    def worse(self) -> bool:
        """Whether the change made the series worse (by its direction)."""
        if self.before is None or self.after is None:
            return False
        return self.threshold.is_worse(self.before, self.after)
