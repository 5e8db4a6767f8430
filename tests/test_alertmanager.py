"""`AlertmanagerSource` against a real Alertmanager (Debian's `prometheus-alertmanager`): listing and
filtering alerts, silences from creation to expiry, inhibition, Alertmanager's own error messages;
plus one end-to-end test where a real Prometheus fires the alert.

Local HTTP servers stand in only where a real Alertmanager cannot be made to answer on demand:
recording the request (credentials, `api_path`, query), a 401, a 500, a malformed answer.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from mlops_tui.config import AlertmanagerSettings
from mlops_tui.domain import Alert
from mlops_tui.domain.matchers import Matcher, matches_all, parse_matcher, parse_matchers
from mlops_tui.errors import (
    BackendError,
    BackendUnreachable,
    ConfigError,
    ExitCode,
    InvalidQuery,
    NotFound,
)
from mlops_tui.sources.alertmanager import AlertmanagerSource
from tests.helpers import (
    FakeHttpServer,
    RecordedRequest,
    closed_port,
    eventually,
    json_reply,
    silent_server,
)
from tests.helpers.alertmanager import AlertmanagerTestbed, running_prometheus

UNKNOWN_SILENCE = "0b7d7a4e-6a55-4bd4-9c2a-7c1f00000000"


@pytest.fixture
async def source(alertmanager: AlertmanagerTestbed) -> AsyncIterator[AlertmanagerSource]:
    """A source on the session's Alertmanager that sees this test's alerts only."""
    source = alertmanager.source()
    yield source
    await source.aclose()


def names(alerts: list[Alert]) -> set[str]:
    return {a.name for a in alerts}


def by_name(alerts: list[Alert]) -> dict[str, Alert]:
    return {a.name: a for a in alerts}


# -- alerts ---------------------------------------------------------------------------------------


async def test_posted_alerts_are_listed(
    alertmanager: AlertmanagerTestbed, source: AlertmanagerSource
) -> None:
    alertmanager.post(
        "ChurnDrift",
        {"summary": "PSI 0.31 on churn v3", "runbook_url": "https://runbooks.test/drift"},
        severity="critical",
        model="churn",
    )
    alertmanager.post("FraudLatency", severity="info", model="fraud")

    alerts = await source.list_alerts()

    assert names(alerts) == {"ChurnDrift", "FraudLatency"}
    drift = by_name(alerts)["ChurnDrift"]
    assert dict(drift.labels) == {
        "alertname": "ChurnDrift",
        "severity": "critical",
        "model": "churn",
        "test": alertmanager.test,
    }
    assert drift.summary == "PSI 0.31 on churn v3"
    assert drift.annotations["runbook_url"] == "https://runbooks.test/drift"
    assert drift.generator_url == "http://prometheus.test/graph?g0.expr=ChurnDrift"
    assert drift.source == "alertmanager" and drift.state == "active" and drift.fingerprint
    assert drift.starts_at is not None and drift.starts_at.tzinfo == UTC
    assert drift.ends_at is not None and drift.ends_at > datetime.now(UTC) + timedelta(minutes=50)


async def test_another_tests_alerts_are_not_seen(
    alertmanager: AlertmanagerTestbed, source: AlertmanagerSource
) -> None:
    """The configured filters apply to every listing (here: this test's label)."""
    other = AlertmanagerTestbed(alertmanager.url, alertmanager.test + "-other")
    other.post("ElsewhereAlert", severity="info")
    alertmanager.post("HereAlert", severity="info")

    assert names(await source.list_alerts()) == {"HereAlert"}
    assert names(await source.list_alerts(muted=False)) == {"HereAlert"}


FILTER_ALERTS = {
    "ChurnAuc": {"model": "churn", "severity": "info", "instance": "host12"},
    "FraudAuc": {"model": "fraud", "severity": "page", "instance": "hostA"},
    "DemandMape": {"model": "demand", "severity": "info", "instance": "db 1"},
}


@pytest.mark.parametrize(
    ("matcher", "expected"),
    [
        ('model="churn"', {"ChurnAuc"}),
        ('model!="churn"', {"FraudAuc", "DemandMape"}),
        ('model=~"churn|fraud"', {"ChurnAuc", "FraudAuc"}),
        ('model!~"ch.*"', {"FraudAuc", "DemandMape"}),
        ('model=~"hur"', set()),  # anchored at both ends
        ('model=~"ch"', set()),
        ('model=~"d.*"', {"DemandMape"}),
        ("severity=info", {"ChurnAuc", "DemandMape"}),
        ('absent=""', {"ChurnAuc", "FraudAuc", "DemandMape"}),  # a missing label is ""
        ('instance=~"host\\d+"', {"ChurnAuc"}),  # the backslash reaches Alertmanager
        ("instance=db 1", {"DemandMape"}),
        ('instance!~"host.*", severity="info"', {"DemandMape"}),
    ],
)
async def test_matchers_filter_alerts_as_alertmanager_does(
    alertmanager: AlertmanagerTestbed, source: AlertmanagerSource, matcher: str, expected: set[str]
) -> None:
    alertmanager.post_many([{"alertname": name, **labels} for name, labels in FILTER_ALERTS.items()])
    every = await source.list_alerts()
    assert names(every) == set(FILTER_ALERTS)

    parsed = parse_matchers([matcher])
    assert names(await source.list_alerts(parsed)) == expected
    # The local evaluation (alerts from other sources) agrees with Alertmanager's.
    assert {a.name for a in every if matches_all(parsed, a.labels)} == expected


async def test_several_matchers_all_apply(
    alertmanager: AlertmanagerTestbed, source: AlertmanagerSource
) -> None:
    alertmanager.post_many([{"alertname": name, **labels} for name, labels in FILTER_ALERTS.items()])
    matchers = [parse_matcher('severity="info"'), parse_matcher('model!="demand"')]
    assert names(await source.list_alerts(matchers)) == {"ChurnAuc"}


async def test_configured_filters_narrow_every_listing(alertmanager: AlertmanagerTestbed) -> None:
    alertmanager.post_many([{"alertname": name, **labels} for name, labels in FILTER_ALERTS.items()])
    source = alertmanager.source(filters=[str(alertmanager.matcher), 'model=~"churn|demand"'])
    try:
        assert names(await source.list_alerts()) == {"ChurnAuc", "DemandMape"}
        assert names(await source.list_alerts([parse_matcher("severity=page")])) == set()
    finally:
        await source.aclose()


async def test_a_regex_alertmanager_rejects_is_an_invalid_query_in_its_words(
    source: AlertmanagerSource,
) -> None:
    with pytest.raises(InvalidQuery) as caught:
        # Built directly: parse_matcher would refuse it before Alertmanager sees it.
        await source.list_alerts([Matcher("model", "=~", "(churn")])
    assert "error parsing regexp" in caught.value.reason
    assert caught.value.exit_code == ExitCode.USAGE


def test_a_filter_in_the_config_that_does_not_parse_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="alertmanager filters") as caught:
        AlertmanagerSource(AlertmanagerSettings(url="http://127.0.0.1:9", filters=["env"]))
    assert "'env' does not parse" in caught.value.message


# -- silences -------------------------------------------------------------------------------------


async def silence(source: AlertmanagerSource, *matchers: Matcher, hours: float = 1, **kwargs: object) -> str:
    now = datetime.now(UTC)
    values: dict[str, object] = {
        "starts_at": now,
        "ends_at": now + timedelta(hours=hours),
        "created_by": "priya",
        "comment": "deploying churn v4",
        **kwargs,
    }
    return await source.create_silence(matchers, **values)  # type: ignore[arg-type]


async def test_a_silence_mutes_the_alert_until_it_is_expired(
    alertmanager: AlertmanagerTestbed, source: AlertmanagerSource
) -> None:
    alertmanager.post("ChurnDrift", severity="critical", model="churn")
    alertmanager.post("FraudLatency", severity="info", model="fraud")
    matchers = (Matcher.equal("alertname", "ChurnDrift"), alertmanager.matcher)

    silence_id = await silence(source, *matchers)

    # Alertmanager applies silences to its alert list asynchronously.
    alerts = await eventually(
        source.list_alerts,
        lambda found: by_name(found)["ChurnDrift"].state == "silenced",
        "the silence to mute ChurnDrift",
    )
    assert by_name(alerts)["ChurnDrift"].silenced_by == (silence_id,)
    assert by_name(alerts)["FraudLatency"].state == "active"
    assert names(await source.list_alerts(muted=False)) == {"FraudLatency"}

    created = await source.get_silence(silence_id)
    assert created.state == "active" and created.matchers == matchers
    assert (created.created_by, created.comment, created.source) == (
        "priya",
        "deploying churn v4",
        "alertmanager",
    )
    assert created.ends_at - created.starts_at > timedelta(minutes=59)
    assert created in await source.list_silences()

    await source.expire_silence(silence_id)

    expired = await source.get_silence(silence_id)
    assert expired.state == "expired" and expired.ends_at <= datetime.now(UTC)
    assert next(s for s in await source.list_silences() if s.id == silence_id).state == "expired"
    alerts = await eventually(
        source.list_alerts,
        lambda found: by_name(found)["ChurnDrift"].state == "active",
        "ChurnDrift to fire again",
    )
    assert by_name(alerts)["ChurnDrift"].silenced_by == ()
    assert names(await source.list_alerts(muted=False)) == {"ChurnDrift", "FraudLatency"}


async def test_a_regex_silence_mutes_every_alert_it_matches(
    alertmanager: AlertmanagerTestbed, source: AlertmanagerSource
) -> None:
    alertmanager.post_many([{"alertname": name, **labels} for name, labels in FILTER_ALERTS.items()])
    silence_id = await silence(source, parse_matcher('model=~"churn|fraud"'), alertmanager.matcher)

    alerts = await eventually(
        lambda: source.list_alerts(muted=False),
        lambda found: names(found) == {"DemandMape"},
        "the regex silence to mute churn and fraud",
    )
    assert names(alerts) == {"DemandMape"}
    assert (await source.get_silence(silence_id)).matchers[0] == Matcher("model", "=~", "churn|fraud")


async def test_silences_are_listed_newest_first_with_their_state(
    alertmanager: AlertmanagerTestbed, source: AlertmanagerSource
) -> None:
    now = datetime.now(UTC)
    current = await silence(source, alertmanager.matcher, starts_at=now, ends_at=now + timedelta(hours=1))
    later = await silence(
        source,
        alertmanager.matcher,
        starts_at=now + timedelta(days=1),
        ends_at=now + timedelta(days=2),
    )

    silences = [s for s in await source.list_silences() if s.id in (current, later)]

    assert [(s.id, s.state) for s in silences] == [(later, "pending"), (current, "active")]


@pytest.mark.parametrize(
    ("matchers", "starts_in", "ends_in", "reason"),
    [
        ((Matcher.equal("alertname", "X"),), 2, 1, "start time must be before end time"),
        ((), 0, 1, "matchers in body should have at least 1 items"),
    ],
)
async def test_a_silence_alertmanager_rejects_is_an_invalid_query_in_its_words(
    source: AlertmanagerSource,
    matchers: tuple[Matcher, ...],
    starts_in: int,
    ends_in: int,
    reason: str,
) -> None:
    now = datetime.now(UTC)
    with pytest.raises(InvalidQuery) as caught:
        await source.create_silence(
            matchers,
            starts_at=now + timedelta(hours=starts_in),
            ends_at=now + timedelta(hours=ends_in),
            created_by="priya",
            comment="bad",
        )
    assert reason in caught.value.reason
    assert caught.value.message.startswith("alertmanager: ")
    assert caught.value.exit_code == ExitCode.USAGE


async def test_an_unknown_silence_is_not_found(source: AlertmanagerSource) -> None:
    with pytest.raises(NotFound, match=UNKNOWN_SILENCE):
        await source.get_silence(UNKNOWN_SILENCE)
    with pytest.raises(NotFound, match=UNKNOWN_SILENCE):
        await source.expire_silence(UNKNOWN_SILENCE)


async def test_an_id_alertmanager_cannot_hold_is_not_found_in_its_words(source: AlertmanagerSource) -> None:
    """Alertmanager rejects a silence id that is not a UUID (422); no such silence is here, so
    looking for a silence across several sources goes on to the next."""
    with pytest.raises(NotFound, match="'rules-1': .*must be of type uuid") as caught:
        await source.get_silence("rules-1")
    assert type(caught.value) is NotFound
    with pytest.raises(NotFound, match="'rules-1'"):
        await source.expire_silence("rules-1")


# -- inhibition -----------------------------------------------------------------------------------


async def test_a_critical_alert_inhibits_the_warning_of_the_same_model(
    alertmanager: AlertmanagerTestbed, source: AlertmanagerSource
) -> None:
    alertmanager.post("ChurnDown", severity="critical", model="churn")
    alertmanager.post("ChurnSlow", severity="warning", model="churn")
    alertmanager.post("FraudSlow", severity="warning", model="fraud")

    alerts = await eventually(
        source.list_alerts,
        lambda found: (
            names(found) == {"ChurnDown", "ChurnSlow", "FraudSlow"}
            and by_name(found)["ChurnSlow"].state == "inhibited"
        ),
        "ChurnDown to inhibit ChurnSlow",
    )

    found = by_name(alerts)
    assert found["ChurnSlow"].inhibited_by == (found["ChurnDown"].fingerprint,)
    assert found["ChurnDown"].state == "active" and found["FraudSlow"].state == "active"
    assert names(await source.list_alerts(muted=False)) == {"ChurnDown", "FraudSlow"}


# -- unreachable ----------------------------------------------------------------------------------


async def test_connection_refused_is_unreachable() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    source = AlertmanagerSource(AlertmanagerSettings(url=url, timeout_seconds=30))
    try:
        with pytest.raises(BackendUnreachable) as caught:
            await source.list_alerts()
    finally:
        await source.aclose()
    # Refused at once, not after the 30 s timeout.
    assert f"cannot reach {url}" in caught.value.message
    assert caught.value.exit_code == ExitCode.UNREACHABLE


async def test_a_server_that_never_answers_is_unreachable_after_the_timeout() -> None:
    with silent_server() as port:
        source = AlertmanagerSource(AlertmanagerSettings(url=f"http://127.0.0.1:{port}", timeout_seconds=0.5))
        try:
            with pytest.raises(BackendUnreachable, match="did not answer within"):
                await source.list_silences()
        finally:
            await source.aclose()


async def test_a_wrong_api_path_says_to_check_it(alertmanager: AlertmanagerTestbed) -> None:
    source = alertmanager.source(api_path="/alertmanager/api/v2")
    try:
        with pytest.raises(BackendError, match="check api_path") as caught:
            await source.list_alerts()
    finally:
        await source.aclose()
    assert type(caught.value) is BackendError
    assert f"no Alertmanager API v2 at {alertmanager.url}/alertmanager/api/v2 " in caught.value.message


# -- the request on the wire (a recording server) -------------------------------------------------


ALERT_JSON = {
    "fingerprint": "a1b2c3d4e5f60718",
    "labels": {"alertname": "ChurnDrift", "model": "churn"},
    "annotations": {"summary": "drift"},
    "startsAt": "2026-11-26T12:00:00.123456789Z",
    "endsAt": "0001-01-01T00:00:00Z",
    "generatorURL": "",
    "updatedAt": "2026-11-26T12:00:01.5+01:00",
    "receivers": [{"name": "null"}],
    "status": {"state": "suppressed", "silencedBy": ["s-1"], "inhibitedBy": ["f-2"]},
}


async def list_through_fake(
    reply: tuple[int, str, bytes] = json_reply(200, [ALERT_JSON]),
    matchers: tuple[Matcher, ...] = (),
    *,
    muted: bool = True,
    **settings: object,
) -> tuple[list[Alert], RecordedRequest]:
    with FakeHttpServer(lambda request: reply) as server:
        source = AlertmanagerSource(AlertmanagerSettings(url=server.url, **settings))  # type: ignore[arg-type]
        try:
            alerts = await source.list_alerts(matchers, muted=muted)
        finally:
            await source.aclose()
    (request,) = server.requests
    return alerts, request


async def test_the_alerts_request_carries_filters_and_mute_flags() -> None:
    _, request = await list_through_fake(
        matchers=(parse_matcher('severity=~"crit.*"'), parse_matcher('summary="a \\"b\\", c"')),
        filters=['env="prd"'],
    )
    url = urlsplit(request.path)
    assert (request.method, url.path) == ("GET", "/api/v2/alerts")
    query = parse_qsl(url.query)
    assert [v for k, v in query if k == "filter"] == [
        'env="prd"',
        'severity=~"crit.*"',
        'summary="a \\"b\\", c"',
    ]
    assert ("active", "true") in query and ("silenced", "true") in query and ("inhibited", "true") in query


async def test_unmuted_listing_asks_without_silenced_and_inhibited() -> None:
    _, request = await list_through_fake(muted=False)
    query = parse_qsl(urlsplit(request.path).query)
    assert ("silenced", "false") in query and ("inhibited", "false") in query and ("active", "true") in query


async def test_api_path_is_honoured_for_grafana() -> None:
    _, request = await list_through_fake(api_path="/api/alertmanager/grafana/api/v2/")
    assert urlsplit(request.path).path == "/api/alertmanager/grafana/api/v2/alerts"


async def test_alert_json_is_read_with_nanoseconds_and_go_zero_time() -> None:
    (alert,), _ = await list_through_fake()
    assert alert.starts_at == datetime(2026, 11, 26, 12, 0, 0, 123456, tzinfo=UTC)
    assert alert.ends_at is None  # Go's zero time: unset
    assert alert.silenced_by == ("s-1",) and alert.inhibited_by == ("f-2",)
    assert alert.state == "silenced" and alert.summary == "drift"


async def test_bearer_token_from_an_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_TEST_AM_TOKEN", "am-tok-123")
    _, request = await list_through_fake(token_env="MLOPS_TEST_AM_TOKEN")
    assert request.headers["authorization"] == "Bearer am-tok-123"


async def test_bearer_token_from_a_command() -> None:
    _, request = await list_through_fake(token_command=[sys.executable, "-c", "print('am-tok-cmd')"])
    assert request.headers["authorization"] == "Bearer am-tok-cmd"


async def test_basic_auth_from_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_TEST_AM_USER", "oncall")
    monkeypatch.setenv("MLOPS_TEST_AM_PASSWORD", "s3:cret")
    _, request = await list_through_fake(
        username_env="MLOPS_TEST_AM_USER", password_env="MLOPS_TEST_AM_PASSWORD"
    )
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"oncall:s3:cret").decode()


async def test_no_credentials_no_authorization_header() -> None:
    _, request = await list_through_fake()
    assert "authorization" not in request.headers


async def failing_list(reply: tuple[int, str, bytes], **settings: object) -> BackendError:
    with pytest.raises(BackendError) as caught:
        await list_through_fake(reply, **settings)
    return caught.value


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_credentials_name_the_variable_never_the_secret(
    monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    monkeypatch.setenv("MLOPS_TEST_AM_TOKEN", "am-tok-secret")
    error = await failing_list((status, "text/plain", b"Unauthorized"), token_env="MLOPS_TEST_AM_TOKEN")
    assert type(error) is BackendError and f"HTTP {status}" in error.message
    assert "$MLOPS_TEST_AM_TOKEN" in error.message and "am-tok-secret" not in error.message


async def test_refused_basic_auth_names_both_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_TEST_AM_USER", "oncall")
    monkeypatch.setenv("MLOPS_TEST_AM_PASSWORD", "pw-secret")
    error = await failing_list(
        (401, "text/plain", b"Unauthorized"),
        username_env="MLOPS_TEST_AM_USER",
        password_env="MLOPS_TEST_AM_PASSWORD",
    )
    assert "$MLOPS_TEST_AM_USER" in error.message and "$MLOPS_TEST_AM_PASSWORD" in error.message
    assert "pw-secret" not in error.message


async def test_a_plain_text_rejection_is_shown_as_worded() -> None:
    error = await failing_list((400, "text/plain", b"bad matcher format: env\n"))
    assert type(error) is InvalidQuery and error.reason == "bad matcher format: env"


async def test_a_server_error_is_a_backend_error_with_its_reason() -> None:
    error = await failing_list(json_reply(500, "failed to query alerts"))
    assert type(error) is BackendError
    assert "HTTP 500" in error.message and "failed to query alerts" in error.message


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_gateway_errors_are_unreachable(status: int) -> None:
    error = await failing_list((status, "text/html", b"<h1>Bad Gateway</h1>"))
    assert isinstance(error, BackendUnreachable) and f"HTTP {status}" in error.message


@pytest.mark.parametrize(
    ("reply", "says"),
    [
        ((200, "text/html", b"<html>login</html>"), "not JSON"),
        (json_reply(200, {"status": "success", "data": []}), "a JSON list was expected"),
        (json_reply(200, [{"labels": {}}]), "KeyError"),
        (json_reply(200, [{**ALERT_JSON, "startsAt": "yesterday"}]), "ValueError"),
    ],
)
async def test_a_malformed_answer_is_a_backend_error(reply: tuple[int, str, bytes], says: str) -> None:
    error = await failing_list(reply)
    assert type(error) is BackendError and "malformed" in error.message and says in error.message


async def test_a_silence_is_posted_in_the_api_v2_shape() -> None:
    with FakeHttpServer(lambda request: json_reply(200, {"silenceID": "sil-1"})) as server:
        source = AlertmanagerSource(AlertmanagerSettings(url=server.url))
        try:
            silence_id = await source.create_silence(
                [parse_matcher('model="churn"'), parse_matcher('severity!~"info|none"')],
                starts_at=datetime(2026, 11, 26, 13, 0, tzinfo=UTC) + timedelta(microseconds=1500),
                ends_at=datetime(2026, 11, 26, 14, 0),  # naive: taken as UTC
                created_by="priya",
                comment="deploying churn v4",
            )
        finally:
            await source.aclose()
    assert silence_id == "sil-1"
    (request,) = server.requests
    assert (request.method, request.path) == ("POST", "/api/v2/silences")
    assert json.loads(request.body) == {
        "matchers": [
            {"name": "model", "value": "churn", "isRegex": False, "isEqual": True},
            {"name": "severity", "value": "info|none", "isRegex": True, "isEqual": False},
        ],
        "startsAt": "2026-11-26T13:00:00.001Z",
        "endsAt": "2026-11-26T14:00:00.000Z",
        "createdBy": "priya",
        "comment": "deploying churn v4",
    }


# -- end to end: a real Prometheus fires the alert ------------------------------------------------

E2E_SECONDS = 60
"""Prometheus evaluates every second and sends after its first evaluation; about 7 s here."""


@pytest.mark.e2e
async def test_an_alert_fired_by_prometheus_is_listed(
    alertmanager: AlertmanagerTestbed, source: AlertmanagerSource, tmp_path: Path
) -> None:
    rules = f"""\
groups:
  - name: mlops-tui-test
    rules:
      - alert: ChurnModelAlwaysFiring
        expr: vector(1) > 0
        labels:
          severity: critical
          model: churn
          test: "{alertmanager.test}"
        annotations:
          summary: churn is always firing
"""
    with running_prometheus(tmp_path, alertmanager.url, rules) as prometheus:
        alerts = await eventually(
            source.list_alerts,
            lambda found: "ChurnModelAlwaysFiring" in names(found),
            "Prometheus's alert to reach Alertmanager",
            seconds=E2E_SECONDS,
        )

    alert = by_name(alerts)["ChurnModelAlwaysFiring"]
    assert (alert.severity, alert.labels["model"], alert.summary) == (
        "critical",
        "churn",
        "churn is always firing",
    )
    assert alert.generator_url.startswith(prometheus)
    assert alert.state == "active" and alert.starts_at is not None
