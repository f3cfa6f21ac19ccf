"""POST /web-calls (docs/web-calls.md, step 1): who may start a web call, what it answers, and what becomes
of a call nobody connects to. Everything goes through the API over HTTP, as a browser or a server calls it."""
from __future__ import annotations

import json
import time
from datetime import datetime

import pytest
import requests

from chalicelib.domain import rate_limits, web_calls
from chalicelib.telephony import stream_tokens
from tests.campaign_ops import run_campaign_ops
from tests.conftest import AGENT, Tenant

PAGE = "http://127.0.0.1:8600"
OFFER_URL = "http://127.0.0.1:8700/web/offer"
ICE = [{"urls": "stun:stun.example.org:3478"},
       {"urls": ["turn:turn.example.org:3478?transport=udp"], "username": "u", "credential": "c"}]
SECRET = "test-stream-secret"  # tests/conftest.py's PARLEY_STREAM_TOKEN_SECRET


@pytest.fixture(autouse=True)
def web_calls_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_WEB_OFFER_URL", OFFER_URL)
    monkeypatch.setenv("PARLEY_ICE_SERVERS", json.dumps(ICE))
    monkeypatch.delenv("PARLEY_KVS_TURN_CHANNEL_ARN", raising=False)
    monkeypatch.setenv("PARLEY_STREAM_TOKEN_SECRET", SECRET)


def widget_agent(tenant: Tenant, origins: list[str] | None = None, enabled: bool = True) -> tuple[int, str]:
    created = tenant.post("agents/create", json={**AGENT, "web_widget": {"enabled": True,
                                                                         "allowed_origins": origins or [PAGE]}})
    agent = created.json()
    if not enabled:
        tenant.put(f"agents/{agent['id']}", json={"web_widget": {"enabled": False, "allowed_origins": [PAGE]}})
    return agent["id"], agent["web_widget"]["public_key"]


def browser_post(tenant: Tenant, key: str | None, body: dict, origin: str | None = PAGE) -> requests.Response:
    """As a page's fetch() sends it: no session, the key in Authorization, the page's Origin."""
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    if origin is not None:
        headers["Origin"] = origin
    return requests.post(tenant.url("web-calls"), data=json.dumps(body), headers=headers)


def test_a_page_with_the_public_key_starts_a_web_call(tenant: Tenant) -> None:
    agent_id, key = widget_agent(tenant)
    before = time.time()
    started = browser_post(tenant, key, {"agent_id": agent_id, "call_context": {"name": "Ada"}})
    assert started.status_code == 201, started.text
    body = started.json()
    assert set(body) == {"call_id", "token", "expires_at", "offer_url", "ice_servers"}
    assert body["offer_url"] == OFFER_URL
    assert body["ice_servers"] == [{"urls": ["stun:stun.example.org:3478"]},
                                   {"urls": ["turn:turn.example.org:3478?transport=udp"], "username": "u",
                                    "credential": "c"}]
    assert started.headers["Access-Control-Allow-Origin"] == "*"

    claims = stream_tokens.verify(SECRET, body["token"], body["call_id"])
    assert claims is not None and claims["a"] == tenant.account_id
    assert before + 59 <= claims["exp"] <= time.time() + 61  # one minute
    assert datetime.fromisoformat(body["expires_at"]).timestamp() == claims["exp"]
    assert stream_tokens.verify(SECRET, body["token"], body["call_id"], now=claims["exp"] + 1) is None
    assert stream_tokens.verify(SECRET, body["token"], body["call_id"] + 1) is None  # for this call only

    log = tenant.get(f"calls/logs/{body['call_id']}").json()
    assert (log["channel"], log["call_status"], log["agent_id"]) == ("web", "queued", agent_id)
    assert (log["to_number"], log["from_number_id"]) == ("", None)
    assert log["call_context"] == {"name": "Ada"}  # as sent: no address or user agent added
    assert "127.0.0.1" not in json.dumps(log)


def test_web_calls_are_listed_with_their_channel_and_filterable(tenant: Tenant) -> None:
    from chalicelib.db.models import Call

    agent_id, key = widget_agent(tenant)
    web_call = browser_post(tenant, key, {"agent_id": agent_id}).json()["call_id"]
    Call(tenant.account_id, 990001, agent_key=f"{tenant.account_id}#{agent_id}", agent_id=agent_id,
         to_number="+15550100001", status="completed").save()  # a phone call stored before channels existed

    logs = tenant.get("calls/logs").json()["call_log_data"]
    assert {(c["id"], c["channel"]) for c in logs} == {(web_call, "web"), (990001, "phone")}
    assert [c["id"] for c in tenant.get("calls/logs", params={"channel": "web"}).json()["call_log_data"]] == [web_call]
    phone = tenant.get("calls/logs", params={"channel": "phone", "agentid": agent_id}).json()
    assert [c["id"] for c in phone["call_log_data"]] == [990001] and phone["total_records"] == 1
    both = tenant.get("calls/logs", params={"channel": "web", "call_status": "completed"}).json()
    assert both["call_log_data"] == []
    assert tenant.get("calls/logs", params={"channel": "fax"}).status_code == 422


def test_the_origin_must_be_one_of_the_allowed_origins(tenant: Tenant) -> None:
    agent_id, key = widget_agent(tenant, origins=[PAGE, "https://shop.example.com"])
    for origin in ("https://evil.example.com", "http://127.0.0.1:8601", "null", None):
        refused = browser_post(tenant, key, {"agent_id": agent_id}, origin=origin)
        assert refused.status_code == 403, origin
        assert refused.json()["error"] == "origin_not_allowed"
        assert refused.headers["Access-Control-Allow-Origin"] == "*"  # the page can read why
    assert browser_post(tenant, key, {"agent_id": agent_id}, origin="https://SHOP.example.com:443").status_code == 201


def test_a_disabled_widget_refuses_its_key(tenant: Tenant) -> None:
    agent_id, key = widget_agent(tenant, enabled=False)
    refused = browser_post(tenant, key, {"agent_id": agent_id})
    assert refused.status_code == 403 and refused.json()["error"] == "widget_disabled"
    assert tenant.get("calls/logs").json()["call_log_data"] == []


def test_a_public_key_starts_calls_only_with_its_own_agent(tenant: Tenant, other_tenant: Tenant) -> None:
    agent_id, key = widget_agent(tenant)
    sibling, _ = widget_agent(tenant)
    foreign, _ = widget_agent(other_tenant)
    for other in (sibling, foreign, 999999):
        refused = browser_post(tenant, key, {"agent_id": other})
        assert refused.status_code == 404 and refused.json()["error"] == "not_found", other
    assert tenant.get("calls/logs").json()["call_log_data"] == []


def test_no_or_unknown_key_is_401(tenant: Tenant) -> None:
    agent_id, key = widget_agent(tenant)
    for bearer in (None, "pub_" + "x" * 32, "pk_unknown", key + "x"):
        refused = browser_post(tenant, bearer, {"agent_id": agent_id})
        assert refused.status_code == 401, bearer
        assert refused.json()["error"] == "unauthorized"
    basic = requests.post(tenant.url("web-calls"), json={"agent_id": agent_id}, headers={
        "Authorization": f"Basic {key}", "Origin": PAGE})
    assert basic.status_code == 401


def test_a_secret_key_starts_web_calls_with_any_agent_of_its_account_without_an_origin(
        tenant: Tenant, other_tenant: Tenant) -> None:
    plain = tenant.post("agents/create", json=AGENT).json()["id"]  # no widget at all
    started = tenant.post("web-calls", json={"agent_id": plain})
    assert started.status_code == 201, started.text
    assert stream_tokens.verify(SECRET, started.json()["token"], started.json()["call_id"])["a"] == tenant.account_id
    assert tenant.get(f"calls/logs/{started.json()['call_id']}").json()["channel"] == "web"
    foreign, _ = widget_agent(other_tenant)
    assert tenant.post("web-calls", json={"agent_id": foreign}).status_code == 404
    assert tenant.post("web-calls", json={"agent_id": 999999}).status_code == 404


def test_without_an_offer_url_web_calls_are_not_configured(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARLEY_WEB_OFFER_URL")
    agent_id, key = widget_agent(tenant)
    refused = browser_post(tenant, key, {"agent_id": agent_id})
    assert refused.status_code == 503 and refused.json()["error"] == "web_calls_not_configured"
    assert tenant.get("calls/logs").json()["call_log_data"] == []


def test_a_malformed_ice_configuration_is_503_not_500(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_ICE_SERVERS", '[{"urls": "http://not-ice"}]')
    agent_id, key = widget_agent(tenant)
    refused = browser_post(tenant, key, {"agent_id": agent_id})
    assert refused.status_code == 503 and refused.json()["error"] == "web_calls_not_configured"


def test_call_context_is_validated_like_dispatch(tenant: Tenant) -> None:
    agent_id, key = widget_agent(tenant)
    big = browser_post(tenant, key, {"agent_id": agent_id, "call_context": {"notes": "x" * 17_000}})
    assert big.status_code == 422 and big.json()["field"] == "call_context"
    wrong = browser_post(tenant, key, {"agent_id": agent_id, "call_context": "Ada"})
    assert wrong.status_code == 422 and wrong.json()["field"] == "call_context"
    extra = browser_post(tenant, key, {"agent_id": agent_id, "to_number": "+15550100001"})
    assert extra.status_code == 422 and extra.json()["field"] == "to_number"


WINDOW_START = 1_800_000_000  # a minute boundary: the test's requests all fall in one window


def test_public_keys_are_rate_limited_per_key(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_WEB_CALLS_PER_KEY_PER_MINUTE", "2")
    monkeypatch.setenv("PARLEY_WEB_CALLS_PER_IP_PER_MINUTE", "100")
    monkeypatch.setattr(rate_limits, "_now", lambda: WINDOW_START + 20.5)
    agent_id, key = widget_agent(tenant)
    other_id, other_key = widget_agent(tenant)
    for _ in range(2):
        assert browser_post(tenant, key, {"agent_id": agent_id}).status_code == 201
    limited = browser_post(tenant, key, {"agent_id": agent_id})
    assert limited.status_code == 429 and limited.json()["error"] == "rate_limited"
    assert limited.headers["Retry-After"] == "40"  # the rest of the minute
    assert "at most 2 web calls a minute per public key" in limited.json()["error_description"]
    assert limited.headers["Access-Control-Allow-Origin"] == "*"
    assert "Retry-After" in limited.headers["Access-Control-Expose-Headers"]  # the page may read it
    assert browser_post(tenant, other_key, {"agent_id": other_id}).status_code == 201  # another key: its own count
    assert tenant.post("web-calls", json={"agent_id": agent_id}).status_code == 201  # secret keys: not limited here
    monkeypatch.setattr(rate_limits, "_now", lambda: WINDOW_START + 60.0)  # the next window
    assert browser_post(tenant, key, {"agent_id": agent_id}).status_code == 201


def test_public_key_requests_are_rate_limited_per_client_address(tenant: Tenant,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_WEB_CALLS_PER_KEY_PER_MINUTE", "100")
    monkeypatch.setenv("PARLEY_WEB_CALLS_PER_IP_PER_MINUTE", "3")
    monkeypatch.setattr(rate_limits, "_now", lambda: WINDOW_START + 50.0)
    first, first_key = widget_agent(tenant)
    second, second_key = widget_agent(tenant)
    assert browser_post(tenant, first_key, {"agent_id": first}).status_code == 201
    assert browser_post(tenant, "pub_" + "x" * 32, {"agent_id": first}).status_code == 401  # counted too
    assert browser_post(tenant, second_key, {"agent_id": second}).status_code == 201
    limited = browser_post(tenant, second_key, {"agent_id": second})
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "10"
    assert "per client address" in limited.json()["error_description"]
    assert browser_post(tenant, first_key, {"agent_id": first}).status_code == 429


def test_cors_preflight_is_answered_for_any_origin(tenant: Tenant) -> None:
    preflight = requests.options(tenant.url("web-calls"), headers={
        "Origin": "https://shop.example.com", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    allowed = {h.strip().lower() for h in preflight.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    # Other routes are not opened to browsers.
    assert "Access-Control-Allow-Origin" not in tenant.get("agents").headers


def test_the_token_admits_one_media_stream(tenant: Tenant) -> None:
    from chalicelib.domain import call_media

    agent_id, key = widget_agent(tenant)
    body = browser_post(tenant, key, {"agent_id": agent_id, "call_context": {"name": "Ada"}}).json()
    admission = call_media.admit(str(body["call_id"]), body["token"], "web:peer-1", SECRET)
    assert (admission.agent_id, admission.call_context, admission.to_number) == (agent_id, {"name": "Ada"}, "")
    with pytest.raises(call_media.Rejected, match="already has a media stream"):
        call_media.admit(str(body["call_id"]), body["token"], "web:peer-2", SECRET)


# -- a web call nobody connects to ----------------------------------------------------------------------

def test_a_web_call_nobody_connects_to_ends_failed_after_its_token_expires(
        tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.domain import call_media

    assert web_calls.EXPIRY_DELAY_S > web_calls.TOKEN_TTL_S  # the token is dead before the call is ended
    monkeypatch.setattr(web_calls, "EXPIRY_DELAY_S", 1)  # the test's minute
    agent_id, key = widget_agent(tenant)
    abandoned = browser_post(tenant, key, {"agent_id": agent_id}).json()
    connected = browser_post(tenant, key, {"agent_id": agent_id}).json()
    call_media.admit(str(connected["call_id"]), connected["token"], "web:peer-1", SECRET)

    messages = run_campaign_ops(2)
    assert sorted(m["call_id"] for m in messages) == sorted([abandoned["call_id"], connected["call_id"]])
    assert all(m["op"] == web_calls.EXPIRE_OP for m in messages)

    ended = tenant.get(f"calls/logs/{abandoned['call_id']}").json()
    assert ended["call_status"] == "failed" and ended["details"]["reason"] == "not_connected"
    live = tenant.get(f"calls/logs/{connected['call_id']}").json()
    assert live["call_status"] == "queued"  # its stream joined: the streaming service ends it
    with pytest.raises(call_media.Rejected):  # an offer arriving after all cannot join the ended call
        call_media.admit(str(abandoned["call_id"]), abandoned["token"], "web:late", SECRET)

    from chalicelib.db.models import Call

    # A redelivered message changes nothing.
    assert web_calls.expire_unconnected({"account_id": tenant.account_id, "call_id": abandoned["call_id"]}) is False
    stored = Call.get(tenant.account_id, abandoned["call_id"])
    assert stored.completed_event_at is not None  # announced, once (no stream will)


def test_static_widget_assets_are_served_publicly_at_the_root(api: str) -> None:
    widget = requests.get(f"{api}/widget.js")
    assert widget.status_code == 200
    assert widget.headers["Content-Type"].startswith("application/javascript")
    assert "max-age=" in widget.headers["Cache-Control"]
    demo = requests.get(f"{api}/web-demo")
    assert demo.status_code == 200 and demo.headers["Content-Type"].startswith("text/html")
    document = requests.get(f"{api}/api/v1/openapi.json").json()
    assert not any(path.endswith(("/widget.js", "/web-demo")) for path in document["paths"])
    assert "/api/v1/web-calls" in document["paths"]
    operation = document["paths"]["/api/v1/web-calls"]["post"]
    assert {"401", "403", "404", "429", "503"} <= set(operation["responses"])
