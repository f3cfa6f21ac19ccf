"""The carrier simulator, exercised only through real HTTP: Twilio's REST API in, signed callbacks out.

A small HTTP server in this file plays the customer's webhook endpoint: it records every callback,
checks each ``X-Twilio-Signature`` with :func:`is_valid_signature` against the URL exactly as it was
configured, and serves TwiML for calls created with ``Url``.
"""
from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from chalicelib.telephony.twilio_signature import is_valid_signature
from devstack.carrier_sim import CarrierSimulator, OutcomeProbabilities, SimRules

ACCOUNT = "AC" + "0123456789abcdef" * 2
TOKEN = "sim-auth-token-0001"
FROM = "+15005550006"
ANSWERING = "+15551230001"  # ends in 1: no by-number rule applies
ALL_EVENTS = ["initiated", "ringing", "answered", "completed"]
STREAM_TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Connect>'
    '<Stream url="wss://media.example.test/stream"><Parameter name="call_id" value="42"/>'
    '<Parameter name="agent" value="front-desk"/></Stream></Connect></Response>'
)


# --------------------------------------------------------------------------------------------
# The webhook receiver
# --------------------------------------------------------------------------------------------

@dataclass
class Received:
    method: str
    path: str  # with query string
    params: dict[str, str]
    signature_valid: bool
    headers: dict[str, str]


@dataclass
class Receiver:
    """Collects webhooks; ``/fail`` answers 500 and ``/twiml`` answers with :data:`STREAM_TWIML`."""

    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def record(self, item: Received) -> None:
        with self.lock:
            self.requests.append(item)

    def for_call(self, sid: str, path_prefix: str = "/status") -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.params.get("CallSid") == sid and r.path.startswith(path_prefix)]

    def statuses(self, sid: str) -> list[str]:
        return [r.params["CallStatus"] for r in self.for_call(sid)]

    def count(self) -> int:
        with self.lock:
            return len(self.requests)


class _ReceiverHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no delayed-ACK stall between header and body writes
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _handle(self) -> None:
        receiver: Receiver = self.server.receiver
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        configured_url = receiver.url + self.path
        if self.command == "POST":
            multi = parse_qs(body, keep_blank_values=True)
        else:
            multi = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
        params = {k: v[0] for k, v in multi.items()}
        signed_params = multi if self.command == "POST" else {}
        valid = is_valid_signature(TOKEN, configured_url, signed_params, self.headers.get("X-Twilio-Signature"))
        receiver.record(Received(self.command, self.path, params, valid, dict(self.headers)))
        status, content_type, out = 200, "text/plain", b"ok"
        if self.path.startswith("/fail"):
            status = 500
        elif self.path.startswith("/twiml"):
            content_type, out = "application/xml", STREAM_TWIML.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = _handle


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ReceiverHandler)
    server.daemon_threads = True
    server.request_queue_size = 1024
    rec = Receiver(server)
    server.receiver = rec  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()


# --------------------------------------------------------------------------------------------
# The simulator and a Twilio-style client
# --------------------------------------------------------------------------------------------

FAST = SimRules(answer_delay=0.05, talk_time=0.05)


@pytest.fixture()
def sim() -> Iterator[CarrierSimulator]:
    simulator = CarrierSimulator(FAST).start()
    yield simulator
    simulator.stop()


def calls_url(sim: CarrierSimulator, account: str = ACCOUNT) -> str:
    return f"{sim.url}/2010-04-01/Accounts/{account}/Calls.json"


def call_url(sim: CarrierSimulator, sid: str) -> str:
    return f"{sim.url}/2010-04-01/Accounts/{ACCOUNT}/Calls/{sid}.json"


def place(sim: CarrierSimulator, receiver: Receiver | None, to: str = ANSWERING, from_: str = FROM,
          events: list[str] | None = None, session: requests.Session | None = None, **extra: Any) -> dict:
    """Create a call as Twilio's helper library would (form-encoded, repeated StatusCallbackEvent)."""
    data: dict[str, Any] = {"To": to, "From": from_}
    if "Url" not in extra:
        data["Twiml"] = STREAM_TWIML
    if receiver is not None:
        data["StatusCallback"] = receiver.url + "/status?campaign=7"
    if events is not None:
        data["StatusCallbackEvent"] = events
    data.update(extra)
    response = (session or requests).post(calls_url(sim), data=data, auth=(ACCOUNT, TOKEN), timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def put_rules(sim: CarrierSimulator, rules: dict) -> None:
    response = requests.put(f"{sim.url}/sim/rules", json=rules, timeout=5)
    assert response.status_code == 200, response.text


def wait_for(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def sim_call(sim: CarrierSimulator, sid: str) -> dict:
    response = requests.get(f"{sim.url}/sim/calls/{sid}", timeout=5)
    assert response.status_code == 200
    return response.json()


def wait_final(sim: CarrierSimulator, sid: str, timeout: float = 10.0) -> dict:
    """Wait until the call is over and every callback it queued has been answered."""
    def done() -> bool:
        call = sim_call(sim, sid)
        return call["final"] and all(cb["finished_at"] for cb in call["callbacks"])
    wait_for(done, timeout, f"call {sid} to finish")
    return sim_call(sim, sid)


# --------------------------------------------------------------------------------------------
# Authentication and validation
# --------------------------------------------------------------------------------------------

def _assert_authenticate_error(response: requests.Response) -> None:
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == 20003 and body["message"] == "Authenticate" and body["status"] == 401
    assert body["more_info"].startswith("https://www.twilio.com/docs/errors/20003")


def test_requests_without_matching_basic_auth_are_401(sim: CarrierSimulator) -> None:
    data = {"To": ANSWERING, "From": FROM, "Twiml": STREAM_TWIML}
    _assert_authenticate_error(requests.post(calls_url(sim), data=data, timeout=5))
    other = "AC" + "f" * 32
    _assert_authenticate_error(requests.post(calls_url(sim), data=data, auth=(other, TOKEN), timeout=5))
    _assert_authenticate_error(requests.post(calls_url(sim, other), data=data, auth=(ACCOUNT, TOKEN), timeout=5))
    _assert_authenticate_error(requests.post(calls_url(sim), data=data, headers={"Authorization": "Basic !!"},
                                             timeout=5))
    _assert_authenticate_error(requests.get(call_url(sim, "CA" + "0" * 32), timeout=5))
    assert requests.get(f"{sim.url}/sim/stats", timeout=5).json()["calls"] == 0


def test_a_configured_account_registry_checks_the_token() -> None:
    with CarrierSimulator(FAST, accounts={ACCOUNT: TOKEN}) as strict:
        data = {"To": ANSWERING, "From": FROM, "Twiml": STREAM_TWIML}
        _assert_authenticate_error(requests.post(calls_url(strict), data=data, auth=(ACCOUNT, "wrong"), timeout=5))
        assert requests.post(calls_url(strict), data=data, auth=(ACCOUNT, TOKEN), timeout=5).status_code == 201


@pytest.mark.parametrize(("change", "code"), [
    ({"To": None}, 21201),
    ({"To": "5551230001"}, 21211),
    ({"To": "+1 555 123"}, 21211),
    ({"From": None}, 21213),
    ({"From": "sales"}, 21212),
    ({"Twiml": None}, 21205),
    ({"Twiml": None, "Url": "ftp://x.test/twiml"}, 21205),
    ({"StatusCallbackEvent": "answered hungup"}, 21626),
    ({"Timeout": "soon"}, 21208),
    ({"Timeout": "0"}, 21208),
    ({"StatusCallback": "not a url"}, 21609),
])
def test_invalid_create_parameters_are_400_with_twilio_codes(sim: CarrierSimulator, change: dict, code: int) -> None:
    data = {"To": ANSWERING, "From": FROM, "Twiml": STREAM_TWIML, **change}
    response = requests.post(calls_url(sim), data={k: v for k, v in data.items() if v is not None},
                             auth=(ACCOUNT, TOKEN), timeout=5)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == code and body["status"] == 400 and body["message"]
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"


def test_unknown_call_is_404(sim: CarrierSimulator) -> None:
    response = requests.get(call_url(sim, "CA" + "0" * 32), auth=(ACCOUNT, TOKEN), timeout=5)
    assert response.status_code == 404 and response.json()["code"] == 20404


# --------------------------------------------------------------------------------------------
# Call flows and callbacks
# --------------------------------------------------------------------------------------------

def test_answered_call_goes_queued_ringing_in_progress_completed(sim: CarrierSimulator, receiver: Receiver) -> None:
    put_rules(sim, {"answer_delay": 0.1, "talk_time": 1.0})
    created = place(sim, receiver, events=ALL_EVENTS)

    assert re.fullmatch(r"CA[0-9a-f]{32}", created["sid"])
    assert created["status"] == "queued"
    assert created["account_sid"] == ACCOUNT and created["to"] == ANSWERING and created["from"] == FROM
    assert created["direction"] == "outbound-api" and created["api_version"] == "2010-04-01"
    assert created["uri"] == f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{created['sid']}.json"
    assert re.fullmatch(r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000", created["date_created"])

    sid = created["sid"]
    wait_for(lambda: "in-progress" in receiver.statuses(sid), what="answered callback")
    live = requests.get(call_url(sim, sid), auth=(ACCOUNT, TOKEN), timeout=5).json()
    assert live["status"] == "in-progress"

    inspected = wait_final(sim, sid)
    got = receiver.for_call(sid)
    assert [r.params["CallStatus"] for r in got] == ["initiated", "ringing", "in-progress", "completed"]
    assert [r.params["SequenceNumber"] for r in got] == ["0", "1", "2", "3"]
    assert all(r.signature_valid for r in got)
    assert all(r.method == "POST" and r.path == "/status?campaign=7" for r in got)
    for r in got:
        assert r.params["AccountSid"] == ACCOUNT and r.params["From"] == FROM and r.params["To"] == ANSWERING
        assert r.params["Direction"] == "outbound-api" and r.params["ApiVersion"] == "2010-04-01"
        assert r.params["CallbackSource"] == "call-progress-events" and r.params["Timestamp"].endswith("+0000")
        assert r.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "CallDuration" not in got[2].params
    # Talk time is 1 s; CallDuration is whole seconds of wall-clock time (a loaded machine may add one).
    assert got[3].params["CallDuration"] in ("1", "2") and got[3].params["SipResponseCode"] == "200"

    final = requests.get(call_url(sim, sid), auth=(ACCOUNT, TOKEN), timeout=5).json()
    assert final["status"] == "completed" and final["duration"] == got[3].params["CallDuration"]
    assert final["end_time"] and final["start_time"]

    assert inspected["planned_outcome"] == "answered" and inspected["outcome"] == "completed"
    assert inspected["ended_by"] == "callee"
    assert [cb["http_status"] for cb in inspected["callbacks"]] == [200, 200, 200, 200]
    assert inspected["stream"] == {"verb": "Connect", "url": "wss://media.example.test/stream",
                                   "parameters": {"call_id": "42", "agent": "front-desk"}}


def test_without_status_callback_event_only_completed_is_sent(sim: CarrierSimulator, receiver: Receiver) -> None:
    sid = place(sim, receiver)["sid"]
    wait_final(sim, sid)
    assert receiver.statuses(sid) == ["completed"]
    assert receiver.for_call(sid)[0].params["SequenceNumber"] == "0"


def test_space_separated_events_and_get_callbacks(sim: CarrierSimulator, receiver: Receiver) -> None:
    sid = place(sim, receiver, StatusCallbackEvent="answered completed", StatusCallbackMethod="GET")["sid"]
    wait_final(sim, sid)
    got = receiver.for_call(sid)
    assert [r.params["CallStatus"] for r in got] == ["in-progress", "completed"]
    assert all(r.method == "GET" and r.signature_valid for r in got)
    assert all(r.path.startswith("/status?campaign=7&") for r in got)


@pytest.mark.parametrize(("to", "status", "expected_callbacks"), [
    ("+15551230000", "busy", ["initiated", "busy"]),
    ("+15551230009", "no-answer", ["initiated", "ringing", "no-answer"]),
    ("+15551230008", "failed", ["initiated", "failed"]),
])
def test_by_number_rules(sim: CarrierSimulator, receiver: Receiver, to: str, status: str,
                         expected_callbacks: list[str]) -> None:
    sid = place(sim, receiver, to=to, events=ALL_EVENTS)["sid"]
    inspected = wait_final(sim, sid)
    assert inspected["status"] == inspected["outcome"] == inspected["planned_outcome"] == status
    assert inspected["ended_by"] == "carrier"
    got = receiver.for_call(sid)
    assert [r.params["CallStatus"] for r in got] == expected_callbacks
    assert all(r.signature_valid for r in got)
    assert got[-1].params["CallDuration"] == "0"
    resource = requests.get(call_url(sim, sid), auth=(ACCOUNT, TOKEN), timeout=5).json()
    assert resource["status"] == status
    assert inspected["stream"] is None  # never answered, TwiML never ran


def test_number_rules_can_be_turned_off(sim: CarrierSimulator, receiver: Receiver) -> None:
    put_rules(sim, {"answer_delay": 0.05, "talk_time": 0.05, "number_rules": False})
    sid = place(sim, receiver, to="+15551230000")["sid"]
    assert wait_final(sim, sid)["status"] == "completed"


def test_a_ring_timeout_shorter_than_the_answer_delay_is_no_answer(sim: CarrierSimulator, receiver: Receiver) -> None:
    put_rules(sim, {"answer_delay": 2.0, "talk_time": 0.05})
    sid = place(sim, receiver, Timeout="1")["sid"]
    assert wait_final(sim, sid)["status"] == "no-answer"


def _outcomes(sim: CarrierSimulator, calls: list[tuple[str, str]]) -> list[str]:
    """Place calls (From, To) with no callbacks and return their final statuses in order."""
    sids = [place(sim, None, to=to, from_=from_)["sid"] for from_, to in calls]
    wait_for(lambda: requests.get(f"{sim.url}/sim/stats", timeout=5).json()["live"] == {}, what="all calls final")
    by_sid = {c["sid"]: c["status"] for c in requests.get(f"{sim.url}/sim/calls", timeout=5).json()["calls"]}
    return [by_sid[sid] for sid in sids]


def test_per_from_probabilities_are_honoured_and_reproducible(sim: CarrierSimulator) -> None:
    campaign_from, other_from = "+15005550100", "+15005550200"
    rules = {
        "answer_delay": 0.01, "talk_time": 0.01, "seed": 1234, "number_rules": False,
        "outcomes": {"busy": 0.0, "no_answer": 0.0, "failed": 0.0},
        "from_rules": {campaign_from: {"busy": 0.3, "no_answer": 0.2, "failed": 0.1}},
    }
    put_rules(sim, rules)
    plan = [(campaign_from, f"+1555000{i:04d}") for i in range(200)] + [(other_from, "+15550009990")] * 40
    first = _outcomes(sim, plan)

    campaign = Counter(first[:200])
    assert abs(campaign["busy"] / 200 - 0.3) < 0.1, campaign
    assert abs(campaign["no-answer"] / 200 - 0.2) < 0.1, campaign
    assert abs(campaign["failed"] / 200 - 0.1) < 0.07, campaign
    assert abs(campaign["completed"] / 200 - 0.4) < 0.1, campaign
    assert set(first[200:]) == {"completed"}  # other numbers get the default: everyone answers

    requests.post(f"{sim.url}/sim/reset", timeout=5)
    assert _outcomes(sim, plan) == first  # same seed, same calls, same outcomes


def test_hang_up_with_status_completed(sim: CarrierSimulator, receiver: Receiver) -> None:
    put_rules(sim, {"answer_delay": 0.05, "talk_time": 30})
    sid = place(sim, receiver, events=ALL_EVENTS)["sid"]
    wait_for(lambda: "in-progress" in receiver.statuses(sid), what="answer")

    response = requests.post(call_url(sim, sid), data={"Status": "completed"}, auth=(ACCOUNT, TOKEN), timeout=5)
    assert response.status_code == 200 and response.json()["status"] == "completed"

    inspected = wait_final(sim, sid, timeout=5)
    assert inspected["ended_by"] == "api" and inspected["outcome"] == "completed"
    assert receiver.statuses(sid) == ["initiated", "ringing", "in-progress", "completed"]
    assert all(r.signature_valid for r in receiver.for_call(sid))
    # Hanging up a finished call changes nothing.
    again = requests.post(call_url(sim, sid), data={"Status": "completed"}, auth=(ACCOUNT, TOKEN), timeout=5)
    assert again.status_code == 200 and again.json()["status"] == "completed"
    time.sleep(0.1)
    assert receiver.statuses(sid).count("completed") == 1


def test_cancel_a_ringing_call(sim: CarrierSimulator, receiver: Receiver) -> None:
    put_rules(sim, {"answer_delay": 30, "talk_time": 1})
    sid = place(sim, receiver, events=ALL_EVENTS)["sid"]
    wait_for(lambda: "ringing" in receiver.statuses(sid), what="ringing")
    bad = requests.post(call_url(sim, sid), data={"Status": "paused"}, auth=(ACCOUNT, TOKEN), timeout=5)
    assert bad.status_code == 400
    response = requests.post(call_url(sim, sid), data={"Status": "canceled"}, auth=(ACCOUNT, TOKEN), timeout=5)
    assert response.status_code == 200 and response.json()["status"] == "canceled"
    wait_final(sim, sid, timeout=5)
    assert receiver.statuses(sid) == ["initiated", "ringing", "canceled"]
    assert receiver.for_call(sid)[-1].params["CallDuration"] == "0"


def test_twiml_from_url_is_fetched_with_a_signed_request(sim: CarrierSimulator, receiver: Receiver) -> None:
    sid = place(sim, receiver, Url=receiver.url + "/twiml?agent=9")["sid"]
    inspected = wait_final(sim, sid)
    fetches = receiver.for_call(sid, "/twiml")
    assert len(fetches) == 1 and fetches[0].signature_valid and fetches[0].method == "POST"
    assert fetches[0].params["CallStatus"] == "in-progress"
    assert inspected["twiml_fetch"]["http_status"] == 200
    assert inspected["stream"]["url"] == "wss://media.example.test/stream"
    assert inspected["status"] == "completed" and inspected["ended_by"] == "callee"


def test_callback_failures_are_recorded(sim: CarrierSimulator, receiver: Receiver) -> None:
    sid = place(sim, None, StatusCallback=receiver.url + "/fail")["sid"]
    assert [cb["http_status"] for cb in wait_final(sim, sid)["callbacks"]] == [500]

    sid = place(sim, None, StatusCallback="http://127.0.0.1:9/nobody-home")["sid"]
    callback = wait_final(sim, sid)["callbacks"][0]
    assert callback["http_status"] is None and callback["attempts"] == 3 and "connection" in callback["error"]

    stats = requests.get(f"{sim.url}/sim/stats", timeout=5).json()
    assert stats["callbacks"] == {"total": 2, "delivered": 0, "failed": 2, "pending": 0}


# --------------------------------------------------------------------------------------------
# Scale, statistics and control
# --------------------------------------------------------------------------------------------

def test_a_thousand_calls_all_finish_with_signed_callbacks(sim: CarrierSimulator, receiver: Receiver) -> None:
    # Only the final callback per call: with all four events the 3,500 callbacks are CPU-bound in
    # this one process (client, simulator and receiver share the GIL) and take ~10 s on 2 cores.
    put_rules(sim, {"answer_delay": 0.2, "talk_time": [0.3, 0.6], "number_rules": True})
    local = threading.local()

    def place_one(i: int) -> str:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        return place(sim, receiver, to=f"+1555{i:07d}", session=local.session)["sid"]

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=32) as pool:
        sids = list(pool.map(place_one, range(1000)))
    placing = time.monotonic() - started
    assert len(set(sids)) == 1000

    def all_done() -> bool:
        stats = requests.get(f"{sim.url}/sim/stats", timeout=5).json()
        return sum(stats["final"].values()) == 1000 and stats["callbacks"]["pending"] == 0
    wait_for(all_done, timeout=30, what="1,000 calls to finish")

    stats = requests.get(f"{sim.url}/sim/stats", timeout=5).json()
    # By-number rules on sequential numbers: exactly 100 of each forced outcome.
    assert stats["final"] == {"completed": 700, "busy": 100, "no-answer": 100, "failed": 100}
    assert stats["in_progress"] == 0 and stats["live"] == {}
    assert stats["max_in_progress"] > 50, (stats, placing)
    assert stats["callbacks"]["delivered"] == stats["callbacks"]["total"] == 1000

    with receiver.lock:
        received = list(receiver.requests)
    assert all(r.signature_valid for r in received)
    assert sorted(r.params["CallSid"] for r in received) == sorted(sids)
    assert Counter(r.params["CallStatus"] for r in received) == stats["final"]
    assert all(r.params["CallDuration"] == "0" for r in received if r.params["CallStatus"] != "completed")


def test_stats_track_answered_concurrency(sim: CarrierSimulator) -> None:
    put_rules(sim, {"answer_delay": 0.05, "talk_time": 2.0, "number_rules": False})
    for i in range(20):
        place(sim, None, to=f"+1555777{i:04d}")
    wait_for(lambda: requests.get(f"{sim.url}/sim/stats", timeout=5).json()["in_progress"] == 20,
             timeout=5, what="all 20 answered")
    wait_for(lambda: requests.get(f"{sim.url}/sim/stats", timeout=5).json()["live"] == {}, what="all hung up")
    stats = requests.get(f"{sim.url}/sim/stats", timeout=5).json()
    assert stats["max_in_progress"] == 20 and stats["in_progress"] == 0
    assert stats["final"] == {"completed": 20} and stats["calls"] == 20


def test_rules_round_trip_validation_and_reset(sim: CarrierSimulator) -> None:
    rules = {"outcomes": {"busy": 0.1, "no_answer": 0.2, "failed": 0.0}, "answer_delay": 0.05,
             "talk_time": [0.1, 0.2], "number_rules": False,
             "from_rules": {FROM: {"busy": 1.0, "no_answer": 0.0, "failed": 0.0}}, "seed": 7}
    put_rules(sim, rules)
    assert requests.get(f"{sim.url}/sim/rules", timeout=5).json() == rules
    for bad in ({"outcomes": {"busy": 0.7, "failed": 0.5}}, {"answer_delay": -1}, {"talk_time": [3, 1]},
                {"from_rules": {"sales": {}}}, {"colour": "blue"}):
        response = requests.put(f"{sim.url}/sim/rules", json=bad, timeout=5)
        assert response.status_code == 400 and response.json()["error"], bad
    assert requests.get(f"{sim.url}/sim/rules", timeout=5).json() == rules

    sid = place(sim, None)["sid"]
    assert wait_final(sim, sid)["status"] == "busy"  # the From rule: always busy
    assert requests.post(f"{sim.url}/sim/reset", timeout=5).status_code == 200
    assert requests.get(f"{sim.url}/sim/calls", timeout=5).json() == {"calls": []}
    assert requests.get(f"{sim.url}/sim/stats", timeout=5).json()["calls"] == 0


def test_outcome_probabilities_draw() -> None:
    rng = random.Random(5)
    draws = Counter(OutcomeProbabilities(busy=0.25, no_answer=0.25, failed=0.25).draw(rng) for _ in range(4000))
    assert all(abs(draws[o] / 4000 - 0.25) < 0.03 for o in ("busy", "no-answer", "failed", "answered"))
