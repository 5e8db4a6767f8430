"""The plumbing every source shares, written once: a blocking SDK's call in a thread with its 429s
retried and requests' failures mapped, the few words for a failed connection, RFC 3339 times, the
identity of an alert's labels, and a file written whole or not at all."""

from __future__ import annotations

import os
import socket
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import requests

from mlops_tui.config import locations
from mlops_tui.domain import label_fingerprint
from mlops_tui.errors import BackendError, BackendUnreachable, NotFound
from mlops_tui.sources.transport import BlockingApi, RateLimited, connection_reason
from mlops_tui.text.rfc3339 import format_rfc3339, parse_rfc3339


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Slow(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        time.sleep(1.0)
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


async def test_a_refused_connection_is_unreachable_in_a_few_words() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    api = BlockingApi("gitlab", url, timeout=2)
    with pytest.raises(BackendUnreachable) as raised:
        await api.run(lambda: requests.get(url, timeout=2))
    assert str(raised.value) == f"gitlab: cannot reach {url}: connection refused"
    assert raised.value.exit_code == 3


def test_a_server_that_does_not_answer_in_time_is_unreachable() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        api = BlockingApi("vertex", url, timeout=0.2)
        with pytest.raises(BackendUnreachable, match=r"did not answer within 0\.2 s"):
            api.call(lambda: requests.get(url, timeout=0.2))
    finally:
        server.shutdown()
        server.server_close()


def test_a_429_is_retried_while_the_wait_fits_the_budget() -> None:
    calls: list[float] = []

    def attempt() -> str:
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise RateLimited("0.05")
        return "answered"

    assert BlockingApi("gitlab", "http://x", timeout=5).call(attempt) == "answered"
    assert len(calls) == 3 and calls[2] - calls[0] >= 0.1


def test_a_429_beyond_the_budget_fails_at_once_with_the_wait() -> None:
    def attempt() -> None:
        raise RateLimited("120")

    started = time.monotonic()
    with pytest.raises(BackendError, match="^vertex: rate limited, retry after 120 s$"):
        BlockingApi("vertex", "http://x", timeout=5).call(attempt)
    assert time.monotonic() - started < 1


def test_the_call_s_own_errors_pass_through() -> None:
    def attempt() -> None:
        raise NotFound("gitlab", "job 7 not found")

    with pytest.raises(NotFound, match="job 7 not found"):
        BlockingApi("gitlab", "http://x", timeout=5).call(attempt)


def test_every_transport_words_a_refused_connection_alike() -> None:
    port = closed_port()
    with pytest.raises(requests.ConnectionError) as by_requests:
        requests.get(f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(httpx.ConnectError) as by_httpx:
        httpx.get(f"http://127.0.0.1:{port}", timeout=2)
    assert connection_reason(by_requests.value) == connection_reason(by_httpx.value) == "connection refused"
    assert connection_reason(OSError("[Errno 99] Cannot assign requested address")) == (
        "Cannot assign requested address"
    )
    assert connection_reason(TimeoutError()) == "TimeoutError"


def test_rfc3339_is_utc_with_a_z_at_the_precision_asked() -> None:
    moment = datetime(2026, 11, 26, 13, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert format_rfc3339(moment) == "2026-11-26T12:00:00.123Z"
    assert format_rfc3339(moment, "seconds") == "2026-11-26T12:00:00Z"
    assert format_rfc3339(moment, "auto") == "2026-11-26T12:00:00.123456Z"
    assert format_rfc3339(datetime(2026, 11, 26, 12), "seconds") == "2026-11-26T12:00:00Z"
    assert parse_rfc3339(format_rfc3339(moment, "auto")) == moment.astimezone(UTC)
    assert parse_rfc3339("0001-01-01T00:00:00Z") is None


def test_an_alert_s_identity_depends_on_its_labels_only() -> None:
    labels = {"alertname": "ChurnDrift", "model": "churn", "severity": "warning"}
    same = label_fingerprint(dict(reversed(labels.items())))
    assert label_fingerprint(labels) == same and len(same) == 16
    assert label_fingerprint({**labels, "severity": "critical"}) != same
    # The separators keep "a=bc" and "ab=c" apart.
    assert label_fingerprint({"a": "bc"}) != label_fingerprint({"ab": "c"})


def test_a_file_is_written_whole_and_no_temporary_is_left(tmp_path: Path) -> None:
    target = tmp_path / "state" / "silences.json"
    locations.write_atomic(target, "first")
    locations.write_atomic(target, "second")
    assert target.read_text(encoding="utf-8") == "second"
    assert os.listdir(target.parent) == ["silences.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "state" / "silences.json"
    locations.write_atomic(target, "kept")
    with pytest.raises(UnicodeEncodeError):
        locations.write_atomic(target, "half \udcff")
    assert target.read_text(encoding="utf-8") == "kept"
    assert os.listdir(target.parent) == ["silences.json"]
