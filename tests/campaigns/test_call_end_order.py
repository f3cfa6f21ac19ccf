"""A campaign call ends once, whichever report of its end comes first: the streaming service finalizing the
conversation, or the carrier's ``completed`` status callback. Either way the campaign feeds its next contact
and finishes with exact counters (in-process: SQS -> dialer -> carrier simulator -> signed callbacks; this
test plays the streaming service through ``call_media``, as its ``Lifecycle`` does)."""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import requests

from chalicelib.db.models import Call
from chalicelib.domain import call_media
from chalicelib.domain.call_media import MediaResult
from chalicelib.telephony import stream_tokens
from tests.conftest import Tenant

CONTACTS = 3
LIMIT = 1  # one call at a time: a lost follow-up stalls the campaign at once


class StreamingStandIn:
    """Plays the streaming service: admits each campaign call's stream once the call is answered, and
    finalizes its conversation once ``ready(call)`` says so."""

    def __init__(self, account_id: int, ready: Callable[[Call], bool]) -> None:
        self.account_id, self.ready = account_id, ready
        self.admitted: dict[int, call_media.Admission] = {}
        self.finalized: list[int] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> StreamingStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        secret = os.environ["PARLEY_STREAM_TOKEN_SECRET"]
        while not self._stop.wait(0.05):
            try:
                for call in Call.query(self.account_id, consistent_read=True):
                    if call.call_id in self.finalized or call.bulk_call_id is None:
                        continue
                    if call.call_id not in self.admitted and call.status == "in_progress":
                        token = stream_tokens.issue(secret, self.account_id, call.call_id)
                        self.admitted[call.call_id] = call_media.admit(str(call.call_id), token,
                                                                       f"MZ{call.call_id}", secret)
                    if call.call_id in self.admitted and self.ready(call):
                        call_media.finalize(self.admitted[call.call_id], MediaResult(
                            ended_by="caller", transcript=[], turn_metrics=[], wav=b"", duration_s=1.0))
                        self.finalized.append(call.call_id)
            except Exception as error:  # surfaced by the test
                self.errors.append(error)
                return


@pytest.fixture()
def campaign(tenant: Tenant, setup: dict, runner, carrier) -> Iterator[Callable[[str], dict]]:
    def run(prefix: str) -> dict:
        contacts = [{"phone_number": f"{prefix}{i:04d}"} for i in range(1, CONTACTS + 1)]
        created = tenant.post("calls/bulk_call/create", json={
            "name": "order", "contact_list": contacts, "phone_number_id": setup["number"],
            "bot_id": setup["agent"], "concurrent_call_limit": LIMIT})
        return created.json()["bulk_call"]

    yield run


def wait_completed(tenant: Tenant, bulk_id: int, stand_in: StreamingStandIn, timeout: float = 45) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        live = tenant.get(f"bulk-call/{bulk_id}/live-status").json()
        summary = live["summary"]
        assert sum(v for k, v in summary.items() if k != "total_contacts") == CONTACTS, summary
        assert not stand_in.errors, stand_in.errors
        if live["campaign_status"] == "completed":
            return live
        assert time.monotonic() < deadline, f"campaign stalled: {live}"
        time.sleep(0.2)


def test_media_finalized_before_the_carriers_completed_callback(tenant: Tenant, carrier, campaign) -> None:
    # The carrier holds each answered call 3 s; the conversation is finalized as soon as the call is answered.
    requests.put(f"{carrier.url}/sim/rules", json={"answer_delay": 0.1, "talk_time": 3.0}, timeout=5).raise_for_status()
    with StreamingStandIn(tenant.account_id, lambda call: call.status == "in_progress") as stand_in:
        bulk = campaign("+1415666")
        live = wait_completed(tenant, bulk["id"], stand_in)
    assert live["summary"] == {"total_contacts": CONTACTS, "queued": 0, "in_progress": 0, "completed": CONTACTS,
                               "failed": 0, "busy": 0, "no_answer": 0}
    logs = tenant.get("calls/logs", params={"pagesize": 50}).json()["call_log_data"]
    # Ended by the media side (its details), not by the carrier's callback (which carries CallDuration).
    assert len(logs) == CONTACTS and all("ended_by" in c["details"] for c in logs), logs
    assert not any("duration_seconds" in c["details"] for c in logs), logs


def test_carriers_completed_callback_before_the_media_is_finalized(tenant: Tenant, carrier, campaign) -> None:
    requests.put(f"{carrier.url}/sim/rules", json={"answer_delay": 0.1, "talk_time": 0.2}, timeout=5).raise_for_status()
    with StreamingStandIn(tenant.account_id, lambda call: call.status == "completed") as stand_in:
        bulk = campaign("+1415667")
        live = wait_completed(tenant, bulk["id"], stand_in)
        deadline = time.monotonic() + 10
        while len(stand_in.finalized) < CONTACTS:  # the late conversations still get their results
            assert time.monotonic() < deadline and not stand_in.errors, (stand_in.finalized, stand_in.errors)
            time.sleep(0.05)
    assert live["summary"] == {"total_contacts": CONTACTS, "queued": 0, "in_progress": 0, "completed": CONTACTS,
                               "failed": 0, "busy": 0, "no_answer": 0}
    logs = tenant.get("calls/logs", params={"pagesize": 50}).json()["call_log_data"]
    assert len(logs) == CONTACTS, logs
    assert all("duration_seconds" in c["details"] and "ended_by" not in c["details"] for c in logs), logs
