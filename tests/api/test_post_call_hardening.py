"""Post-call actions over the API, hardened: template size, send-now rate limit, email recipients, and
secret URLs (Slack webhooks, user:pass@) sealed and masked."""
from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from chalicelib.db.models import Call, PostCallAction
from chalicelib.delivery.templates import MAX_TEMPLATE_BYTES, template_size
from chalicelib.domain import rate_limits
from tests.conftest import AGENT, Tenant
from tests.post_call.receivers import Receiver, serve

SLACK_URL = "https://hooks.slack.com/services/T0001/B0002/XyZsecretToken123"


@pytest.fixture()
def receiver(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PARLEY_DELIVERY_ALLOWED_NETWORKS", "127.0.0.0/8")  # as on the local stack
    with serve(Receiver()) as server:
        yield server


def _agent(tenant: Tenant) -> int:
    return tenant.post("agents/create", json=AGENT).json()["id"]


def _actions(tenant: Tenant, agent: int) -> str:
    return f"agents/{agent}/post-call-actions"


# -- payload_template size ----------------------------------------------------------------------------

def _template(size: int) -> dict[str, str]:
    template = {"t": ""}
    template["t"] = "x" * (size - template_size(template))
    assert template_size(template) == size
    return template


def test_a_template_over_16_kib_is_refused_on_create_and_update(tenant: Tenant) -> None:
    agent = _agent(tenant)
    url = "https://example.com/hook"
    too_big = tenant.post(_actions(tenant, agent), json={"type": "webhook", "url": url,
                                                         "payload_template": _template(MAX_TEMPLATE_BYTES + 1)})
    assert too_big.status_code == 422
    body = too_big.json()
    assert body["error"] == "validation_error" and body["field"] == "payload_template"
    assert body["error_description"].startswith("payload_template: ") and "16384" in body["error_description"]

    created = tenant.post(_actions(tenant, agent), json={"type": "webhook", "url": url,
                                                         "payload_template": _template(MAX_TEMPLATE_BYTES)})
    assert created.status_code == 201, created.text
    patched = tenant.patch(f"{_actions(tenant, agent)}/{created.json()['id']}",
                           json={"payload_template": _template(MAX_TEMPLATE_BYTES + 100)})
    assert patched.status_code == 422 and patched.json()["field"] == "payload_template"


# -- send-now rate limit ----------------------------------------------------------------------------------

def test_send_now_endpoints_share_a_per_account_rate_limit(tenant: Tenant, other_tenant: Tenant,
                                                           receiver: Receiver,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_SEND_NOW_PER_MINUTE", "3")
    window_start = 1_800_000_000  # a minute boundary: the test's requests all fall in one window
    monkeypatch.setattr(rate_limits, "_now", lambda: window_start + 17.2)
    agent = _agent(tenant)
    action = tenant.post(_actions(tenant, agent), json={"type": "webhook", "url": receiver.url}).json()
    test = f"{_actions(tenant, agent)}/{action['id']}/test"
    for _ in range(3):
        assert tenant.post(test).status_code == 200
    limited = tenant.post(test)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "43"  # the rest of the minute
    body = limited.json()
    assert body["error"] == "rate_limited" and "at most 3 send-now requests a minute" in body["error_description"]
    assert len(receiver.received) == 3  # the refused request sent nothing

    Call(tenant.account_id, 9301, agent_key=f"{tenant.account_id}#{agent}", agent_id=agent,
         to_number="+15550100001", status="completed").save()
    since = {"since": datetime.now(UTC).isoformat()}
    for path, body_json in ((f"{_actions(tenant, agent)}/{action['id']}/recover", since),
                            ("calls/logs/9301/deliveries/replay", None),
                            (f"calls/logs/9301/deliveries/{action['id']}/replay", None)):
        answer = tenant.post(path, json=body_json)
        assert answer.status_code == 429 and answer.json()["error"] == "rate_limited", path
        assert answer.headers["Retry-After"] == "43"

    other_agent = _agent(other_tenant)
    other = other_tenant.post(_actions(other_tenant, other_agent), json={"type": "webhook", "url": receiver.url})
    assert other_tenant.post(f"{_actions(other_tenant, other_agent)}/{other.json()['id']}/test").status_code == 200

    monkeypatch.setattr(rate_limits, "_now", lambda: window_start + 60.0)  # the next window
    assert tenant.post(test).status_code == 200


# -- email recipients ----------------------------------------------------------------------------------

def test_an_email_action_has_at_most_ten_recipients(tenant: Tenant) -> None:
    agent = _agent(tenant)
    eleven = [f"person{i}@example.com" for i in range(11)]
    refused = tenant.post(_actions(tenant, agent), json={"type": "email", "recipients": eleven})
    assert refused.status_code == 422
    assert "recipients: an email action has at most 10 recipients (got 11)" in refused.json()["error_description"]
    created = tenant.post(_actions(tenant, agent), json={"type": "email", "recipients": eleven[:10]})
    assert created.status_code == 201, created.text
    patched = tenant.patch(f"{_actions(tenant, agent)}/{created.json()['id']}", json={"recipients": eleven})
    assert patched.status_code == 422 and "at most 10 recipients" in patched.json()["error_description"]


# -- secret URLs -------------------------------------------------------------------------------------

def _stored(tenant: Tenant, agent: int) -> PostCallAction:
    [item] = PostCallAction.query(f"{tenant.account_id}#{agent}")
    return item


def test_a_slack_webhook_url_is_sealed_and_only_ever_shown_masked(tenant: Tenant) -> None:
    agent = _agent(tenant)
    created = tenant.post(_actions(tenant, agent), json={"type": "slack", "url": SLACK_URL})
    assert created.status_code == 201, created.text
    masked = "https://hooks.slack.com/services/***"
    assert created.json()["url"] == masked and "XyZsecretToken123" not in created.text
    listed = tenant.get(_actions(tenant, agent))
    assert listed.json()["post_call_actions"][0]["url"] == masked and "T0001" not in listed.text
    stored = _stored(tenant, agent)
    assert stored.config["url"] == masked
    assert stored.sealed_secrets is not None and b"XyZsecretToken123" not in stored.sealed_secrets
    patched = tenant.patch(f"{_actions(tenant, agent)}/{created.json()['id']}", json={"name": "Sales channel"})
    assert patched.status_code == 200 and patched.json()["url"] == masked and "T0001" not in patched.text


def test_credentials_in_a_webhook_url_are_sealed_masked_and_still_sent(tenant: Tenant, receiver: Receiver) -> None:
    agent = _agent(tenant)
    secret_url = receiver.url.replace("http://", "http://hook-user:s3cr3t-pass@")
    created = tenant.post(_actions(tenant, agent), json={"type": "webhook", "url": secret_url})
    assert created.status_code == 201, created.text
    shown = created.json()["url"]
    assert shown == receiver.url.replace("http://", "http://***@") and "s3cr3t-pass" not in created.text
    assert "s3cr3t-pass" not in tenant.get(_actions(tenant, agent)).text
    assert "s3cr3t-pass" not in str(_stored(tenant, agent).config)

    # The masked URL sent back (a client echoing what it read) leaves the real one in place.
    action_url = f"{_actions(tenant, agent)}/{created.json()['id']}"
    assert tenant.patch(action_url, json={"url": shown, "enabled": True}).status_code == 200
    sent = tenant.post(f"{action_url}/test")
    assert sent.status_code == 200 and sent.json()["ok"] is True, sent.text
    assert "s3cr3t-pass" not in sent.text
    [request] = receiver.received
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"hook-user:s3cr3t-pass").decode()


def test_a_slack_url_stored_in_the_clear_before_sealing_still_works_and_is_masked(tenant: Tenant,
                                                                                   receiver: Receiver) -> None:
    agent = _agent(tenant)
    created = tenant.post(_actions(tenant, agent), json={"type": "slack", "url": SLACK_URL}).json()
    legacy = _stored(tenant, agent)
    legacy_url = receiver.url + "/services/T0001/B0002/legacyToken"
    legacy.update(actions=[PostCallAction.config.set({**legacy.config, "url": legacy_url}),
                           PostCallAction.sealed_secrets.set(None)])  # as an action stored before this change
    shown = tenant.get(_actions(tenant, agent)).json()["post_call_actions"][0]["url"]
    assert "legacyToken" not in shown and shown.endswith("/hooks/***")
    action_url = f"{_actions(tenant, agent)}/{created['id']}"
    assert tenant.post(f"{action_url}/test").json()["ok"] is True
    assert receiver.received[-1].path == "/hooks/services/T0001/B0002/legacyToken"

    assert tenant.patch(action_url, json={"name": "renamed"}).status_code == 200  # an update seals it
    stored = _stored(tenant, agent)
    assert "legacyToken" not in stored.config["url"] and stored.sealed_secrets is not None
    assert tenant.post(f"{action_url}/test").json()["ok"] is True
    assert receiver.received[-1].path == "/hooks/services/T0001/B0002/legacyToken"


def test_an_agent_created_with_a_legacy_email_action_also_has_at_most_ten_recipients(tenant: Tenant) -> None:
    eleven = [f"person{i}@example.com" for i in range(11)]
    refused = tenant.post("agents/create", json={**AGENT, "post_call_actions": {"email": {"recipients": eleven}}})
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == "post_call_actions.email.recipients"
