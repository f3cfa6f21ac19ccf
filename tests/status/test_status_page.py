"""The public service status: the probe checks each part for real and records beats; the heartbeat endpoint
answers them in Uptime Kuma's shape, publicly, cached, without leaking anything internal."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.status.conftest import HealthServer, validate_heartbeat

HEARTBEAT = "/api/status-page/heartbeat/all"
NAMES = {1: "REST API", 2: "Streaming service", 3: "Post-call delivery", 4: "Dialer", 5: "DynamoDB",
         6: "Carrier API"}


def _latest(body: dict, monitor_id: int) -> dict:
    return body["heartbeatList"][str(monitor_id)][-1]


@pytest.fixture()
def wired(api: str, health_server: HealthServer, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PARLEY_STREAMING_HEALTH_URL", f"{health_server.url}/healthz")
    return api


def test_probe_beats_come_back_publicly_in_uptime_kumas_shape(wired: str) -> None:
    from chalicelib.status.probe import probe

    recorded = probe()
    assert sorted(beat.monitor_id for beat in recorded) == sorted(NAMES)

    answer = requests.get(wired + HEARTBEAT)  # no Authorization header

    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "public, max-age=60"
    assert answer.headers["Content-Type"] == "application/json"
    body = answer.json()
    validate_heartbeat(body)
    for monitor_id in NAMES:
        beat = _latest(body, monitor_id)
        assert (beat["status"], beat["msg"]) == (1, ""), (NAMES[monitor_id], beat)
        assert isinstance(beat["ping"], int)
        assert body["uptimeList"][f"{monitor_id}_24"] == 1


def test_monitors_are_listed_publicly(api: str) -> None:
    answer = requests.get(api + "/api/status-page/monitors")

    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "public, max-age=60"
    monitors = answer.json()["monitors"]
    assert {m["id"]: m["name"] for m in monitors} == NAMES
    assert all(m["checks"] for m in monitors)


def test_streaming_monitor_follows_the_health_check(wired: str, health_server: HealthServer) -> None:
    from chalicelib.status.probe import probe

    health_server.status = 503  # draining, or failing
    probe(now=datetime.now(UTC) - timedelta(minutes=1))
    health_server.status = 200
    probe()

    body = requests.get(wired + HEARTBEAT).json()
    assert [(b["status"], b["msg"]) for b in body["heartbeatList"]["2"]] == [(0, "HTTP 503"), (1, "")]
    assert body["uptimeList"]["2_24"] == 0.5
    assert _latest(body, 5)["status"] == 1


def test_heartbeats_are_the_last_100_oldest_first_and_uptime_is_the_last_24_hours(api: str) -> None:
    from chalicelib.status import beats
    from chalicelib.status.monitors import CheckResult, Status

    now = datetime.now(UTC).replace(microsecond=0)
    old = [beats.Beat.of(5, now - timedelta(hours=30, minutes=i), CheckResult(Status.DOWN, None, "x"))
           for i in range(10)]  # older than the window: neither listed nor counted
    recent = [beats.Beat.of(5, now - timedelta(minutes=i), CheckResult(
        Status.DOWN if i % 10 == 0 else Status.UP, i, "")) for i in range(150)]
    beats.record(old + recent)

    body = requests.get(api + HEARTBEAT).json()

    validate_heartbeat(body)
    listed = body["heartbeatList"]["5"]
    assert len(listed) == 100
    times = [b["time"] for b in listed]
    assert times == sorted(times)
    assert times[-1] == now.strftime("%Y-%m-%d %H:%M:%S")
    assert [b["ping"] for b in listed] == list(range(99, -1, -1))
    assert body["uptimeList"]["5_24"] == 135 / 150  # every tenth of the 150 recent beats was down
    assert body["heartbeatList"]["1"] == [] and body["uptimeList"]["1_24"] == 0


def test_the_answer_is_computed_at_most_once_a_minute(api: str) -> None:
    from chalicelib.status import beats, page
    from chalicelib.status.monitors import CheckResult, Status

    first = requests.get(api + HEARTBEAT).json()
    beats.record([beats.Beat.of(5, datetime.now(UTC), CheckResult(Status.UP, 3, ""))])

    assert requests.get(api + HEARTBEAT).json() == first  # cached: the new beat is not read yet
    page.clear_cache()  # as a minute passing does
    assert len(requests.get(api + HEARTBEAT).json()["heartbeatList"]["5"]) == 1


def test_unreadable_beats_answer_503_in_the_error_shape(api: str) -> None:
    from chalicelib.db.models import StatusBeat

    StatusBeat.delete_table()

    answer = requests.get(api + HEARTBEAT)

    assert answer.status_code == 503
    assert answer.json()["error"] == "unavailable" and answer.json()["error_description"]


def test_failures_say_what_failed_without_urls_hosts_or_keys(wired: str, health_server: HealthServer,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Streaming unreachable, carrier answering 500, the API refusing the probe's key: every msg is generic."""
    from chalicelib.domain.accounts import disable_key
    from chalicelib.status import credentials
    from chalicelib.status.probe import probe

    closed = HealthServer()
    closed_port = closed.server_address[1]
    closed.shutdown()
    closed.server_close()
    monkeypatch.setenv("PARLEY_STREAMING_HEALTH_URL", f"http://127.0.0.1:{closed_port}/healthz?token=s3cret")
    health_server.status = 500
    monkeypatch.setenv("PARLEY_TWILIO_API_URL", health_server.url + "/carrier-secret-path")
    key = credentials.probe_api_key()
    assert key is not None
    disable_key(key)

    results = {beat.monitor_id: beat for beat in probe()}

    assert (results[1].status, results[1].msg) == (0, "the probe's API key was refused (HTTP 401)")
    assert (results[2].status, results[2].msg) == (0, "unreachable")
    assert (results[6].status, results[6].msg) == (0, "HTTP 500")
    body = requests.get(wired + HEARTBEAT).text
    validate_heartbeat(requests.get(wired + HEARTBEAT).json())
    for leak in ("127.0.0.1", str(closed_port), str(health_server.server_address[1]), "s3cret", "secret-path",
                 key, "pk_", "http"):
        assert leak not in body, leak
    # The refused key was forgotten: the next probe issues (locally) a new one and is up again.
    assert probe()[0].status == 1
