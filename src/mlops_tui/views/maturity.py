"""MLOps maturity, measured from the team's own systems: for each model and environment the level
reached (Microsoft's MLOps maturity levels 0-4) and, for each criterion of each level, met, not met
or unknown (the source that would tell is not configured), with the evidence it was judged on, and
the next step from the roadmap.

Two halves. `gather` reads what the sources say about each model (the tracking store and registry,
the pipeline runners, the alert sources, the serving platform, the journal and the config), each
part on its own: a source that fails leaves its facts unknown and says why. `assess` judges the
criteria over those facts; it reads nothing, so every criterion is tested on plain facts.

The criteria are one table, `CRITERIA` (docs/maturity.md shows it with the source of each signal).
A level is reached when no criterion of it or of a lower level is not met and at least one of its
own is met: an unknown criterion neither proves nor refutes, and the assessment says which ones are.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from mlops_tui.config import EnvironmentSettings, MaturitySettings, Settings
from mlops_tui.domain import AuditEntry, Endpoint, ModelVersion, Pipeline, RegisteredModel, Run, parse_split
from mlops_tui.errors import MlopsError, NotFound
from mlops_tui.hub import Hub
from mlops_tui.ops.endpoints import target_of
from mlops_tui.ops.journal import EXTERNAL_OPERATOR, Journal
from mlops_tui.ops.registry import serving_slot
from mlops_tui.sources import registry
from mlops_tui.sources.registry import Role

__all__ = [
    "CRITERIA",
    "LEVELS",
    "PHASES",
    "Assessment",
    "Judgement",
    "Maturity",
    "ModelFacts",
    "Promotion",
    "assess",
    "is_automation",
    "read_maturity",
]

Status = Literal["met", "not_met", "unknown"]

LEVELS = {
    0: "No MLOps",
    1: "DevOps but no MLOps",
    2: "Automated training",
    3: "Automated model deployment",
    4: "Full MLOps automated operations",
}
"""Microsoft's MLOps maturity levels."""

PHASES = {
    1: "ML development",
    2: "ML development",
    3: "transition to operations",
    4: "operations",
}
"""The roadmap's phase that reaching each level belongs to."""

COMMIT_TAG = "mlflow.source.git.commit"
"""The run tag MLflow sets to the git commit of the code that ran."""
SCHEDULED = frozenset({"schedule", "scheduled"})
"""Pipeline triggers that are a schedule: GitLab's and Vertex's `schedule`, Airflow's `scheduled`."""
TRAFFIC_ACTIONS = ("traffic", "traffic-rollback")
"""The journal's actions that set an endpoint's traffic split."""
RECENT_PIPELINES = 100
VERSIONS_READ = 20
"""How many of a model's newest versions have their runs read (for lineage and experiments)."""


@dataclass(frozen=True)
class Criterion:
    """One criterion of a maturity level, as docs/maturity.md lists it."""

    id: str
    level: int
    title: str
    signal: str
    """Where the signal comes from."""
    rule: str
    """When it is met."""
    step: str
    """What to set up in this stack to meet it: the next step when it holds a level back."""


CRITERIA: tuple[Criterion, ...] = (
    Criterion(
        "code_versioned",
        1,
        "Code versioned",
        "MLflow: the `mlflow.source.git.commit` tag of the model's runs",
        "at least `share` of the model's newest runs (`runs` of them) carry a git commit",
        "train from a git checkout so that MLflow tags each run with its commit",
    ),
    Criterion(
        "pipelines",
        1,
        "Builds run in pipelines",
        "pipelines of the model (GitLab, Airflow, Vertex, local runner) and the pipeline tags of its runs",
        "a pipeline of the model was seen, or one of its runs names the pipeline that produced it",
        "run training in a CI pipeline: configure [environments.NAME.gitlab] or [environments.NAME.airflow]",
    ),
    Criterion(
        "tracking",
        2,
        "Central tracking and model management",
        "MLflow: runs tracked, versions registered, aliases or stages in use",
        "the model has runs, registered versions, and an alias or a stage points at one",
        "register the model's versions in MLflow and point a champion alias at the serving one",
    ),
    Criterion(
        "automated_training",
        2,
        "Automated training",
        "MLflow: the pipeline tag (each runner's `run_tag`) of the runs behind the registered versions;"
        " pipeline triggers (schedules)",
        "at least `share` of the model's registered versions were produced by a pipeline",
        "train every registered version in a pipeline (GitLab, Airflow, Vertex or `retrain`) and schedule it",
    ),
    Criterion(
        "automated_deployment",
        3,
        "Automated deployment",
        "the journal's promotions (who promoted), else the registry's slot history and"
        " `mlops_tui.promoted_by` tags; `[maturity] automation` tells CI from people",
        "at least `share` of the model's promotions were made by CI or a service identity",
        "promote from a pipeline job: `mlops-tui models promote MODEL VERSION --yes` with"
        " MLOPS_TUI_OPERATOR set to the CI identity",
    ),
    Criterion(
        "promotion_gates",
        3,
        "Promotion gates",
        "config: `[environments.NAME.gates]` of the environments holding the model",
        "an environment holding the model has promotion gates",
        'add a promotion gate in prd: [environments.prd.gates] metrics = ["val_auc >= current - 0.005"]',
    ),
    Criterion(
        "controlled_release",
        3,
        "Controlled release",
        "Vertex AI endpoints serving the model: their traffic split now and the journal's traffic changes",
        "a canary or A/B split (two deployed versions of the model sharing traffic) was observed",
        "release through a canary split: `mlops-tui endpoints traffic ENDPOINT --split NEW=10"
        " --split OLD=90`",
    ),
    Criterion(
        "monitoring",
        4,
        "Monitoring and alerting",
        "alert rules watching the model ([[rules]]), alerts about it (Alertmanager, Vertex model monitoring)",
        "an alert rule watches the model, or an alert about it was seen",
        "add an alert rule on the model's drift or quality ([[environments.NAME.rules]] or Prometheus)",
    ),
    Criterion(
        "serving_metrics",
        4,
        "Serving metrics",
        "the backend registry: a configured backend playing the metrics role",
        "a metrics source is configured for the environment",
        "configure a metrics source for the environment ([environments.NAME.metrics])",
    ),
    Criterion(
        "alerts_handled",
        4,
        "Alerts handled",
        "the journal: silences and rollbacks of the model",
        "an alert about the model was silenced or answered with a rollback, as the journal records",
        "handle alerts through mlops-tui (silence, rollback) so the journal keeps the record",
    ),
    Criterion(
        "automated_retraining",
        4,
        "Automated retraining",
        "the journal's retrainings (who started them); pipelines of the model started by a schedule",
        "a retraining of the model was started by automation (an alert's hook, CI) or a schedule",
        "schedule the retraining pipeline or DAG, or start `mlops-tui retrain MODEL` from an alert's hook",
    ),
)
"""Every criterion, by level; docs/maturity.md is this table."""

_BY_ID = {c.id: c for c in CRITERIA}


# -- facts ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Promotion:
    """One promotion of the model: who made it, and where it is recorded."""

    by: str
    where: Literal["journal", "registry"]


@dataclass(frozen=True)
class ModelFacts:
    """What the sources say about one model in one environment. None: could not be told (the
    source is not configured, or failed: `problems` says which)."""

    model: str
    environment: str
    runs: int | None = None
    """The model's runs read (at most `[maturity] runs`); None: none could be found."""
    runs_with_commit: int = 0
    versions: int | None = None
    """Registered versions (None: no registry, or it failed); 0: not registered."""
    versions_read: int = 0
    """Versions whose producing run was read."""
    versions_by_pipeline: Mapping[str, int] = field(default_factory=dict)
    """Pipeline runner -> versions whose run it produced."""
    slots: tuple[str, ...] = ()
    """Aliases and stages pointing at a version (`champion`, `Production`)."""
    runners: tuple[str, ...] = ()
    """The environment's configured pipeline runners."""
    pipelines: int | None = None
    """Pipelines of the model among the runners' recent ones; None: no runner answered."""
    scheduled: int = 0
    """Of those, started by a schedule."""
    promotions: tuple[Promotion, ...] = ()
    gates: Mapping[str, str] = field(default_factory=dict)
    """Environment holding the model -> its promotion gates, in words."""
    alert_sources: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    """Local alert rules watching the model."""
    alerts_seen: int | None = None
    """Firing alerts about the model now; None: no alert source answered."""
    metrics_sources: tuple[str, ...] = ()
    serving: bool = False
    """A serving platform is configured."""
    endpoints: int | None = None
    """Endpoints serving the model; None: the serving platform could not be read."""
    splits: tuple[str, ...] = ()
    """Canary or A/B splits observed: `churn-ep: 11=90 12=10 (now)`."""
    handled: Mapping[str, int] = field(default_factory=dict)
    """Journal action (`silence`, `rollback`) -> how many were made for the model."""
    retrainers: tuple[str, ...] = ()
    """Who started each retraining of the model, as the journal records it."""
    problems: tuple[str, ...] = ()


# -- judgement ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Judgement:
    """One criterion judged: its status and the evidence."""

    criterion: Criterion
    status: Status
    evidence: str


@dataclass(frozen=True)
class Assessment:
    """One model in one environment: the level reached, every criterion judged, the next steps."""

    model: str
    environment: str
    level: int
    judgements: tuple[Judgement, ...]
    next_steps: tuple[Judgement, ...]
    """The one or two criteria of the next level that hold it back (not met first, then unknown)."""
    problems: tuple[str, ...] = ()

    @property
    def level_name(self) -> str:
        return LEVELS[self.level]


def is_automation(who: str, patterns: Sequence[str]) -> bool:
    """Whether `who` (an operator, a promoter) is automation by the `[maturity] automation`
    patterns, where `*` stands for any text and case does not matter."""
    return any(_pattern(p).fullmatch(who) for p in patterns)


@functools.cache
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(map(re.escape, pattern.split("*"))), re.IGNORECASE)


def _percent(part: int, whole: int) -> str:
    return f"{part}/{whole} ({round(100 * part / whole)} %)"


def _most(part: int, whole: int, share: float) -> bool:
    return whole > 0 and part / whole >= share - 1e-9


def _judge_code(f: ModelFacts, t: MaturitySettings) -> tuple[Status, str]:
    if not f.runs:
        return "unknown", "no runs of the model found (no registered version leads to them)"
    status: Status = "met" if _most(f.runs_with_commit, f.runs, t.share) else "not_met"
    return status, f"{_percent(f.runs_with_commit, f.runs)} of the newest runs carry a git commit"


def _judge_pipelines(f: ModelFacts, t: MaturitySettings) -> tuple[Status, str]:
    produced = sum(f.versions_by_pipeline.values())
    seen = []
    if f.pipelines:
        seen.append(f"{f.pipelines} recent pipeline(s) of the model ({', '.join(f.runners)})")
    if produced:
        seen.append(f"{produced} version(s) made by {', '.join(sorted(f.versions_by_pipeline))} pipelines")
    if seen:
        return "met", "; ".join(seen)
    if f.pipelines is None and not f.versions_read:
        return "unknown", "no pipeline runner answered and no version's run could be read"
    configured = f"runners: {', '.join(f.runners)}" if f.runners else "no pipeline runner configured"
    return "not_met", f"no pipeline of the model seen and no run names one ({configured})"


def _judge_tracking(f: ModelFacts, t: MaturitySettings) -> tuple[Status, str]:
    if f.versions is None:
        return "unknown", "the registry could not be read"
    runs = f"{f.runs} run(s)" if f.runs is not None else "no runs found"
    slots = f"{', '.join(f.slots)} in use" if f.slots else "no alias or stage in use"
    evidence = f"{runs}, {f.versions} registered version(s), {slots}"
    return ("met" if f.runs and f.versions and f.slots else "not_met"), evidence


def _judge_training(f: ModelFacts, t: MaturitySettings) -> tuple[Status, str]:
    if not f.versions_read:
        return "unknown", "no registered version's run could be read"
    produced = sum(f.versions_by_pipeline.values())
    by = f" ({', '.join(f'{n} {r}' for r, n in sorted(f.versions_by_pipeline.items()))})" if produced else ""
    evidence = f"{_percent(produced, f.versions_read)} of the versions made by a pipeline{by}"
    if f.pipelines is not None:
        evidence += (
            f"; {f.scheduled} scheduled pipeline(s) seen" if f.scheduled else "; no scheduled pipeline seen"
        )
    return ("met" if _most(produced, f.versions_read, t.share) else "not_met"), evidence


def _judge_deployment(f: ModelFacts, t: MaturitySettings) -> tuple[Status, str]:
    if not f.promotions:
        return "unknown", "no promotion of the model recorded (journal, registry history)"
    by_ci = [p for p in f.promotions if is_automation(p.by, t.automation)]
    people = sorted({p.by for p in f.promotions} - {p.by for p in by_ci})
    where = " and ".join(sorted({p.where for p in f.promotions}))
    evidence = f"{_percent(len(by_ci), len(f.promotions))} of the promotions made by CI ({where})"
    if people:
        evidence += f"; by hand: {', '.join(people)}"
    return ("met" if _most(len(by_ci), len(f.promotions), t.share) else "not_met"), evidence


def _judge_gates(f: ModelFacts, t: MaturitySettings) -> tuple[Status, str]:
    if not f.gates:
        return "not_met", "no environment holding the model has promotion gates"
    return "met", "; ".join(f"{env}: {gates}" for env, gates in f.gates.items())


def _judge_release(f: ModelFacts, t: MaturitySettings) -> tuple[Status, str]:
    if not f.serving:
        return "unknown", "no serving platform configured"
    if f.splits:
        return "met", "; ".join(f.splits)
    if f.endpoints is None:
        return "unknown", "the serving platform could not be read"
    if not f.endpoints:
        return "not_met", "no endpoint serves the model"
    return "not_met", f"{f.endpoints} endpoint(s) serve the model, never with a canary or A/B split seen"


def _judge_monitoring(f: ModelFacts, t: MaturitySettings) -> tuple[Status, str]:
    if f.rules:
        return "met", f"alert rules watch the model: {', '.join(f.rules)}"
    if f.alerts_seen:
        return "met", f"{f.alerts_seen} alert(s) about the model firing ({', '.join(f.alert_sources)})"
    if not f.alert_sources:
        return "not_met", "no alert source configured"
    if f.alerts_seen is None:
        return "unknown", f"the alert sources ({', '.join(f.alert_sources)}) could not be read"
    return (
        "unknown",
        f"no alert about the model seen ({', '.join(f.alert_sources)}: their rules are not read)",
    )


def _judge_metrics(f: ModelFacts, t: MaturitySettings) -> tuple[Status, str]:
    if not f.metrics_sources:
        return "unknown", "no metrics source configured"
    return "met", f"metrics source configured: {', '.join(f.metrics_sources)}"


def _judge_handled(f: ModelFacts, t: MaturitySettings) -> tuple[Status, str]:
    if f.handled:
        return "met", ", ".join(
            f"{n} {action}(s)" for action, n in sorted(f.handled.items())
        ) + " in the journal"
    if not f.alert_sources:
        return "not_met", "no alert source configured, and no silence or rollback in the journal"
    return "not_met", "no silence or rollback of the model in the journal"


def _judge_retraining(f: ModelFacts, t: MaturitySettings) -> tuple[Status, str]:
    automated = [who for who in f.retrainers if is_automation(who, t.automation)]
    found = []
    if automated:
        found.append(f"{len(automated)} retraining(s) started by {', '.join(sorted(set(automated)))}")
    if f.scheduled:
        found.append(f"{f.scheduled} scheduled pipeline(s) of the model")
    if found:
        return "met", "; ".join(found)
    if f.retrainers:
        people = ", ".join(sorted(set(f.retrainers)))
        return "not_met", f"{len(f.retrainers)} retraining(s) in the journal, all started by hand ({people})"
    return "not_met", "no retraining started by automation or a schedule"


_JUDGES = {
    "code_versioned": _judge_code,
    "pipelines": _judge_pipelines,
    "tracking": _judge_tracking,
    "automated_training": _judge_training,
    "automated_deployment": _judge_deployment,
    "promotion_gates": _judge_gates,
    "controlled_release": _judge_release,
    "monitoring": _judge_monitoring,
    "serving_metrics": _judge_metrics,
    "alerts_handled": _judge_handled,
    "automated_retraining": _judge_retraining,
}


def assess(facts: ModelFacts, thresholds: MaturitySettings, *, steps: int = 2) -> Assessment:
    """Judge every criterion over `facts`; the level reached; the next `steps` steps."""
    judgements = []
    for criterion in CRITERIA:
        status, evidence = _JUDGES[criterion.id](facts, thresholds)
        judgements.append(Judgement(criterion, status, evidence))
    level = 0
    for candidate in sorted(LEVELS)[1:]:
        mine = [j for j in judgements if j.criterion.level == candidate]
        if any(j.status == "not_met" for j in mine) or not any(j.status == "met" for j in mine):
            break
        level = candidate
    following = [j for j in judgements if j.criterion.level == level + 1]
    ahead = [j for j in following if j.status == "not_met"] + [j for j in following if j.status == "unknown"]
    return Assessment(
        facts.model, facts.environment, level, tuple(judgements), tuple(ahead[:steps]), facts.problems
    )


# -- gathering ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Maturity:
    """Every assessment, and what could not be read per environment (its message)."""

    assessments: list[Assessment]
    problems: dict[str, str] = field(default_factory=dict)


@dataclass
class _Context:
    """What one environment's sources answered that concerns all its models, read once."""

    pipelines: list[Pipeline] | None = None
    alerts: Counter[str] | None = None
    endpoints: list[Endpoint] | None = None
    problems: list[str] = field(default_factory=list)


async def _context(hub: Hub) -> _Context:
    context = _Context()

    async def pipelines() -> None:
        if hub.pipeline_sources:
            try:
                answer = await hub.pipelines(limit=RECENT_PIPELINES)
            except MlopsError as exc:
                context.problems.append(f"pipelines: {exc.message}")
                return
            context.problems.extend(f"pipelines: {f.message}" for f in answer.failures.values())
            context.pipelines = answer.items

    async def alerts() -> None:
        if hub.alert_sources:
            try:
                answer = await hub.alerts()
            except MlopsError as exc:
                context.problems.append(f"alerts: {exc.message}")
                return
            context.problems.extend(f"alerts: {f.message}" for f in answer.failures.values())
            context.alerts = Counter(m for a in answer.items if (m := hub.alert_model(a)) is not None)

    async def endpoints() -> None:
        if hub.backends_for(Role.SERVING):
            try:
                context.endpoints = await hub.endpoints()
            except MlopsError as exc:
                context.problems.append(f"endpoints: {exc.message}")

    await asyncio.gather(pipelines(), alerts(), endpoints())
    return context


async def _models(hub: Hub, wanted: str | None) -> list[str]:
    if wanted is not None:
        return [wanted]
    if hub.env.models or hub.env.mlflow is None:
        return list(hub.env.models)
    page = await hub.models()
    return [hub.model_name(m.name) for m in page.items]


async def gather(
    hub: Hub, journal: Journal, thresholds: MaturitySettings, *, model: str | None = None
) -> list[ModelFacts]:
    """The facts of each model of interest of `hub`'s environment (or of `model` alone).

    Raises:
        MlopsError: the registry could not list the models of interest.
    """
    models = await _models(hub, model)
    context = await _context(hub)
    return list(await asyncio.gather(*(_facts(hub, journal, thresholds, context, m) for m in models)))


async def _facts(
    hub: Hub, journal: Journal, thresholds: MaturitySettings, context: _Context, model: str
) -> ModelFacts:
    problems = list(context.problems)
    registered: RegisteredModel | None = None
    versions: list[ModelVersion] = []
    version_count: int | None = None
    runs: list[Run] = []
    sampled: list[Run] = []
    if hub.env.mlflow is not None:
        try:
            registered, versions = await hub.model(model)
            version_count = len(versions)
        except NotFound:
            version_count = 0
        except MlopsError as exc:
            problems.append(f"registry: {exc.message}")
        try:
            runs = await _version_runs(hub, versions[:VERSIONS_READ])
            sampled = await _model_runs(hub, runs, thresholds.runs)
        except MlopsError as exc:
            problems.append(f"runs: {exc.message}")
    produced = Counter(runner for run in runs for runner in [_runner_of(run)] if runner is not None)
    entries = journal.entries(environment=hub.env_name, subject=model, limit=-1)
    mine = [p for p in context.pipelines or [] if p.model == model or _made(p, runs)]
    return ModelFacts(
        model=model,
        environment=hub.env_name,
        runs=len(sampled) or None,
        runs_with_commit=sum(1 for r in sampled if r.tags.get(COMMIT_TAG)),
        versions=version_count,
        versions_read=len(runs),
        versions_by_pipeline=dict(produced),
        slots=_slots(registered, versions),
        runners=tuple(b.name for b in hub.backends_for(Role.PIPELINES)),
        pipelines=len(mine) if context.pipelines is not None else None,
        scheduled=sum(1 for p in mine if p.trigger in SCHEDULED),
        promotions=_promotions(hub, entries, registered, versions),
        gates=_gates(hub.settings, hub.env_name, model),
        alert_sources=tuple(hub.alert_sources),
        rules=tuple(r.name for r in hub.env.rules if model in (r.models or hub.env.models or [model])),
        alerts_seen=context.alerts[model] if context.alerts is not None else None,
        metrics_sources=tuple(b.name for b in hub.backends_for(Role.METRICS)),
        serving=bool(hub.backends_for(Role.SERVING)),
        endpoints=_serving_endpoints(hub, context, model),
        splits=_splits(hub, context, journal, model),
        handled=dict(
            Counter(e.action for e in entries if e.action in ("silence", "rollback") and e.result == "ok")
        ),
        retrainers=tuple(e.operator for e in entries if e.action == "retrain" and e.result == "ok"),
        problems=tuple(problems),
    )


async def _version_runs(hub: Hub, versions: Sequence[ModelVersion]) -> list[Run]:
    found = await asyncio.gather(*(hub.tracking.producing_run(v) for v in versions))
    return [run for run in found if run is not None]


async def _model_runs(hub: Hub, version_runs: Sequence[Run], limit: int) -> list[Run]:
    """The newest runs of the experiments the model's versions came from."""
    experiments = sorted({run.experiment_id for run in version_runs})
    if not experiments:
        return []
    page = await hub.tracking.search_runs(experiments, max_results=limit)
    return list(page.items)


def _runner_of(run: Run) -> str | None:
    """The runner whose pipeline produced `run`, by its tags: any registered runner, configured
    here or not (a run trained by GitLab says so wherever it is registered)."""
    for declared in registry.backends(Role.PIPELINES):
        if declared.pipeline_in(run.tags):
            return declared.name
    return None


def _made(pipeline: Pipeline, runs: Sequence[Run]) -> bool:
    declared = registry.backend(pipeline.source)
    return any(declared.pipeline_in(run.tags) == pipeline.id for run in runs)


def _slots(model: RegisteredModel | None, versions: Sequence[ModelVersion]) -> tuple[str, ...]:
    if model is None:
        return ()
    stages = sorted({v.stage for v in versions if v.stage and v.stage not in ("None", "Archived")})
    return (*sorted(model.aliases), *stages)


def _promotions(
    hub: Hub, entries: Sequence[AuditEntry], model: RegisteredModel | None, versions: Sequence[ModelVersion]
) -> tuple[Promotion, ...]:
    """The journal's promotions of the model; where it holds none, the registry's record: the
    serving slot's history and the versions' `mlops_tui.promoted_by` tags (one promotion each)."""
    journaled = tuple(
        Promotion(e.operator, "journal")
        for e in entries
        if e.action == "promote" and e.result == "ok" and e.operator != EXTERNAL_OPERATOR
    )
    if journaled or model is None:
        return journaled
    history = serving_slot(hub, model).history(model)
    seen = {entry.get("at") for entry in history}
    tagged = [
        v.tags["mlops_tui.promoted_by"]
        for v in versions
        if "mlops_tui.promoted_by" in v.tags and v.tags.get("mlops_tui.promoted_at") not in seen
    ]
    return tuple(Promotion(who, "registry") for who in [*(e.get("by", "") for e in history), *tagged] if who)


def _gates(settings: Settings, here: str, model: str) -> dict[str, str]:
    """The promotion gates of this environment and of every other one whose models of interest
    take the model (where a version of it goes on to), in words."""
    found = {}
    for name, env in settings.environments.items():
        if env.gates is None or (name != here and env.models and model not in env.models):
            continue
        if words := _gate_words(env):
            found[name] = words
    return found


def _gate_words(env: EnvironmentSettings) -> str:
    gates = env.gates
    if gates is None:
        return ""
    parts = [f"tag {k} = {v}" for k, v in gates.required_tags.items()]
    parts.extend(gates.metrics)
    if gates.promoted_in:
        parts.append(f"promoted in {gates.promoted_in} first")
    if gates.no_critical_alerts:
        parts.append("no critical alert firing")
    return ", ".join(parts)


def _serving_endpoints(hub: Hub, context: _Context, model: str) -> int | None:
    if context.endpoints is None:
        return None
    return len(_endpoints_of(hub, context.endpoints, model))


def _endpoints_of(hub: Hub, endpoints: Sequence[Endpoint], model: str) -> list[Endpoint]:
    registered = hub.registered_name(model)
    return [e for e in endpoints if any(d.mlflow_model in (model, registered) for d in e.deployed_models)]


def _splits(hub: Hub, context: _Context, journal: Journal, model: str) -> tuple[str, ...]:
    """Canary or A/B splits of endpoints serving the model: now, and in the journal's traffic
    changes of those endpoints."""
    found = []
    for endpoint in _endpoints_of(hub, context.endpoints or [], model):
        mine = {
            d.id for d in endpoint.deployed_models if d.mlflow_model in (model, hub.registered_name(model))
        }
        if _shared(endpoint.traffic_split, mine):
            found.append(f"{endpoint.display_name}: {endpoint.split_text} (now)")
        changes = journal.entries(environment=hub.env_name, target=target_of(endpoint), limit=-1)
        shared = [
            e
            for e in changes
            if e.action in TRAFFIC_ACTIONS and e.result == "ok" and _shared(_split(e.after), mine)
        ]
        if shared:
            found.append(
                f"{endpoint.display_name}: {len(shared)} split(s) in the journal, last {shared[0].after}"
            )
    return tuple(found)


def _split(text: str | None) -> dict[str, int]:
    try:
        return parse_split(text or "")
    except ValueError:
        return {}


def _shared(split: Mapping[str, int], deployed: set[str]) -> bool:
    """Two or more of the model's deployed versions take part of the traffic."""
    return sum(1 for key, percent in split.items() if key in deployed and 0 < percent < 100) >= 2


async def read_maturity(hubs: Mapping[str, Hub], journal: Journal, *, model: str | None = None) -> Maturity:
    """Assess every model of interest of every environment of `hubs`, concurrently; an environment
    whose models cannot be listed is in `problems`, the others are assessed."""
    settings = next(iter(hubs.values())).settings if hubs else None
    thresholds = settings.maturity if settings is not None else MaturitySettings()

    async def one(hub: Hub) -> list[ModelFacts] | MlopsError:
        try:
            return await gather(hub, journal, thresholds, model=model)
        except MlopsError as exc:
            return exc

    answers = dict(zip(hubs, await asyncio.gather(*(one(h) for h in hubs.values())), strict=True))
    assessments = [
        assess(facts, thresholds)
        for answer in answers.values()
        if not isinstance(answer, MlopsError)
        for facts in answer
    ]
    problems = {env: a.message for env, a in answers.items() if isinstance(a, MlopsError)}
    return Maturity(assessments, problems)
