"""The operator dashboard (``GET /dashboard``) on the real local stack, in a real Chromium.

- A wrong API key is refused with a clear message, and the page stays signed out.
- The live view applies monitoring events by the rules of docs/monitoring.md, checked with a scripted monitoring
  socket (Playwright answers the page's WebSocket; REST is the stack's; the page carries the Content-Security-Policy
  it is deployed with, and nothing breaks it): partials replaced by the final of their
  role and turn, an event whose seq is not greater than the last one dropped, arrays of events, barge-ins and
  controls inline, campaign progress; a dropped connection comes back with a fresh token, subscribes again and
  rebuilds the view from the new snapshot; the API's error for a control is shown.
- A real call, end to end: signed in with the stack's key, a call dispatched with the SDK (the carrier simulator
  answers with synthesized speech) appears live, its transcript grows with both roles, the supervisor has the
  agent say a sentence and ends the call from the page, and the call moves to the recent calls with a playable
  recording and its per-turn latency chart.
"""
from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from omnidimension import Client
from playwright.sync_api import Page, Route, WebSocketRoute, expect

from tests.browser.stack_api import api
from tests.browser.widget_page import Shot

pytestmark = pytest.mark.slow

TWILIO_SID = "AC" + "d4" * 16
CALLER = "+15557650001"
WELCOME = "Hello, thank you for calling Parley Bakery."
QUESTION = "What time do you open tomorrow morning?"
SUPERVISOR_SAYS = "A supervisor is joining the call."
FAKE_MONITOR = "ws://monitor.invalid/"
# The Content-Security-Policy CloudFront serves the page with (infra/parley_infra/dashboard.py), for these origins.
DEPLOYED_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                f"connect-src 'self' {FAKE_MONITOR}; media-src 'self'; base-uri 'none'; form-action 'self'; "
                "frame-ancestors 'none'")




def sign_in(page: Page, stack: dict, key: str | None = None) -> None:
    assert stack["dashboard_url"] == f"{stack['base']}/dashboard"  # what make dev prints
    page.goto(stack["dashboard_url"])
    page.fill("#signin-key", key or stack["api_key"])
    page.click("#signin-button")


def transcript_entries(page: Page) -> list[dict]:
    return page.eval_on_selector_all("#transcript li", """items => items.map(li => ({
        kind: li.dataset.kind || 'turn', role: li.dataset.role || null, turn: li.dataset.turn || null,
        final: li.dataset.final === 'true', text: li.querySelector('.said') ? li.querySelector('.said').textContent
                                                                           : li.textContent }))""")


def test_a_wrong_key_is_refused_with_a_clear_message(stack: dict, page: Page, screenshot: Shot) -> None:
    sign_in(page, stack, key="pk_" + "x" * 43)
    expect(page.locator("#signin-error")).to_have_text("That API key was not accepted. Check it and try again.")
    expect(page.locator("#app")).to_be_hidden()
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "signed-out")
    screenshot(page, "dashboard-wrong-key")


class ScriptedMonitor:
    """Answers the page's token requests and monitoring WebSocket: each subscribe gets the next snapshot."""

    def __init__(self, page: Page, api_url: str) -> None:
        self.tokens = 0
        self.sockets: list[WebSocketRoute] = []
        self.received: list[dict] = []
        self.snapshots: list[list[dict]] = []
        page.route(f"{api_url}/monitor/tokens", self._token)
        page.route_web_socket(re.compile(r"^ws://monitor\.invalid/"), self._connect)

    def _token(self, route: Route) -> None:
        assert route.request.headers["authorization"].startswith("Bearer pk_")
        self.tokens += 1
        route.fulfill(status=201, content_type="application/json", body=json.dumps({
            "token": f"mon_test{self.tokens}", "expires_at": "2030-01-01T00:00:00.000Z", "expires_in": 300,
            "monitor_url": FAKE_MONITOR}))

    def _connect(self, socket: WebSocketRoute) -> None:
        assert socket.url == f"{FAKE_MONITOR}?token=mon_test{self.tokens}", socket.url
        self.sockets.append(socket)

        def on_message(message: str | bytes) -> None:
            body = json.loads(message)
            self.received.append(body)
            if body == {"action": "subscribe"}:
                calls = self.snapshots.pop(0) if self.snapshots else []
                socket.send(json.dumps(event("snapshot", None, 0, calls=calls)))

        socket.on_message(on_message)

    def send(self, payload: dict | list[dict]) -> None:
        self.sockets[-1].send(json.dumps(payload))


def iso(seconds_ago: float = 0.0) -> str:
    at = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event(kind: str, call_id: int | None, seq: int, **fields: Any) -> dict:
    return {"type": kind, "version": 1, "call_id": call_id, "bulk_call_id": fields.pop("bulk_call_id", None),
            "at": iso(), "seq": seq, **fields}


def test_the_live_view_follows_monitor_events_by_their_seq(stack: dict, page: Page, screenshot: Shot) -> None:
    draft = api(stack, "POST", "/calls/bulk_call/create", json={
        "name": "Spring <b>promo</b>", "contact_list": [{"phone_number": f"+1555000{i:04d}"} for i in range(4)],
        "phone_number_id": import_number(stack), "bot_id": create_agent(stack), "save_as_draft": True})
    assert draft.status_code == 201, draft.text
    campaign_id = draft.json()["bulk_call"]["id"]
    monitor = ScriptedMonitor(page, stack["api_url"])
    serve_with_deployed_csp(page, stack)
    live = {"call_id": 901, "bulk_call_id": None, "agent_id": 1, "channel": "phone", "to_number": "+15550009001",
            "status": "in_progress", "started_at": iso(42), "seq": 5,
            "transcript": [{"role": "assistant", "text": "Hello, Parley Bakery.", "turn": 0}]}
    monitor.snapshots = [[live], []]
    sign_in(page, stack)
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "live")
    campaign = page.locator(f"#campaigns [data-bulk-call-id='{campaign_id}']")
    expect(campaign.locator(".campaign-name")).to_have_text("Spring <b>promo</b>")  # text, not markup

    page.click("#live-calls [data-call-id='901']")
    expect(page.locator("#transcript li")).to_have_count(1)
    monitor.send(event("transcript.partial", 901, 6, role="user", text="What time", turn=1))
    expect(page.locator("#transcript li[data-role='user'][data-final='false'] .said")).to_have_text("What time…")
    monitor.send([  # one message, several events; a duplicate seq and a stale one are dropped
        event("transcript.partial", 901, 7, role="user", text="What time do you", turn=1),
        event("transcript.partial", 901, 7, role="user", text="DUPLICATE", turn=1),
        event("call.status", 901, 4, status="ringing"),
        event("transcript.final", 901, 8, role="user", text="What time do you open?", turn=1, interrupted=False),
        event("turn.metrics", 901, 9, turn=1, metrics={"stt_ms": 180, "llm_first_token_ms": 420,
                                                       "tts_first_audio_ms": 610, "first_audio_ms": 650}),
        event("transcript.partial", 901, 10, role="assistant", text="We open at", turn=1),
        event("barge_in", 901, 11, latency_ms=240),
        event("transcript.final", 901, 12, role="assistant", text="We open at", turn=1, interrupted=True),
        event("control", 901, 13, control="say", text="A supervisor <i>joins</i>."),
        event("campaign.progress", None, 3, bulk_call_id=campaign_id, status="in_progress", summary={
            "total_contacts": 4, "queued": 1, "in_progress": 1, "completed": 1, "failed": 1, "busy": 0,
            "no_answer": 0}),
    ])
    expect(page.locator("#transcript li")).to_have_count(5)
    entries = transcript_entries(page)
    assert [(e["kind"], e["role"], e["final"], e["text"]) for e in entries] == [
        ("turn", "agent", True, "Hello, Parley Bakery."),
        ("turn", "user", True, "What time do you open?"),
        ("turn", "agent", True, "We open at"),
        ("barge_in", None, False, "The caller talked over the agent (agent silent after 240 ms)"),
        ("control", None, False, "Supervisor had the agent say “A supervisor <i>joins</i>.”"),
    ], entries
    expect(page.locator("#transcript li[data-role='agent'][data-turn='1'] .tag")).to_have_text("interrupted")
    expect(page.locator("#live-calls [data-call-id='901'] .badge")).to_have_text("In progress")  # not ringing
    expect(page.locator("#latency-chart rect[data-part]")).to_have_count(4)
    expect(campaign).to_have_attribute("data-done", "2")
    expect(campaign.locator("[role='progressbar']")).to_have_attribute("aria-valuenow", "2")
    monitor.send(event("transcript.partial", 901, 14, role="user", text="late partial of a final turn", turn=1))
    monitor.send(event("transcript.partial", 901, 15, role="user", text="Thanks", turn=2))
    expect(page.locator("#transcript li[data-role='user'][data-turn='2']")).to_have_count(1)
    expect(page.locator("#transcript li[data-role='user'][data-turn='1'] .said")).to_have_text("What time do you open?")

    # The API's answer to a control is shown (here a call that is no longer live).
    page.route(f"{stack['api_url']}/calls/901/control", lambda route: route.fulfill(
        status=409, content_type="application/json",
        body=json.dumps({"error": "call_not_live", "error_description": "call 901 has no live conversation"})))
    page.fill("#say-text", "Hello from the supervisor")
    page.click("#say-button")
    expect(page.locator("#control-status")).to_have_text("Not live: call 901 has no live conversation")
    screenshot(page, "dashboard-scripted-events")

    # The connection drops: a fresh token, a new subscribe, and the view rebuilt from the new (empty) snapshot.
    page.evaluate("window.parleyDashboard.dropConnection()")
    expect(page.locator("#connection-status")).to_have_attribute("data-connections", "2", timeout=20000)
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "live")
    assert monitor.tokens == 2 and monitor.received.count({"action": "subscribe"}) == 2, monitor.received
    expect(page.locator("#live-calls [data-call-id='901']")).to_have_count(0)
    expect(page.locator("#recent [data-call-id='901']")).to_have_count(1)
    assert page.evaluate("window.localStorage.length + window.sessionStorage.length + document.cookie.length") == 0
    assert page.evaluate("window.cspViolations") == []


def serve_with_deployed_csp(page: Page, stack: dict) -> None:
    """The page as CloudFront serves it (with its CSP header); violations are collected in ``window.cspViolations``."""
    def with_csp(route: Route) -> None:
        response = route.fetch()
        route.fulfill(response=response, headers={**response.headers, "content-security-policy": DEPLOYED_CSP})

    page.route(stack["dashboard_url"], with_csp)
    page.add_init_script("""window.cspViolations = [];
        document.addEventListener('securitypolicyviolation',
            e => window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));""")


def create_agent(stack: dict) -> int:
    created = api(stack, "POST", "/agents/create", json={
        "name": "Bakery line", "welcome_message": WELCOME, "is_interruption_allowed": True,
        "context_breakdown": [{"title": "Role", "body": "You answer the phone for Parley Bakery in one short "
                                                        "sentence. The bakery opens at seven in the morning."}]})
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def import_number(stack: dict) -> int:
    listed = api(stack, "GET", "/phone_number/list").json()
    for number in listed.get("phone_numbers", []):
        if number.get("phone_number") == "+15005550006":
            return int(number["id"])
    client = Client(stack["api_key"], base_url=stack["api_url"])
    imported = client.phone_number.import_twilio("+15005550006", TWILIO_SID, "tok_" + "v" * 28, name="Bakery")
    return int(imported["json"]["phone_number"]["id"])


def test_a_dispatched_call_is_followed_live_controlled_and_reviewed(stack: dict, page: Page,
                                                                     screenshot: Shot) -> None:
    client = Client(stack["api_key"], base_url=stack["api_url"])
    agent_id = create_agent(stack)
    number_id = import_number(stack)
    sim = stack["carrier_sim_url"]
    rules = requests.get(f"{sim}/sim/rules", timeout=5).json()
    script: list[dict[str, Any]] = [{"wait_agent": {"silence": 1.0, "timeout": 60}}, {"say": QUESTION},
                                    {"wait_agent": {"silence": 1.5, "timeout": 90}}, {"pause": 120.0},
                                    {"hang_up": True}]
    requests.put(f"{sim}/sim/rules", json={**rules, "answer_delay": 0.5, "scripts": {CALLER: script}},
                 timeout=5).raise_for_status()

    sign_in(page, stack)
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "live", timeout=30000)
    call_id = client.call.dispatch_call(agent_id, CALLER, from_number_id=number_id)["json"]["call_id"]

    live_item = page.locator(f"#live-calls [data-call-id='{call_id}']")
    expect(live_item).to_be_visible(timeout=60000)
    live_item.click()
    expect(page.locator("#detail")).to_have_attribute("data-call-id", str(call_id))
    page.wait_for_function("""() => {
        const finals = [...document.querySelectorAll('#transcript li[data-final="true"]')];
        return finals.some(li => li.dataset.role === 'user')
            && finals.filter(li => li.dataset.role === 'agent').length >= 2;
    }""", timeout=180000)
    screenshot(page, "dashboard-live-call")
    before = [e for e in transcript_entries(page) if e["final"]]
    assert "tomorrow" in " ".join(e["text"] for e in before if e["role"] == "user").lower(), before

    # The connection drops mid-call: the page reconnects with a fresh token and rebuilds the call from the snapshot.
    page.evaluate("window.parleyDashboard.dropConnection()")
    expect(page.locator("#connection-status")).to_have_attribute("data-connections", "2", timeout=30000)
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "live", timeout=30000)
    expect(live_item).to_be_visible()
    rebuilt = [e for e in transcript_entries(page) if e["final"]]
    assert [e["text"] for e in rebuilt[:len(before)]] == [e["text"] for e in before], (before, rebuilt)

    # The supervisor has the agent say a sentence, then ends the call.
    page.fill("#say-text", SUPERVISOR_SAYS)
    page.click("#say-button")
    expect(page.locator("#control-status")).to_have_text("Sent: the agent says it next.", timeout=15000)
    expect(page.locator("#transcript li[data-kind='control']")).to_contain_text(SUPERVISOR_SAYS, timeout=60000)
    expect(page.locator("#transcript li[data-role='agent'][data-final='true']").last).to_contain_text(
        "supervisor", timeout=90000)
    page.click("#end-call")
    expect(page.locator("#control-status")).to_have_text("The agent hangs up now.", timeout=15000)

    expect(page.locator(f"#recent [data-call-id='{call_id}']")).to_be_visible(timeout=60000)
    expect(live_item).to_have_count(0)
    expect(page.locator("#detail")).to_have_attribute("data-live", "false")
    expect(page.locator("#detail-meta")).to_contain_text("supervisor")
    page.wait_for_function("""() => {
        const audio = document.querySelector('#recording');
        return !audio.hidden && audio.error === null && audio.readyState >= 1 && audio.duration > 3;
    }""", timeout=120000)
    assert page.evaluate("document.querySelector('#recording').play().then(() => 'playing', e => e.name)") == "playing"
    page.wait_for_function("document.querySelector('#recording').currentTime > 0.5", timeout=15000)
    page.evaluate("document.querySelector('#recording').pause()")
    expect(page.locator("#latency-chart rect[data-part]").first).to_be_visible(timeout=30000)
    page.locator("#detail").scroll_into_view_if_needed()
    screenshot(page, "dashboard-recent-call")

    log = api(stack, "GET", f"/calls/logs/{call_id}").json()
    assert log["call_status"] == "completed" and log["conversation"]["ended_by"] == "supervisor", log
    rows = page.locator("#latency-chart g[data-turn]")
    assert rows.count() == len(log["turn_metrics"]) >= 1, log["turn_metrics"]
    page.click(f"#recent [data-call-id='{call_id}']")
    transcript = transcript_entries(page)
    assert [e["text"] for e in transcript if e["kind"] == "turn"] == [t["text"] for t in log["transcript"]], transcript
