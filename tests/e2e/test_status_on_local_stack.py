"""The service status on the local stack, through its public endpoint: with the probe every 2 s, stopping the
streaming service takes its monitor down within two probe intervals while the others stay up; starting it
again brings it back. The answers fit Uptime Kuma's shape (a JSON Schema)."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from tests.status.conftest import validate_heartbeat

pytestmark = pytest.mark.slow

PROBE_S = 2
CACHE_S = 1
STACK_ENV = {
    "PARLEY_STATUS_PROBE_SECONDS": str(PROBE_S),
    "PARLEY_STATUS_CACHE_SECONDS": str(CACHE_S),
    "PARLEY_PRELOAD_ENGINES": "0",  # the streaming service starts (and restarts) without loading speech models
}
STREAMING = "2"
SLACK_S = 3.0  # a probe's own run time on a busy machine


def latest(stack: dict[str, Any]) -> dict[str, int]:
    answer = requests.get(stack["status_url"], timeout=10)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    validate_heartbeat(body)
    return {monitor: beats[-1]["status"] for monitor, beats in body["heartbeatList"].items() if beats}


def wait_for(condition: Callable[[], dict[str, int] | None], within_s: float) -> dict[str, int]:
    deadline = time.monotonic() + within_s
    while True:
        found = condition()
        if found is not None:
            return found
        assert time.monotonic() < deadline, f"not within {within_s} s"
        time.sleep(0.2)  # polling interval of the condition, not a wait for an outcome


def test_stopping_the_streaming_service_takes_its_monitor_down_and_starting_it_brings_it_back(
        local_stack: dict[str, Any]) -> None:
    def all_up() -> dict[str, int] | None:
        statuses = latest(local_stack)
        return statuses if len(statuses) == 6 and set(statuses.values()) == {1} else None

    wait_for(all_up, within_s=60)  # the first probes (the REST API check issues the probe's key first)

    assert requests.post(f"{local_stack['control_url']}/streaming/stop", timeout=60).status_code == 204
    stopped_at = time.monotonic()

    def streaming_down() -> dict[str, int] | None:
        statuses = latest(local_stack)
        return statuses if statuses[STREAMING] == 0 else None

    statuses = wait_for(streaming_down, within_s=2 * PROBE_S + CACHE_S + SLACK_S)
    assert time.monotonic() - stopped_at <= 2 * PROBE_S + CACHE_S + SLACK_S
    assert {monitor: status for monitor, status in statuses.items() if monitor != STREAMING} == {
        "1": 1, "3": 1, "4": 1, "5": 1, "6": 1}

    assert requests.post(f"{local_stack['control_url']}/streaming/start", timeout=180).status_code == 204
    wait_for(all_up, within_s=2 * PROBE_S + CACHE_S + SLACK_S)
    assert 0 < requests.get(local_stack["status_url"], timeout=10).json()["uptimeList"][f"{STREAMING}_24"] < 1
