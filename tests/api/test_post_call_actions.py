"""Post-call actions: add (idempotent), list, update (type fixed), delete, signing secret."""
from __future__ import annotations

import uuid

from tests.conftest import AGENT, Tenant

WEBHOOK = {"type": "webhook", "url": "https://example.com/hook", "include": ["summary", "sentiment"],
           "extracted_variables": [{"key": "date", "prompt": "The appointment date"}],
           "trigger_call_statuses": ["completed", "no_answer"],
           "payload_template": {"text": "{{summary}}", "when": "{{extracted_variables.date}}"}}


def _agent(tenant: Tenant) -> int:
    return tenant.post("agents/create", json=AGENT).json()["id"]


def test_add_returns_the_action_with_a_signing_secret_once(tenant: Tenant) -> None:
    agent = _agent(tenant)
    created = tenant.post(f"agents/{agent}/post-call-actions", json=WEBHOOK)
    assert created.status_code == 201
    body = created.json()
    assert body["signing_secret"].startswith("whsec_")
    for key in ("url", "include", "extracted_variables", "trigger_call_statuses", "payload_template"):
        assert body[key] == WEBHOOK[key]
    listed = tenant.get(f"agents/{agent}/post-call-actions").json()["post_call_actions"]
    assert "signing_secret" not in listed[0]
    secret = tenant.get(f"agents/{agent}/post-call-actions/{body['id']}/secret").json()
    assert secret["signing_secret"] == body["signing_secret"]


def test_same_idempotency_key_and_body_adds_nothing_new(tenant: Tenant) -> None:
    agent = _agent(tenant)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = tenant.post(f"agents/{agent}/post-call-actions", json=WEBHOOK, headers=key)
    again = tenant.post(f"agents/{agent}/post-call-actions", json=WEBHOOK, headers=key)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["signing_secret"] == first.json()["signing_secret"]
    assert tenant.get(f"agents/{agent}/post-call-actions").json()["total"] == 1


def test_idempotency_key_reused_with_another_body_is_refused(tenant: Tenant) -> None:
    agent = _agent(tenant)
    key = {"Idempotency-Key": "same-key"}
    tenant.post(f"agents/{agent}/post-call-actions", json=WEBHOOK, headers=key)
    other = tenant.post(f"agents/{agent}/post-call-actions", json={**WEBHOOK, "url": "https://x.example/"},
                        headers=key)
    assert other.status_code == 422 and other.json()["field"] == "Idempotency-Key"
    assert tenant.get(f"agents/{agent}/post-call-actions").json()["total"] == 1


def test_patch_changes_only_given_fields_and_never_the_type(tenant: Tenant) -> None:
    agent = _agent(tenant)
    action = tenant.post(f"agents/{agent}/post-call-actions", json=WEBHOOK).json()
    patched = tenant.patch(f"agents/{agent}/post-call-actions/{action['id']}", json={"url": "https://new.example/h"})
    assert patched.status_code == 200
    assert patched.json()["url"] == "https://new.example/h"
    assert patched.json()["include"] == WEBHOOK["include"]
    refused = tenant.patch(f"agents/{agent}/post-call-actions/{action['id']}", json={"type": "email"})
    assert refused.status_code == 422 and refused.json()["field"] == "type"


def test_delete_removes_the_action(tenant: Tenant) -> None:
    agent = _agent(tenant)
    action = tenant.post(f"agents/{agent}/post-call-actions", json=WEBHOOK).json()
    assert tenant.delete(f"agents/{agent}/post-call-actions/{action['id']}").status_code == 200
    assert tenant.get(f"agents/{agent}/post-call-actions").json()["total"] == 0
    assert tenant.delete(f"agents/{agent}/post-call-actions/{action['id']}").status_code == 404


def test_each_channel_requires_its_fields(tenant: Tenant) -> None:
    agent = _agent(tenant)
    cases = [
        ({"type": "email"}, "recipients"),
        ({"type": "email", "recipients": ["not-an-email"]}, "recipients[0]"),
        ({"type": "slack"}, "url"),
        ({"type": "hubspot"}, "credentials.access_token"),
        ({"type": "salesforce", "credentials": {"instance_url": "https://x.my.salesforce.com"}},
         "credentials.client_id"),
        ({"type": "cloud_whatsapp", "recipients": ["+14155550123"]}, "credentials.phone_number_id"),
        ({"type": "zoho_bigin"}, "type"),
    ]
    for body, mention in cases:
        response = tenant.post(f"agents/{agent}/post-call-actions", json=body)
        assert response.status_code == 422, body
        assert mention in response.json()["error_description"], (body, response.json())
    assert tenant.get(f"agents/{agent}/post-call-actions").json()["total"] == 0


def test_credentials_are_sealed_and_never_returned(tenant: Tenant) -> None:
    agent = _agent(tenant)
    token = "pat-na1-SECRET-TOKEN-1234"
    created = tenant.post(f"agents/{agent}/post-call-actions",
                          json={"type": "hubspot", "credentials": {"access_token": token}})
    assert created.status_code == 201 and token not in created.text
    assert created.json()["has_credentials"] is True
    assert token not in tenant.get(f"agents/{agent}/post-call-actions").text
    from chalicelib.db.models import PostCallAction

    stored = next(iter(PostCallAction.query(f"{tenant.account_id}#{agent}")))
    assert token.encode() not in stored.sealed_secrets
    # Updating another field keeps the credentials; the channel stays valid.
    patched = tenant.patch(f"agents/{agent}/post-call-actions/{created.json()['id']}", json={"enabled": False})
    assert patched.status_code == 200 and patched.json()["has_credentials"] is True
