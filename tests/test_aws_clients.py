"""One AWS client per service per process (``chalicelib.aws_clients``), safe to get from many threads at once,
and no client built per row of a list (``GET calls/logs`` presigns every recording with the shared client)."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest

from chalicelib import aws_clients
from tests.conftest import Tenant


@pytest.fixture()
def clients_made(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The service name of every boto3 client made while the test runs."""
    made: list[str] = []
    real = boto3.session.Session.client

    def counting(self: boto3.session.Session, service_name: str, *args: Any, **kwargs: Any) -> Any:
        made.append(service_name)
        return real(self, service_name, *args, **kwargs)

    monkeypatch.setattr(boto3.session.Session, "client", counting)
    yield made


def test_each_service_gets_one_client_per_process_even_from_many_threads(clients_made: list[str]) -> None:
    aws_clients.reset()
    threads = 16
    barrier = threading.Barrier(threads)

    def get(_: int) -> Any:
        barrier.wait()  # every thread asks at the same moment
        return aws_clients.client("sqs", region="us-east-1")

    with ThreadPoolExecutor(threads) as pool:
        got = list(pool.map(get, range(threads)))
    assert all(client is got[0] for client in got)
    assert clients_made.count("sqs") == 1
    assert aws_clients.s3() is aws_clients.s3()
    aws_clients.reset()  # made outside any mock: not for later tests


def test_listing_recorded_calls_builds_no_client_per_row(tenant: Tenant, clients_made: list[str]) -> None:
    from chalicelib.db.models import Call
    from chalicelib.db.sequences import next_id

    for n in range(5):
        call_id = next_id("call")
        Call(tenant.account_id, call_id, agent_key=f"{tenant.account_id}#1", agent_id=1, to_number="+14155550123",
             status="completed", call_context={},
             recording={"bucket": "parley-recordings", "key": f"recordings/{tenant.account_id}/{call_id}.wav",
                        "transcript_key": f"transcripts/{tenant.account_id}/{call_id}.json",
                        "duration_s": float(n)}).save()
    warm = tenant.get("calls/logs")  # the first request may make the process's clients
    assert warm.status_code == 200
    made_before = len(clients_made)
    logs = tenant.get("calls/logs").json()["call_log_data"]
    assert len(logs) == 5 and all(log["recording_url"] for log in logs)
    assert clients_made[made_before:] == []
