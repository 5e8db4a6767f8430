"""Settings: a TOML file (or the built-in `local` environment) validated into typed, frozen structs.

Search order for the file: `--config PATH`, `$MLOPS_TUI_CONFIG`, `./mlops-tui.toml`, then
`$XDG_CONFIG_HOME/mlops-tui/config.toml`. With none of them present, a single environment `local`
serves: an MLflow sqlite store under the XDG data directory.

Secrets never sit in the file: a setting names an environment variable (`token_env`) or a command
whose standard output is the secret (`token_command`, an argument list run without a shell).
"""

from __future__ import annotations

import copy
import functools
import operator
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import msgspec

from mlops_tui.config import locations
from mlops_tui.errors import ConfigError, UsageError

__all__ = [
    "CONFIG_ENV_VAR",
    "LOCAL_ENV",
    "LOCAL_PRD_ENV",
    "AirflowSettings",
    "LOCAL_RULES",
    "AlertRule",
    "AlertmanagerSettings",
    "EnvironmentSettings",
    "GateSettings",
    "GitlabSettings",
    "GrafanaMarkerSettings",
    "MarkerSettings",
    "MaturitySettings",
    "MetricGate",
    "MetricsSettings",
    "MlflowSettings",
    "PushgatewayMarkerSettings",
    "RetrainSettings",
    "SERIES_PLACEHOLDERS",
    "SeriesSettings",
    "Settings",
    "UiCheck",
    "VertexSettings",
    "load_settings",
    "local_settings",
    "parse_metric_gate",
    "parse_settings",
    "redact",
    "redacted",
    "locate_config",
    "resolve_secret",
    "starter_config",
    "trainer_command",
]

_T = TypeVar("_T")
CONFIG_ENV_VAR = "MLOPS_TUI_CONFIG"
LOCAL_ENV = "local"
LOCAL_PRD_ENV = "local-prd"
_ENV_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_Positive = msgspec.Meta(gt=0)
PositiveInt = Annotated[int, _Positive]
PositiveFloat = Annotated[float, _Positive]
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
_URI_SCHEMES = ("http", "https", "sqlite", "postgresql", "mysql", "mssql")
"""Tracking URI schemes: the REST API (http, https) and the SQL stores MLflow opens
(a driver may follow a `+`, as in `postgresql+psycopg`)."""
_INLINE_SECRET_KEYS = {"token", "password", "secret", "api_key", "private_token", "access_token"}


class MlflowSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """How to reach one environment's MLflow tracking server and model registry."""

    tracking_uri: str
    """`http(s)://host:port` of a tracking server, or a SQL store such as `sqlite:///path.db`."""
    promotion: Literal["alias", "stage"] = "alias"
    """Registry style: `alias` (champion/challenger, the MLflow 3 way) or legacy `stage`."""
    token_env: str | None = None
    """Environment variable holding a bearer token for the tracking server."""
    token_command: list[str] | None = None
    """Command (argument list, no shell) printing the bearer token on stdout."""
    username_env: str | None = None
    """Environment variable holding the basic-auth user name."""
    password_env: str | None = None
    """Environment variable holding the basic-auth password."""
    experiments: list[str] = []
    """Experiments shown in the Runs pane; empty means every active experiment."""
    key_metrics: list[str] = []
    """Metrics shown as columns in the Runs pane; empty means the most common ones on the page."""
    artifact_root: str | None = None
    """Artifact location for experiments this tool creates (the demo); SQL stores only."""
    registered_model: str = "{name}"
    """Name of a model's registered model in this environment, e.g. `prod.{name}`."""
    incoming_alias: str = "challenger"
    """Alias a version copied here from another environment gets."""
    lock_lease_seconds: PositiveFloat = 30.0
    """Operators sharing no journal: how long the registry's write lock of a slot (a registered
    model `mlops_tui.lock.*`) holds before another writer may take it over from a holder that died."""
    page_size: PositiveInt = 100
    """Rows fetched per page; the Runs pane never holds more than one page."""
    refresh_seconds: PositiveFloat = 30.0
    """Seconds between the end of one poll and the start of the next."""
    timeout_seconds: PositiveFloat = 10.0
    """Timeout of one request to the tracking server."""


class GitlabSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """The GitLab project whose CI/CD pipelines build and retrain this environment's models."""

    url: str
    """GitLab base URL, e.g. `https://gitlab.example.com`."""
    project: str
    """Project path (`ml/churn-model`) or numeric id."""
    token_env: str | None = None
    """Environment variable holding a personal, project or group access token."""
    token_command: list[str] | None = None
    """Command (argument list, no shell) printing the token on stdout."""
    refs: list[str] = []
    """Refs of interest; empty means every ref."""
    pipeline_name: str | None = None
    """How the project's `workflow:name` names a model's pipelines, `{model}` standing for the
    model (`retrain {model}` for `name: "retrain $MODEL_NAME"`): such a pipeline counts as that
    model's in the fleet view and the triage screen."""
    refresh_seconds: PositiveFloat = 30.0
    """Seconds between the end of one poll and the start of the next."""
    timeout_seconds: PositiveFloat = 10.0
    """Timeout of one request."""


class AirflowSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """An Apache Airflow deployment whose DAG runs train this environment's models: Airflow 3
    (REST API v2), Airflow 2 (stable REST API v1) or Cloud Composer."""

    url: str
    """Base URL of the API server (Airflow 2: the webserver), e.g. `http://airflow:8080`."""
    api_version: Literal["auto", "v2", "v1"] = "auto"
    """REST API: `v2` (Airflow 3), `v1` (Airflow 2); `auto` asks `/api/v2/version`, then
    `/api/v1/version`."""
    dags: list[str] = []
    """DAGs of interest, e.g. `["retrain_churn"]`; empty: those tagged `dag_tags`, else every DAG."""
    dag_tags: list[str] = []
    """Tags selecting the DAGs of interest (any of them) when `dags` is empty."""
    auth: Literal["default", "google"] = "default"
    """`default`: the token of `token_env`/`token_command` as a bearer token, else `username` with
    its password (Airflow 3: a JWT from `POST /auth/token`; Airflow 2: basic auth), else none.
    `google`: Cloud Composer, an OAuth access token of Application Default Credentials."""
    username: str | None = None
    """User name (Airflow 3: the JWT's user; Airflow 2: basic auth)."""
    password_env: str | None = None
    """Environment variable holding the user's password."""
    password_command: list[str] | None = None
    """Command (argument list, no shell) printing the user's password on stdout."""
    token_env: str | None = None
    """Environment variable holding a bearer token (an Airflow 3 JWT, or a proxy's token)."""
    token_command: list[str] | None = None
    """Command (argument list, no shell) printing the bearer token on stdout."""
    page_size: PositiveInt = 50
    """DAG runs fetched per listing."""
    refresh_seconds: PositiveFloat = 30.0
    """Seconds between the end of one poll and the start of the next."""
    timeout_seconds: PositiveFloat = 10.0
    """Timeout of one request."""


class RetrainSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """How `retrain MODEL` starts a training pipeline in this environment."""

    kind: Literal["gitlab", "local", "vertex", "airflow"]
    """`gitlab`: a pipeline of the [gitlab] project; `local`: `command` as a local process;
    `vertex`: a Vertex AI pipeline job from the [vertex] table's `pipeline_template`;
    `airflow`: a run of the DAG `dag` of the [airflow] table, with `conf`."""
    ref: str = "main"
    """GitLab: the ref to run the pipeline on."""
    trigger_token_env: str | None = None
    """GitLab: environment variable holding a pipeline trigger token (use the trigger API)."""
    variables: dict[str, str] = {}
    """Variables passed to the pipeline; `{model}` and `{env}` are filled in."""
    command: list[str] = []
    """Local: the command, an argument list run without a shell; `{model}`, `{env}`,
    `{tracking_uri}` are filled in."""
    workdir: str | None = None
    """Local: working directory of the command."""
    dag: str = ""
    """Airflow: the DAG to trigger, `{model}` filled in: `retrain_{model}` (a DAG per model), or
    one DAG (`retrain`) told the model by `conf`."""
    conf: dict[str, str] = {}
    """Airflow: the DAG run's `conf`; `{model}` and `{env}` are filled in, e.g.
    `{ model = "{model}" }`."""


class VertexSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """One Google Cloud project and region of Vertex AI: endpoints, pipeline jobs, model monitoring."""

    project: str
    """Google Cloud project id, e.g. `acme-ml-prd`."""
    location: str
    """Region, e.g. `us-central1`."""
    endpoints: list[str] = []
    """Endpoints of interest, by id or display name; empty means every endpoint of the region."""
    credentials_env: str | None = None
    """Environment variable holding the path of a service-account key file; without it,
    application default credentials (`gcloud auth application-default login`, the metadata server)."""
    api_endpoint: str = ""
    """API host override (private endpoints, emulators, tests), e.g. `http://127.0.0.1:8080`;
    default `{location}-aiplatform.googleapis.com`."""
    credentials: Literal["default", "anonymous"] = "default"
    """`anonymous` sends no credentials: only together with `api_endpoint` (emulators, tests)."""
    pipeline_template: str = ""
    """Compiled pipeline spec (KFP JSON or YAML) that `retrain` with `kind = "vertex"` runs: a local
    path or `gs://bucket/object`."""
    pipeline_root: str = ""
    """`gs://` directory the pipeline job writes its outputs under."""
    parameters: dict[str, str] = {}
    """Pipeline parameters; `{model}` and `{env}` are filled in."""
    service_account: str = ""
    """Service account the pipeline job runs as; empty: the project's default."""
    refresh_seconds: PositiveFloat = 30.0
    """Seconds between the end of one poll and the start of the next."""
    timeout_seconds: PositiveFloat = 30.0
    """Timeout of one request (and of waiting for a long-running operation)."""


class AlertmanagerSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """An Alertmanager API v2: Prometheus Alertmanager, Grafana alerting, Mimir or Cortex."""

    url: str
    """Base URL, e.g. `http://alertmanager:9093`."""
    api_path: str = "/api/v2"
    """Path of the API v2 under `url`; Grafana: `/api/alertmanager/grafana/api/v2`."""
    token_env: str | None = None
    """Environment variable holding a bearer token."""
    token_command: list[str] | None = None
    """Command (argument list, no shell) printing the bearer token on stdout."""
    username_env: str | None = None
    """Environment variable holding the basic-auth user name."""
    password_env: str | None = None
    """Environment variable holding the basic-auth password."""
    model_label: str = "model"
    """Label naming the registered model an alert concerns."""
    filters: list[str] = []
    """Matchers every listing applies, e.g. `env="prd"` when one Alertmanager serves several."""
    refresh_seconds: PositiveFloat = 15.0
    """Seconds between the end of one poll and the start of the next."""
    timeout_seconds: PositiveFloat = 10.0
    """Timeout of one request."""


class SeriesSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """One named serving metric of a model (`[environments.NAME.metrics.series.latency_p95]`)."""

    query: str
    """Prometheus: a PromQL expression, `{model}`, `{version}`, `{env}` and `{deployed_model_id}`
    filled in (as label values, escaped), e.g.
    `sum(rate(model_requests_total{model="{model}"}[5m]))`; it should return one series. A
    template matching the model with `{models}` in a regex matcher and keeping the model's label
    (`metrics.model_label`) is read for many models in one query:
    `sum by (model) (rate(model_requests_total{model=~"{models}"}[5m]))`. The `mlflow` kind: the
    metric key the monitoring job logs, e.g. `latency_p95_ms`."""
    unit: str = ""
    """Unit shown beside values: `ms`, `%`, `req/s`, or empty."""
    worse: Literal["up", "down"] = "up"
    """Which way the metric gets worse: `up` (latency, errors, drift) or `down` (requests)."""
    warn: float | None = None
    """Value from which the series is marked as a warning (in the direction it gets worse)."""
    critical: float | None = None
    """Value from which the series is marked critical; `status` lists it as breached (exit 1)."""


DEFAULT_SERIES: dict[str, dict[str, SeriesSettings]] = {
    "prometheus": {
        "latency_p95": SeriesSettings(
            query="1000 * histogram_quantile(0.95, sum by (model, le) "
            '(rate(model_request_duration_seconds_bucket{model=~"{models}"}[5m])))',
            unit="ms",
            warn=200.0,
            critical=500.0,
        ),
        "error_rate": SeriesSettings(
            query='100 * sum by (model) (rate(model_requests_total{model=~"{models}",status=~"5.."}[5m])) '
            '/ sum by (model) (rate(model_requests_total{model=~"{models}"}[5m]))',
            unit="%",
            warn=1.0,
            critical=5.0,
        ),
        "requests": SeriesSettings(
            query='sum by (model) (rate(model_requests_total{model=~"{models}"}[5m]))',
            unit="req/s",
            worse="down",
        ),
        "drift": SeriesSettings(
            query='max by (model) (model_prediction_drift{model=~"{models}"})', warn=0.1, critical=0.25
        ),
    },
    "mlflow": {
        "latency_p95": SeriesSettings(query="latency_p95_ms", unit="ms", warn=200.0, critical=500.0),
        "error_rate": SeriesSettings(query="error_rate_pct", unit="%", warn=1.0, critical=5.0),
        "requests": SeriesSettings(query="requests_per_s", unit="req/s", worse="down"),
        "drift": SeriesSettings(query="prediction_drift", warn=0.1, critical=0.25),
    },
}
"""The named series of each metrics kind unless the config overrides them: the shapes
prometheus-client exporters commonly take (a request duration histogram and a request counter
labelled `model` and `status`, a drift gauge), and the keys the demo's monitoring job logs. The
Prometheus ones match models with `{models}` and keep the `model` label: one query reads them
for every model at once."""

SERIES_PLACEHOLDERS = ("model", "models", "version", "env", "deployed_model_id")
"""What a series template may name in braces: `{models}` is a regex alternation of the escaped
model names (one name when read for one model), for a `=~` matcher."""


class MetricsSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Where this environment's serving metrics are read: any Prometheus HTTP API (Prometheus,
    Thanos, Mimir, VictoriaMetrics, Google Cloud Managed Service for Prometheus), or the runs a
    monitoring job logs to MLflow."""

    kind: Literal["prometheus", "mlflow"] = "prometheus"
    """`prometheus`: the HTTP API at `url` (`/api/v1/query`, `/api/v1/query_range`); `mlflow`: the
    runs of `experiment` in this environment's tracking server, one per day and served version,
    tagged `model` and `version`, their metrics logged with timestamps."""
    url: str = ""
    """Prometheus: the URL the API's `/api/v1/...` paths hang under, e.g. `http://prometheus:9090`,
    `http://mimir:8080/prometheus`, or for Google Cloud
    `https://monitoring.googleapis.com/v1/projects/PROJECT/location/global/prometheus`."""
    auth: Literal["default", "google"] = "default"
    """`default`: the token of `token_env`/`token_command` as a bearer token, else basic auth with
    `username_env`/`password_env`, else none. `google`: an access token of Google's Application
    Default Credentials (Google Cloud Managed Service for Prometheus)."""
    token_env: str | None = None
    """Environment variable holding a bearer token."""
    token_command: list[str] | None = None
    """Command (argument list, no shell) printing the bearer token on stdout."""
    username_env: str | None = None
    """Environment variable holding the basic-auth user name."""
    password_env: str | None = None
    """Environment variable holding the basic-auth password."""
    experiment: str = "monitoring"
    """The `mlflow` kind: the experiment the monitoring job logs its runs to."""
    tracking_uri: str = ""
    """The `mlflow` kind: the tracking server or store the monitoring job logs to, when it is not
    this environment's (`[mlflow] tracking_uri`); the credentials above apply to it."""
    series: dict[str, SeriesSettings] = {}
    """Named series by name; each replaces the default of that name (`latency_p95`, `error_rate`,
    `requests`, `drift`) or adds one."""
    default_series: bool = True
    """Whether the defaults of the kind are kept beside `series`; false: only `series`."""
    model_label: str = "model"
    """Prometheus: the label naming the model in the answer of a `{models}` template (one query
    for many models, its answer split by this label); the template keeps it (`sum by (model)`)."""
    headline: str = "latency_p95"
    """The series shown where there is room for one (the Models pane, the fleet view)."""
    step_seconds: PositiveFloat = 300.0
    """Default step between two points of a range, in seconds."""
    refresh_seconds: PositiveFloat = 60.0
    """Seconds between the end of one poll and the start of the next."""
    timeout_seconds: PositiveFloat = 10.0
    """Timeout of one request."""

    def all_series(self) -> dict[str, SeriesSettings]:
        """The named series in effect: the kind's defaults (unless `default_series` is false),
        then `series` over them."""
        defaults = DEFAULT_SERIES[self.kind] if self.default_series else {}
        return {**defaults, **self.series}


class AlertRule(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """A threshold on an MLflow metric of a model's serving version, evaluated at each refresh."""

    name: str
    """The alert's `alertname`."""
    metric: str
    """Metric of the run that produced the version, e.g. `drift_psi`; its latest value is compared."""
    op: Literal[">", ">=", "<", "<="]
    threshold: float
    models: list[str] = []
    """Models the rule watches; empty means the environment's models of interest."""
    version: str = ""
    """Which version: an alias (`champion`) or a stage (`Production`); empty: the environment's
    serving version (the champion alias, or the Production stage)."""
    severity: str = "warning"
    summary: str = ""
    """`{model}`, `{version}`, `{metric}`, `{value}` and `{threshold}` are filled in."""
    description: str = ""
    runbook_url: str = ""
    labels: dict[str, str] = {}
    """Extra labels of the alert."""


class GateSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Checks a promotion into this environment must pass; a failed one refuses (exit 4) unless
    overridden with a reason (`--override-gates --reason TEXT`), which the journal records."""

    required_tags: dict[str, str] = {}
    """Tags the version must carry with exactly these values, e.g. `{ validation_status = "passed" }`."""
    metrics: list[str] = []
    """Comparisons of the version's run metrics, `METRIC OP VALUE` with OP one of `>= > <= <`, and
    VALUE a number or `current` (the slot's current holder; `champion` says the same) plus or minus
    a number: `"val_auc >= current - 0.005"`. With no current holder (or one whose run logged no such
metric), a relative one passes; a version whose run logged none fails."""
    promoted_in: str | None = None
    """An environment where the version must already hold the same alias or stage (now, or before
    per its history): `"qa"` for DEV -> QA -> PRD."""
    no_critical_alerts: bool = False
    """No firing, unsilenced alert of severity `critical` may name the model."""


class GrafanaMarkerSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """A Grafana that gets an annotation (`POST /api/annotations`) at every change of a serving
    slot: tagged `mlops-tui`, the environment, the model and its version, with the operator and
    `from -> to` as its text."""

    url: str
    """Grafana's base URL, e.g. `https://grafana.example.com` (with its sub-path, if it serves
    under one)."""
    token_env: str | None = None
    """Environment variable holding a service account token (role Editor, or the
    `annotations:write` permission)."""
    token_command: list[str] | None = None
    """Command (argument list, no shell) printing the service account token on stdout."""
    username_env: str | None = None
    """Environment variable holding the basic-auth user name (instead of a token)."""
    password_env: str | None = None
    """Environment variable holding the basic-auth password."""
    dashboard_uid: str | None = None
    """A dashboard the annotation belongs to; none: an organization annotation, which any
    dashboard shows through an annotation query on its tags."""
    panel_id: PositiveInt | None = None
    """A panel of `dashboard_uid` the annotation belongs to; none: every panel of it."""
    tags: list[str] = []
    """More tags every annotation carries, e.g. `["team:ml"]`."""
    timeout_seconds: PositiveFloat = 5.0
    """Timeout of the request; a marker that fails never fails the change it marks."""


class PushgatewayMarkerSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """A Prometheus Pushgateway that gets the series `mlops_tui_deploy` at every change of a
    serving slot: its value the change's time (Unix seconds), labelled with the environment, the
    target, the model, its version, the previous one, the action and the operator."""

    url: str
    """The Pushgateway's base URL, e.g. `http://pushgateway:9091`."""
    job: str = "mlops-tui"
    """The `job` of the grouping key; each environment and target is a group of its own under it."""
    token_env: str | None = None
    """Environment variable holding a bearer token (a Pushgateway behind an authenticating proxy)."""
    token_command: list[str] | None = None
    """Command (argument list, no shell) printing the bearer token on stdout."""
    username_env: str | None = None
    """Environment variable holding the basic-auth user name (the Pushgateway's `web.config.file`)."""
    password_env: str | None = None
    """Environment variable holding the basic-auth password."""
    timeout_seconds: PositiveFloat = 5.0
    """Timeout of the request; a marker that fails never fails the change it marks."""


class MarkerSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Deploy markers: after every promotion, rollback and traffic change made in this environment
    (approved ones too), the team's dashboards are told. A marker that fails does not fail the
    change: the journal records the failure and the front end shows it."""

    grafana: GrafanaMarkerSettings | None = None
    """Post a Grafana annotation (`[environments.NAME.markers.grafana]`)."""
    pushgateway: PushgatewayMarkerSettings | None = None
    """Push a marker series to a Pushgateway (`[environments.NAME.markers.pushgateway]`)."""


@dataclass(frozen=True)
class MetricGate:
    """One parsed `metrics` comparison of the gates."""

    metric: str
    op: Literal[">=", ">", "<=", "<"]
    value: float
    """The threshold, or the offset from the current holder's value when `relative`."""
    relative: bool

    def holds(self, candidate: float, holder: float | None) -> bool:
        """Whether `candidate` passes; a relative comparison with no holder passes."""
        if self.relative and holder is None:
            return True
        bound = self.value + (holder or 0.0) if self.relative else self.value
        return _COMPARISONS[self.op](candidate, bound)

    def __str__(self) -> str:
        if not self.relative:
            return f"{self.metric} {self.op} {self.value:g}"
        if not self.value:
            return f"{self.metric} {self.op} current"
        sign = "+" if self.value > 0 else "-"
        return f"{self.metric} {self.op} current {sign} {abs(self.value):g}"


_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}
_METRIC_GATE = re.compile(
    r"^\s*(?P<metric>[A-Za-z0-9_./-]+)\s*(?P<op>>=|<=|>|<)\s*(?:"
    r"(?:current|champion)\s*(?:(?P<sign>[+-])\s*(?P<offset>\d+(?:\.\d*)?(?:e-?\d+)?))?"
    r"|(?P<number>[+-]?\d+(?:\.\d*)?(?:e-?\d+)?))\s*$"
)


def parse_metric_gate(text: str) -> MetricGate:
    """`"val_auc >= current - 0.005"` as a MetricGate.

    Raises:
        ValueError: not a comparison of that form.
    """
    match = _METRIC_GATE.match(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not METRIC OP VALUE (OP one of >= > <= <; VALUE a number, or current +/- a "
            'number), e.g. "val_auc >= current - 0.005"'
        )
    op: Any = match["op"]
    if match["number"] is not None:
        return MetricGate(match["metric"], op, float(match["number"]), relative=False)
    offset = float(match["offset"] or 0.0)
    return MetricGate(match["metric"], op, -offset if match["sign"] == "-" else offset, relative=True)


class EnvironmentSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """One environment (dev, qa, prd, ...) and the backends it names."""

    protected: bool = False
    """Every write action asks for typed confirmation (type the model name)."""
    read_only: bool = False
    """Every write action is refused."""
    models: list[str] = []
    """Registered models of interest; empty means every model in the registry."""
    mlflow: MlflowSettings | None = None
    """The MLflow tracking server and registry of this environment."""
    gitlab: GitlabSettings | None = None
    """The GitLab project of this environment's pipelines."""
    retrain: RetrainSettings | None = None
    """How retraining is started."""
    alertmanager: AlertmanagerSettings | None = None
    """The Alertmanager whose alerts concern this environment."""
    vertex: VertexSettings | None = None
    """The Vertex AI project and region serving this environment's models."""
    airflow: AirflowSettings | None = None
    """The Airflow deployment whose DAG runs train this environment's models."""
    metrics: MetricsSettings | None = None
    """Where this environment's serving metrics are read (Prometheus, or MLflow runs)."""
    rules: list[AlertRule] = []
    """Local alert rules on MLflow metrics, for teams with no Prometheus (and the demo)."""
    gates: GateSettings | None = None
    """Checks a promotion in this environment must pass (`[environments.prd.gates]`)."""
    approvals: NonNegativeInt = 0
    """Four-eyes: how many other operators must approve a promotion before it is made (0: none).
    The promotion becomes a request in the shared journal (`approvals list|approve|reject`);
    needs a shared journal (`journal = "postgresql+psycopg://..."`)."""
    rollback_approvals: NonNegativeInt = 0
    """Approvals a rollback needs; 0 (the default) keeps a rollback one person's act."""
    approval_expiry_hours: PositiveFloat = 24.0
    """How long a request waits for its approvals before it expires."""
    markers: MarkerSettings | None = None
    """Deploy markers posted after each change of a serving slot (`[environments.NAME.markers]`)."""


_Share = Annotated[float, msgspec.Meta(gt=0, le=1)]
AUTOMATION_IDENTITIES = (
    "gitlab-ci",
    "*-ci",
    "ci-*",
    "ci@*",
    "*[bot]",
    "*@*.iam.gserviceaccount.com",
    "service-account-*",
    "airflow",
    "scheduler",
)
"""The default `[maturity] automation` patterns: CI jobs, bots and service accounts."""


def _automation() -> list[str]:
    return list(AUTOMATION_IDENTITIES)


class MaturitySettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """How `maturity` judges the criteria of the MLOps maturity levels (docs/maturity.md)."""

    share: _Share = 0.8
    """What "most" means: the share of a model's runs carrying a git commit, of its versions made
    by a pipeline, and of its promotions made by CI, that meets those criteria."""
    runs: PositiveInt = 200
    """How many of a model's newest runs are read to judge the share carrying a git commit."""
    automation: list[str] = msgspec.field(default_factory=_automation)
    """Identities of automation, not people: patterns (`*` stands for any text, case does not
    matter) matched against the operator the journal records (`MLOPS_TUI_OPERATOR` of a CI job)
    and the promoter the registry's history names. A promotion or retraining made by one of them
    counts as automated."""


class _File(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    default_env: str | None = None
    """Environment opened when none is given on the command line."""
    builtin_local: bool = False
    """Also serve the built-in `local` environment (the demo's MLflow sqlite store under the XDG
    data directory, the local runner, local alert rules) beside the file's; an
    `[environments.local]` table of the file takes its place."""
    operator: str | None = None
    """Name recorded in the audit journal; default: `$MLOPS_TUI_OPERATOR`, else
    `git config user.email`, else `user@host`."""
    journal: str | None = None
    """The audit journal: a SQLite file path (keep it on a local disk; default: the XDG state
    dir), or a SQLAlchemy URL of a database a team shares, `postgresql+psycopg://USER@HOST/DB`
    (no password in it: see `journal_password_env`)."""
    journal_password_env: str | None = None
    """Environment variable holding the shared journal database's password."""
    journal_password_command: list[str] | None = None
    """Command (argument list, no shell) printing the shared journal database's password."""
    theme: str | None = None
    """Textual theme of the TUI."""
    keymap: dict[str, str] = {}
    """Key binding overrides: binding id -> comma-separated keys."""
    maturity: MaturitySettings = MaturitySettings()
    """Thresholds of the maturity assessment (`mlops-tui maturity`)."""
    environments: dict[str, Any] = {}
    """Environments by name; validated one by one so errors name the environment."""


OPERATOR_ENV_VAR = "MLOPS_TUI_OPERATOR"


@functools.cache
def _default_operator() -> str:
    """`git config user.email` where git knows one, else `user@host`."""
    import getpass
    import socket

    try:
        email = subprocess.run(
            ["git", "config", "user.email"], capture_output=True, text=True, timeout=5, check=False
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        email = ""
    return email or f"{getpass.getuser()}@{socket.gethostname()}"


@dataclass(frozen=True)
class Settings:
    """Validated settings, and the file they came from (None: the built-in `local` environment)."""

    environments: dict[str, EnvironmentSettings]
    default_env: str
    path: Path | None = None
    operator: str | None = None
    theme: str | None = None
    keymap: dict[str, str] | None = None
    journal: Path | None = None
    journal_url: str | None = None
    """A shared journal's SQLAlchemy URL (PostgreSQL), without password; None: the SQLite file."""
    journal_password_env: str | None = None
    journal_password_command: list[str] | None = None
    read_only: bool = False
    """Every environment read-only (`--read-only`), whatever the file says."""
    maturity: MaturitySettings = MaturitySettings()
    """Thresholds of the maturity assessment."""
    warnings: tuple[str, ...] = ()
    """What is risky about the file (its permissions); front ends show these."""

    @property
    def operator_name(self) -> str:
        """Who the journal records: the `operator` key, else `$MLOPS_TUI_OPERATOR` (for a config
        file several people share), else `git config user.email`, else `user@host`."""
        return self.operator or os.environ.get(OPERATOR_ENV_VAR) or _default_operator()

    def unshared_protection(self, name: str) -> str | None:
        """Why environment `name`'s protection holds for one operator only: it is protected and
        the journal is a file of this machine's, so a teammate neither sees its history nor waits
        on its locks. None where that is not so."""
        env = self.environments.get(name)
        if env is None or not env.protected or self.journal_url is not None:
            return None
        return (
            f"{name} is protected but the audit journal is this machine's file: teammates do not see "
            'its history nor share its locks; set journal = "postgresql+psycopg://USER@HOST/DB"'
        )

    def environment(self, name: str | None = None) -> tuple[str, EnvironmentSettings]:
        """The environment called `name` (default: `default_env`).

        Raises:
            UsageError: no such environment; the message lists the known ones.
        """
        name = name or self.default_env
        try:
            return name, self.environments[name]
        except KeyError:
            known = ", ".join(sorted(self.environments))
            raise UsageError(f"unknown environment {name!r}; configured: {known}") from None


def locate_config(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The config file in effect, or None when the built-in `local` environment serves.

    An explicit path or `$MLOPS_TUI_CONFIG` must exist; the two default locations may not.
    """
    for candidate in (explicit, os.environ.get(CONFIG_ENV_VAR) or None):
        if candidate:
            path = Path(candidate).expanduser()
            if not path.is_file():
                raise ConfigError("config file not found", path=str(path))
            return path
    for path in (Path.cwd() / "mlops-tui.toml", locations.config_dir() / "config.toml"):
        if path.is_file():
            return path
    return None


def trainer_command(*extra: str) -> list[str]:
    """The small trainer shipped in the package, run by this interpreter, as a local `[retrain]`
    command (placeholders left for the runner to fill)."""
    return [
        sys.executable,
        "-m",
        "mlops_tui.demo.trainer",
        "--model",
        "{model}",
        "--tracking-uri",
        "{tracking_uri}",
        *extra,
    ]


def local_settings() -> Settings:
    """The built-in environments, each an MLflow sqlite store under the XDG data directory:
    `local` (the local runner, local alert rules, serving metrics logged to MLflow) and
    `local-prd`, protected, with a promotion gate (a `validation_status = "passed"` tag), a
    registry of its own as a production one would be, so that the fleet view has environments
    to line up."""
    data = locations.data_dir()
    env = EnvironmentSettings(
        mlflow=MlflowSettings(
            tracking_uri=f"sqlite:///{data / 'mlflow.db'}",
            artifact_root=str(data / "artifacts"),
            refresh_seconds=10.0,
        ),
        retrain=RetrainSettings(kind="local", command=trainer_command("--env", "{env}")),
        rules=list(LOCAL_RULES),
        # The demo's monitoring job logs serving metrics to a store of its own, so that its daily
        # runs stay out of the Runs pane.
        metrics=MetricsSettings(
            kind="mlflow", tracking_uri=f"sqlite:///{data / 'monitoring.db'}", step_seconds=3600.0
        ),
    )
    prd = EnvironmentSettings(
        protected=True,
        # A production registry takes validated versions only: the demo's maturity shows the gate.
        gates=GateSettings(required_tags={"validation_status": "passed"}),
        mlflow=MlflowSettings(
            tracking_uri=f"sqlite:///{data / 'mlflow-prd.db'}",
            artifact_root=str(data / "artifacts-prd"),
            refresh_seconds=10.0,
        ),
    )
    return Settings(environments={LOCAL_ENV: env, LOCAL_PRD_ENV: prd}, default_env=LOCAL_ENV)


LOCAL_RULES = (
    AlertRule(
        name="ChampionAucLow",
        metric="val_auc",
        op="<",
        threshold=0.88,
        models=["churn"],
        severity="critical",
        summary="{model} v{version} serves with val_auc {value}, below {threshold}",
        description="The serving version scores below the agreed floor: roll back or promote a better one.",
        runbook_url="https://runbooks.example.com/models/auc-low",
    ),
    AlertRule(
        name="FeatureDrift",
        metric="drift_psi",
        op=">",
        threshold=0.13,
        severity="warning",
        summary="Serving data of {model} v{version} drifted: PSI {value} > {threshold}",
        description="The population stability index of the serving data against training data is high.",
        runbook_url="https://runbooks.example.com/models/drift",
    ),
)
"""The rules of the built-in `local` environment: on the demo data, churn's champion scores too low
and fraud's drifts, so both fire."""


UiCheck = Callable[[dict[str, str], "str | None", "Path | None"], None]
"""Checks of the keys only the TUI reads (`keymap`, `theme`), which raise ConfigError."""


def load_settings(
    explicit: str | os.PathLike[str] | None = None, *, check_ui: UiCheck | None = None
) -> Settings:
    """Find, read and validate the settings.

    Raises:
        ConfigError: unreadable file, TOML syntax, unknown key, wrong type, value out of range;
            names the file, the line and the key, and holds every error found (`problems`).
    """
    path = locate_config(explicit)
    if path is None:
        return local_settings()
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text)
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path=str(path)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        at = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        line = int(at[1]) if at else None
        if "(at end of document)" in str(exc):
            line = max(1, len(text.splitlines()))
        raise ConfigError(f"not valid TOML: {exc}", path=str(path), line=line) from None
    settings = parse_settings(raw, path, text=text, check_ui=check_ui)
    return replace(settings, warnings=_permission_warnings(path, raw))


def _permission_warnings(path: Path, raw: dict[str, Any]) -> tuple[str, ...]:
    """A file others can read or change, naming a command that prints a token: whoever edits it
    runs a command of their choice with the operator's rights, and reading it tells them how to
    get the token."""
    if not _names_key(raw, "token_command"):
        return ()
    try:
        mode = path.stat().st_mode
    except OSError:
        return ()
    if not mode & 0o066:
        return ()
    return (
        f"{path} is readable or writable by other users and names a token_command; "
        f"make it private: chmod 600 {path}",
    )


def _names_key(node: Any, key: str) -> bool:
    if isinstance(node, dict):
        return any(k == key or _names_key(v, key) for k, v in node.items())
    if isinstance(node, list):
        return any(_names_key(item, key) for item in node)
    return False


def parse_settings(
    raw: dict[str, Any], path: Path | None = None, *, text: str | None = None, check_ui: UiCheck | None = None
) -> Settings:
    """Validate an already parsed TOML document (`text`, its source, lets errors name their line).

    Raises:
        ConfigError: unknown key, wrong type, missing key, inline secret, value out of range; one
            for every problem found (`problems`).
    """
    where = str(path) if path else None
    problems: list[ConfigError] = []
    _reject_inline_secrets(raw, where, (), problems)
    top = _convert(raw, _File, where, "", problems)
    if top is not None and check_ui is not None:
        _collect(problems, check_ui, dict(top.keymap), top.theme, path)
    environments: dict[str, EnvironmentSettings] = {}
    tables = top.environments if top is not None else {}
    if (
        top is not None
        and not tables
        and not top.builtin_local
        and all(p.key != "environments" for p in problems)
    ):
        problems.append(ConfigError("no environments defined; add an [environments.NAME] table", path=where))
    for name, table in tables.items():
        prefix = f"environments.{name}"
        if not _ENV_NAME.match(name):
            problems.append(
                ConfigError(
                    "environment names use lower-case letters, digits, - and _", path=where, key=prefix
                )
            )
            continue
        env = _convert(
            _named_tables(table, where, prefix, problems), EnvironmentSettings, where, prefix, problems
        )
        if env is not None:
            environments[name] = env
            for check in (
                _check_mlflow,
                _check_vertex,
                _check_gitlab,
                _check_airflow,
                _check_markers,
                _check_metrics,
            ):
                _collect(problems, check, env, where, prefix)
    for name, env in environments.items():
        _collect(problems, _check_gates, env, tables, where, f"environments.{name}")
        _collect(problems, _check_approvals, env, top, where, f"environments.{name}")
    if top is not None and top.builtin_local and LOCAL_ENV not in tables:
        environments[LOCAL_ENV] = local_settings().environments[LOCAL_ENV]
        tables = {**tables, LOCAL_ENV: {}}
    default_env = (top.default_env if top else None) or next(iter(environments), None)
    if top is not None and default_env is not None and default_env not in tables:
        problems.append(
            ConfigError(
                f"names {default_env!r}, which is not among the environments ({', '.join(tables)})",
                path=where,
                key="default_env",
            )
        )
    if problems:
        raise ConfigError.several(_with_lines(problems, text))
    assert top is not None and default_env is not None
    return Settings(
        environments=environments,
        default_env=default_env,
        path=path,
        operator=top.operator,
        theme=top.theme,
        keymap=dict(top.keymap),
        journal=Path(top.journal).expanduser() if top.journal and not _is_url(top.journal) else None,
        journal_url=_journal_url(top.journal, where) if top.journal and _is_url(top.journal) else None,
        journal_password_env=top.journal_password_env,
        journal_password_command=top.journal_password_command,
        maturity=top.maturity,
    )


def _named_tables(table: Any, where: str | None, prefix: str, problems: list[ConfigError]) -> Any:
    """`table` with each named series (`[metrics.series.NAME]`) validated on its own, so that an
    error names the series (msgspec says only `series[...]`); the bad ones are left out."""
    metrics = table.get("metrics") if isinstance(table, dict) else None
    if not isinstance(metrics, dict) or not isinstance(metrics.get("series"), dict):
        return table
    series: dict[str, Any] = metrics["series"]
    kept = {}
    for name, one in series.items():
        found = len(problems)
        if _convert(one, SeriesSettings, where, f"{prefix}.metrics.series.{name}", problems) is not None:
            if len(problems) == found:
                kept[name] = one
    return {**table, "metrics": {**metrics, "series": kept}}


def _collect(problems: list[ConfigError], check: Callable[..., Any], *args: Any) -> None:
    try:
        check(*args)
    except ConfigError as exc:
        problems.extend(exc.problems)


def _with_lines(problems: list[ConfigError], text: str | None) -> list[ConfigError]:
    """The problems, each naming the line of its key in `text`."""
    if text is None:
        return problems
    lines = _key_lines(text)
    located = [
        ConfigError(p.reason, path=p.path, key=p.key, line=_line_of(lines, p.key)) if p.key else p
        for p in problems
    ]
    return sorted(located, key=lambda p: p.line or 0)


_TOML_KEY_PART = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_TOML_KEY = re.compile(rf"^\s*({_TOML_KEY_PART}(?:\s*\.\s*{_TOML_KEY_PART})*)\s*=")
_TOML_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_TOML_KEY_PART}(?:\s*\.\s*{_TOML_KEY_PART})*)\s*\]")
_TOML_PART = re.compile(_TOML_KEY_PART)


def _dotted(key: str) -> list[str]:
    return [part.strip("\"'") for part in _TOML_PART.findall(key)]


def _key_lines(text: str) -> dict[str, int]:
    """The line of every key and table of a TOML document, by dotted path; the n-th table of an
    array of tables is `name[n]`, as msgspec names it."""
    lines: dict[str, int] = {}
    counts: dict[str, int] = {}
    table = ""
    for number, line in enumerate(text.splitlines(), start=1):
        if header := _TOML_HEADER.match(line):
            table = ".".join(_dotted(header[2]))
            if header[1] == "[[":
                counts[table] = counts.get(table, -1) + 1
                table = f"{table}[{counts[table]}]"
            lines.setdefault(table, number)
        elif key := _TOML_KEY.match(line):
            parts = _dotted(key[1])
            for end in range(1, len(parts) + 1):
                lines.setdefault(".".join(filter(None, (table, *parts[:end]))), number)
    return lines


def _line_of(lines: dict[str, int], key: str) -> int | None:
    """The line of `key`, else of the nearest table holding it."""
    while key:
        if key in lines:
            return lines[key]
        shorter = re.sub(r"(\[\d+\]|\.?[^.\[]*)$", "", key)
        if shorter == key:  # a path part no table is named by (msgspec's `[...]` of a dict value)
            return None
        key = shorter
    return None


def _check_mlflow(env: EnvironmentSettings, where: str | None, prefix: str) -> None:
    """What the types alone cannot say about the [mlflow] table."""
    uri = env.mlflow.tracking_uri if env.mlflow else None
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower() if uri and ":" in uri else None
    if uri is not None and scheme not in _URI_SCHEMES:
        raise ConfigError(
            f"unsupported scheme in {uri!r}; use one of: {', '.join(f'{s}://' for s in _URI_SCHEMES)}",
            path=where,
            key=f"{prefix}.mlflow.tracking_uri",
        )


def _check_approvals(env: EnvironmentSettings, top: _File | None, where: str | None, prefix: str) -> None:
    """Approvals are a team's: they live in a journal every operator shares."""
    if (env.approvals or env.rollback_approvals) and not (top and top.journal and _is_url(top.journal)):
        key = "approvals" if env.approvals else "rollback_approvals"
        raise ConfigError(
            "approvals need a shared journal that every operator reads: set the top-level "
            '`journal = "postgresql+psycopg://USER@HOST/DB"`',
            path=where,
            key=f"{prefix}.{key}",
        )


def _is_url(text: str) -> bool:
    return "://" in text


def _journal_url(url: str, where: str | None) -> str:
    """A shared journal's URL, checked: PostgreSQL through psycopg, and no password in it."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password is not None:
        raise ConfigError(
            "a journal URL holding a password is refused: remove it and name it by "
            "journal_password_env or journal_password_command",
            path=where,
            key="journal",
        )
    if parts.scheme == "postgresql":
        return url.replace("postgresql://", "postgresql+psycopg://", 1)
    if parts.scheme != "postgresql+psycopg":
        raise ConfigError(
            f"a journal URL is postgresql+psycopg://USER@HOST/DB (a SQLite journal is a file "
            f"path), not {parts.scheme}://",
            path=where,
            key="journal",
        )
    return url


def _check_gates(env: EnvironmentSettings, tables: dict[str, Any], where: str | None, prefix: str) -> None:
    """What the types alone cannot say about the [gates] table."""
    gates = env.gates
    if gates is None:
        return
    problems = []
    for index, text in enumerate(gates.metrics):
        try:
            parse_metric_gate(text)
        except ValueError as exc:
            problems.append(ConfigError(str(exc), path=where, key=f"{prefix}.gates.metrics[{index}]"))
    here = prefix.removeprefix("environments.")
    if gates.promoted_in is not None and (gates.promoted_in == here or gates.promoted_in not in tables):
        others = ", ".join(n for n in tables if n != here) or "none"
        problems.append(
            ConfigError(
                f"names {gates.promoted_in!r}, which is not another environment ({others})",
                path=where,
                key=f"{prefix}.gates.promoted_in",
            )
        )
    if gates.no_critical_alerts and not (env.alertmanager or env.rules or env.vertex):
        problems.append(
            ConfigError(
                "needs an alert source to ask: an [alertmanager] table, [[rules]] or [vertex]",
                path=where,
                key=f"{prefix}.gates.no_critical_alerts",
            )
        )
    if problems:
        raise ConfigError.several(problems)


def _check_gitlab(env: EnvironmentSettings, where: str | None, prefix: str) -> None:
    """What the types alone cannot say about the [gitlab] table."""
    name = env.gitlab.pipeline_name if env.gitlab else None
    if name is not None and name.count("{model}") != 1:
        raise ConfigError(
            "needs `{model}` once, where the model's name stands in the pipeline's name, "
            'e.g. "retrain {model}"',
            path=where,
            key=f"{prefix}.gitlab.pipeline_name",
        )


def _check_vertex(env: EnvironmentSettings, where: str | None, prefix: str) -> None:
    """What the types alone cannot say about the [vertex] table and `retrain.kind = "vertex"`."""
    vertex = env.vertex
    if vertex is not None and vertex.credentials == "anonymous" and not vertex.api_endpoint:
        raise ConfigError(
            "`anonymous` sends no credentials and is only for emulators and tests: set api_endpoint "
            'too, or use "default"',
            path=where,
            key=f"{prefix}.vertex.credentials",
        )
    if env.retrain is not None and env.retrain.kind == "vertex":
        if vertex is None or not vertex.pipeline_template:
            raise ConfigError(
                "vertex retraining runs the [vertex] table's pipeline_template; set "
                f"{prefix}.vertex.pipeline_template",
                path=where,
                key=f"{prefix}.retrain.kind",
            )


def _check_airflow(env: EnvironmentSettings, where: str | None, prefix: str) -> None:
    """What the types alone cannot say about the [airflow] table and `retrain.kind = "airflow"`."""
    airflow = env.airflow
    if airflow is not None and airflow.password_env and airflow.password_command:
        raise ConfigError(
            "name the password once: password_env or password_command", path=where, key=f"{prefix}.airflow"
        )
    if airflow is not None and (airflow.password_env or airflow.password_command) and not airflow.username:
        raise ConfigError(
            "a password needs the user it belongs to: set username",
            path=where,
            key=f"{prefix}.airflow.username",
        )
    if env.retrain is not None and env.retrain.kind == "airflow":
        if airflow is None:
            raise ConfigError(
                f"airflow retraining triggers a DAG of the [airflow] table; add {prefix}.airflow",
                path=where,
                key=f"{prefix}.retrain.kind",
            )
        if not env.retrain.dag:
            raise ConfigError(
                'name the DAG to trigger, e.g. dag = "retrain_{model}"',
                path=where,
                key=f"{prefix}.retrain.dag",
            )


def _check_markers(env: EnvironmentSettings, where: str | None, prefix: str) -> None:
    """What the types alone cannot say about the [markers] table."""
    markers = env.markers
    if markers is None:
        return
    if markers.grafana is None and markers.pushgateway is None:
        raise ConfigError(
            "names no destination: add a [grafana] or a [pushgateway] table under it",
            path=where,
            key=f"{prefix}.markers",
        )
    if markers.pushgateway is not None and not markers.pushgateway.job.strip():
        raise ConfigError(
            "the Pushgateway's job cannot be empty", path=where, key=f"{prefix}.markers.pushgateway.job"
        )


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def _check_metrics(env: EnvironmentSettings, where: str | None, prefix: str) -> None:
    """What the types alone cannot say about the [metrics] table."""
    metrics = env.metrics
    if metrics is None:
        return
    problems = []
    key = f"{prefix}.metrics"
    if metrics.kind == "prometheus" and not metrics.url:
        problems.append(
            ConfigError(
                "a Prometheus metrics source needs the URL of its HTTP API, e.g. "
                'url = "http://prometheus:9090"',
                path=where,
                key=f"{key}.kind",
            )
        )
    if metrics.kind == "mlflow" and env.mlflow is None and not metrics.tracking_uri:
        problems.append(
            ConfigError(
                f"the mlflow kind reads this environment's tracking server: add {prefix}.mlflow, or "
                "name the monitoring job's in tracking_uri",
                path=where,
                key=f"{key}.kind",
            )
        )
    if metrics.token_env and metrics.token_command:
        problems.append(ConfigError("name the token once: token_env or token_command", path=where, key=key))
    if metrics.auth == "google" and (metrics.token_env or metrics.token_command or metrics.username_env):
        problems.append(
            ConfigError(
                "google auth uses Application Default Credentials: remove token_env, token_command "
                'and username_env, or use auth = "default"',
                path=where,
                key=f"{key}.auth",
            )
        )
    if bool(metrics.username_env) != bool(metrics.password_env):
        problems.append(
            ConfigError("basic auth needs both username_env and password_env", path=where, key=key)
        )
    if not _LABEL_NAME.fullmatch(metrics.model_label):
        problems.append(
            ConfigError(
                f"{metrics.model_label!r} is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)",
                path=where,
                key=f"{key}.model_label",
            )
        )
    series = metrics.all_series()
    if not series:
        problems.append(
            ConfigError("no series: add a [series.NAME] table or keep the defaults", path=where, key=key)
        )
    elif metrics.headline not in series:
        problems.append(
            ConfigError(
                f"names {metrics.headline!r}, which is not a series ({', '.join(series)})",
                path=where,
                key=f"{key}.headline",
            )
        )
    for name, one in metrics.series.items():
        unknown = [p for p in _PLACEHOLDER.findall(one.query) if p not in SERIES_PLACEHOLDERS]
        if unknown:
            known = ", ".join(f"{{{p}}}" for p in SERIES_PLACEHOLDERS)
            problems.append(
                ConfigError(
                    f"unknown placeholder {{{unknown[0]}}}; a template may name {known}",
                    path=where,
                    key=f"{key}.series.{name}.query",
                )
            )
        if one.warn is not None and one.critical is not None:
            order_ok = one.warn <= one.critical if one.worse == "up" else one.warn >= one.critical
            if not order_ok:
                relation = "above" if one.worse == "up" else "below"
                problems.append(
                    ConfigError(
                        f"critical must be at or {relation} warn when the series gets worse "
                        f"{one.worse} (worse = {one.worse!r})",
                        path=where,
                        key=f"{key}.series.{name}.critical",
                    )
                )
    if problems:
        raise ConfigError.several(problems)


_MSGSPEC_ERROR = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<at>[^`]*)`)?$", re.S)
_UNKNOWN_FIELD = re.compile(r"^Object contains unknown field `(?P<field>[^`]+)`$")
_MISSING_FIELD = re.compile(r"^Object missing required field `(?P<field>[^`]+)`$")
_PATH_PART = re.compile(r"\.?([^.\[]+)|\[(\d+)\]")


def _convert(
    data: Any, kind: type[_T], where: str | None, prefix: str, problems: list[ConfigError]
) -> _T | None:
    """`data` as `kind`, or None; every problem found is added to `problems` (msgspec stops at
    the first, so the offending key is taken out of a copy and the conversion tried again)."""
    data = copy.deepcopy(data)
    dropped: set[str] = set()
    unknown_in: set[str] = set()
    while True:
        try:
            return msgspec.convert(data, kind)
        except msgspec.ValidationError as exc:
            problem, at = _problem(exc, kind, where, prefix)
            # A required key taken out to look further, or missing beside an unknown key (a typo
            # of its name, most likely): said already.
            table = (problem.key or "").rpartition(".")[0]
            if problem.key in dropped or (not at and table in unknown_in):
                return None
            if problem.reason.startswith("unknown key"):
                unknown_in.add(table)
            if all(p.key != problem.key for p in problems):  # an inline secret is also unknown
                problems.append(problem)
            if not _drop(data, at):
                return None
            dropped.add(problem.key or "")


def _problem(
    exc: msgspec.ValidationError, kind: type[Any], where: str | None, prefix: str
) -> tuple[ConfigError, str]:
    """The ConfigError of a msgspec error, and the path (within the converted data) of the bad key."""
    match = _MSGSPEC_ERROR.match(str(exc))
    assert match is not None
    what, at = match["what"], (match["at"] or "").lstrip(".")
    key = ".".join(part for part in (prefix, at) if part)
    if unknown := _UNKNOWN_FIELD.match(what):
        field = unknown["field"]
        known = ", ".join(sorted(_field_names(kind, at)))
        full = f"{key}.{field}" if key else field
        return ConfigError(f"unknown key; expected one of: {known}", path=where, key=full), f"{at}.{field}"
    if missing := _MISSING_FIELD.match(what):
        field = missing["field"]
        return ConfigError("required key is missing", path=where, key=f"{key}.{field}"), ""
    return ConfigError(what.replace("`", ""), path=where, key=key or None), at


def _drop(data: Any, at: str) -> bool:
    """Take the value at the msgspec path `at` out of `data`; False if there is none to take."""
    parts: list[str | int] = [name if name else int(index) for name, index in _PATH_PART.findall(at)]
    if not parts:
        return False
    node = data
    try:
        for part in parts[:-1]:
            node = node[part]
        del node[parts[-1]]
    except (KeyError, IndexError, TypeError):
        return False
    return True


def _field_names(kind: type[Any], at: str) -> tuple[str, ...]:
    """Field names of the struct reached by following the dotted path `at` from `kind`."""
    for part in filter(None, at.split(".")):
        info = msgspec.inspect.type_info(kind)
        if not isinstance(info, msgspec.inspect.StructType):
            return ()
        field = next((f for f in info.fields if f.encode_name == part), None)
        if field is None:
            return ()
        inner = field.type
        if isinstance(inner, msgspec.inspect.UnionType):
            inner = next(t for t in inner.types if isinstance(t, msgspec.inspect.StructType))
        if not isinstance(inner, msgspec.inspect.StructType):
            return ()
        kind = inner.cls
    return tuple(kind.__struct_fields__) if hasattr(kind, "__struct_fields__") else ()


_INLINE_SECRET_MESSAGE = (
    "secrets are never written in the config file; name an environment variable holding it "
    "(`token_env`, or `username_env`/`password_env`) or a command printing it (`token_command`)"
)
_URL_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s]*:[^/@\s]*@", re.IGNORECASE)


def _reject_inline_secrets(
    node: Any, where: str | None, path: tuple[str, ...], problems: list[ConfigError]
) -> None:
    if isinstance(node, list):
        for item in node:
            _reject_inline_secrets(item, where, path, problems)
        return
    if isinstance(node, str) and _URL_PASSWORD.match(node):
        problems.append(
            ConfigError(
                f"a URL with a password in it: {_INLINE_SECRET_MESSAGE}", path=where, key=".".join(path)
            )
        )
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key in _INLINE_SECRET_KEYS:
            problems.append(ConfigError(_INLINE_SECRET_MESSAGE, path=where, key=".".join((*path, key))))
        else:
            _reject_inline_secrets(value, where, (*path, key), problems)


_RESOLVED_SECRETS: set[str] = set()
"""Every secret value this process resolved, so that `redact` can take them out of any text."""


def redact(text: str) -> str:
    """`text` with every secret this process resolved replaced by `***` (debug tracebacks, errors)."""
    for secret in sorted(_RESOLVED_SECRETS, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def resolve_secret(env_var: str | None, command: list[str] | None = None) -> str | None:
    """The secret named by an environment variable, or printed by a command (run without a shell).

    Raises:
        ConfigError: the variable is named but unset, or the command fails.
    """
    value = _resolve_secret(env_var, command)
    if value:
        _RESOLVED_SECRETS.add(value)
    return value


def _resolve_secret(env_var: str | None, command: list[str] | None) -> str | None:
    if env_var:
        value = os.environ.get(env_var)
        if not value:
            raise ConfigError(f"environment variable {env_var} is not set")
        return value
    if command:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ConfigError(f"token command {command[0]!r} could not run: {exc}") from None
        if done.returncode != 0:
            raise ConfigError(f"token command {command[0]!r} exited {done.returncode}")
        return done.stdout.strip()
    return None


def starter_config() -> str:
    """A commented starter file: the documented example shipped with the package."""
    return (Path(__file__).parent / "config.example.toml").read_text(encoding="utf-8")


def redacted(settings: Settings) -> dict[str, Any]:
    """The resolved settings as plain data, for `config check`. Holds only secret *names*."""
    return {
        "path": str(settings.path) if settings.path else None,
        "default_env": settings.default_env,
        "operator": settings.operator,
        "theme": settings.theme,
        "keymap": settings.keymap or {},
        "environments": {name: msgspec.to_builtins(env) for name, env in settings.environments.items()},
    }
